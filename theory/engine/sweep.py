"""The benchmark-table sweep: a declarative plan of engine runs (``sweep_run`` executes it).

Per dataset, 5-way 5-shot (``SETTING``): ``lr-search`` (each method, 2 layers, short runs over
the budget's lr grid, best final validation accuracy), ``table-a`` (paper Table 1: MAML and
MAML w/ LinNet at 2/3/4/6 layers), ``table-b`` (Table 2: meta-optimizers on 2 layers) and
``checkpoints`` (Omniglot 20-way 1-shot MAML). Each run trains in ``runs/<budget>/<id>/`` and
its record is copied to ``results/<id>.json`` (``run_id``); a record means done, a checkpoint
means resume, a failure is recorded. Besides the plan, this module holds the record paths, the
cost estimate, the learning-rate search's winners and the checkpoint copies. Plan, schema,
budgets, measurements: results/README.md.
"""

import os

from theory import _io
from theory.engine import checkpoint
from theory.engine import train as training

TABLES = ("lr-search", "table-a", "table-b", "checkpoints")
DATASETS = ("omniglot", "synthetic")
SETTING = {"ways": 5, "shots": 5, "steps": 5, "meta_batch": 16, "query": 15}
SETTING_20W = {"ways": 20, "shots": 1, "steps": 5, "meta_batch": 16, "query": 15}
LINNET, LINNET_WIDTH = 2, 64
METHODS = {
    "maml": {}, "linnet": {"linnet": LINNET, "linnet_width": LINNET_WIDTH},
    "metasgd": {"metaopt": "metasgd"}, "mc": {"metaopt": "mc"}, "tnet": {"metaopt": "tnet"},
    "kfo": {"metaopt": "kfo"}, "anil": {"algo": "anil"},
    "anil-kfo": {"algo": "anil", "metaopt": "kfo"},
}
TABLE_A_METHODS, TABLE_A_LAYERS = ("maml", "linnet"), (2, 3, 4, 6)
TABLE_B_METHODS = ("maml", "metasgd", "mc", "tnet", "kfo", "anil", "anil-kfo")
CHECKPOINT_LAYERS = (2, 4)
FAILED = "engine-run-failed"

# Budgets. ``seeds``: seeds of every 2-layer row; ``deep_seeds``: of deeper table-a rows;
# ``lr_*``: the search's grid and short runs (validation only; the engine's minimum of one
# test episode is ignored). ``cpu`` fits about 2.5 h on 2 idle cores with 2 jobs (``COST``).
BUDGETS = {
    "tiny": {"hidden": 4, "iterations": 4, "val_every": 2, "val_episodes": 4,
             "test_episodes": 10, "seeds": 1, "deep_seeds": 1, "meta_batch": 2, "query": 2,
             "steps": 1, "lr_iterations": 2, "lr_val_episodes": 4,
             "lr_inner": (0.1, 0.4), "lr_meta": (0.003,), "default_lr": (0.4, 0.003),
             "lr_20w": ((0.4,), (0.003,))},
    "cpu": {"hidden": 16, "iterations": 90, "val_every": 45, "val_episodes": 50,
            "test_episodes": 600, "seeds": 3, "deep_seeds": 1, "lr_iterations": 20,
            "lr_val_episodes": 50, "lr_inner": (0.001, 0.003, 0.01, 0.1, 0.4),
            "lr_meta": (0.003, 0.01),
            "default_lr": (0.4, 0.003), "lr_20w": ((0.01, 0.1, 0.4), (0.01,))},
    "full": {"hidden": 32, "iterations": 20000, "val_every": 1000, "val_episodes": 200,
             "test_episodes": 600, "seeds": 3, "deep_seeds": 3, "lr_iterations": 1000,
             "lr_val_episodes": 200, "lr_inner": (0.001, 0.003, 0.01, 0.1, 0.4),
             "lr_meta": (0.001, 0.003),
             "default_lr": (0.4, 0.001), "lr_20w": ((0.01, 0.1, 0.4), (0.001, 0.003))},
}

