"""Training checkpoints: one atomically written ``.npz`` holding everything a run needs to resume.

Layout of the file (all keys are plain ``np.load``-able arrays, no pickles):

- ``model/<key>``    the model params, same keys as ``cnn.init`` (``model/conv1/w``, ...);
- ``metaopt/<key>``  the meta-optimizer params ``phi`` (absent without a meta-optimizer);
- ``adam/<key>``     the outer Adam state (``optim.state_to_arrays``);
- ``best/<key>``     optional (runs with early stopping): the parameters of the best
  validation round so far, ``{"model": ..., "metaopt": ...}``; ``load`` gives ``None`` without;
- ``__meta__``       a JSON string: format version, run config, iteration reached, the state of
  the task-sampling random generator, validation history, architecture and the nesting of
  every tree above, so that loading restores exactly the saved Python objects.

Arrays are stored with their own dtype, so a float32 run resumes bit for bit.

``read_meta(path)`` reads only ``__meta__`` (how far a run has got) without its arrays.
``restore(path)`` loads a checkpoint for ``eval`` and ``adapt`` with its architecture rebuilt
from the stored config and checked against it; ``override`` applies their ``--metaopt`` and
``--steps``.
"""

import json
import math
import os
import zipfile

import numpy as np

from theory import _cli, _io, _schema, _tree
from theory.engine import cnn, schema
from theory.engine import config as run_config

__all__ = ["FORMAT", "VERSION", "GROUPS", "ZIP_MAGIC", "save", "without_optimizer", "load",
           "read_meta", "restore", "override", "check_finite", "check_compatible",
           "check_architecture"]

FORMAT = "theory.engine checkpoint"
VERSION = 1
GROUPS = ("model", "metaopt", "adam")
ZIP_MAGIC = b"PK\x03\x04"          # every .npz is a zip archive


def save(path, *, model, metaopt, adam, config, iteration, rng_state, validation=(),
         architecture=None, extra=None, best=None):
    """Write a checkpoint atomically (a reader sees the old file or the new one, never a mix).

    ``model``/``metaopt``/``adam`` are trees (dicts, lists, tuples) of arrays; ``rng_state`` is
    ``numpy.random.Generator.bit_generator.state``; ``config`` and ``extra`` must be JSON-able.
    """
    arrays, specs = {}, {}
    for group, tree in zip(GROUPS, (model, metaopt, adam), strict=True):
        specs[group] = _flatten(tree, group, arrays)
    if best is not None:
        specs["best"] = _flatten(best, "best", arrays)
    meta = {"format": FORMAT, "version": VERSION, "config": config, "iteration": int(iteration),
            "rng_state": rng_state, "validation": [list(v) for v in validation],
            "architecture": architecture, "trees": specs, "extra": extra or {}}
    arrays["__meta__"] = np.array(json.dumps(meta, sort_keys=True))
    with _io.atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def without_optimizer(src, dest):
    """Copy checkpoint ``src`` to ``dest`` without the outer Adam state (two thirds of the file):
    all that ``eval`` and ``adapt`` read, but not enough to ``--resume``, which refuses it
    (``extra["optimizer_state"]`` is ``"dropped"``)."""
    ckpt = load(src)
    save(dest, model=ckpt["model"], metaopt=ckpt["metaopt"], adam={}, config=ckpt["config"],
         iteration=ckpt["iteration"], rng_state=ckpt["rng_state"],
         validation=ckpt["validation"], architecture=ckpt["architecture"],
         extra=dict(ckpt["extra"], optimizer_state="dropped"))


def load(path):
    """Read a checkpoint written by :func:`save`; returns a dict with the same fields.

    A missing file raises ``FileNotFoundError`` naming it; anything else that is not such a
    checkpoint (a folder, an empty, truncated or foreign file) raises ``ValueError`` naming
    it. Nothing is ever unpickled: arrays of Python objects are refused.
    """
    meta, arrays = _read(path, arrays=True)
    out = _fields(meta)
    try:
        for group in GROUPS:
            out[group] = _unflatten(meta["trees"][group], arrays)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path} is a damaged theory.engine checkpoint (entry {err} of its "
                         "__meta__ trees is missing)") from None
    out["best"] = _unflatten(meta["trees"]["best"], arrays) if "best" in meta["trees"] else None
    return out


def read_meta(path):
    """Only the ``__meta__`` fields of a checkpoint (``config``, ``iteration``, ``validation``,
    ``extra``, ...), without reading its arrays: how far a run has got. Errors as
    :func:`load`'s."""
    return _fields(_read(path, arrays=False)[0])


def _fields(meta):
    """The fields of a checked ``__meta__`` that describe the run (not the file's format)."""
    return {key: value for key, value in meta.items() if key not in ("format", "version", "trees")}


