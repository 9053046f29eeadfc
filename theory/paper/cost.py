"""What a plan costs: the estimated seconds of a run, and the plan as ``plan`` prints it.

``COST`` holds measured single-thread seconds (results/README.md), rounded up: ``step``, one
second-order meta-iteration of MAML by depth (5-way 5-shot, 5 inner steps, meta-batch 16,
query 15, hidden 16); ``method``, other methods relative to MAML at 2 layers; ``ways20``, a
20-way 1-shot meta-iteration relative to a 5-way 5-shot one at query 15, of which
``ways20_query`` gives the share that does not scale with the query images per class and the
share per image; ``episode``, one evaluation episode; ``start``, process start and data
loading. Other widths scale as ``(hidden / 16) ** 1.6``. ``step_authors``: the same meta-iteration
on the authors' Omniglot network (stride-2 convs, the mean readout) at width 32 with 5 query
images per class, and ``method_authors`` the methods on it; other widths scale as
``(hidden / 32) ** 1.6``. Both were first measured on single meta-steps, then scaled to the
wall time of the finished ``authors`` runs (wall time over the estimate at the iterations each
ran, median by method and depth: KFO 0.66, T-Nets 0.57, MC 0.80, Meta-SGD 0.92, ANIL 0.31,
ANIL+KFO 0.35, MAML and MAML w/ LinNet 0.96-1.05 at 2 layers, 0.81-0.82 at 3, 0.66-0.84 at 4,
0.70 at 6), so an estimate is what a run took beside a second run on the other core.
"""

from theory.paper.plan import run_id
from theory.paper.records import FINAL

COST = {"step": {2: 1.9, 3: 2.1, 4: 2.3, 6: 2.6}, "episode": 0.05, "ways20": 1.8,
        "step_authors": {2: 1.0, 3: 1.05, 4: 1.15, 6: 1.3},
        "ways20_query": (0.475, 0.035), "start": 5.0,
        "method": {"maml": 1.0, "linnet": 1.0, "metasgd": 1.0, "mc": 1.0, "tnet": 1.2,
                   "kfo": 1.2, "anil": 0.3, "anil-kfo": 0.3},
        "method_authors": {"maml": 1.0, "linnet": 1.0, "metasgd": 0.9, "mc": 0.8, "tnet": 0.7,
                           "kfo": 0.8, "anil": 0.1, "anil-kfo": 0.11}}


def estimate_seconds(run):
    """Estimated seconds of ``run`` on one idle core (single-thread BLAS), from ``COST``: a
    run with early stopping is counted at its cap (an upper bound); a study at every grid
    point's first rung plus, for two thirds of them, the rest of the way (asynchronous
    successive halving cannot prune the first points it sees)."""
    cfg = run.config
    authors = cfg.get("downsample") == "stride"
    step = COST["step_authors" if authors else "step"][cfg["layers"]]
    method = COST["method_authors" if authors else "method"][run.method]
    scale = (cfg["hidden"] / (32 if authors else 16)) ** 1.6 * cfg["meta_batch"] / 16 \
        * cfg["steps"] / 5 * method * (_ways20(cfg["query"]) if cfg["ways"] == 20 else 1.0)
    iterations, rounds = cfg["iterations"], -(-cfg["iterations"] // cfg["val_every"])
    if run.kind == "study":
        spec = run.study
        n = len(spec["grid"]["inner_lr"]) * len(spec["grid"]["meta_lr"])
        longer = -(-2 * n // 3)
        iterations = n * spec["rung"] + longer * (cfg["iterations"] - spec["rung"])
        rounds = -(-iterations // cfg["val_every"])
    episodes = cfg["test_episodes"] + cfg["val_episodes"] * rounds
    curve = (run.curve or {}).get("episodes", 0) * 2     # K = 10 steps: about 2 tests
    return COST["start"] + scale * (iterations * step
                                    + (episodes + curve) * COST["episode"] * 16
                                    / cfg["meta_batch"])


def _ways20(query):
    """Cost of a 20-way 1-shot meta-iteration relative to 5-way 5-shot, at ``query`` query
    images per class (linear in ``query``: 1.0x ``COST["ways20"]`` at 15)."""
    fixed, per_image = COST["ways20_query"]
    return COST["ways20"] * (fixed + per_image * query)


def describe(plan, states=None, jobs=1):
    """One line per run (id, state from ``states`` ``{run_id: state}`` if given, iterations,
    width, lrs and their source: ``default`` until the search has run, estimated minutes) and
    the total estimated wall time of the runs still to run with ``jobs`` runs at once."""
    states = states or {}
    lines, total = [], 0.0
    for run in plan:
        state = states.get(run_id(run), "")
        if state not in FINAL:      # a divergence is final: not run again
            total += estimate_seconds(run)
        cfg = run.config
        if run.kind == "study":
            grid = run.study["grid"]
            lrs = (f"study of {len(grid['inner_lr'])}x{len(grid['meta_lr'])} "
                   f"(rung {run.study['rung']})")
        elif "inner_lr" not in cfg:        # before ``records.assign_lrs``
            lrs = "lrs from its search"
        else:
            lrs = (f"a={cfg['inner_lr']:<5g} b={cfg['meta_lr']:<7g} "
                   f"({run.lr_source})")
        cap = "cap " if cfg.get("patience") else ""
        lines.append(f"{run_id(run):<40} {state:<8} it={cap}{cfg['iterations']:<6} "
                     f"h={cfg['hidden']:<3} {lrs} ~{estimate_seconds(run) / 60:.1f} min")
    capped = any(r.config.get("patience") for r in plan)
    if states and all(states.get(run_id(r)) in FINAL for r in plan):
        lines.append(tally(plan, states))
    else:
        done = sum(1 for r in plan if states.get(run_id(r)) == "done")
        lines.append(f"{len(plan)} runs ({done} done), estimated {total / 3600 / jobs:.2f} h "
                     f"for the rest with {jobs} job(s) on {jobs} idle core(s)"
                     + (" (runs with early stopping counted at their cap)" if capped else ""))
    return "\n".join(lines), total


def tally(plan, states):
    """One line: how many runs of ``plan`` are in each state of ``states`` (``records.status``
    values), and ``complete`` when none is left to run."""
    counts = {}
    for run in plan:
        state = states.get(run_id(run), "new")
        counts[state] = counts.get(state, 0) + 1
    words = {"done": "done", "failed": "failed (final)", "outside": "outside the recorded "
             "search (not run)", "retry": "failed (retried by run)", "partial": "begun",
             "new": "not started", "damaged": "damaged (trained again by run)"}
    parts = ", ".join(f"{counts[k]} {w}" for k, w in words.items() if counts.get(k))
    left = sum(counts.get(k, 0) for k in ("retry", "partial", "new", "damaged"))
    done = "complete: nothing left to run" if not left else f"{left} left to run"
    return f"{len(plan)} run{'s' * (len(plan) != 1)}: {parts}; {done}"