# Measured single-thread seconds (best of 3, OPENBLAS_NUM_THREADS=1; results/README.md) of one
# second-order meta-iteration, 5-way 5-shot, 5 inner steps, meta-batch 16, query 15, hidden
# 16, rounded up: MAML by depth, other methods relative to MAML at 2 layers, 20-way 1-shot
# relative to 5-way 5-shot; one evaluation episode; process start and data loading. Other
# widths scale as (hidden / 16) ** 1.6 (hidden 32: 2.2-3.1x hidden 16 at 2 layers).
COST = {"step": {2: 1.9, 3: 2.1, 4: 2.3, 6: 2.6}, "episode": 0.05, "ways20": 1.8, "start": 5.0,
        "method": {"maml": 1.0, "linnet": 1.0, "metasgd": 1.0, "mc": 1.0, "tnet": 1.2,
                   "kfo": 1.2, "anil": 0.3, "anil-kfo": 0.3}}


def budget(name):
    """The budget preset ``name`` (``ValueError`` naming the valid ones)."""
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}; valid budgets: {sorted(BUDGETS)}")
    return dict(BUDGETS[name])


def _check_subset(kind, values, valid):
    if any(v not in valid for v in values):
        raise ValueError(f"unknown {kind} {[v for v in values if v not in valid]}; "
                         f"valid: {list(valid)}")


def make_plan(budget_name, *, tables=TABLES, datasets=DATASETS, methods=None, layers=None,
              seeds=None, checkpoints=False, lr_inner=None, lr_meta=None):
    """The runs of a sweep: dicts ``{table, dataset, method, layers, seed, name, config}``
    (table runs get their lrs from ``assign_lrs``); ``methods``/``layers``/``seeds`` (a count)
    restrict the plan; the ``checkpoints`` table needs ``checkpoints=True``; ``lr_inner``/
    ``lr_meta`` (sequences of positive floats) replace the budget's search grid."""
    b = budget(budget_name)
    for name, grid in (("lr_inner", lr_inner), ("lr_meta", lr_meta)):
        if grid is not None:
            if not grid or any(isinstance(v, bool) or not isinstance(v, (int, float))
                               or not 0 < v < float("inf") for v in grid):
                raise ValueError(f"{name}={grid!r} must be a non-empty list of positive "
                                 "numbers")
            b[name] = tuple(float(v) for v in grid)
    for kind, values, valid in (("table", tables, TABLES), ("dataset", datasets, DATASETS),
                                ("method", methods or (), METHODS),
                                ("layers", layers or (), TABLE_A_LAYERS)):
        _check_subset(kind, values, valid)
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise ValueError(f"seeds={seeds!r} must be an integer >= 1")
    n_seeds = b["seeds"] if seeds is None else seeds
    want_m, want_l = set(methods or METHODS), set(layers or TABLE_A_LAYERS)
    base = {k: b[k] for k in ("hidden", "iterations", "val_every", "val_episodes",
                              "test_episodes")}
    setting = dict(SETTING, **{k: b[k] for k in ("meta_batch", "query", "steps") if k in b})
    runs, seen = [], set()

    def add(table, dataset, method, depth, seed, cfg, name):
        if (table, dataset, name) not in seen:
            seen.add((table, dataset, name))
            runs.append({"table": table, "dataset": dataset, "method": method, "layers": depth,
                         "seed": seed, "name": name,
                         "config": dict(cfg, dataset=dataset, layers=depth, seed=seed,
                                        checkpoint_every=max(1, cfg["val_every"]))})

    def cell(table, dataset, method, depth):
        count = n_seeds if depth == 2 else min(n_seeds, b["deep_seeds"])
        for seed in range(count):
            add(table, dataset, method, depth, seed, dict(base, **setting, **METHODS[method]),
                f"{method}-L{depth}-s{seed}")

    for dataset in datasets:
        short = dict(base, iterations=b["lr_iterations"], val_every=b["lr_iterations"],
                     val_episodes=b["lr_val_episodes"], test_episodes=1)
        if "lr-search" in tables:
            for method in METHODS:
                if method in want_m and 2 in want_l:
                    for a in b["lr_inner"]:
                        for m in b["lr_meta"]:
                            add("lr-search", dataset, method, 2, 0,
                                dict(short, **setting, **METHODS[method], inner_lr=a,
                                     meta_lr=m), f"{method}-L2-a{a:g}-b{m:g}")
        if "table-a" in tables:
            for method in TABLE_A_METHODS:
                for depth in TABLE_A_LAYERS:
                    if method in want_m and depth in want_l:
                        cell("table-a", dataset, method, depth)
        if "table-b" in tables and 2 in want_l:
            for method in TABLE_B_METHODS:
                if method in want_m:
                    cell("table-a" if method == "maml" else "table-b", dataset, method, 2)
        if checkpoints and "checkpoints" in tables and dataset == "omniglot":
            twenty = {**SETTING_20W, **{k: setting[k] for k in ("meta_batch", "steps", "query")}}
            for depth in CHECKPOINT_LAYERS:
                if depth not in want_l:
                    continue
                if "lr-search" in tables:   # 20-way 1-shot has its own search, per depth
                    inner, meta = b["lr_20w"]
                    for a in inner:
                        for m in meta:
                            add("lr-search", dataset, "maml", depth, 0,
                                dict(short, **twenty, inner_lr=a, meta_lr=m),
                                f"maml-L{depth}-20w1s-a{a:g}-b{m:g}")
                add("checkpoints", dataset, "maml", depth, 0, {**base, **twenty},
                    f"maml-L{depth}-20w1s-s0")
    return runs


