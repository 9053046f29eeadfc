"""The plan of the paper-table sweep: runs, budgets, cost estimate.

Per dataset, 5-way 5-shot (``SETTING``): ``lr-search`` (each method, 2 layers, short runs over
the budget's lr grid, best final validation accuracy), ``table-a`` (paper Table 1: MAML and
MAML w/ LinNet at 2/3/4/6 layers), ``table-b`` (Table 2: meta-optimizers on 2 layers) and
``checkpoints`` (Omniglot 20-way 1-shot MAML). A run is a dict ``{table, dataset, method,
layers, seed, name, config, keep_checkpoint}``; ``config`` is an engine config
(``theory.engine.config.make_config``) and ``method`` a key of ``METHODS``, the one method
vocabulary of ``theory.paper`` and ``theory.figures``. ``BUDGETS`` is the one table of budgets:
each row sets the model, the run lengths, the search grid and, optionally, the default plan
(``datasets``, ``tables``, ``methods``, ``layers``). Record paths, status and search winners:
``theory.paper.records``; running: ``theory.paper.execute``. Plan, schema, budgets,
measurements: results/README.md.
"""

TABLES = ("lr-search", "table-a", "table-b", "checkpoints")
DATASETS = ("omniglot", "synthetic", "cifarfs", "mini-imagenet")
ON_THIS_MACHINE = ("omniglot", "synthetic")   # the default datasets: their data is here
NEEDS_PATH = ("cifarfs", "mini-imagenet")     # the engine reads these from a path you give
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

# Budgets. ``seeds``: seeds of every 2-layer row; ``deep_seeds``: of deeper table-a rows;
# ``lr_*``: the search's grid and short runs (validation only; the engine's minimum of one
# test episode is ignored). ``cpu`` fits about 2.5 h on 2 idle cores with 2 jobs (``COST``).
# ``smoke`` tries the whole pipeline in seconds (a search, both tables, synthetic data);
# ``tiny`` is the tests' model size for any plan.
_TINY = {"hidden": 4, "iterations": 4, "val_every": 2, "val_episodes": 4, "test_episodes": 10,
         "seeds": 1, "deep_seeds": 1, "meta_batch": 2, "query": 2, "steps": 1,
         "lr_iterations": 2, "lr_val_episodes": 4, "lr_inner": (0.1, 0.4), "lr_meta": (0.003,),
         "default_lr": (0.4, 0.003), "lr_20w": ((0.4,), (0.003,))}
# The engine config keys (``theory.engine.config.DEFAULTS``) a budget row passes to every run
# (those it has); ``meta_batch``, ``query`` and ``steps`` (optional in a row) override
# ``SETTING``.
RUN_KEYS = ("hidden", "iterations", "val_every", "val_episodes", "test_episodes", "patience",
            "meta_lr_schedule")
# ``converged``: every run trains until its validation accuracy (300 fixed episodes every
# ``val_every``) has not improved for ``patience`` rounds, at most ``iterations``, under a
# cosine meta learning rate, and is tested on its best round. Its learning rates come from one
# Optuna study per (method, depth) (``study``, ``theory.paper.search``) on the validation split:
# the grid below, each point trained up to ``iterations`` with successive-halving pruning at
# ``rung`` iterations (reduction factor ``reduction``), scored by its best validation accuracy.
# ``study_inner_lr`` (optional): the 5-way cells' inner-lr grid by search key or else by
# depth, where it differs from ``study``'s. The grid followed the studies: the 3-layer MAML
# study's winner was the largest inner lr of {0.003, 0.01, 0.03} (0.03: 86.0 % validation, the
# next point 73.6 %, 0.003 at 27-29 %), so the deeper grids moved up a step; the 4-layer
# study's winner was then again the largest, 0.1 (91.4 %, against 86.1 % for 0.03), so 4 and
# 6 layers moved up again. LinNet's extra layers scale its inner step up: its 3-layer study
# chose 0.01 (85.6 %; 0.03 84.4 %, 0.1 pruned at 33-35 %), so its deeper grids stay a step
# lower than MAML's.
# ``ways20`` sets the 20-way 1-shot checkpoint runs (wider, trained once per data split: the
# character split and whole held-out alphabets; with 5 query images per class a
# meta-iteration costs about 0.65x one at 15, so 900 of them cost what 600 did). ``curve``:
# the methods at 2 layers (and MAML at 4) whose records keep an adaptation curve (test
# accuracy after k = 0..10 inner steps).
# ``folder``: where under ``results/`` its records go (``cpu``'s predate budget folders).
_CONVERGED_STUDY = {"inner_lr": (0.003, 0.01, 0.03), "meta_lr": (0.001, 0.003),
                    "iterations": 120, "rung": 40, "reduction": 3, "val_episodes": 100}
