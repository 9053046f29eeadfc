"""Where the sweep's records live, what state each run is in, and the search's winners.

The records of a budget live in ``budget_dir``: ``results/<folder>/`` for a budget with a
``folder`` (``converged``), else ``results/`` itself (``cpu``'s records predate folders); the
functions below take that directory as ``results_dir``. A table run's record is
``<table>/<dataset>/<name>.json`` there (the engine's record plus ``"sweep"``; a failure is
recorded there as kind ``FAILED``). A search point's engine record stays in its run directory
``runs/<budget>/<table>/<dataset>/<name>/`` (git-ignored) and its summary goes to the
committed ``lr-search/<dataset>.json``, which is enough to count the point as done in a fresh
clone; a budget with Optuna studies (``theory.paper.search``) records each study as
``lr-search/<dataset>/<key>.json`` instead. Only the client (``theory.paper.execute``) writes
here: ``write_outcome`` stores what a worker returned, atomically (``theory._io``).
"""

import dataclasses
import glob
import os
import shutil

from theory import _io
from theory.engine import checkpoint, stopping
from theory.engine import train as training
from theory.paper import budgets, schema, search
from theory.paper.plan import run_id

FAILED = "engine-run-failed"
STATE = {"done": "done", "failed": "failed", "retry": "failed", "partial": "pending",
         "new": "pending", "outside": "outside the recorded search", "damaged": "damaged"}
# ``status`` -> the states ``python -m theory.paper status`` prints
FINAL = ("done", "failed", "outside")   # states ``run`` does not run again
FAILURE_FILE = "failed.json"


def budget_dir(results_dir, budget_name):
    """The folder of ``budget_name``'s records under ``results_dir`` (module docstring)."""
    folder = budgets.budget(budget_name).get("folder")
    return os.path.join(os.fspath(results_dir), folder) if folder else os.fspath(results_dir)


def record_path(results_dir, run):
    """``results/<table>/<dataset>/<name>.json`` of a table run."""
    return os.path.join(os.fspath(results_dir), run.table, run.dataset, run.name + ".json")


def lr_search_path(results_dir, dataset):
    """The recorded learning-rate search of ``dataset``."""
    return os.path.join(os.fspath(results_dir), "lr-search", f"{dataset}.json")


def run_dir(runs_dir, budget_name, run):
    """The run's working directory (checkpoint and engine record), absolute."""
    return os.path.abspath(os.path.join(os.fspath(runs_dir), budget_name, run.table,
                                        run.dataset, run.name))


def read_json_or_none(path):
    """The JSON object at ``path``, or ``None`` if there is no such file (``ValueError``
    naming it when it is not a JSON object)."""
    return _io.read_json(path, dict, what="record") if os.path.exists(path) else None


def _record_file(results_dir, runs_dir, budget_name, run):
    """Where ``run``'s outcome is recorded: its record in ``results/``, or for a search point
    its run directory (``results.json``, or a failure as ``failed.json``)."""
    if run.kind == "point":
        return os.path.join(run_dir(runs_dir, budget_name, run), FAILURE_FILE)
    return record_path(results_dir, run)


def _committed_point(results_dir, budget_name, run):
    """The search point of ``run`` in the committed ``results/lr-search/<dataset>.json`` (same
    budget, lrs and length), or ``None``."""
    search = _grid_search(results_dir, run.dataset) or {}
    if search.get("budget") != budget_name:
        return None
    for point in search.get("points", ()):
        if point["run"] == run.name and all(
                point.get(k) == run.config[k] for k in ("inner_lr", "meta_lr", "iterations")):
            return point
    return None


def _grid_search(results_dir, dataset):
    """The checked grid search ``lr-search/<dataset>.json`` (``None`` if there is none)."""
    return schema.read(lr_search_path(results_dir, dataset), schema.LR_SEARCH,
                       "lr-search file")


def _own_files(results_dir, runs_dir, budget_name, run):
    """The files that record ``run``'s outcome: its record, and a search point's engine
    record in its run directory."""
    files = [_record_file(results_dir, runs_dir, budget_name, run)]
    if run.kind == "point":
        files.append(os.path.join(run_dir(runs_dir, budget_name, run), training.RESULTS))
    return files


def damage(results_dir, runs_dir, budget_name, run):
    """What is wrong with ``run``'s record (one line naming the file and the field), or
    ``None``: a record that fails its schema (``theory.paper.schema``) is ``"damaged"``."""
    return next(filter(None, map(schema.record_problem,
                                 _own_files(results_dir, runs_dir, budget_name, run))), None)


