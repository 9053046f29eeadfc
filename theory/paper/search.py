"""One learning-rate study per (method, depth), run by Optuna on the validation split.

A study run of the plan (a ``plan.Run`` of kind ``"study"``: ``run.study`` holds the ``grid``
of inner and meta learning rates, the first ``rung`` and the ``reduction`` factor) tries every grid
point, in the grid's order, as a short engine run (``run.config``) that validates every
``rung`` meta-iterations. Optuna's ``SuccessiveHalvingPruner`` (asynchronous successive
halving) stops a point at a rung (``rung``, ``rung * reduction``, ...) when its validation
accuracy there is not in the top ``1 / reduction`` of the points that reached that rung before
it (a point that reached the last round completes); a point's score is its best validation
accuracy. A point whose meta-loss diverged scores
0 and is marked ``diverged``. The winner is the completed point of highest score (the first
on ties). The test split is never used.

The study lives in an Optuna journal file in the run's directory and each point trains in its
own folder there (``a<inner>-b<meta>``) with the engine's checkpoints, so an interrupted study
resumes: finished points are kept, and a point that was running resumes from its checkpoint,
its validation rounds so far reported to Optuna first (so the pruner judges it on every rung).
A study whose grid has changed since its journal was written (Optuna's categorical choices
cannot change within a study) starts a new journal, the old one kept beside it as
``<journal>.superseded-<n>``; the points of the new grid that have a folder resume from their
checkpoints in the same way, so no training is repeated.
``run_study`` returns the study's summary record (kind ``STUDY``), which the client writes.
"""

import importlib
import itertools
import os

from theory.engine import checkpoint
from theory.engine import train as training

STUDY = "lr-study"
JOURNAL = "optuna-journal.log"


def require():
    """The ``optuna`` module, or ``ValueError`` saying how to install it (the ``cluster`` and
    ``test`` extras have it; nothing else in ``theory`` needs it)."""
    try:
        return importlib.import_module("optuna")
    except ImportError:
        raise ValueError("the learning-rate studies of this budget need Optuna: "
                         "pip install -e '.[cluster]'") from None


def points(grid):
    """The grid's points ``[{"inner_lr", "meta_lr"}]`` in order (inner lr outer)."""
    return [{"inner_lr": a, "meta_lr": m}
            for a, m in itertools.product(grid["inner_lr"], grid["meta_lr"])]


def point_dir(out_dir, point):
    """The folder where ``point`` trains (its checkpoints), inside the study's ``out_dir``."""
    return os.path.join(os.fspath(out_dir), f"a{point['inner_lr']:g}-b{point['meta_lr']:g}")


def _study(run, out_dir):
    """The study of ``run`` in ``out_dir``: its journal's, or a new journal's when the journal
    holds points drawn from another grid (that journal is then kept as ``.superseded-<n>``)."""
    study = _open(run, out_dir)
    grid = run.study["grid"]
    drawn = {(name, tuple(d.choices)) for t in study.get_trials(deepcopy=False)
             for name, d in t.distributions.items()}
    if drawn <= {(name, tuple(grid[name])) for name in ("inner_lr", "meta_lr")}:
        return study
    journal = os.path.join(out_dir, JOURNAL)
    n = next(n for n in itertools.count(1) if not os.path.exists(f"{journal}.superseded-{n}"))
    os.replace(journal, f"{journal}.superseded-{n}")
    return _open(run, out_dir)


def _open(run, out_dir):
    optuna = require()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = optuna.storages.journal.JournalFileBackend(os.path.join(out_dir, JOURNAL))
    spec = run.study
    return optuna.create_study(
        study_name=run.name, storage=optuna.storages.JournalStorage(backend),
        direction="maximize", load_if_exists=True,
        pruner=optuna.pruners.SuccessiveHalvingPruner(
            min_resource=spec["rung"], reduction_factor=spec["reduction"]))


def _key(point):
    return (float(point["inner_lr"]), float(point["meta_lr"]))


