"""The run config of ``train``: one table of fields, and what a config builds.

``FIELDS`` is the one place a config key is defined: its kind, default, bound (least integer,
or the choices), help text and whether a resumed run may change it. ``make_config`` checks a
config against the table and ``theory.engine.cli`` makes the ``train`` options from it, so
neither restates a default or a range. Kinds: ``"int"`` (>= bound), ``"int?"`` (None or
>= bound), ``"step"`` (finite > 0), ``"choice"``, ``"flag"``, ``"path"`` (None or a path) and
``"options"`` (the meta-optimizer's, every default filled in by ``metaopt.resolve_options``).

The defaults are a quick synthetic run of about a minute of CPU time: MAML on a 4-layer CNN of
width 16 (four 2x2 pools shrink 28x28 to 1x1, which keeps the head small), 5-way 1-shot with 15
queries per class, one inner step of 0.4 (MAML's Omniglot step size), outer Adam 0.01 over 4
tasks per meta-batch, 200 iterations (what it reaches: docs/engine.md).

What a config builds: its meta-optimizer (``make_metaopt``), initial parameters
(``init_meta_params``), random streams (``seeds``, ``episode_rng``) and data splits
(``load_splits``). A config stored in a checkpoint is read back with ``from_saved``.
"""

import collections
import os

import numpy as np

from theory import _check
from theory.engine import cnn, data, maml, metaopt, optim

__all__ = ["Field", "FIELDS", "DEFAULTS", "make_config", "check_data", "from_saved",
           "check_resume", "arch", "make_metaopt", "init_meta_params", "seeds", "episode_rng",
           "check_ways", "load_splits"]

Field = collections.namedtuple("Field", "name kind default bound metavar help resumable",
                               defaults=(None, None, "", False))
FIELDS = (
    Field("dataset", "choice", "synthetic", data.NAMES, help="benchmark"),
    Field("data", "path", None, metavar="PATH", resumable=True,
          help="dataset location (omniglot default: ../shared/data/omniglot)"),
    Field("algo", "choice", "maml", maml.ALGOS, help="meta-learning algorithm"),
    Field("metaopt", "choice", "none", metaopt.NAMES, help="meta-optimizer of the inner loop"),
    Field("metaopt_options", "options", {}, metavar="KEY=VALUE",
          help="option of the meta-optimizer, repeatable, e.g. psd=true, conv=out, hidden=3 "
               "(values: int, float, true/false or text)"),
    Field("layers", "int", 4, 1, "L", "conv blocks"),
    Field("hidden", "int", 16, 1, "H", "conv channels"),
    Field("downsample", "choice", "maxpool", cnn.DOWNSAMPLES,
          help="how each block shrinks the map: a 2x2 max-pool after it, its conv at stride 2 "
               "(the paper's Omniglot network), or neither"),
    Field("readout", "choice", "flatten", cnn.READOUTS,
          help="what the head sees: the flattened final map, or its mean over the pixels "
               "(the paper's networks)"),
    Field("init", "choice", "he", cnn.INITS,
          help="initialisation: he (He-normal convs, BN scale 1) or authors (learn2learn's: "
               "Xavier-uniform convs, BN scale uniform on [0, 1), standard-normal head)"),
    Field("linnet", "int", 0, 0, "k", "extra linear (collapsible) layers under the classifier"),
    Field("linnet_width", "int?", None, 1, "W",
          "width of the LinNet layers (default: the feature width)"),
    # a 1-way task has nothing to tell apart: every prediction is right
    Field("ways", "int", 5, 2, "N", "classes per task, >= 2"),
    Field("shots", "int", 1, 1, "K", "support images per class"),
    Field("query", "int", 15, 1, "Q", "query images per class"),
    Field("steps", "int", 1, 0, "S", "inner steps"),
    Field("inner_lr", "step", 0.4, None, "A", "inner step size alpha"),
    Field("meta_lr", "step", 0.01, None, "B", "outer Adam step size"),
    Field("meta_batch", "int", 4, 1, "T", "tasks per meta-batch"),
    # not under a cosine schedule, which spans the iterations (``check_resume``)
    Field("iterations", "int", 200, 0, "I", "outer iterations", True),
    Field("val_every", "int", 50, 1, "V", "validate every V iterations"),
    Field("val_episodes", "int", 100, 1, "E", "validation episodes"),
    Field("test_episodes", "int", 600, 1, "E", "test episodes", True),
    Field("checkpoint_every", "int", 50, 1, "C", "checkpoint every C iterations", True),
    Field("patience", "int", 0, 0, "P", "stop after P validation rounds without improvement "
          "and test the best round; --iterations is then the cap (default: 0 = off)", True),
    Field("meta_lr_schedule", "choice", "constant", optim.SCHEDULES,
          help="outer step size: constant, or cosine from --meta-lr to 0 over --iterations"),
    Field("split_by", "choice", "character", data.SPLIT_BY,
          help="class split: the dataset's, or whole Omniglot alphabets held out for val and "
               "test"),
    Field("seed", "int", 0, 0, "s", "seed of init, tasks and episodes"),
    Field("first_order", "flag", False, help="first-order meta-gradient"),
    # ``chunks.meta_grad``'s ``chunk``: it changes the float summation order only, not the maths
    Field("task_chunk", "int?", None, 1, "C", "tasks per meta-gradient chunk (default: "
          "automatic, keeps the second-order graph under chunks.CHUNK_BUDGET_BYTES)"),
    # ``chunks.meta_grad``'s ``workers``: for a given task_chunk the result does not depend on it
    Field("workers", "int?", None, 1, "W", "processes sharing each meta-step's task chunks "
          "(default: every core this process may use, 1 in a Dask worker; give 1 to leave "
          "the other cores to other work)", True),
)
DEFAULTS = {field.name: field.default for field in FIELDS}
_CHECKS = {
    "int": lambda f, value: _check.integer(f.name, value, f.bound),
    "int?": lambda f, value: None if value is None else _check.integer(f.name, value, f.bound),
    "step": lambda f, value: _check.positive(f.name, value),
    "choice": lambda f, value: _check.choice(f.name, value, f.bound),
    "flag": lambda f, value: bool(value),
    "path": lambda f, value: value,         # checked with the dataset (``check_data``)
    "options": lambda f, value: {} if value is None else value,
}


