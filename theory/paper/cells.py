"""Reading records into table cells: the one function (``cells``) behind the figures, the
README block and ``paper_repro.md``.

Every JSON file under the results directory (recursively) is read; engine records (kind
``"engine-run"``, ``theory.engine.train``) and failure records (``records.FAILED``) of the
asked dataset and setting (5-way 5-shot by default) are grouped by ``(method, layers)``, the
method named by ``plan.method_of(config)`` from the run's own config, so a record found
anywhere, by the sweep or by ``python -m theory.engine train``, lands in its cell. JSON of
another kind is skipped and a missing directory gives no cells; a damaged file is an error
naming it (``load``).

A cell aggregates its seeds (``summarise``): the mean test accuracy in %, with a 95 %
half-width that is Student's t over the seed means when there are several seeds
(``"interval": "seeds"``) and, for a single seed, that run's own interval over its test
episodes (``"interval": "episodes"``; it ignores seed-to-seed variance, and is ``None`` when
the run had one test episode). A cell of early-stopped runs (records with ``"stopped"``)
also has ``"stopped"``: the median iteration its seeds stopped at and how many stopped on a
plateau or at the cap.

Cells never mix budgets: ``grouped`` splits the records by ``sweep.budget`` (``None`` for a
record not written by the sweep) and ``cells(..., budget=)`` returns one budget's cells. A claim
or figure reads the budget ``preferred`` for its cells: the most thorough budget (``ORDER``:
``full``, ``converged``, ``cpu``, then any other, then ``None``) in which every cell it needs
has a result, else the most thorough one that has any of them. Search points
(``sweep.table == "lr-search"``) and the alpha sweep's runs (``"alpha"``,
``theory.paper.alpha``) are never table cells. ``curve(cell)`` is a cell's
adaptation curve (test accuracy after k inner steps, from records with ``"adaptation"``),
aggregated over seeds per k exactly like the cell itself.
"""

import glob
import math
import os

import numpy as np
from scipy import stats

from theory import _io, _paths
from theory.paper import records, schema, vocabulary

ORDER = ("full", "converged", "cpu")          # budgets, most thorough first


def percent(accuracy):
    """Accuracy as a percentage: engine runs store fractions in [0, 1].

    A value above 1 is taken to be a percentage already (chance level for 5 ways is 20 %).
    """
    return 100.0 * accuracy if accuracy <= 1.0 else float(accuracy)


def summarise(runs):
    """Mean test accuracy (%) over ``runs`` (engine records of one cell, one per seed) with a
    95 % half-width and what it is over (module docstring); ``None`` if there are no runs."""
    if not runs:
        return None
    accs = np.array([percent(r["test"]["accuracy"]) for r in runs])
    if len(accs) > 1:
        half = float(stats.t.ppf(0.975, len(accs) - 1) * accs.std(ddof=1) / math.sqrt(len(accs)))
    else:
        test = runs[0]["test"]
        scale = 100.0 if test["accuracy"] <= 1.0 else 1.0  # ci95 shares accuracy's unit
        # one test episode has no interval (the engine records ``None``): unknown, not zero
        half = None if test.get("ci95") is None else scale * float(test["ci95"])
    out = {"accuracy": float(accs.mean()), "ci95": half, "seeds": len(accs),
           "interval": "seeds" if len(accs) > 1 else "episodes",
           "episodes": int(sum(r["test"].get("episodes", 0) for r in runs)),
           "iterations": sorted({r["config"].get("iterations") for r in runs} - {None}),
           "files": [_paths.shown(r["path"]) for r in runs]}
    stops = [r["stopped"] for r in runs if isinstance(r.get("stopped"), dict)]
    if stops:
        reasons = [s.get("reason") for s in stops]
        out["stopped"] = {"median": float(np.median([s["iteration"] for s in stops])),
                          "plateau": reasons.count("plateau"), "cap": reasons.count("cap")}
    return out


def load(results_dir):
    """Every engine record and failure record under ``results_dir`` (recursively), each with
    its ``"path"``. JSON of another kind (figure data, a search, an index) is skipped; a file
    that does not parse (or is a FIFO, say), or a record that fails its schema
    (``theory.paper.schema``), raises ``ValueError`` naming it and the field: a damaged record
    must not silently turn a cell into "not run"."""
    found = []
    pattern = os.path.join(os.fspath(results_dir), "**", "*.json")
    for path in sorted(glob.glob(pattern, recursive=True)):
        rec = _io.read_json(path, what="results file")
        if isinstance(rec, dict) and rec.get("kind") in ("engine-run", records.FAILED):
            found.append(dict(schema.check_record(rec, path), path=path))
    return found


