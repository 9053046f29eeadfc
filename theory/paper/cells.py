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
the run had one test episode).
"""

import glob
import json
import math
import os

import numpy as np
from scipy import stats

from theory.paper import plan as planning
from theory.paper import records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DIR = os.path.join(ROOT, "results")  # the checkout's, wherever Python was started


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
    return {"accuracy": float(accs.mean()), "ci95": half, "seeds": len(accs),
            "interval": "seeds" if len(accs) > 1 else "episodes",
            "episodes": int(sum(r["test"].get("episodes", 0) for r in runs)),
            "iterations": sorted({r["config"].get("iterations") for r in runs} - {None}),
            "files": [_shown(r["path"]) for r in runs]}


def _shown(path):
    """``path`` relative to the checkout when it lies inside it, else absolute."""
    path = os.path.abspath(path)
    inside = os.path.commonpath([path, ROOT]) == ROOT
    return os.path.relpath(path, ROOT) if inside else path


def load(results_dir):
    """Every engine record and failure record under ``results_dir`` (recursively), each with
    its ``"path"``. JSON of another kind (figure data, a search, an index) is skipped; a file
    that does not parse, or a record without ``config`` (and, for an engine run, its test
    accuracy), raises ``ValueError`` naming it: a damaged record must not silently turn a
    cell into "not run"."""
    found = []
    pattern = os.path.join(os.fspath(results_dir), "**", "*.json")
    for path in sorted(glob.glob(pattern, recursive=True)):
        try:
            with open(path) as handle:
                rec = json.load(handle)
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not valid JSON"
            raise ValueError(f"results file {path}: {reason}") from None
        kind = rec.get("kind") if isinstance(rec, dict) else None
        if kind not in ("engine-run", records.FAILED):
            continue
        test = rec.get("test")
        if not rec.get("config") or not isinstance(rec["config"], dict) or (
                kind == "engine-run" and not (isinstance(test, dict) and isinstance(
                    test.get("accuracy"), (int, float)))):
            raise ValueError(f"results file {path}: an {kind} record without config"
                             + (" and test.accuracy" if kind == "engine-run" else ""))
        found.append(dict(rec, path=path))
    return found


def cells(results_dir, dataset, *, ways=5, shots=5):
    """``{(method, layers): cell}`` of ``dataset`` from every record under ``results_dir``:
    ``cell`` is ``summarise``'s summary plus ``"failed"`` (failure records) and ``"records"``
    (the engine records, each with its ``"path"``), or only ``{"failed": n}`` when every seed
    failed."""
    runs, failed = {}, {}
    for rec in load(results_dir):
        cfg = rec["config"]
        if (cfg.get("dataset"), cfg.get("ways"), cfg.get("shots")) != (dataset, ways, shots):
            continue
        key = (planning.method_of(cfg), cfg.get("layers"))
        if rec["kind"] == records.FAILED:
            failed[key] = failed.get(key, 0) + 1
        else:
            runs.setdefault(key, []).append(rec)
    out = {}
    for key in set(runs) | set(failed):
        out[key] = dict(summarise(runs.get(key, [])) or {}, failed=failed.get(key, 0))
        if key in runs:
            out[key]["records"] = runs[key]
    return out


def summary(cell):
    """A cell without its records (``None`` for a missing or failed-only cell): what the
    figures store as JSON."""
    if not has_result(cell):
        return None
    return {k: v for k, v in cell.items() if k not in ("records", "failed")}


def has_result(cell):
    """True when ``cell`` (a ``cells`` value or ``None``) has an accuracy."""
    return cell is not None and "accuracy" in cell


def budgets(found):
    """The distinct ``(budget, hidden, iterations, test episodes)`` of the records of the
    cells ``found`` (``cells``)."""
    keys = {(rec.get("sweep", {}).get("budget"), rec["config"].get("hidden"),
             rec["config"].get("iterations"), rec["test"].get("episodes"))
            for cell in found.values() for rec in cell.get("records", ())}
    return sorted(keys, key=str)
