"""Meta-training: outer Adam over sampled task batches, validation, resumable checkpoints.

One run = one ``out_dir`` holding ``checkpoint.npz`` (see ``theory.engine.checkpoint``) and, at
the end, ``results.json`` (the ``engine-run`` record of ``engine_interfaces.md``).

Training to convergence (all off by default, which keeps a run exactly as before they
existed): ``patience`` >= 1 stops a run when its validation accuracy has not improved for that
many rounds (``iterations`` is then the cap) and tests it on its best-validation parameters,
kept in ``best.npz`` (``theory.engine.stopping``); the record adds ``best`` and ``stopped``
(``{"iteration", "reason": "plateau" | "cap"}``). ``meta_lr_schedule="cosine"`` anneals the
outer step size over ``iterations`` (``optim.schedule``). ``split_by="alphabet"`` (Omniglot)
holds out whole alphabets (``data.omniglot``).

Randomness: the run seed ``s`` is expanded with ``numpy.random.SeedSequence(s).spawn(4)`` into
four independent streams: parameter init, training-task sampling, validation episodes and test
episodes. The validation and test generators are re-created from their seed every time they are
used, so every validation sees the same episodes and ``eval`` of a checkpoint reproduces the
test accuracy of its run. The training generator's state is checkpointed, which makes a resumed
run bitwise identical to an uninterrupted one.
"""

import math
import os
import time

import numpy as np
from tqdm.auto import tqdm

from theory import _cli, _io
from theory.engine import checkpoint, cnn, data, maml, metaopt, optim, stopping
from theory.engine import evaluate as evaluation
from theory.engine.provenance import git_commit, machine
from theory.engine.stopping import DivergedError

CHECKPOINT = "checkpoint.npz"
RESULTS = "results.json"
DATASETS = data.NAMES
ALGOS = maml.ALGOS
METAOPTS = metaopt.NAMES

# A quick synthetic run (about a minute of CPU time): MAML on a 4-layer CNN of width 16, 5-way
# 1-shot with 15 queries per class, one inner step of 0.4 (MAML's Omniglot step size), outer
# Adam 0.01 over 4 tasks per meta-batch, 200 iterations; seed 0 reaches 0.73 +- 0.01 test
# accuracy over 600 episodes on one core, 0.70 on two (chunks summed in another order). Four layers shrink 28x28 to
# 1x1, which keeps the head small.
DEFAULTS = {"dataset": "synthetic", "data": None, "algo": "maml", "metaopt": "none",
            "layers": 4, "hidden": 16, "linnet": 0, "linnet_width": None, "ways": 5,
            "shots": 1, "query": 15, "steps": 1, "inner_lr": 0.4, "meta_lr": 0.01,
            "meta_batch": 4, "iterations": 200, "val_every": 50, "val_episodes": 100,
            "test_episodes": 600, "seed": 0, "first_order": False, "checkpoint_every": 50,
            "metaopt_options": {}, "patience": 0, "meta_lr_schedule": "constant",
            "split_by": "character"}
# Config keys without a command-line option: ``task_chunk`` is ``maml.meta_grad``'s ``chunk``
# (tasks per chunk of the meta-gradient, None = automatic from a memory estimate). It changes
# the float summation order only, not the maths.
OPTIONAL = {"task_chunk": None}
SCHEDULES = optim.SCHEDULES
SPLIT_BY = data.SPLIT_BY
_CHOICES = {"dataset": DATASETS, "algo": ALGOS, "metaopt": METAOPTS,
            "meta_lr_schedule": SCHEDULES, "split_by": SPLIT_BY}
# A 1-way task has nothing to tell apart: every prediction is right, so ways starts at 2.
_AT_LEAST = {"layers": 1, "hidden": 1, "linnet": 0, "ways": 2, "shots": 1, "query": 1,
             "steps": 0, "meta_batch": 1, "iterations": 0, "val_every": 1, "val_episodes": 1,
             "test_episodes": 1, "seed": 0, "checkpoint_every": 1, "patience": 0}
# Changing these between an interrupted run and its resumption keeps the trajectory identical
# (up to where it stops); ``iterations`` not under a cosine schedule, which spans it.
RESUMABLE_CHANGES = ("data", "iterations", "test_episodes", "checkpoint_every", "patience")