def run_study(run, out_dir, *, callback=None):
    """Run (or resume) ``run``'s study in ``out_dir``; returns its summary (``summary``).
    ``callback(iteration, info)`` is passed to every engine run."""
    optuna = require()
    os.makedirs(out_dir, exist_ok=True)
    study = _study(run, out_dir)
    finished = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        # a point interrupted with its process: closed here, tried again below from its
        # checkpoint
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    done = {_key(t.params) for t in study.get_trials(deepcopy=False, states=finished)}
    for point in points(run.study["grid"]):
        if _key(point) not in done:
            study.enqueue_trial(point)
            study.optimize(lambda trial: _objective(trial, run, out_dir, callback), n_trials=1,
                           catch=())
    return summary(run, study)


def _objective(trial, run, out_dir, callback):
    optuna = require()
    grid = run.study["grid"]
    point = {"inner_lr": trial.suggest_categorical("inner_lr", grid["inner_lr"]),
             "meta_lr": trial.suggest_categorical("meta_lr", grid["meta_lr"])}
    where = point_dir(out_dir, point)
    os.makedirs(where, exist_ok=True)

    def judge(iteration, accuracy):
        trial.report(accuracy, iteration)
        # a point that has trained the whole way completes: nothing is left to save
        if iteration < run.config["iterations"] and trial.should_prune():
            raise optuna.TrialPruned()

    def report(iteration, info):
        if callback is not None:
            callback(iteration, info)
        if "val_accuracy" in info:
            judge(iteration, info["val_accuracy"])

    saved = os.path.join(where, training.CHECKPOINT)
    resume = os.path.exists(saved)
    for iteration, accuracy in checkpoint.read_meta(saved)["validation"] if resume else ():
        judge(int(iteration), float(accuracy))      # the rounds trained before this trial
    try:
        record = training.train(dict(run.config, **point), out_dir=where, resume=resume,
                                progress=False, callback=report)
    except training.DivergedError as err:
        trial.set_user_attr("status", "diverged")
        trial.set_user_attr("error", str(err))
        return 0.0
    trial.set_user_attr("status", "ok")
    return max(acc for _, acc in record["validation"])


def summary(run, study):
    """The study's record: ``{"kind": STUDY, "key", "dataset", "layers", "grid", "rung",
    "reduction", "selection", "points": [{"inner_lr", "meta_lr", "state", "status",
    "validation": [[iteration, accuracy]], "val_accuracy"}], "winner"}``; ``winner`` is
    ``None`` if no point completed without diverging."""
    optuna = require()
    rows = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.state not in (optuna.trial.TrialState.COMPLETE,
                               optuna.trial.TrialState.PRUNED):
            continue
        status = trial.user_attrs.get("status", "pruned")
        curve = [[int(k), float(v)] for k, v in sorted(trial.intermediate_values.items())]
        rows[_key(trial.params)] = {
            **trial.params, "state": trial.state.name.lower(), "status": status,
            "validation": curve,
            "val_accuracy": max((v for _, v in curve), default=None)
            if status != "diverged" else None,
            "error": trial.user_attrs.get("error")}
    ordered = [rows[_key(p)] for p in points(run.study["grid"]) if _key(p) in rows]
    last = run.config["iterations"]
    ok = [r for r in ordered if r["val_accuracy"] is not None and r["validation"]
          and r["validation"][-1][0] == last]
    best = max(ok, key=lambda r: r["val_accuracy"]) if ok else None
    spec = run.study
    return {"kind": STUDY, "key": run.name, "dataset": run.dataset,
            "layers": run.layers, "method": run.method,
            "config": {k: run.config[k] for k in ("hidden", "iterations", "val_every",
                                                     "val_episodes", "ways", "shots")},
            "grid": spec["grid"], "rung": spec["rung"], "reduction": spec["reduction"],
            "selection": "highest best-round validation accuracy of the points that reached "
                         "the last rung (Optuna SuccessiveHalvingPruner)",
            "complete": len(ordered) == len(points(spec["grid"])),
            "points": ordered,
            "winner": None if best is None else
            {k: best[k] for k in ("inner_lr", "meta_lr", "val_accuracy")}}