def budget_of(record):
    """The sweep budget a record was written by (``None``: not by the sweep)."""
    return (record.get("sweep") or {}).get("budget")


def ordered(names):
    """Budget names most thorough first: ``ORDER``, then others by name, then ``None``."""
    def rank(name):
        return (name is None, ORDER.index(name) if name in ORDER else len(ORDER), str(name))
    return sorted(names, key=rank)


def grouped(results_dir, dataset, *, ways=5, shots=5):
    """``{budget: {(method, layers): cell}}`` of ``dataset`` from every record under
    ``results_dir``, budgets ``ordered``: ``cell`` is ``summarise``'s summary plus ``"failed"``
    (failure records) and ``"records"`` (the engine records, each with its ``"path"``), or
    only ``{"failed": n}`` when every seed failed. Search points and the alpha sweep's runs
    are left out."""
    runs, failed = {}, {}
    for rec in load(results_dir):
        cfg = rec["config"]
        if (cfg.get("dataset"), cfg.get("ways"), cfg.get("shots")) != (dataset, ways, shots) \
                or (rec.get("sweep") or {}).get("table") in ("lr-search", "alpha"):
            continue
        key = (budget_of(rec), vocabulary.method_of(cfg), cfg.get("layers"))
        if rec["kind"] == records.FAILED:
            failed[key] = failed.get(key, 0) + 1
        else:
            runs.setdefault(key, []).append(rec)
    out = {}
    for key in set(runs) | set(failed):
        cell = dict(summarise(runs.get(key, [])) or {}, failed=failed.get(key, 0))
        if key in runs:
            cell["records"] = runs[key]
        out.setdefault(key[0], {})[key[1:]] = cell
    return {b: out[b] for b in ordered(out)}


def cells(results_dir, dataset, *, ways=5, shots=5, budget=None):
    """``{(method, layers): cell}`` of ``dataset`` (``grouped``) from the records of
    ``budget``; without ``budget``, of every record, which must then all be of one budget
    (``ValueError`` naming the budgets found: cells of two budgets are never mixed)."""
    groups = grouped(results_dir, dataset, ways=ways, shots=shots)
    if budget is None:
        if len(groups) > 1:
            raise ValueError(f"records of budgets {list(groups)} for {dataset} under "
                             f"{results_dir}: give budget= (cells never mix budgets)")
        return next(iter(groups.values()), {})
    return groups.get(budget, {})


def preferred(groups, keys, ok=None):
    """The budget of ``groups`` (``{budget: {key: value}}``) whose values satisfy ``ok``
    (default ``has_result``) for every key of ``keys``, most thorough first; else the most
    thorough budget where any key does; ``None`` when no budget has any."""
    ok = has_result if ok is None else ok
    names = ordered(groups)
    for test in (all, any):
        for name in names:
            if test(ok(groups[name].get(k)) for k in keys):
                return name
    return None


def choose(results_dir, dataset, keys):
    """``(budget, cells)`` of ``dataset`` in the budget ``preferred`` for ``keys`` (``(None,
    {})`` when no record has any of them)."""
    groups = grouped(results_dir, dataset)
    name = preferred(groups, keys)
    return name, groups.get(name, {})


def summary(cell):
    """A cell without its records (``None`` for a missing or failed-only cell): what the
    figures store as JSON."""
    if not has_result(cell):
        return None
    return {k: v for k, v in cell.items() if k not in ("records", "failed")}


def has_result(cell):
    """True when ``cell`` (a ``cells`` value or ``None``) has an accuracy."""
    return cell is not None and "accuracy" in cell


def setup(found):
    """What the records of the cells ``found`` were run with: ``{"hidden", "iterations",
    "patience", "val_every", "val_episodes", "test_episodes", "network", "schedule"}`` (each a
    sorted list of the distinct values; ``network`` is ``"downsample/readout"``, the original
    ``"maxpool/flatten"`` for records from before those fields; ``schedule`` the meta-lr
    schedule; ``patience`` lists only values >= 1, so it is empty for fixed-length runs) and ``"stopped"`` (``[iteration]`` of the early-stopped runs) and ``"reasons"``
    (``{"plateau": n, "cap": n}``)."""
    recs = [r for cell in found.values() for r in cell.get("records", ())]
    out = {k: sorted({r["config"].get(k) for r in recs} - {None})
           for k in ("hidden", "iterations", "val_every", "val_episodes")}
    out["patience"] = sorted({r["config"].get("patience") or 0 for r in recs} - {0})
    out["network"] = sorted({f"{r['config'].get('downsample', 'maxpool')}/"
                             f"{r['config'].get('readout', 'flatten')}" for r in recs})
    out["schedule"] = sorted({r["config"].get("meta_lr_schedule", "constant") for r in recs})
    out["test_episodes"] = sorted({r["test"].get("episodes") for r in recs} - {None})
    stops = [r["stopped"] for r in recs if isinstance(r.get("stopped"), dict)]
    out["stopped"] = sorted(s["iteration"] for s in stops)
    out["reasons"] = {why: sum(s.get("reason") == why for s in stops) for why in ("plateau", "cap")}
    return out