def make_config(**overrides):
    """``DEFAULTS`` updated with ``overrides``, every value checked (``ValueError`` naming it)."""
    unknown = sorted(set(overrides) - set(DEFAULTS) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; valid keys are "
                         f"{sorted({**DEFAULTS, **OPTIONAL})}")
    config = {**DEFAULTS, **OPTIONAL, **overrides}
    for key, choices in _CHOICES.items():
        if config[key] not in choices:
            raise ValueError(f"{key}={config[key]!r} is not one of {list(choices)}")
    for key, low in _AT_LEAST.items():
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{key}={value!r} must be an integer >= {low}")
        config[key] = int(value)
    for key in ("inner_lr", "meta_lr"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0 < value < math.inf:
            raise ValueError(f"{key}={value!r} must be a finite number > 0")
        config[key] = float(value)
    chunk = config["task_chunk"]
    if chunk is not None:
        if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) \
                or not 1 <= chunk <= config["meta_batch"]:
            raise ValueError(f"task_chunk={chunk!r} must be None (automatic) or an integer in "
                             f"1..{config['meta_batch']} (meta_batch)")
        config["task_chunk"] = int(chunk)
    config["first_order"] = bool(config["first_order"])
    if config["first_order"] and config["algo"] == "anil":
        raise ValueError("first_order=True applies to algo='maml' (it selects fomaml), "
                         "not algo='anil'")
    config["data"] = check_data(config["dataset"], config["data"])
    config["metaopt_options"] = _check_metaopt_options(config["metaopt"],
                                                       config["metaopt_options"])
    width = config["linnet_width"]
    if width is not None:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise ValueError(f"linnet_width={width!r} must be None (the feature width) or an "
                             "integer >= 1")
        if config["linnet"] == 0:
            raise ValueError(f"linnet_width={width} sets the width of LinNet layers, but "
                             "linnet=0 adds none; add linnet >= 1 (--linnet k) or drop "
                             "linnet_width (--linnet-width)")
        config["linnet_width"] = int(width)
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


def _check_metaopt_options(name, options):
    """``options`` of meta-optimizer ``name`` with every default filled in (``ValueError``).

    The complete set is stored, so a run's checkpoint rebuilds the same meta-optimizer even
    if a default changes later.
    """
    if options is None:
        options = {}
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise ValueError(f"metaopt_options={options!r} must be a dict of option names to values")
    try:
        return metaopt.resolve_options(name, **options)
    except ValueError as err:
        raise ValueError(f"metaopt_options: {err}") from None


def upgrade_config(saved):
    """A stored run config from before ``metaopt_options`` existed, with the options it ran with.

    Those runs used the registry defaults of their time: KFO's conv layout was then ``"out"``.
    """
    if "metaopt_options" in saved:
        return saved
    legacy = {"conv": "out"} if saved.get("metaopt") in ("kfo", "kfo-mlp") else {}
    return dict(saved, metaopt_options=legacy)


def make_metaopt(name, options=None):
    """The ``MetaOpt`` registered as ``name`` with ``options``, or ``None`` for ``"none"``."""
    return None if name == "none" else metaopt.get(name, **(options or {}))


def init_meta_params(config, in_shape, rng):
    """Fresh ``{"model": params, "metaopt": phi}`` for ``config`` (T-Nets keys join the model)."""
    params = cnn.init(rng, layers=config["layers"], hidden=config["hidden"],
                      ways=config["ways"], in_shape=tuple(in_shape), linnet=config["linnet"],
                      linnet_width=config.get("linnet_width"))
    opt = make_metaopt(config["metaopt"], config.get("metaopt_options"))
    phi = {}
    if opt is not None:
        # T-Nets' T and the transform cover exactly the keys that adapt (the head for ANIL)
        params = dict(params, **metaopt.extra_model_params(
            opt, rng, params, keys=metaopt.adapt_keys(params, config["algo"])))
        phi = opt.init(rng, params, keys=metaopt.adapt_keys(params, config["algo"]))
    return {"model": params, "metaopt": phi}


def count_parameters(meta_params):
    """``{"meta": ..., "deployed": ...}``: meta-learned scalars and those of the adapted model.

    After adaptation the meta-optimizer's transform is dropped, T-Nets matrices fold into their
    layers and LinNet layers collapse into the head (``metaopt.count_parameters``).
    """
    counts = metaopt.count_parameters(meta_params)
    return {"meta": int(counts["meta"]), "deployed": int(counts["deployed"])}


def restore(path):
    """Load a checkpoint into ``(config, meta_params, metaopt_obj, ckpt)``, checking its shapes.

    The architecture is rebuilt from the stored config and compared key by key and shape by
    shape, so a checkpoint that does not fit its config raises ``ValueError`` naming the key.
    """
    ckpt = checkpoint.load(path)
    config = make_config(**upgrade_config(ckpt["config"]))
    in_shape = ckpt["extra"].get("in_shape")
    if not (isinstance(in_shape, list) and len(in_shape) == 3
            and all(isinstance(s, int) and s >= 1 for s in in_shape)):
        raise ValueError(f"checkpoint {path} records no valid input shape (in_shape="
                         f"{in_shape!r}, expected [C, H, W]); it was not written by "
                         "`python -m theory.engine train`")
    checkpoint.check_finite(ckpt, path, groups=("model", "metaopt"))
    in_shape = tuple(in_shape)
    fresh = init_meta_params(config, in_shape, np.random.default_rng(0))
    if ckpt["architecture"] is not None:
        checkpoint.check_architecture(ckpt["architecture"], cnn.architecture(fresh["model"]),
                                      what=f"checkpoint {path}")
    checkpoint.check_compatible(ckpt["model"], fresh["model"], what=f"checkpoint {path}")
    checkpoint.check_compatible(ckpt["metaopt"], fresh["metaopt"], what=f"checkpoint {path}")
    meta_params = {"model": ckpt["model"], "metaopt": ckpt["metaopt"]}
    return config, meta_params, make_metaopt(config["metaopt"], config["metaopt_options"]), ckpt


