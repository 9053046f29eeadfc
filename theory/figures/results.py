"""Read the engine's results JSON (``results/*.json``, kind ``"engine-run"``) for the tables.

A missing directory or a missing run is not an error here: figures and ``paper_repro.md`` then
say "our result: not yet run". A ``.json`` file that does not parse, or an ``engine-run``
record without its test accuracy, is (``ValueError`` naming the file): a damaged record must
not silently turn a cell into "not yet run". File layout: see the "Results JSON"
section of the engine interfaces (one file per run, ``config``, ``seed``, ``test.accuracy``,
``test.ci95``, ``test.episodes``).
"""

import glob
import json
import math
import os

import numpy as np
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DIR = os.path.join(ROOT, "results")  # the checkout's, wherever Python was started


def load_runs(directory=DEFAULT_DIR):
    """Every engine run found under ``directory`` (recursively), as parsed dicts.

    JSON of another kind (e.g. figure data) is skipped; a file that does not parse, or an
    engine run without ``config`` and ``test.accuracy``, raises ``ValueError`` naming it.
    """
    runs = []
    for path in sorted(glob.glob(os.path.join(os.fspath(directory), "**", "*.json"),
                                 recursive=True)):
        try:
            with open(path) as handle:
                data = json.load(handle)
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not valid JSON"
            raise ValueError(f"results file {path}: {reason}") from None
        if isinstance(data, dict) and data.get("kind") == "engine-run":
            if not _valid(data):
                raise ValueError(f"results file {path}: an engine-run record without "
                                 "config and test.accuracy")
            data["path"] = path
            runs.append(data)
    return runs


def _valid(run):
    test = run.get("test")
    return (isinstance(run.get("config"), dict) and isinstance(test, dict)
            and isinstance(test.get("accuracy"), (int, float)))


def percent(accuracy):
    """Accuracy as a percentage: engine runs store fractions in [0, 1].

    A value above 1 is taken to be a percentage already (chance level for 5 ways is 20 %).
    """
    return 100.0 * accuracy if accuracy <= 1.0 else float(accuracy)


def select(runs, *, dataset, method, layers, ways=5, shots=5):
    """Runs of one table cell. ``method``: ``maml``, ``maml+linnet`` or a meta-optimizer name.

    MAML rows have no meta-optimizer (``metaopt`` ``none``/``None``) and, except for
    ``maml+linnet``, no LinNet layers; meta-optimizer rows are MAML + that meta-optimizer.
    """
    chosen = []
    for run in runs:
        cfg = run["config"]
        metaopt = cfg.get("metaopt") or "none"
        linnet = cfg.get("linnet") or 0
        if (cfg.get("dataset"), cfg.get("layers"), cfg.get("ways"), cfg.get("shots"),
                cfg.get("algo", "maml")) != (dataset, layers, ways, shots, "maml"):
            continue
        if method == "maml+linnet":
            keep = metaopt == "none" and linnet > 0
        elif method == "maml":
            keep = metaopt == "none" and linnet == 0
        else:
            keep = metaopt == method and linnet == 0
        if keep:
            chosen.append(run)
    return chosen


def summarise(runs):
    """Mean test accuracy (%) over runs (seeds) with a 95 % half-width, or ``None`` if no runs.

    With several seeds the half-width is Student's t over the seed means; with one seed it is
    the run's own interval over test episodes (``None`` when that run had a single episode).
    """
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
            "episodes": int(sum(r["test"].get("episodes", 0) for r in runs)),
            "iterations": sorted({r["config"].get("iterations") for r in runs} - {None}),
            "files": [_shown(r["path"]) for r in runs]}


def _shown(path):
    """``path`` relative to the checkout when it lies inside it, else absolute."""
    path = os.path.abspath(path)
    inside = os.path.commonpath([path, ROOT]) == ROOT
    return os.path.relpath(path, ROOT) if inside else path