def set_aside(results_dir, runs_dir, budget_name, run):
    """Rename ``run``'s damaged record files to ``<file>.damaged`` (kept for a look, never
    read again) so the run is trained afresh; returns their new names."""
    moved = []
    for path in _own_files(results_dir, runs_dir, budget_name, run):
        if schema.record_problem(path):
            os.replace(path, path + ".damaged")
            moved.append(path + ".damaged")
    return moved


def status(results_dir, runs_dir, budget_name, run):
    """``"done"``, ``"failed"`` (final), ``"outside"`` (final), ``"retry"``, ``"partial"``
    (checkpoint), ``"new"`` or ``"damaged"`` (a record that fails its schema: ``damage`` says
    how).

    A search point is done when its engine record is in its run directory or the committed
    search lists it with a validation accuracy (a diverged point there is final). A point of
    the budget's own grid that the committed search of its budget does not list, where that
    search already has a winner for the point's method, is ``"outside"``: the search that was
    run (and whose winner the table runs took) did not cover it, and running it now would
    change a finished search under the runs that used it. A point of a grid given with
    ``lr_inner``/``lr_meta`` (``lr_source == "given"``) is run."""
    if damage(results_dir, runs_dir, budget_name, run):
        return "damaged"
    out = run_dir(runs_dir, budget_name, run)
    if run.kind == "point":
        if os.path.lexists(os.path.join(out, training.RESULTS)):
            return "done"
        point = _committed_point(results_dir, budget_name, run)
        if point is not None and not os.path.exists(os.path.join(out, FAILURE_FILE)):
            if point.get("val_accuracy") is not None:
                return "done"
            if point.get("status") == "diverged":
                return "failed"
        if point is None and run.lr_source == "grid" and not os.path.exists(out) \
                and _searched(results_dir, budget_name, run):
            return "outside"
    path = _record_file(results_dir, runs_dir, budget_name, run)
    rec = schema.read_record(path, sweep=True)
    if rec is None:
        return "partial" if os.path.exists(os.path.join(out, training.CHECKPOINT)) else "new"
    if rec["kind"] == FAILED:
        return "failed" if rec["status"] == "diverged" else "retry"
    if rec["kind"] == search.STUDY:     # a study of another grid is continued
        return "done" if rec["complete"] and rec["grid"] == run.study["grid"] \
            else "partial"
    if rec.get("sweep", {}).get("budget") not in (None, budget_name) \
            or rec["config"]["iterations"] != run.config["iterations"]:
        raise ValueError(f"{path} holds a run of another budget "
                         f"({rec.get('sweep', {}).get('budget')!r}, "
                         f"{rec['config']['iterations']} iterations); choose another "
                         "--results directory")
    lrs = [(rec["config"][k], run.config.get(k)) for k in ("inner_lr", "meta_lr")]
    if any(want is not None and have != want for have, want in lrs):
        raise ValueError(f"{path} was trained with (inner, meta) lrs "
                         f"{tuple(h for h, _ in lrs)}, but the search now gives "
                         f"{tuple(w for _, w in lrs)}; delete it and {out} to re-run it")
    return "done"


def failure_reason(results_dir, runs_dir, budget_name, run):
    """The ``error`` of ``run``'s failure record (``"no failure record"`` without one)."""
    rec = read_json_or_none(_record_file(results_dir, runs_dir, budget_name, run)) or {}
    return rec.get("error") if rec.get("kind") == FAILED else "no failure record"


def _searched(results_dir, budget_name, run):
    """Whether the committed grid search of ``run``'s dataset and budget has a winner for
    ``run``'s method (its search is finished)."""
    search_ = _grid_search(results_dir, run.dataset) or {}
    return search_.get("budget") == budget_name and run.search_key in search_.get("winners", {})


def progress(runs_dir, budget_name, run):
    """How far an unfinished run has got, as text (``None`` when it has not started): a table
    run's iteration of its checkpoint and its best validation round so far, or the grid points
    a study has begun; a checkpoint that cannot be read is named, not raised."""
    out = run_dir(runs_dir, budget_name, run)
    if run.kind == "study":
        grid = search.points(run.study["grid"])
        begun = sum(os.path.isdir(search.point_dir(out, p)) for p in grid)
        return f"{begun} of {len(grid)} points begun" if begun else None
    path = os.path.join(out, training.CHECKPOINT)
    if not os.path.exists(path):
        return None
    try:
        meta = checkpoint.read_meta(path)
    except ValueError as err:
        return f"checkpoint unreadable: {err}; {afresh(out)}"
    text = f"at iteration {meta['iteration']} of {run.config['iterations']}"
    best = stopping.best_summary(meta.get("validation") or [])
    if best is not None:
        text += f", best validation {100 * best['val_accuracy']:.1f} % at {best['iteration']}"
    return text