def override(meta_params, opt_obj, config, metaopt_name=None, steps=None):
    """A restored run with the ``eval``/``adapt`` options ``--metaopt`` and ``--steps`` applied.

    ``--metaopt`` may only repeat the checkpoint's meta-optimizer or be ``none`` (drop the
    transform, keep any T-Nets forward-pass matrices): anything else has no trained parameters.
    """
    config = dict(config)
    if metaopt_name is not None and metaopt_name != config["metaopt"]:
        if metaopt_name != "none":
            raise ValueError(f"--metaopt {metaopt_name} does not match the checkpoint, which was "
                             f"trained with --metaopt {config['metaopt']} (valid: "
                             f"{_cli.one_of([config['metaopt'], 'none'])})")
        meta_params, opt_obj = {"model": meta_params["model"], "metaopt": {}}, None
        config["metaopt"], config["metaopt_options"] = "none", {}
    if steps is not None:
        config["steps"] = steps
    return meta_params, opt_obj, config


def _seeds(seed):
    init, tasks, val, test = np.random.SeedSequence(seed).spawn(4)
    return {"init": init, "train": tasks, "val": val, "test": test}


def episode_rng(seed, split):
    """The generator of the fixed validation (``"val"``) or test (``"test"``) episodes."""
    return np.random.default_rng(_seeds(seed)[split])


def _check_resume(saved, config, path):
    for key in sorted(set(saved) | set(config)):
        if key not in RESUMABLE_CHANGES and saved.get(key) != config.get(key):
            raise ValueError(f"cannot resume {path}: it was run with {key}={saved.get(key)!r}, "
                             f"now {key}={config.get(key)!r} (only {list(RESUMABLE_CHANGES)} "
                             "may change)")
    if config["meta_lr_schedule"] != "constant" and saved["iterations"] != config["iterations"]:
        raise ValueError(f"cannot resume {path} with iterations={config['iterations']}: its "
                         f"{config['meta_lr_schedule']} meta_lr_schedule spans the "
                         f"iterations={saved['iterations']} it was started with")


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


def _resume(ckpt_path, config, meta_params):
    """``(adam_state, rng_state, iteration, validation, wall_time, best)`` of ``ckpt_path``."""
    ckpt = checkpoint.load(ckpt_path)
    if ckpt["extra"].get("optimizer_state") == "dropped":
        raise ValueError(f"cannot resume {ckpt_path}: it holds no optimizer state (a copy "
                         "for eval and adapt); resume from the run's own checkpoint")
    _check_resume(make_config(**upgrade_config(ckpt["config"])), config, ckpt_path)
    checkpoint.check_compatible(ckpt["model"], meta_params["model"], what=ckpt_path)
    checkpoint.check_compatible(ckpt["metaopt"], meta_params["metaopt"], what=ckpt_path)
    if ckpt["iteration"] > config["iterations"]:
        raise ValueError(f"iterations={config['iterations']} is below the "
                         f"{ckpt['iteration']} iterations already done in {ckpt_path}")
    if config["patience"] and ckpt["validation"] and ckpt["best"] is None:
        raise ValueError(f"cannot resume {ckpt_path} with patience={config['patience']}: it "
                         "was run with patience=0 and kept no best-validation parameters")
    return (optim.state_from_arrays(ckpt["adam"]), ckpt["rng_state"], ckpt["iteration"],
            [list(v) for v in ckpt["validation"]], float(ckpt["extra"]["wall_time_s"]),
            ckpt["best"] if config["patience"] else None)