def make_config(**overrides):
    """``DEFAULTS`` updated with ``overrides``, every value checked (``ValueError`` naming it)."""
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; valid keys are {sorted(DEFAULTS)}")
    config = {**DEFAULTS, **overrides}
    for field in FIELDS:
        config[field.name] = _CHECKS[field.kind](field, config[field.name])
    if config["task_chunk"] is not None and config["task_chunk"] > config["meta_batch"]:
        raise ValueError(f"task_chunk={config['task_chunk']!r} must be None (automatic) or an "
                         f"integer in 1..{config['meta_batch']} (meta_batch)")
    if config["first_order"] and config["algo"] == "anil":
        raise ValueError("first_order=True applies to algo='maml' (it selects fomaml), "
                         "not algo='anil'")
    config["data"] = check_data(config["dataset"], config["data"])
    config["metaopt_options"] = _resolve_options(config["metaopt"],
                                                 config["metaopt_options"])
    width = config["linnet_width"]
    if width is not None and config["linnet"] == 0:
        raise ValueError(f"linnet_width={width} sets the width of LinNet layers, but linnet=0 "
                         "adds none; add linnet >= 1 (--linnet k) or drop linnet_width "
                         "(--linnet-width)")
    if config["patience"] and config["val_every"] >= config["iterations"]:
        raise ValueError(f"patience={config['patience']} compares validation rounds, but "
                         f"val_every={config['val_every']} >= iterations="
                         f"{config['iterations']} gives one round; lower --val-every")
    return config


def check_data(dataset, path):
    """``path`` as a string (or None); ``ValueError`` if ``dataset`` reads no files."""
    if path is None:
        return None
    if dataset == "synthetic":
        raise ValueError(f"--data {os.fspath(path)} is given, but the synthetic benchmark is "
                         "generated and reads no files; drop --data or choose another "
                         "--dataset")
    return os.fspath(path)


def _resolve_options(name, options):
    """``options`` of meta-optimizer ``name`` with every default filled in (``ValueError``).

    The complete set is stored, so a run's checkpoint rebuilds the same meta-optimizer even
    if a default changes later.
    """
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise ValueError(f"metaopt_options={options!r} must be a dict of option names to values")
    try:
        return metaopt.resolve_options(name, **options)
    except ValueError as err:
        raise ValueError(f"metaopt_options: {err}") from None


