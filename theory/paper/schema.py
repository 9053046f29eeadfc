"""The schemas of the sweep's files (``theory._schema``), checked once where each is read.

- ``TABLE_RECORD`` / ``FAILED_RECORD``: a run's record in ``results/`` (the engine's record,
  ``theory.engine.schema``, plus ``sweep``); told apart by ``kind``. ``SWEEP_RECORD``: a
  table record as the sweep reads it for a run's state, which also needs its step sizes.
- ``STUDY``: an Optuna study's record ``lr-search/<dataset>/<key>.json``.
- ``LR_SEARCH``: a grid search ``lr-search/<dataset>.json``.
- ``INDEX``: ``checkpoints/index.json``, one entry per shipped checkpoint (its key is a file
  name: ``theory._schema.Name``).

``read(path, schema, what)`` returns the checked object, or ``None`` when ``path`` does not
exist; ``read_record(path)`` does so for a run's record of any kind, and ``record_problem(path)``
says what is wrong with one (``None`` if nothing).
"""

import os

from theory import _io, _schema
from theory._schema import Bool, Int, List, Map, Name, Num, Obj, Opt, Str
from theory.engine import schema as engine
from theory.engine.data import SPLIT_BY

STUDY_KIND, FAILED_KIND = "lr-study", "engine-run-failed"
LR = Num(0)
SWEEP = Obj(optional={"budget": Opt(Str()), "table": Str(), "method": Str(), "run": Str(),
                      "lr_source": Str()})
TABLE_RECORD = engine.RUN_RECORD.extend(optional={"sweep": SWEEP})
FAILED_RECORD = engine.FAILED_RECORD.extend(optional={"sweep": SWEEP})
WINNER = Obj({"inner_lr": LR, "meta_lr": LR, "val_accuracy": engine.ACCURACY})
STUDY = Obj(
    {"kind": Str((STUDY_KIND,)), "key": Str(), "dataset": Str(), "layers": Int(1),
     "grid": Obj({"inner_lr": List(LR), "meta_lr": List(LR)}), "complete": Bool(),
     "points": List(Obj({"inner_lr": LR, "meta_lr": LR, "status": Str(),
                         "val_accuracy": Opt(engine.ACCURACY)},
                        {"validation": engine.VALIDATION, "state": Str()})),
     "winner": Opt(WINNER)},
    {"sweep": SWEEP, "rung": Int(1), "reduction": Num(1), "method": Str()})
LR_SEARCH = Obj(
    {"kind": Str(("lr-search",)), "dataset": Str(), "points": List(Obj(
        {"run": Str(), "method": Str(), "inner_lr": LR, "meta_lr": LR, "iterations": Int(0),
         "val_accuracy": Opt(engine.ACCURACY), "status": Str()},
        {"layers": Int(1), "val_episodes": Int(1), "error": Opt(Str())})),
     "winners": Map(WINNER)},
    {"budget": Opt(Str())})
# how ``theory.paper.ship`` chose a checkpoint over the one shipped before it
CHOSEN_BY = Obj(optional={"candidate": engine.ACCURACY, "shipped": engine.ACCURACY,
                          "difference": Num(-1, 1), "ci95": Opt(Num(0)), "episodes": Int(1),
                          "query": Int(1), "seed": Int(0),
                          "replaced": Opt(Obj({"run": Str()}, {"budget": Opt(Str())}))})
INDEX = Map(Obj({"run": Str(), "val_accuracy": engine.ACCURACY, "test": engine.TEST.extend(
    {"ci95": Num(0), "episodes": Int(1)}), "config": Obj(
    {k: engine.FIELD_SPECS[k] for k in ("iterations", "layers", "hidden", "ways", "shots")},
    engine.FIELD_SPECS)},
    {"budget": Opt(Str()), "test_split": Str(SPLIT_BY), "test_holds": Str(),
     "chosen_by": CHOSEN_BY}), key=Name())
# the sweep's own reading of a run's record (its state) also compares the step sizes
SWEEP_RECORD = TABLE_RECORD.extend({"config": engine.CONFIG.extend(
    {"inner_lr": LR, "meta_lr": LR})})
_BY_KIND = {"engine-run": TABLE_RECORD, FAILED_KIND: FAILED_RECORD, STUDY_KIND: STUDY}
_SWEEP = dict(_BY_KIND, **{"engine-run": SWEEP_RECORD})


def read(path, schema, what):
    """The JSON object at ``path`` checked against ``schema`` (``ValueError`` naming ``what``,
    ``path`` and the field), or ``None`` when there is no such file."""
    if not os.path.lexists(path):
        return None
    return engine.read(path, schema, what)


def read_record(path, *, sweep=False):
    """The run record at ``path`` checked against the schema of its ``kind`` (``ValueError``
    naming ``path`` and the field), or ``None`` when there is no such file; ``sweep``: as the
    sweep reads its own records (``SWEEP_RECORD``: with the step sizes it compares)."""
    if not os.path.lexists(path):
        return None
    return check_record(_io.read_json(path, dict, what="record"), path, sweep=sweep)


def check_record(rec, path, *, sweep=False):
    """``rec``, read from ``path``, checked against the schema of its ``kind``."""
    _schema.check(rec, Obj({"kind": Str(tuple(_BY_KIND))}), f"record {path}")
    return _schema.check(rec, (_SWEEP if sweep else _BY_KIND)[rec["kind"]], f"record {path}")


def record_problem(path):
    """What is wrong with the sweep's run record at ``path`` (one line naming it and the
    field), or ``None`` when it is absent or fits its schema (``read_record(sweep=True)``)."""
    try:
        read_record(path, sweep=True)
    except ValueError as err:
        return str(err)
    return None