def train(config, *, out_dir, resume=False, progress=True, callback=None):
    """Meta-train ``config`` (a dict of ``DEFAULTS`` keys), writing checkpoints to ``out_dir``.

    ``resume=True`` continues from ``out_dir/checkpoint.npz`` (identical results to an
    uninterrupted run); without it an existing checkpoint is an error, never overwritten.
    ``callback(iteration, info)`` runs after each completed iteration (``info``: loss,
    accuracy). Returns the results record, also written to ``out_dir/results.json``.
    A NaN/inf meta-loss raises ``DivergedError`` naming the iteration and value; the last
    checkpoint (written before that iteration) is kept. With ``patience`` >= 1 the run stops
    early on a validation plateau and is tested on its best round (``stopping``).
    """
    config = make_config(**config)
    _io.check_writable(out_dir)
    ckpt_path = os.path.join(os.fspath(out_dir), CHECKPOINT)
    if os.path.exists(ckpt_path) and not resume:
        raise ValueError(f"{ckpt_path} already exists; pass --resume to continue that run "
                         "or choose another --out")
    if resume and not os.path.exists(ckpt_path):
        raise FileNotFoundError(f"--resume given but {ckpt_path} does not exist")
    seeds = _seeds(config["seed"])
    train_set, val_set, test_set = load_splits(config)
    meta_params = init_meta_params(config, train_set.in_shape,
                                   np.random.default_rng(seeds["init"]))
    opt_obj = make_metaopt(config["metaopt"], config["metaopt_options"])
    kwargs = evaluation.algorithm_kwargs(config, opt_obj)
    opt_init, opt_update, get_params = optim.adam(optim.schedule(
        config["meta_lr_schedule"], config["meta_lr"], max(1, config["iterations"])))
    state = opt_init(meta_params)
    rng = np.random.default_rng(seeds["train"])
    start, validation, wall, best = 0, [], 0.0, None
    patience = config["patience"]
    if resume:
        state, rng.bit_generator.state, start, validation, wall, best = _resume(
            ckpt_path, config, meta_params)

    def kept(params):
        return {"architecture": cnn.architecture(params["model"]), "config": config,
                "extra": {"in_shape": list(train_set.in_shape), "wall_time_s": wall},
                "rng_state": rng.bit_generator.state, "validation": validation}

    def save(iteration, params):
        with stopping.deferred_interrupt():
            if best is not None:    # best.npz first: never behind the checkpoint with its params
                stopping.save_best(best_path, best, **kept(best))
            checkpoint.save(ckpt_path, model=params["model"], metaopt=params["metaopt"],
                            adam=optim.state_to_arrays(state), iteration=iteration, best=best,
                            **kept(params))

    def evaluate(params, split_set, split, episodes, bar=False):
        return evaluation.evaluate(params, split_set, episode_rng(config["seed"], split),
                                   episodes=episodes, config=config, metaopt=opt_obj,
                                   progress=bar, desc=split)

    params = get_params(state)
    best_path = os.path.join(os.fspath(out_dir), stopping.BEST)
    stopped, done = stopping.plateaued(validation, patience), start
    with tqdm(total=config["iterations"], initial=start, desc="meta-train",
              disable=not progress, dynamic_ncols=True) as bar:
        for it in range(start, start if stopped else config["iterations"]):
            tick = time.perf_counter()
            batch = data.sample_tasks(train_set, rng, tasks=config["meta_batch"],
                                      ways=config["ways"], shots=config["shots"],
                                      query=config["query"])
            # non-finite values are caught by check_finite, with the iteration and value
            with np.errstate(all="ignore"), stopping.deferred_interrupt():
                loss, grads, aux = maml.meta_grad(params, batch, chunk=config["task_chunk"],
                                                  **kwargs)
            stopping.check_finite(float(loss), grads, it + 1, ckpt_path)
            state = opt_update(it, grads, state)
            params = get_params(state)
            done = it + 1
            info = {"loss": float(loss), "accuracy": float(np.mean(aux["accuracy"]))}
            if done % config["val_every"] == 0 or done == config["iterations"]:
                validation.append([done, evaluate(params, val_set, "val",
                                                  config["val_episodes"])["accuracy"]])
                info["val_accuracy"] = validation[-1][1]
                best, stopped = stopping.after_round(validation, patience, params, best)
            wall += time.perf_counter() - tick
            if done % config["checkpoint_every"] == 0 or done == config["iterations"] \
                    or stopped:
                save(done, params)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in info.items()}, refresh=False)
            if callback is not None:
                callback(done, info)
            if stopped:
                break
    if not os.path.exists(ckpt_path):   # iterations=0: the initialisation is the result
        save(start, params)
    if patience:    # (re)written here too: a resumed run may stop before its last best.npz
        params = params if best is None else best
        stopping.save_best(best_path, params, **kept(params))

    test = evaluate(params, test_set, "test", config["test_episodes"], bar=progress)
    result = {"kind": "engine-run", "config": config, "commit": git_commit(),
              "seed": config["seed"],
              "test": {k: test[k] for k in ("accuracy", "ci95", "episodes")},
              "validation": validation, "wall_time_s": wall, "machine": machine(),
              "parameters": count_parameters(params), "iterations_done": done,
              "checkpoint": os.path.abspath(best_path if patience else ckpt_path)}
    result.update(stopping.summary(validation, patience, done))
    _io.write_json(os.path.join(os.fspath(out_dir), RESULTS), result)
    return result