def from_saved(saved):
    """The checked config of a checkpoint's stored ``saved`` config, older formats upgraded.

    Runs from before ``metaopt_options`` existed used the registry defaults of their time:
    KFO's conv layout was then ``"out"``.
    """
    if "metaopt_options" not in saved:
        legacy = {"conv": "out"} if saved.get("metaopt") in ("kfo", "kfo-mlp") else {}
        saved = dict(saved, metaopt_options=legacy)
    return make_config(**saved)


def check_resume(saved, config, path):
    """``ValueError`` unless a run started with ``saved`` may continue as ``config``.

    Only the fields marked ``resumable`` may change, which keeps the trajectory identical up
    to where it stops; ``iterations`` not under a cosine schedule, which spans it.
    """
    resumable = [field.name for field in FIELDS if field.resumable]
    for key in sorted(set(saved) | set(config)):
        if key not in resumable and saved.get(key) != config.get(key):
            raise ValueError(f"cannot resume {path}: it was run with {key}={saved.get(key)!r}, "
                             f"now {key}={config.get(key)!r} (only {resumable} may change)")
    if config["meta_lr_schedule"] != "constant" and saved["iterations"] != config["iterations"]:
        raise ValueError(f"cannot resume {path} with iterations={config['iterations']}: its "
                         f"{config['meta_lr_schedule']} meta_lr_schedule spans the "
                         f"iterations={saved['iterations']} it was started with")


def arch(config):
    """The ``cnn.Arch`` of a config (a config from before these fields: the original network)."""
    return cnn.Arch(config.get("downsample", "maxpool"), config.get("readout", "flatten"))


def make_metaopt(name, options=None):
    """The ``MetaOpt`` registered as ``name`` with ``options``, or ``None`` for ``"none"``."""
    return None if name == "none" else metaopt.get(name, **(options or {}))


def init_meta_params(config, in_shape, rng):
    """Fresh ``{"model": params, "metaopt": phi}`` for ``config`` (T-Nets keys join the model)."""
    params = cnn.init(rng, layers=config["layers"], hidden=config["hidden"],
                      ways=config["ways"], in_shape=tuple(in_shape), linnet=config["linnet"],
                      linnet_width=config.get("linnet_width"), arch=arch(config),
                      scheme=config.get("init", "he"))
    opt = make_metaopt(config["metaopt"], config.get("metaopt_options"))
    phi = {}
    if opt is not None:
        # T-Nets' T and the transform cover exactly the keys that adapt (the head for ANIL)
        params = dict(params, **metaopt.extra_model_params(
            opt, rng, params, keys=maml.adapt_keys(params, config["algo"])))
        phi = opt.init(rng, params, keys=maml.adapt_keys(params, config["algo"]))
    return {"model": params, "metaopt": phi}


def seeds(seed):
    """``{"init", "train", "val", "test"}``: independent ``SeedSequence`` streams of a run.

    Parameter init, training-task sampling, validation and test episodes; the validation and
    test generators are re-created from their seed every time they are used, so every
    validation sees the same episodes and ``eval`` of a checkpoint reproduces its test score.
    """
    init, tasks, val, test = np.random.SeedSequence(seed).spawn(4)
    return {"init": init, "train": tasks, "val": val, "test": test}


def episode_rng(seed, split):
    """The generator of the fixed validation (``"val"``) or test (``"test"``) episodes."""
    return np.random.default_rng(seeds(seed)[split])


def check_ways(config, dataset):
    """``dataset`` if it has at least ``config["ways"]`` classes, else ``ValueError``."""
    if config["ways"] > dataset.n_classes:
        raise ValueError(f"ways={config['ways']} exceeds the {dataset.n_classes} classes "
                         f"of the {dataset.split} split of {config['dataset']} "
                         f"(valid: 1..{dataset.n_classes})")
    return dataset


def load_splits(config):
    """The train, val and test ``Dataset`` of ``config``; ``ways`` must fit every split."""
    return tuple(check_ways(config, data.load(config["dataset"], config["data"], split=split,
                                              split_by=config["split_by"]))
                 for split in ("train", "val", "test"))
