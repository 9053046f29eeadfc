"""The alpha sweep on CNNs: final test accuracy against the inner lr alpha (table ``alpha``).

The paper's R1 says shallow MAML's post-adaptation loss depends on the inner step alpha: with
nothing above the adapted layer to shape the step, the step size the outer loop cannot change
decides how far one adaptation gets. A model that can shape its own adaptation (extra layers
on top, a meta-optimizer, depth) should depend on alpha much less. The sweep trains each model
of ``MODELS`` at each alpha of the budget (one seed, ``theory.paper.budgets``), and ``claim``
judges the statistic registered in results/README.md before the sweep ran:

- a model's **spread** is its highest minus its lowest test accuracy over the alphas, as a
  ``verdicts.Difference`` of those two single-seed cells (their test-episode intervals combined
  in quadrature); a diverged run counts as chance (100 / ways %) with no interval;
- "shallow MAML depends on alpha more than X" is spread(MAML, 2 layers) - spread(X), judged as
  every ordering claim (``verdicts``); the claim is the worst of its verdicts over the other
  models. Every cell rests on one seed.

Where a model diverged, the detail adds a reading that is described, not registered (it was
chosen after the sweep ran, so it decides nothing): the spreads over the alphas at which every
model trained, which separate "depends on alpha" from "unstable at a large alpha".
"""

import math

from theory.paper import cells, records, verdicts, vocabulary

__all__ = ["MODELS", "BUDGET", "sweep", "spread", "claim"]

MODELS = (("maml", 2), ("linnet", 2), ("kfo", 2), ("maml", 4))
BUDGET = vocabulary.AUTHORS
CLAIM = "shallow MAML's accuracy depends on alpha more than LinNet's, KFO's and 4-layer MAML's"


def sweep(results_dir, dataset="omniglot", budget=BUDGET, *, ways=5, shots=5):
    """``{(method, layers): {alpha: point}}`` of the alpha-table records of ``budget``.

    A point is ``cells.summarise`` of its one record (``accuracy``, ``ci95`` in %, ``seeds``)
    plus ``"path"``, or for a diverged run ``{"accuracy": chance, "ci95": 0.0, "seeds": 1,
    "diverged": True}``; a run that failed otherwise is left out (it is retried by the sweep).
    """
    out = {}
    for rec in cells.load(results_dir):
        cfg, sweep_ = rec["config"], rec.get("sweep") or {}
        if sweep_.get("table") != "alpha" or sweep_.get("budget") != budget \
                or (cfg.get("dataset"), cfg.get("ways"), cfg.get("shots")) != (dataset, ways,
                                                                               shots):
            continue
        key = (vocabulary.method_of(cfg), cfg.get("layers"))
        if rec["kind"] == records.FAILED:
            if rec.get("status") != "diverged":
                continue
            point = {"accuracy": 100.0 / ways, "ci95": 0.0, "seeds": 1, "diverged": True}
        else:
            point = dict(cells.summarise([rec]), path=rec["path"])
        out.setdefault(key, {})[float(cfg["inner_lr"])] = point
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items(), key=lambda kv: str(kv))}


def spread(points):
    """``(Difference, (alpha_high, alpha_low))``: the highest minus the lowest accuracy of
    ``{alpha: point}``, or ``None`` with fewer than two points."""
    if len(points) < 2:
        return None
    high = max(points, key=lambda a: points[a]["accuracy"])
    low = min(points, key=lambda a: points[a]["accuracy"])
    return (verdicts.combine((1, _estimate(points[high])), (-1, _estimate(points[low]))),
            (high, low))


def _estimate(point):
    """A point's accuracy as a ``Difference`` of one normal term (one seed; a diverged run is
    exact)."""
    if point.get("diverged"):
        return verdicts.Difference(point["accuracy"], 0.0, math.inf, (None,))
    return verdicts.estimate(point)


def claim(found, alphas):
    """The registered claim on ``found`` (``sweep``): a ``verdicts.Claim`` whose detail lists
    every model's spread and each comparison; "not run" until every model has every alpha of
    ``alphas``."""
    complete = all(set(alphas) <= set(found.get(key, {})) for key in MODELS)
    if not complete:
        have = sum(len(found.get(key, {})) for key in MODELS)
        return verdicts.Claim(CLAIM, verdicts.NOT_RUN,
                              f"{have} of {len(MODELS) * len(alphas)} runs", [])
    spreads = {key: spread({a: found[key][a] for a in alphas}) for key in MODELS}
    base = spreads[MODELS[0]][0]
    parts, worst = [], []
    for key in MODELS:
        d, (high, low) = spreads[key]
        parts.append(f"{_label(key)}: spread {d.mean:.1f} (best alpha {high:g}, "
                     f"worst {low:g})")
    for key in MODELS[1:]:
        d = verdicts.combine((1, base), (-1, spreads[key][0]))
        worst.append(d.verdict())
        parts.append(f"vs {_label(key)}: {d.text()}")
    order = (verdicts.FAILED_CLAIM, verdicts.NOISE, verdicts.HELD)
    verdict = min(worst, key=order.index)
    trained = [a for a in alphas if not any(found[key][a].get("diverged") for key in MODELS)]
    if 2 <= len(trained) < len(alphas):
        described = ", ".join(
            f"{_label(key)} {spread({a: found[key][a] for a in trained})[0].mean:.1f}"
            for key in MODELS)
        parts.append(f"described, not registered: over the alphas where every model trained "
                     f"({', '.join(f'{a:g}' for a in trained)}) the spreads are {described}")
    return verdicts.Claim(CLAIM, verdict, "; ".join(parts), list(MODELS))


def _label(key):
    return f"{vocabulary.LABEL[key[0]]}, {key[1]} layers"