BUDGETS = {
    "smoke": dict(_TINY, datasets=("synthetic",), tables=("lr-search", "table-a", "table-b"),
                  methods=("maml", "linnet", "kfo"), layers=(2,)),
    "tiny": _TINY,
    # the converged pipeline (studies, early stopping, curves) in seconds
    "smoke-converged": dict(
        _TINY, datasets=("synthetic",), tables=("lr-search", "table-a"),
        methods=("maml", "linnet"), layers=(2,), patience=1, meta_lr_schedule="cosine",
        folder="smoke-converged",
        study={"inner_lr": (0.1, 0.4), "meta_lr": (0.003,), "iterations": 4, "rung": 2,
               "reduction": 2, "val_episodes": 4},
        study_20w={"inner_lr": (0.4,), "meta_lr": (0.003,), "iterations": 2, "rung": 2,
                   "reduction": 2, "val_episodes": 4},
        ways20={"split_by": ("character", "alphabet")},
        curve={"steps": 2, "episodes": 4, "runs": (("maml", 2),)}),
    "cpu": {"hidden": 16, "iterations": 90, "val_every": 45, "val_episodes": 50,
            "test_episodes": 600, "seeds": 3, "deep_seeds": 1, "lr_iterations": 20,
            "lr_val_episodes": 50, "lr_inner": (0.001, 0.003, 0.01, 0.1, 0.4),
            "lr_meta": (0.003, 0.01),
            "default_lr": (0.4, 0.003), "lr_20w": ((0.01, 0.1, 0.4), (0.01,))},
    "converged": {"hidden": 16, "iterations": 800, "val_every": 80, "val_episodes": 300,
                  "test_episodes": 600, "patience": 4, "meta_lr_schedule": "cosine",
                  "seeds": 3, "deep_seeds": 1, "folder": "converged",
                  "datasets": ("omniglot",), "default_lr": (0.01, 0.003),
                  "study": _CONVERGED_STUDY,
                  "study_inner_lr": {3: (0.01, 0.03, 0.1), 4: (0.03, 0.1, 0.3),
                                     6: (0.03, 0.1, 0.3), "linnet-L4": (0.01, 0.03, 0.1),
                                     "linnet-L6": (0.01, 0.03, 0.1)},
                  "study_20w": dict(_CONVERGED_STUDY, inner_lr=(0.03, 0.1, 0.4)),
                  "ways20": {"hidden": 24, "iterations": 900, "val_every": 60, "query": 5,
                             "split_by": ("character", "alphabet")},
                  "curve": {"steps": 10, "episodes": 300,
                            "runs": (("maml", 2), ("linnet", 2), ("kfo", 2), ("maml", 4))}},
    "full": {"hidden": 32, "iterations": 20000, "val_every": 1000, "val_episodes": 200,
             "test_episodes": 600, "seeds": 3, "deep_seeds": 3, "lr_iterations": 1000,
             "lr_val_episodes": 200, "lr_inner": (0.001, 0.003, 0.01, 0.1, 0.4),
             "lr_meta": (0.001, 0.003),
             "default_lr": (0.4, 0.001), "lr_20w": ((0.01, 0.1, 0.4), (0.001, 0.003))},
}