def _read(path, *, arrays):
    """``(meta, arrays)`` of the checkpoint at ``path`` (``arrays``: also every array, else
    ``{}``), its ``__meta__`` checked."""
    path = os.fspath(path)
    with _io.open_regular(path, what="checkpoint") as handle:
        magic = handle.read(4)
    if magic != ZIP_MAGIC:
        what = "an empty file" if not magic else "not an .npz archive"
        raise ValueError(f"{path} is not a theory.engine checkpoint ({what})")
    try:
        _check_sizes(path)
        with np.load(path, allow_pickle=False) as npz:
            entries = {key: npz[key] for key in (npz.files if arrays else ("__meta__",))}
        meta = json.loads(str(entries.pop("__meta__")))
    except KeyError:
        raise ValueError(f"{path} is not a theory.engine checkpoint (no __meta__ entry)") from None
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise ValueError(f"{path} is not a theory.engine checkpoint (truncated or damaged .npz "
                         f"archive: {err})") from None
    except RecursionError:
        raise ValueError(f"{path} is a damaged theory.engine checkpoint: its __meta__ is "
                         "nested too deeply") from None
    except ValueError as err:
        # numpy's refusal of object arrays suggests unsafe loading: never repeat it
        reason = "it holds Python objects" if "pickle" in str(err) else str(err)
        raise ValueError(f"{path} is not a theory.engine checkpoint ({reason})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT \
            or meta.get("version") != VERSION:
        found = f"a JSON {type(meta).__name__}" if not isinstance(meta, dict) else \
            f"format {meta.get('format')!r} version {meta.get('version')!r}"
        raise ValueError(f"{path} is not a theory.engine checkpoint: its __meta__ has {found}; "
                         f"expected {FORMAT!r} version {VERSION}")
    _schema.check(meta, schema.CHECKPOINT_META,
                  f"{path} is a damaged theory.engine checkpoint: its __meta__")
    return meta, entries


def _check_sizes(path):
    """``ValueError`` if an array of the archive at ``path`` claims more bytes than its entry
    holds (a damaged or forged header would otherwise allocate them, e.g. 10^12 elements)."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                try:
                    read = np.lib.format.read_array_header_1_0 \
                        if np.lib.format.read_magic(member) == (1, 0) \
                        else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(member)
                except ValueError as err:
                    raise ValueError(f"entry {info.filename}: {err}") from None
            claimed = math.prod(shape) * dtype.itemsize
            if claimed > info.file_size:
                raise ValueError(f"entry {info.filename} claims shape {shape} of {dtype} "
                                 f"({claimed} bytes) but holds {info.file_size} bytes")


def restore(path):
    """Load a checkpoint into ``(config, meta_params, metaopt_obj, ckpt)``, checking its shapes.

    The architecture is rebuilt from the stored config and compared key by key and shape by
    shape, so a checkpoint that does not fit its config raises ``ValueError`` naming the key.
    """
    ckpt = load(path)
    config = run_config.from_saved(ckpt["config"])
    in_shape = ckpt["extra"].get("in_shape")
    if not (isinstance(in_shape, list) and len(in_shape) == 3
            and all(isinstance(s, int) and s >= 1 for s in in_shape)):
        raise ValueError(f"checkpoint {path} records no valid input shape (in_shape="
                         f"{in_shape!r}, expected [C, H, W]); it was not written by "
                         "`python -m theory.engine train`")
    check_finite(ckpt, path, groups=("model", "metaopt"))
    fresh = run_config.init_meta_params(config, in_shape, np.random.default_rng(0))
    what = f"checkpoint {path}"
    if ckpt["architecture"] is not None:
        check_architecture(ckpt["architecture"], cnn.architecture(fresh["model"]), what=what)
    check_compatible(ckpt["model"], fresh["model"], what=what)
    check_compatible(ckpt["metaopt"], fresh["metaopt"], what=what)
    meta_params = {"model": ckpt["model"], "metaopt": ckpt["metaopt"]}
    opt_obj = run_config.make_metaopt(config["metaopt"], config["metaopt_options"])
    return config, meta_params, opt_obj, ckpt


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


def check_finite(ckpt, path, groups=GROUPS):
    """Raise ``ValueError`` naming the first tree of ``groups`` in ``ckpt`` (from :func:`load`)
    that holds a NaN or infinity: training stops before it saves such parameters."""
    for group in groups:
        for where, value in _tree.with_paths(ckpt[group]):
            if not _tree.all_finite(value):
                raise ValueError(f"checkpoint {path} holds non-finite values in "
                                 f"{_key(group, where)}; a run stops before it saves such "
                                 "parameters")


def check_compatible(found, expected, *, what="checkpoint"):
    """Raise ``ValueError`` naming the first key or shape where two param dicts differ.

    ``found`` comes from a checkpoint, ``expected`` from the architecture being loaded into.
    """
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    if missing or unexpected:
        raise ValueError(f"{what} has another architecture: params missing {missing}, "
                         f"unexpected {unexpected}")
    for key, value in expected.items():
        have = np.shape(found[key])
        if have != np.shape(value):
            raise ValueError(f"{what} has another architecture: {key} has shape {have}, "
                             f"expected {np.shape(value)}")


def check_architecture(found, expected, *, what="checkpoint"):
    """Raise ``ValueError`` naming the first field where two architecture dicts differ."""
    for key in sorted(set(found) | set(expected)):
        if _jsonable(found.get(key)) != _jsonable(expected.get(key)):
            raise ValueError(f"{what} has another architecture: {key}={found.get(key)!r}, "
                             f"expected {key}={expected.get(key)!r}")


def _jsonable(value):
    """Normalise tuples to lists so a JSON round trip compares equal."""
    return json.loads(json.dumps(value))


def _key(prefix, path):
    """The archive key of the leaf at ``path`` of group ``prefix``: ``model/conv1/w``."""
    return "/".join(map(str, (prefix, *path)))


def _flatten(tree, prefix, arrays):
    """Store the leaves of ``tree`` in ``arrays`` under ``prefix/...``; return its JSON spec."""
    names = _tree.map_with_path(lambda path, _: _key(prefix, path), tree)
    for name, leaf in zip(_tree.leaves(names), _tree.leaves(tree), strict=True):
        if name in arrays:
            raise ValueError(f"two leaves share the checkpoint key {name!r}")
        arrays[name] = np.asarray(leaf)
    return _tree.to_json(names)


def _unflatten(spec, arrays):
    """Inverse of :func:`_flatten`."""
    return _tree.map(arrays.__getitem__, _tree.from_json(spec))
