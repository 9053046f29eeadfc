"""The plan of the paper-table sweep: the runs a budget expands to.

Per dataset, 5-way 5-shot (``vocabulary.SETTING``): ``table-a`` (paper Table 1: MAML and MAML
w/ LinNet at 2/3/4/6 layers), ``table-b`` (Table 2: meta-optimizers on 2 layers),
``checkpoints`` (Omniglot 20-way 1-shot MAML) and ``lr-search``, the learning-rate searches
those cells take their lrs from (``budgets.search_spec``). Every run is a ``Run``; its
``config`` is an engine config (``theory.engine.config.make_config``) without the learning
rates until ``records.assign_lrs`` gives a table run its search's winner.
"""

import dataclasses
import itertools

from theory import _check
from theory.paper import budgets
from theory.paper.vocabulary import (CHECKPOINT_LAYERS, DATASETS, METHODS, NEEDS_PATH,
                                     ON_THIS_MACHINE, SETTING, SETTING_20W, TABLE1_LAYERS,
                                     TABLE1_METHODS, TABLE_B_METHODS, TABLES)

# The order in which a budget that searches per (method, depth) runs its cells: Table 2 at 2
# layers (MAML and the meta-optimizers, ANIL), MAML w/ LinNet at 2 layers, the deeper Table 1
# rows, the 20-way 1-shot checkpoints. A grid budget's search serves every depth: one stage.
MAX_SEEDS = 1000     # seeds per row: a plan is built in memory, ~750 bytes a run
STAGES = ("table 2 at 2 layers", "MAML w/ LinNet at 2 layers", "3, 4 and 6 layers",
          "20-way 1-shot checkpoints")


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of the plan. ``kind``: ``"train"`` (a table run, recorded in ``results/``),
    ``"point"`` (one point of a search without pruning: an engine run whose record stays in
    its run directory, the search's summary going to ``lr-search/<dataset>.json``) or
    ``"study"`` (a search with pruning, run by ``theory.paper.search``; ``study`` holds its
    ``grid``, ``rung`` and ``reduction``). ``search_key``: which search's winner a table run
    takes or a search run competes for. ``curve``: ``{"steps", "episodes"}`` of the adaptation
    curve the record keeps. ``lr_source``: of a table run, ``"lr-search"`` or ``"default"``
    (``records.assign_lrs``); of a search point, ``"grid"`` (the budget's) or ``"given"``
    (``lr_inner``/``lr_meta``). ``config`` is not to be changed in place
    (``dataclasses.replace``)."""

    kind: str
    table: str
    dataset: str
    method: str
    layers: int
    seed: int
    name: str
    config: dict
    search_key: str
    keep_checkpoint: bool = False
    stage: int = 0
    curve: dict = None
    study: dict = None
    lr_source: str = "grid"


def run_id(run):
    """``<table>/<dataset>/<name>``, unique within a plan."""
    return f"{run.table}/{run.dataset}/{run.name}"


def _check_subset(kind, values, valid):
    if any(v not in valid for v in values):
        raise ValueError(f"unknown {kind} {[v for v in values if v not in valid]}; "
                         f"valid: {list(valid)}")


def make_plan(budget_name, *, tables=None, datasets=None, methods=None, layers=None,
              seeds=None, checkpoints=False, lr_inner=None, lr_meta=None, data=None):
    """The runs of a sweep, searches before the cells they serve, in stage order.
    ``tables``/``datasets``/``methods``/``layers`` restrict the plan (default: the budget's
    plan, else everything but ``NEEDS_PATH`` datasets), ``seeds`` (a count, 1..``MAX_SEEDS``)
    replaces the budget's; the ``checkpoints`` table needs ``checkpoints=True``;
    ``lr_inner``/``lr_meta`` (sequences of positive floats) replace the budget's 5-way search
    grid; ``data`` ``{dataset: path}`` locates datasets (required for ``NEEDS_PATH`` ones)."""
    b = budgets.budget(budget_name)
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
            b["lr_given"] = True
            if budgets.per_depth(b):     # the 20-way study keeps its own grid
                b["study"] = dict(b["study"], **{name[3:] + "_lr": b[name]})
    for kind, values, valid in (("table", tables, TABLES), ("dataset", datasets, DATASETS),
                                ("method", methods or (), METHODS),
                                ("layers", layers or (), TABLE1_LAYERS),
                                ("dataset of --data", data, DATASETS)):
        _check_subset(kind, values, valid)
    for dataset in datasets:
        if dataset in NEEDS_PATH and not data.get(dataset):
            raise ValueError(f"dataset {dataset!r} is not on this machine: give its location "
                             f"with --data {dataset}=PATH")
    seeds = _check.integer("seeds", seeds, 1, MAX_SEEDS, none="the budget's")
    def cells(planned):
        return _cells(b, planned, datasets, set(methods or METHODS),
                      set(layers or TABLE1_LAYERS), seeds, checkpoints, data)

    # the search covers every cell the budget has, whichever tables are asked for
    runs = (_searches(b, cells(TABLES)) if "lr-search" in tables else []) + cells(tables)
    return sorted(runs, key=lambda r: (r.stage, r.kind == "train"))


def _priority(b, run):
    """The stage of ``run`` under budget ``b``'s ``priority``: the index of the first
    ``(table, methods, depths)`` pattern it matches (``None`` matches any), else after them."""
    for stage, (table, methods, depths) in enumerate(b["priority"]):
        if run.table == table and (methods is None or run.method in methods) \
                and (depths is None or run.layers in depths):
            return stage
    return len(b["priority"])


def _cells(b, tables, datasets, want_m, want_l, seeds, checkpoints, data):
    """The table runs of ``tables``, each with its search key, stage and curve: ``seeds``
    (``None``: the budget's ``seeds``) per 2-layer cell, ``deep_seeds`` (at most that) per
    deeper one, unless the budget's ``cell_seeds`` gives the cell its own count (at most
    ``seeds`` when given)."""
    n_seeds = b["seeds"] if seeds is None else seeds
    base = {k: b[k] for k in budgets.RUN_KEYS if k in b}
    setting = dict(SETTING, **{k: b[k] for k in ("meta_batch", "query", "steps") if k in b})
    twenty = {**SETTING_20W, **{k: setting[k] for k in ("meta_batch", "steps", "query")}}
    w20 = b.get("ways20", {})
    curve = b.get("curve", {})
    runs, seen = [], set()

    def add(table, dataset, method, depth, seed, cfg, name):
        if (table, dataset, name) in seen:
            return
        seen.add((table, dataset, name))
        is20 = cfg["ways"] == SETTING_20W["ways"]
        key = (f"maml-20w1s-L{depth}" if is20
               else f"{method}-L{depth}" if budgets.per_depth(b) else method)
        run = Run("train", table, dataset, method, depth, seed, name,
                  dict(cfg, dataset=dataset, layers=depth, seed=seed, data=data.get(dataset),
                       checkpoint_every=max(1, cfg["val_every"])), key,
                  keep_checkpoint=dataset == "omniglot" and depth in CHECKPOINT_LAYERS)
        if budgets.per_depth(b):
            run = dataclasses.replace(run, stage=_stage(run))
        if "priority" in b:
            run = dataclasses.replace(run, stage=_priority(b, run))
        if table == "alpha":          # its inner lr is the point of the run
            run = dataclasses.replace(run, lr_source="given")
        if not is20 and (method, depth) in curve.get("runs", ()):
            run = dataclasses.replace(run, curve={k: curve[k] for k in ("steps", "episodes")})
        runs.append(run)

    def cell(table, dataset, method, depth):
        count = b.get("cell_seeds", {}).get((method, depth))
        if count is None:
            count = n_seeds if depth == 2 else min(n_seeds, b["deep_seeds"])
        elif seeds is not None:     # ``--seeds`` caps a cell the budget gives more
            count = min(count, seeds)
        for seed in range(count):
            add(table, dataset, method, depth, seed, method_config(method),
                f"{method}-L{depth}-s{seed}")

    def method_config(method):
        return dict(base, **setting, **METHODS[method],
                    **b.get("method_config", {}).get(method, {}))

    for dataset in datasets:
        if "table-a" in tables:
            for method, depth in itertools.product(TABLE1_METHODS, TABLE1_LAYERS):
                if method in want_m and depth in want_l:
                    cell("table-a", dataset, method, depth)
        if "table-b" in tables and 2 in want_l:
            for method in TABLE_B_METHODS:
                if method in want_m:
                    cell("table-a" if method == "maml" else "table-b", dataset, method, 2)
        if "alpha" in tables and "alpha" in b:
            sweep = b["alpha"]
            for (method, depth), a in itertools.product(sweep["runs"], sweep["inner_lr"]):
                if method in want_m and depth in want_l:
                    add("alpha", dataset, method, depth, 0,
                        dict(method_config(method), iterations=sweep["iterations"],
                             inner_lr=a, meta_lr=b["default_lr"][1]),
                        f"{method}-L{depth}-a{a:g}-s0")
        if checkpoints and "checkpoints" in tables and dataset == "omniglot":
            for depth in w20.get("layers", CHECKPOINT_LAYERS):
                if depth not in want_l:
                    continue
                for split in w20.get("split_by", ("character",)):
                    cfg = {**base, **twenty, **{k: v for k, v in w20.items()
                                                if k not in ("split_by", "layers")}}
                    if split != "character":
                        cfg["split_by"] = split
                    add("checkpoints", dataset, "maml", depth, 0, cfg,
                        f"maml-L{depth}-20w1s{'' if split == 'character' else '-' + split}-s0")
    return runs


def _searches(b, cells):
    """One search per (dataset, search key) of ``cells``, in the order the keys first appear:
    a study run, or for a search without pruning one run per grid point. A grid budget
    searches each 5-way method at 2 layers, so only where the plan has 2-layer cells. Its
    points stay runs of their own (not one Optuna study without a pruner) because its
    committed records are per point (``lr-search/<dataset>.json``, which a fresh clone counts
    as done point by point) and ``plan``/``status`` list each point."""
    runs, seen = [], set()
    for run in cells:
        depth = run.layers if budgets.per_depth(b) or run.config["ways"] != SETTING["ways"] \
            else 2
        if (run.dataset, run.search_key) in seen or run.layers != depth:
            continue
        seen.add((run.dataset, run.search_key))
        spec = budgets.search_spec(b, run.search_key, depth)
        cfg = dict(run.config, iterations=spec["iterations"], val_every=spec["rung"],
                   val_episodes=spec["val_episodes"], test_episodes=1, patience=0, seed=0,
                   checkpoint_every=spec["rung"], split_by="character")
        search = dataclasses.replace(run, table="lr-search", seed=0, keep_checkpoint=False,
                                     curve=None, config=cfg)
        if spec["reduction"] is not None:
            runs.append(dataclasses.replace(
                search, kind="study", name=run.search_key,
                study={"grid": budgets.study_grid(spec), "rung": spec["rung"],
                       "reduction": spec["reduction"]}))
            continue
        suffix = "-20w1s" if run.config["ways"] == SETTING_20W["ways"] else ""
        for a, m in itertools.product(spec["inner_lr"], spec["meta_lr"]):
            runs.append(dataclasses.replace(
                search, kind="point", name=f"{run.method}-L{depth}{suffix}-a{a:g}-b{m:g}",
                config=dict(cfg, inner_lr=a, meta_lr=m),
                lr_source="given" if b.get("lr_given") else "grid"))
    return runs


def _stage(run):
    if run.table == "checkpoints":
        return 3
    if run.layers != 2:
        return 2
    return 1 if run.method == "linnet" else 0