# Measured single-thread seconds (best of 3, OPENBLAS_NUM_THREADS=1; results/README.md) of one
# second-order meta-iteration, 5-way 5-shot, 5 inner steps, meta-batch 16, query 15, hidden
# 16, rounded up: MAML by depth, other methods relative to MAML at 2 layers, 20-way 1-shot
# relative to 5-way 5-shot (at query 15; ``ways20_query``: the share of a 20-way step that
# does not scale with the query images per class, and the share per image); one evaluation
# episode; process start and data loading. Other widths scale as (hidden / 16) ** 1.6
# (hidden 32: 2.2-3.1x hidden 16 at 2 layers).
COST = {"step": {2: 1.9, 3: 2.1, 4: 2.3, 6: 2.6}, "episode": 0.05, "ways20": 1.8,
        "ways20_query": (0.475, 0.035), "start": 5.0,
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


def make_plan(budget_name, *, tables=None, datasets=None, methods=None, layers=None,
              seeds=None, checkpoints=False, lr_inner=None, lr_meta=None, data=None):
    """The runs of a sweep (table runs get their lrs from ``records.assign_lrs``).
    ``tables``/``datasets``/``methods``/``layers`` restrict the plan (default: the budget's
    plan, else everything but ``NEEDS_PATH`` datasets), ``seeds`` (a count) replaces the
    budget's; the ``checkpoints`` table needs ``checkpoints=True``; ``lr_inner``/``lr_meta``
    (sequences of positive floats) replace the budget's search grid; ``data``
    ``{dataset: path}`` locates datasets (required for ``NEEDS_PATH`` ones)."""
    b = budget(budget_name)
    tables = b.get("tables", TABLES) if tables is None else tables
    datasets = b.get("datasets", ON_THIS_MACHINE) if datasets is None else datasets
    methods = b.get("methods") if methods is None else methods
    layers = b.get("layers") if layers is None else layers
    data = dict(data or {})
    for name, grid in (("lr_inner", lr_inner), ("lr_meta", lr_meta)):
        if grid is not None:
            if not grid or any(isinstance(v, bool) or not isinstance(v, (int, float))
                               or not 0 < v < float("inf") for v in grid):
                raise ValueError(f"{name}={grid!r} must be a non-empty list of positive "
                                 "numbers")
            b[name] = tuple(float(v) for v in grid)
            if "study" in b:     # a study budget's grid (the 20-way study keeps its own)
                b["study"] = dict(b["study"], **{name[3:] + "_lr": b[name]})
    for kind, values, valid in (("table", tables, TABLES), ("dataset", datasets, DATASETS),
                                ("method", methods or (), METHODS),
                                ("layers", layers or (), TABLE_A_LAYERS),
                                ("dataset of --data", data, DATASETS)):
        _check_subset(kind, values, valid)
    for dataset in datasets:
        if dataset in NEEDS_PATH and not data.get(dataset):
            raise ValueError(f"dataset {dataset!r} is not on this machine: give its location "
                             f"with --data {dataset}=PATH")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise ValueError(f"seeds={seeds!r} must be an integer >= 1")
    n_seeds = b["seeds"] if seeds is None else seeds
    want_m, want_l = set(methods or METHODS), set(layers or TABLE_A_LAYERS)
    base = {k: b[k] for k in RUN_KEYS if k in b}
    setting = dict(SETTING, **{k: b[k] for k in ("meta_batch", "query", "steps") if k in b})
    # a study budget searches each cell's (method, depth): it plans the cells even when only
    # the search is asked for, and drops them at the end
    wanted, tables = tables, (TABLES if "study" in b and "lr-search" in tables else tables)
    runs, seen = [], set()

    def add(table, dataset, method, depth, seed, cfg, name):
        if (table, dataset, name) not in seen:
            seen.add((table, dataset, name))
            keep = dataset == "omniglot" and table != "lr-search" \
                and depth in CHECKPOINT_LAYERS
            runs.append({"table": table, "dataset": dataset, "method": method, "layers": depth,
                         "seed": seed, "name": name, "keep_checkpoint": keep,
                         "config": dict(cfg, dataset=dataset, layers=depth, seed=seed,
                                        data=data.get(dataset),
                                        checkpoint_every=max(1, cfg["val_every"]))})

    def cell(table, dataset, method, depth):
        count = n_seeds if depth == 2 else min(n_seeds, b["deep_seeds"])
        for seed in range(count):
            add(table, dataset, method, depth, seed, dict(base, **setting, **METHODS[method]),
                f"{method}-L{depth}-s{seed}")

    for dataset in datasets:
        short = {} if "study" in b else dict(
            base, iterations=b["lr_iterations"], val_every=b["lr_iterations"],
            val_episodes=b["lr_val_episodes"], test_episodes=1)
        if "lr-search" in tables and "study" not in b:
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
                if "lr-search" in tables and "study" not in b:   # own search, per depth
                    inner, meta = b["lr_20w"]
                    for a in inner:
                        for m in meta:
                            add("lr-search", dataset, "maml", depth, 0,
                                dict(short, **twenty, inner_lr=a, meta_lr=m),
                                f"maml-L{depth}-20w1s-a{a:g}-b{m:g}")
                w20 = b.get("ways20", {})
                for split in w20.get("split_by", ("character",)):
                    cfg = {**base, **twenty, **{k: v for k, v in w20.items()
                                                if k != "split_by"}}
                    if split != "character":
                        cfg["split_by"] = split
                    add("checkpoints", dataset, "maml", depth, 0, cfg,
                        f"maml-L{depth}-20w1s{'' if split == 'character' else '-' + split}-s0")
    if "study" in b:
        runs = [r for r in _with_studies(runs, b, "lr-search" in wanted)
                if r["table"] in wanted]
    return runs


def study_spec(b, key, layers):
    """The study settings of budget row ``b`` for search key ``key`` at ``layers``: the
    20-way one, or ``study`` with the inner-lr grid ``study_inner_lr`` gives ``key`` or else
    ``layers`` (if it gives either)."""
    if key.startswith("maml-20w1s"):
        return b["study_20w"]
    by = b.get("study_inner_lr", {})
    inner = by.get(key, by.get(layers))
    return b["study"] if inner is None else dict(b["study"], inner_lr=inner)


def study_grid(spec):
    """The grid of study settings ``spec`` as a study run and its record hold it."""
    return {"inner_lr": list(spec["inner_lr"]), "meta_lr": list(spec["meta_lr"])}


def _with_studies(runs, b, search):
    """A ``study`` budget's plan: each table run keyed by (method, depth) (``search_key``),
    given its ``stage`` (``STAGES``: the issue's priority order) and, where the budget asks, an
    adaptation ``curve``; with ``search``, one Optuna study run per key before its runs."""
    curve = b.get("curve", {})
    for run in runs:
        twenty = run["config"]["ways"] == SETTING_20W["ways"]
        run["search_key"] = (f"maml-20w1s-L{run['layers']}" if twenty
                             else f"{run['method']}-L{run['layers']}")
        run["stage"] = _stage(run)
        if not twenty and (run["method"], run["layers"]) in curve.get("runs", ()):
            run["curve"] = {k: curve[k] for k in ("steps", "episodes")}
    studies = {}
    for run in runs if search else ():
        key = (run["dataset"], run["search_key"])
        if key in studies:
            continue
        spec = study_spec(b, run["search_key"], run["layers"])
        cfg = dict(run["config"], iterations=spec["iterations"], val_every=spec["rung"],
                   val_episodes=spec["val_episodes"], test_episodes=1, patience=0, seed=0,
                   checkpoint_every=spec["rung"], split_by="character")
        studies[key] = {"table": "lr-search", "dataset": run["dataset"],
                        "method": run["method"], "layers": run["layers"], "seed": 0,
                        "name": run["search_key"], "search_key": run["search_key"],
                        "stage": run["stage"], "keep_checkpoint": False, "config": cfg,
                        "study": {"grid": study_grid(spec),
                                  "rung": spec["rung"], "reduction": spec["reduction"]}}
    out = list(studies.values()) + runs
    return sorted(out, key=lambda r: (r["stage"], r["table"] != "lr-search"))


# The order in which a ``study`` budget runs its cells: Table 2 at 2 layers (MAML and the
# meta-optimizers, ANIL), MAML w/ LinNet at 2 layers, the deeper Table 1 rows, the 20-way
# 1-shot checkpoints.
STAGES = ("table 2 at 2 layers", "MAML w/ LinNet at 2 layers", "3, 4 and 6 layers",
          "20-way 1-shot checkpoints")


def _stage(run):
    if run["table"] == "checkpoints":
        return 3
    if run["layers"] != 2:
        return 2
    return 1 if run["method"] == "linnet" else 0


def method_of(config):
    """The ``METHODS`` name of an engine config (``None`` if it is none of them): the inverse
    of the plan's ``METHODS`` overrides, so that any engine record finds its table cell."""
    linnet = (config.get("linnet") or 0) > 0
    for name, overrides in METHODS.items():
        if (config.get("algo", "maml"), config.get("metaopt") or "none", linnet) == (
                overrides.get("algo", "maml"), overrides.get("metaopt", "none"),
                "linnet" in overrides):
            return name
    return None


def search_key(run):
    """Which winner a run takes, or (search points) competes for: the method for 5-way 5-shot,
    ``maml-20w1s-L<layers>`` for the 20-way 1-shot runs (searched per depth); in a ``study``
    budget, ``<method>-L<layers>`` (every (method, depth) has its own study)."""
    if "search_key" in run:
        return run["search_key"]
    if run["config"]["ways"] == SETTING_20W["ways"]:
        return f"maml-20w1s-L{run['layers']}"
    return run["method"]


def run_id(run):
    """``<table>/<dataset>/<name>``, unique within a plan."""
    return f"{run['table']}/{run['dataset']}/{run['name']}"


def estimate_seconds(run):
    """Estimated seconds of ``run`` on one idle core (single-thread BLAS), from ``COST``: a
    run with early stopping is counted at its cap (an upper bound); a study at every grid
    point's first rung plus, for two thirds of them, the rest of the way (asynchronous
    successive halving cannot prune the first points it sees: 4 of the 6 points of the first
    Omniglot study went the whole way)."""
    cfg = run["config"]
    scale = (cfg["hidden"] / 16) ** 1.6 * cfg["meta_batch"] / 16 * cfg["steps"] / 5 \
        * COST["method"][run["method"]] * (_ways20(cfg["query"]) if cfg["ways"] == 20 else 1.0)
    iterations, rounds = cfg["iterations"], -(-cfg["iterations"] // cfg["val_every"])
    if "study" in run:
        spec = run["study"]
        n = len(spec["grid"]["inner_lr"]) * len(spec["grid"]["meta_lr"])
        longer = -(-2 * n // 3)
        iterations = n * spec["rung"] + longer * (cfg["iterations"] - spec["rung"])
        rounds = -(-iterations // cfg["val_every"])
    episodes = cfg["test_episodes"] + cfg["val_episodes"] * rounds
    curve = run.get("curve", {}).get("episodes", 0) * 2     # K = 10 steps: about 2 tests
    return COST["start"] + scale * (iterations * COST["step"][cfg["layers"]]
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
        if state not in ("done", "failed"):      # a divergence is final: not run again
            total += estimate_seconds(run)
        cfg = run["config"]
        if "study" in run:
            grid = run["study"]["grid"]
            lrs = (f"study of {len(grid['inner_lr'])}x{len(grid['meta_lr'])} "
                   f"(rung {run['study']['rung']})")
        elif "inner_lr" not in cfg:        # before ``records.assign_lrs``
            lrs = "lrs from its search"
        else:
            lrs = (f"a={cfg['inner_lr']:<5g} b={cfg['meta_lr']:<7g} "
                   f"({run.get('lr_source', 'grid')})")
        cap = "cap " if cfg.get("patience") else ""
        lines.append(f"{run_id(run):<40} {state:<8} it={cap}{cfg['iterations']:<6} "
                     f"h={cfg['hidden']:<3} {lrs} ~{estimate_seconds(run) / 60:.1f} min")
    done = sum(1 for r in plan if states.get(run_id(r)) == "done")
    capped = any(r["config"].get("patience") for r in plan)
    lines.append(f"{len(plan)} runs ({done} done), estimated {total / 3600 / jobs:.2f} h for "
                 f"the rest with {jobs} job(s) on {jobs} idle core(s)"
                 + (" (runs with early stopping counted at their cap)" if capped else ""))
    return "\n".join(lines), total