def search_key(run):
    """Which winner a run takes, or (search points) competes for: the method for 5-way 5-shot,
    ``maml-20w1s-L<layers>`` for the 20-way 1-shot runs (searched per depth)."""
    if run["config"]["ways"] == SETTING_20W["ways"]:
        return f"maml-20w1s-L{run['layers']}"
    return run["method"]


def run_id(run):
    """``<table>/<dataset>/<name>``, unique within a plan."""
    return f"{run['table']}/{run['dataset']}/{run['name']}"


def record_path(results_dir, run):
    """``results/<table>/<dataset>/<name>.json`` of a table run."""
    return os.path.join(os.fspath(results_dir), run["table"], run["dataset"],
                        run["name"] + ".json")


def lr_search_path(results_dir, dataset):
    """The recorded learning-rate search of ``dataset``."""
    return os.path.join(os.fspath(results_dir), "lr-search", f"{dataset}.json")


def run_dir(runs_dir, budget_name, run):
    """The run's working directory (checkpoint and engine record)."""
    return os.path.join(os.fspath(runs_dir), budget_name, run["table"], run["dataset"],
                        run["name"])


def estimate_seconds(run):
    """Estimated seconds of ``run`` on one idle core (single-thread BLAS), from ``COST``."""
    cfg = run["config"]
    scale = (cfg["hidden"] / 16) ** 1.6 * cfg["meta_batch"] / 16 * cfg["steps"] / 5 \
        * COST["method"][run["method"]] * (COST["ways20"] if cfg["ways"] == 20 else 1.0)
    episodes = cfg["test_episodes"] + cfg["val_episodes"] * -(-cfg["iterations"]
                                                              // cfg["val_every"])
    return COST["start"] + scale * (cfg["iterations"] * COST["step"][cfg["layers"]]
                                    + episodes * COST["episode"] * 16 / cfg["meta_batch"])


def read_json_or_none(path):
    """The JSON at ``path``, or ``None`` if there is no such file."""
    return _io.read_json(path) if os.path.exists(path) else None


def lr_winners(results_dir, runs_dir, budget_name, plan):
    """Write each dataset's search (every lr-search point of ``plan``, its final validation
    accuracy and status, plus the points of the same budget recorded there before and absent
    from ``plan``) to ``results/lr-search/<dataset>.json``; return the winners
    ``{(dataset, method): (inner_lr, meta_lr)}`` (highest accuracy, first on ties)."""
    points = {}
    for run in (r for r in plan if r["table"] == "lr-search"):
        out, cfg = run_dir(runs_dir, budget_name, run), run["config"]
        rec = read_json_or_none(os.path.join(out, training.RESULTS)) \
            or read_json_or_none(os.path.join(out, "failed.json")) or {"status": "not run"}
        points.setdefault(run["dataset"], []).append(
            {"run": run["name"], "method": search_key(run), "layers": run["layers"],
             **{k: cfg[k] for k in ("inner_lr", "meta_lr", "iterations", "val_episodes")},
             "val_accuracy": rec["validation"][-1][1] if rec.get("validation") else None,
             "status": rec.get("status", "ok"), "error": rec.get("error")})
    winners = {}
    for dataset, pts in points.items():
        # a restricted plan (--methods, --layers) keeps the other points already recorded
        old = read_json_or_none(lr_search_path(results_dir, dataset)) or {}
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
    """Set ``inner_lr``/``meta_lr`` of every table run: its method's search winner (from
    ``results/lr-search/<dataset>.json``), else the budget's default; 20-way runs use MAML's.
    Each run gets ``lr_source`` ``"lr-search"`` or ``"default"``."""
    default = budget(budget_name)["default_lr"]
    for run in plan:
        if run["table"] == "lr-search":
            continue
        search = read_json_or_none(lr_search_path(results_dir, run["dataset"])) or {}
        won = search.get("winners", {})
        key = search_key(run)
        if key not in won and run["table"] == "checkpoints":
            key = "maml"      # no 20-way search (e.g. --only checkpoints): MAML's 5-way lrs
        lrs = (won[key]["inner_lr"], won[key]["meta_lr"]) if key in won else default
        run["config"].update(inner_lr=lrs[0], meta_lr=lrs[1])
        run["lr_source"] = "lr-search" if key in won else "default"
    return plan


def copy_checkpoints(results_dir, runs_dir, budget_name, plan):
    """Copy the best 2- and 4-layer Omniglot checkpoints (by final validation accuracy) of the
    5-way 5-shot tables and of the 20-way 1-shot runs to ``results/checkpoints/``, without the
    optimizer state (``checkpoint.without_optimizer``: for eval and adapt); returns
    ``{file: source run}`` (also written to ``results/checkpoints/index.json``)."""
    best = {}
    for run in plan:
        if run["dataset"] != "omniglot" or run["table"] == "lr-search" \
                or run["layers"] not in CHECKPOINT_LAYERS:
            continue
        rec = read_json_or_none(record_path(results_dir, run)) or {}
        if rec.get("kind") != "engine-run" or not rec.get("validation"):
            continue
        setting = "20w1s" if run["table"] == "checkpoints" else "5w5s"
        name = f"omniglot-{setting}-{run['layers']}layer.npz"
        score = rec["validation"][-1][1]
        if name not in best or score > best[name][0]:
            best[name] = (score, run, rec)
    index = {}
    for name, (score, run, rec) in sorted(best.items()):
        dest = os.path.join(os.fspath(results_dir), "checkpoints", name)
        checkpoint.without_optimizer(
            os.path.join(run_dir(runs_dir, budget_name, run), training.CHECKPOINT), dest)
        index[name] = {"run": run_id(run),
                       "val_accuracy": score, "test": rec["test"], "config": rec["config"]}
    if index:
        path = os.path.join(os.fspath(results_dir), "checkpoints", "index.json")
        _io.write_json(path, dict(read_json_or_none(path) or {}, **index))
    return {k: v["run"] for k, v in index.items()}


def describe(plan, jobs=1):
    """One line per run (id, iterations, width, lrs and their source: ``default`` until the
    search has run, estimated minutes) and the total wall time with ``jobs`` runs at once."""
    lines, total = [], 0.0
    for run in plan:
        total += estimate_seconds(run)
        cfg = run["config"]
        lines.append(f"{run_id(run):<40} it={cfg['iterations']:<6} h={cfg['hidden']:<3} "
                     f"a={cfg['inner_lr']:<5g} b={cfg['meta_lr']:<7g} "
                     f"({run.get('lr_source', 'grid')}) ~{estimate_seconds(run) / 60:.1f} min")
    lines.append(f"{len(plan)} runs, estimated {total / 3600 / jobs:.2f} h with {jobs} "
                 f"job(s) on {jobs} idle core(s)")
    return "\n".join(lines), total