def afresh(out):
    """How to start the run in run directory ``out`` afresh (its checkpoint cannot be read)."""
    return f"delete {out} to start the run afresh"


def sweep_info(run, budget_name):
    """The ``"sweep"`` entry of ``run``'s record."""
    return {"budget": budget_name, "table": run.table, "method": run.method,
            "run": run.name, "lr_source": run.lr_source}


BUSY = "busy"   # the outcome of a run another process was training (``execute.claim``)


def write_outcome(results_dir, runs_dir, budget_name, run, outcome):
    """Store what a worker returned for ``run`` (``outcome``: ``{"status", "record",
    "checkpoint"}``, see ``execute.train_run``), atomically; returns its status. A search point's
    engine record goes to its run directory, a table run's (with ``"sweep"``) to ``results/``,
    a failure (with ``"sweep"``) where ``status`` looks for it; the checkpoint bytes, when the
    plan keeps them, to the run directory. A ``BUSY`` run writes nothing."""
    if outcome["status"] == BUSY:
        return BUSY
    out = run_dir(runs_dir, budget_name, run)
    for key, name in (("checkpoint", training.CHECKPOINT), ("best", stopping.BEST)):
        if outcome.get(key) is not None:
            with _io.atomic_open(os.path.join(out, name), "wb") as handle:
                handle.write(outcome[key])
    record = dict(outcome["record"], sweep=sweep_info(run, budget_name))
    if outcome["status"] != "done":
        _io.write_json(_record_file(results_dir, runs_dir, budget_name, run), record)
    elif run.kind == "point":   # as the engine writes it
        _io.write_json(os.path.join(out, training.RESULTS), outcome["record"])
        if os.path.exists(os.path.join(out, FAILURE_FILE)):
            os.remove(os.path.join(out, FAILURE_FILE))
    else:
        _io.write_json(record_path(results_dir, run), record)
    return outcome["status"]


def _point(results_dir, runs_dir, budget_name, run):
    """``run``'s search point from its run directory, else from the committed search."""
    out, cfg = run_dir(runs_dir, budget_name, run), run.config
    rec = schema.read_record(os.path.join(out, training.RESULTS)) \
        or schema.read_record(os.path.join(out, FAILURE_FILE))
    if rec is None:
        committed = _committed_point(results_dir, budget_name, run)
        if committed is not None:
            return committed
        rec = {"status": "not run"}
    return {"run": run.name, "method": run.search_key, "layers": run.layers,
            **{k: cfg[k] for k in ("inner_lr", "meta_lr", "iterations", "val_episodes")},
            "val_accuracy": rec["validation"][-1][1] if rec.get("validation") else None,
            "status": rec.get("status", "ok"), "error": rec.get("error")}


def lr_winners(results_dir, runs_dir, budget_name, plan):
    """Write each dataset's search (every lr-search point of ``plan``, its final validation
    accuracy and status, plus the points of the same budget recorded there before and absent
    from ``plan``) to ``results/lr-search/<dataset>.json``; return the winners
    ``{(dataset, method): (inner_lr, meta_lr)}`` (highest accuracy, first on ties)."""
    points = {}
    for run in (r for r in plan if r.kind == "point"
                and status(results_dir, runs_dir, budget_name, r) != "outside"):
        points.setdefault(run.dataset, []).append(
            _point(results_dir, runs_dir, budget_name, run))
    winners = {}
    for dataset, pts in points.items():
        # a restricted plan (--methods, --layers) keeps the other points already recorded
        old = _grid_search(results_dir, dataset) or {}
        if old.get("budget") == budget_name:
            names = {p["run"] for p in pts}
            pts = [p for p in old.get("points", []) if p["run"] not in names] + pts
        ok = [p for p in pts if p["val_accuracy"] is not None]
        best = {m: max((p for p in ok if p["method"] == m), key=lambda p: p["val_accuracy"])
                for m in dict.fromkeys(p["method"] for p in ok)}
        _io.write_json(lr_search_path(results_dir, dataset), {
            "kind": "lr-search", "dataset": dataset, "budget": budget_name, "split": "val",
            "selection": "highest final validation accuracy", "points": pts,
            "winners": {m: {k: p[k] for k in ("inner_lr", "meta_lr", "val_accuracy")}
                        for m, p in best.items()}})
        winners.update({(dataset, m): (p["inner_lr"], p["meta_lr"]) for m, p in best.items()})
    return winners