def curve(cell):
    """The adaptation curve of a cell: ``{"steps", "accuracy", "ci95", "seeds", "interval",
    "episodes", "split", "files", "steps_to_90", "trained_steps", "trained"}`` with, per
    number of inner steps k, ``summarise`` over the seeds whose records have ``"adaptation"``
    (accuracy in %), the fewest steps after which the mean has made 90 % of its gain from the
    first to the last step, and ``summarise`` of each seed's mean accuracy over the steps
    k = 1..(inner steps of meta-training) (``_over_steps``); ``None`` if no record has a
    curve.
    ``ValueError`` naming the file when a record's curve is damaged or its steps differ from
    the other seeds'."""
    recs = [r for r in (cell or {}).get("records", ()) if r.get("adaptation")]
    if not recs:
        return None
    steps = recs[0]["adaptation"].get("steps")
    for r in recs:
        a = r["adaptation"]
        if not steps or a.get("steps") != steps or any(
                not isinstance(a.get(k), list) or len(a[k]) != len(steps)
                for k in ("accuracy", "ci95")):
            raise ValueError(f"results file {r['path']}: adaptation needs steps, accuracy and "
                             f"ci95 of one length, with the steps of the other seeds {steps}")
    per_k = [summarise([_tested(r, r["adaptation"]["accuracy"][i], r["adaptation"]["ci95"][i])
                        for r in recs]) for i in range(len(steps))]
    trained = [k for k in steps if 1 <= k <= recs[0]["config"].get("steps", 0)]
    return {"steps": list(steps), "accuracy": [s["accuracy"] for s in per_k],
            "ci95": [s["ci95"] for s in per_k], "seeds": len(recs),
            "interval": per_k[0]["interval"], "episodes": per_k[0]["episodes"],
            "split": recs[0]["adaptation"].get("split"), "files": per_k[0]["files"],
            "steps_to_90": _steps_to(steps, [s["accuracy"] for s in per_k], 0.9),
            "trained_steps": trained, "trained": _over_steps(recs, [steps.index(k)
                                                                   for k in trained])}


def _over_steps(recs, at):
    """``summarise`` of each record's mean test accuracy over the curve's entries ``at`` (the
    inner steps of meta-training: the area under the curve over them), ``None`` without any.
    A record's half-width is the mean of its per-step episode half-widths: an upper bound,
    since the steps share their test episodes (used only for a cell of one seed)."""
    if not at:
        return None
    return summarise([_tested(r, float(np.mean([r["adaptation"]["accuracy"][i] for i in at])),
                              float(np.mean([r["adaptation"]["ci95"][i] for i in at])))
                      for r in recs])


def _tested(rec, accuracy, ci95):
    """The record ``rec`` as ``summarise`` reads a run, with a test result of ``accuracy`` and
    ``ci95`` read off its adaptation curve (over the curve's test episodes)."""
    return {"test": {"accuracy": accuracy, "ci95": ci95,
                     "episodes": rec["adaptation"].get("episodes", 0)},
            "config": rec["config"], "path": rec["path"]}


def _steps_to(steps, accuracy, share):
    """The fewest inner steps after which ``accuracy`` has gained ``share`` of its gain from
    the first to the last step of ``steps`` (the first step when it gains nothing)."""
    target = accuracy[0] + share * (accuracy[-1] - accuracy[0])
    return next(k for k, acc in zip(steps, accuracy, strict=True) if acc >= target - 1e-9)


def adaptation(results_dir, dataset="omniglot", keys=vocabulary.ADAPTATION_KEYS):
    """``(budget, {key: curve or None})`` of the models ``keys`` of ``dataset``, in the budget
    ``preferred`` for their curves (``(None, {key: None})`` when no record has one)."""
    groups = {name: {k: curve(found.get(k)) for k in keys}
              for name, found in grouped(results_dir, dataset).items()}
    name = preferred(groups, keys, ok=lambda c: c is not None)
    return name, groups.get(name, dict.fromkeys(keys))


