"""The schemas of the files the engine writes and reads back (``theory._schema``).

- ``FIELD_SPECS``: ``{key: spec}`` of every key of the run-config table.
- ``CONFIG``: a run config as records and checkpoints store it. Each key of the run-config
  table (``config.FIELDS``) that is present is checked by its kind, so a field added to the
  table is checked here too; ``dataset`` and ``iterations`` are required, any other key is
  allowed (a record of a newer or older version still reads).
- ``RUN_RECORD``: an ``engine-run`` record (``results.json``, schema in
  ``results/README.md``); ``FAILED_RECORD``: the sweep's record of a run that failed.
- ``CHECKPOINT_META``: the ``__meta__`` of a checkpoint (``theory.engine.checkpoint``).
- ``ANSWERS``: the ``answers.json`` of an ``episode`` (``theory.engine.data.export``);
  ``ANSWER_MAP``: the bare mapping a user may give ``adapt --answers`` instead.

``read(path, schema, what)`` reads a JSON file (``theory._io.read_json``) and checks it.
"""

from theory import _io
from theory._schema import Any, Bool, Int, List, Map, Num, Obj, Opt, Str, Tuple, check
from theory.engine import config as run_config

_KIND_SPEC = {"int": lambda f: Int(f.bound), "int?": lambda f: Opt(Int(f.bound)),
              "step": lambda f: Num(0), "choice": lambda f: Str(f.bound),
              "flag": lambda f: Bool(), "path": lambda f: Opt(Str()),
              "options": lambda f: Opt(Map(Any()))}
FIELD_SPECS = {f.name: _KIND_SPEC[f.kind](f) for f in run_config.FIELDS}
_REQUIRED = ("dataset", "iterations", "inner_lr", "meta_lr")
CONFIG = Obj({k: FIELD_SPECS[k] for k in _REQUIRED},
             {k: v for k, v in FIELD_SPECS.items() if k not in _REQUIRED})

ACCURACY = Num(0, 1)
VALIDATION = List(Tuple(Int(0), ACCURACY))          # [[iteration, accuracy], ...]
TEST = Obj({"accuracy": ACCURACY}, {"ci95": Opt(Num(0)), "episodes": Int(1)})
RUN_RECORD = Obj(
    {"kind": Str(("engine-run",)), "config": CONFIG, "seed": Int(0), "test": TEST},
    {"validation": VALIDATION, "iterations_done": Int(0), "wall_time_s": Num(0), "commit": Opt(Str()),
     "checkpoint": Str(), "parameters": Map(Int(0)),
     "best": Opt(Obj({"iteration": Int(0), "val_accuracy": ACCURACY})),
     "stopped": Obj({"iteration": Int(0), "reason": Str(("plateau", "cap"))}),
     "adaptation": Obj({"steps": List(Int(0)), "accuracy": List(ACCURACY)},
                       {"ci95": List(Opt(Num(0))), "episodes": Int(1)})})
FAILED_RECORD = Obj({"kind": Str(("engine-run-failed",)), "status": Str(("diverged", "error")),
                     "config": CONFIG, "seed": Int(0)},
                    {"error": Str(), "commit": Opt(Str())})

CHECKPOINT_META = Obj(
    {"format": Str(), "version": Int(), "config": Obj(), "iteration": Int(0),
     "rng_state": Obj(), "validation": VALIDATION, "trees": Obj(
         {"model": Any(), "metaopt": Any(), "adam": Any()}, {"best": Any()}),
     "extra": Obj(optional={"in_shape": List(Int(1), 3), "wall_time_s": Num(0),
                            "optimizer_state": Str()})},
    {"architecture": Opt(Obj())})

ANSWER_MAP = Map(Str())                 # {query file: class folder}
ANSWERS = Obj({"answers": ANSWER_MAP})


def read(path, schema, what):
    """The JSON object at ``path`` checked against ``schema``; ``ValueError`` naming ``what``,
    ``path`` and the field (``FileNotFoundError`` if it does not exist)."""
    return check(_io.read_json(path, dict, what=what), schema, f"{what} {path}")