def assign_lrs(plan, results_dir, budget_name):
    """``plan`` with ``inner_lr``/``meta_lr`` set in every table run's config: its search's
    winner (``winners``), else the budget's default; a 20-way run without a 20-way search
    takes MAML's 5-way winner. Each table run gets ``lr_source`` ``"lr-search"`` or
    ``"default"``; search runs are returned as they are."""
    default = budgets.budget(budget_name)["default_lr"]
    out = []
    for run in plan:
        if run.kind != "train" or run.lr_source == "given":
            out.append(run)
            continue
        won = winners(results_dir, budget_name, run.dataset)
        key = run.search_key
        if key not in won and run.table == "checkpoints":
            key = "maml"      # no 20-way search (e.g. --only checkpoints): MAML's 5-way lrs
        lrs = (won[key]["inner_lr"], won[key]["meta_lr"]) if key in won else default
        out.append(dataclasses.replace(
            run, config=dict(run.config, inner_lr=lrs[0], meta_lr=lrs[1]),
            lr_source="lr-search" if key in won else "default"))
    return out


def winners(results_dir, budget_name, dataset):
    """``{search key: {"inner_lr", "meta_lr", "val_accuracy"}}`` recorded for ``dataset``:
    from its Optuna studies (``lr-search/<dataset>/*.json``: complete, and over the grid the
    budget now gives) or its grid search (``lr-search/<dataset>.json``) of the same budget."""
    won, b = {}, budgets.budget(budget_name)
    for path in sorted(glob.glob(os.path.join(os.fspath(results_dir), "lr-search", dataset,
                                              "*.json"))):
        if schema.record_problem(path):
            continue                    # a damaged study: its run says so, and runs again
        rec = schema.read_record(path)
        if rec["kind"] == search.STUDY and rec["complete"] and rec["winner"] \
                and rec.get("sweep", {}).get("budget") == budget_name and budgets.per_depth(b) \
                and rec["grid"] == budgets.study_grid(
                    budgets.search_spec(b, rec["key"], rec["layers"])):
            won[rec["key"]] = rec["winner"]
    grid = _grid_search(results_dir, dataset) or {}
    if grid.get("budget") in (None, budget_name):
        won = dict(grid.get("winners", {}), **won)
    return won


SPLIT_TEXT = {"character": "characters never seen in meta-training (character split)",
              "alphabet": "alphabets never seen in meta-training (alphabet split)"}


def copy_checkpoints(results_dir, runs_dir, budget_name, plan, shipped_dir=None):
    """Copy the best 2- and 4-layer Omniglot checkpoints (by best validation accuracy) of the
    5-way 5-shot tables and of the 20-way 1-shot runs (one per data split) to ``shipped_dir``
    (default ``<results_dir>/checkpoints``) without optimizer state, for eval and adapt: a run
    with early stopping gives its best-validation parameters (``best.npz``), any other its
    last (``checkpoint.without_optimizer``). Returns ``{file: source run}``, also written to
    ``index.json`` there with each file's validation and test accuracy and what its test split
    holds (``SPLIT_TEXT``)."""
    shipped_dir = shipped_dir or os.path.join(os.fspath(results_dir), "checkpoints")
    best = {}
    for run in plan:
        if not run.keep_checkpoint:
            continue
        path = record_path(results_dir, run)
        rec = None if schema.record_problem(path) else schema.read_record(path) or {}
        if rec is None or rec.get("kind") != "engine-run" or not rec.get("validation"):
            continue                    # a damaged record is run again, then copied
        split = rec["config"].get("split_by", "character")
        setting = "20w1s" if run.table == "checkpoints" else "5w5s"
        name = (f"omniglot-{setting}-{run.layers}layer"
                f"{'' if split == 'character' else '-' + split}.npz")
        _io.inside(shipped_dir, name, what=f"checkpoint name (from {path})")
        score = rec["best"]["val_accuracy"] if rec.get("best") else rec["validation"][-1][1]
        if name not in best or score > best[name][0]:
            best[name] = (score, run, rec)
    index = {}
    for name, (score, run, rec) in sorted(best.items()):
        dest, src = _io.inside(shipped_dir, name), run_dir(runs_dir, budget_name, run)
        if rec.get("best"):
            os.makedirs(shipped_dir, exist_ok=True)
            with _io.atomic_open(dest, "wb") as out, \
                    open(os.path.join(src, stopping.BEST), "rb") as handle:
                shutil.copyfileobj(handle, out)
        else:
            checkpoint.without_optimizer(os.path.join(src, training.CHECKPOINT), dest)
        split = rec["config"].get("split_by", "character")
        index[name] = {"run": run_id(run), "budget": budget_name,
                       "val_accuracy": score, "test": rec["test"], "test_split": split,
                       "test_holds": SPLIT_TEXT[split], "config": rec["config"]}
    if index:
        path = os.path.join(shipped_dir, "index.json")
        old = schema.read(path, schema.INDEX, "checkpoint index") or {}
        _io.write_json(path, dict(old, **index))
    return {k: v["run"] for k, v in index.items()}