def _validation(record):
    """A record's validation curve as ``{"seed", "iterations", "accuracy" (%), "best",
    "stopped", "reason"}`` (``ValueError`` naming the file when the curve is damaged)."""
    val = record.get("validation")      # its form is checked where it is read (``load``)
    if val is None:
        raise ValueError(f"results file {record['path']}: field validation is missing")
    stopped = record.get("stopped") or {}
    return {"seed": record.get("seed", record["config"].get("seed")),
            "iterations": [int(i) for i, _ in val], "accuracy": [percent(a) for _, a in val],
            "best": (record.get("best") or {}).get("iteration"),
            "stopped": stopped.get("iteration"), "reason": stopped.get("reason")}


def validation_curves(results_dir, dataset="omniglot", *, budget=None, exclude=()):
    """``(budget, {(method, layers): {"runs": [curve], "cap", "val_every", "patience",
    "schedule"}})`` (``schedule``: the runs' meta-lr schedule, ``constant`` or ``cosine``):
    the validation curve of every 5-way 5-shot run of ``dataset`` in budget ``budget`` if
    given, else in the most thorough budget not in ``exclude`` whose runs stop early (records
    with ``"stopped"``), cells sorted by depth then method (``(None, {})`` when no such record
    exists). ``curve`` is ``{"seed", "iterations", "accuracy"`` (%) ``, "best", "stopped",
    "reason"}``, runs by seed. Search points are left out, as in ``grouped``."""
    early = {}
    for name, found in grouped(results_dir, dataset).items():
        if name in exclude or budget not in (None, name):
            continue
        cells_ = {}
        for key, cell in found.items():
            recs = [r for r in cell.get("records", ()) if isinstance(r.get("stopped"), dict)]
            if recs:
                cfg = recs[0]["config"]
                cells_[key] = {"runs": sorted((_validation(r) for r in recs),
                                              key=lambda c: str(c["seed"])),
                               "cap": cfg.get("iterations"), "val_every": cfg.get("val_every"),
                               "patience": cfg.get("patience"),
                               "schedule": cfg.get("meta_lr_schedule", "constant")}
        if cells_:
            early[name] = cells_
    if not early:
        return None, {}
    name = ordered(early)[0]
    order = list(vocabulary.METHODS)
    return name, dict(sorted(early[name].items(),
                             key=lambda kv: (kv[0][1], order.index(kv[0][0])
                                             if kv[0][0] in order else len(order), kv[0][0])))


def late_gain(run, rounds=2):
    """How much a run's validation accuracy rose (points) over its last ``rounds`` rounds:
    the last value minus the one ``rounds`` rounds before it (``None`` for a shorter curve)."""
    acc = run["accuracy"]
    return acc[-1] - acc[-1 - rounds] if len(acc) > rounds else None


def largest_fall(run):
    """How far a run's validation accuracy fell below its best round so far (points): the
    largest ``max(acc[:i]) - acc[i]``, 0 for a curve that never fell (``None``: one round).
    A collapse that best-round selection hides from the test accuracy shows here."""
    acc = np.asarray(run["accuracy"], dtype=float)
    if len(acc) < 2:
        return None
    return float(max(0.0, np.max(np.maximum.accumulate(acc)[:-1] - acc[1:])))


def stopping(found):
    """How the runs of ``found`` (``validation_curves``' cells) ended: ``{"runs", "plateau",
    "cap", "late_gain_median", "late_gain_min", "late_gain_max", "largest_fall"}``
    (``late_gain`` over the runs, in points; ``None`` without a long enough curve;
    ``largest_fall``: ``{(method, layers): the largest fall of its seeds}``, points)."""
    runs = [r for c in found.values() for r in c["runs"]]
    gains = [g for g in map(late_gain, runs) if g is not None]
    spread = ((float(np.median(gains)), min(gains), max(gains)) if gains else (None,) * 3)
    falls = {k: [f for f in map(largest_fall, c["runs"]) if f is not None]
             for k, c in found.items()}
    return {"runs": len(runs), "plateau": sum(r["reason"] == "plateau" for r in runs),
            "cap": sum(r["reason"] == "cap" for r in runs),
            **dict(zip(("late_gain_median", "late_gain_min", "late_gain_max"), spread,
                       strict=True)),
            "largest_fall": {k: max(f) for k, f in falls.items() if f}}
