"""The budgets of the sweep: one table of presets, and the learning-rate search each one runs.

A row of ``BUDGETS`` sets the model and run lengths (``RUN_KEYS``, passed to every engine
run; ``meta_batch``, ``query`` and ``steps`` override ``vocabulary.SETTING``), the seeds
(``seeds`` of 2-layer rows, ``deep_seeds`` of deeper Table 1 rows), the learning rates of a run
no search has covered (``default_lr``: inner, meta), optionally the default plan (``datasets``,
``tables``, ``methods``, ``layers``), the folder of its records under ``results/``
(``folder``; without one, ``results/`` itself) and its search, in one of two forms:

- a grid (``lr_inner`` x ``lr_meta``, ``lr_20w`` for the 20-way runs; ``lr_iterations``
  meta-iterations, ``lr_val_episodes`` validation episodes): one search per method at 2
  layers (and per depth for 20-way), every point trained the whole way and scored by its final
  validation accuracy;
- ``study``: one Optuna study per (method, depth) over ``inner_lr`` x ``meta_lr``, each point
  trained up to ``iterations`` with successive-halving pruning at ``rung`` (reduction factor
  ``reduction``) and scored by its best validation round; ``study_inner_lr`` replaces the
  inner-lr grid by search key, else by depth; ``study_20w`` is the 20-way study.

``search_spec`` gives both forms one shape: a grid is a study without pruning. ``ways20``
sets the 20-way 1-shot checkpoint runs (``split_by``: one run per data split) and ``curve``
the runs whose records keep an adaptation curve (test accuracy after k = 0..``steps`` inner
steps). ``smoke`` tries the whole pipeline in seconds, ``tiny`` is the tests' model size for
any plan; ``authors`` is the paper authors' protocol: one inner lr for every run (``default_lr``,
no search), KFO's options by method (``method_config``), the 20-way runs' depths
(``ways20["layers"]``), checkpoints kept in the budget's folder (``ships`` False), the seeds
of a cell that needs more than ``seeds`` or ``deep_seeds`` (``cell_seeds``), the ``alpha``
sweep (``runs`` x ``inner_lr`` at ``iterations``) and the order of its runs (``priority``);
``smoke-authors`` tries it in seconds. These ``scratch`` budgets keep their records out of the
committed ``results/`` (``default_results``). Why each grid is where it is, and what each
budget costs: results/README.md.
"""

RUN_KEYS = ("hidden", "iterations", "val_every", "val_episodes", "test_episodes", "patience",
            "meta_lr_schedule", "downsample", "readout", "init")
# KFO as the paper's authors ran it (``theory.engine.metaopt.kfo.AUTHORS``): psd factors, no
# bias, the transform adapted in the inner loop, a conv weight as O slices of I x k^2, vectors
# with a full left factor
_KFO_AUTHORS = {"psd": True, "bias": False, "adapt_transform": True, "conv": "in",
                "vectors": "full"}
# The authors' protocol (results/README.md says why each number is what it is): their Omniglot
# network (stride-2 convs, the mean readout, their init) at width 32, 5-way 5-shot with 5 query
# images per class (their code draws 2 * shots per class, half of them query), 5 inner steps,
# meta-batch 16, second order, ONE inner lr for every method and depth (0.1, their script's
# default, fixed before any run of this budget), Adam at the constant meta lr 0.003 (their
# default), early stopping on 300 fixed validation episodes every 200 iterations after 3
# rounds without improvement, a cap of 2,000 iterations; KFO as they ran it; 3 seeds at 2
# layers (5 of MAML and MAML w/ LinNet, the core claim) and of both models at 4 (where the
# depth trend is judged on seeds), 1 at 3 and 6.
# ``priority`` orders the runs (``plan.make_plan``): the core claim, the alpha sweep, Table 2,
# depth.
_AUTHORS = {"hidden": 32, "downsample": "stride", "readout": "mean", "init": "authors",
            "iterations": 2000, "val_every": 200, "val_episodes": 300, "test_episodes": 600,
            "patience": 3, "meta_lr_schedule": "constant", "query": 5,
            "seeds": 3, "deep_seeds": 1, "cell_seeds": {("maml", 2): 5, ("linnet", 2): 5,
                                          ("maml", 4): 3, ("linnet", 4): 3},
            "default_lr": (0.1, 0.003),
            "tables": ("table-a", "table-b", "alpha", "checkpoints"),
            "method_config": {"kfo": {"metaopt_options": _KFO_AUTHORS},
                              "anil-kfo": {"metaopt_options": _KFO_AUTHORS}},
            "alpha": {"inner_lr": (0.03, 0.1, 0.3, 1.0), "iterations": 1000,
                      "runs": (("maml", 2), ("linnet", 2), ("kfo", 2), ("maml", 4))},
            "curve": {"steps": 10, "episodes": 300,
                      "runs": (("maml", 2), ("linnet", 2), ("kfo", 2), ("maml", 4))},
            # with --checkpoints: 20-way 1-shot MAML on their network at its default width 64,
            # 4 layers, 1 query image per class (2 x shots drawn, half query), both data
            # splits; copied to results/authors/checkpoints, never over the shipped ones
            "ways20": {"hidden": 64, "query": 1, "layers": (4,),
                       "split_by": ("character", "alphabet")},
            "ships": False,
            "priority": (("table-a", ("maml", "linnet"), (2,)), ("table-a", ("maml",), (4,)),
                         ("alpha", None, None), ("table-b", None, (2,)),
                         ("table-a", None, None))}
_TINY = {"scratch": True, "hidden": 4, "iterations": 4, "val_every": 2, "val_episodes": 4,
         "test_episodes": 10,
         "seeds": 1, "deep_seeds": 1, "meta_batch": 2, "query": 2, "steps": 1,
         "lr_iterations": 2, "lr_val_episodes": 4, "lr_inner": (0.1, 0.4), "lr_meta": (0.003,),
         "default_lr": (0.4, 0.003), "lr_20w": ((0.4,), (0.003,))}
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
    "authors": dict(_AUTHORS, folder="authors", datasets=("omniglot",)),
    # the authors' pipeline (fixed lr, alpha sweep, curves, priority) in seconds
    "smoke-authors": dict(_TINY, **{k: _AUTHORS[k] for k in (
        "downsample", "readout", "init", "meta_lr_schedule", "tables", "method_config",
        "priority")}, folder="smoke-authors", datasets=("synthetic",), patience=1,
        methods=("maml", "linnet", "kfo"), layers=(2, 4),
        alpha={"inner_lr": (0.1, 0.4), "iterations": 4, "runs": (("maml", 2),)},
        curve={"steps": 2, "episodes": 4, "runs": (("maml", 2),)}),
    "full": {"hidden": 32, "iterations": 20000, "val_every": 1000, "val_episodes": 200,
             "test_episodes": 600, "seeds": 3, "deep_seeds": 3, "lr_iterations": 1000,
             "lr_val_episodes": 200, "lr_inner": (0.001, 0.003, 0.01, 0.1, 0.4),
             "lr_meta": (0.001, 0.003),
             "default_lr": (0.4, 0.001), "lr_20w": ((0.01, 0.1, 0.4), (0.001, 0.003))},
}


def budget(name):
    """The budget preset ``name`` (``ValueError`` naming the valid ones)."""
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}; valid budgets: {sorted(BUDGETS)}")
    return dict(BUDGETS[name])


def per_depth(b):
    """Whether budget row ``b`` searches each (method, depth) (a ``study``) rather than each
    method at 2 layers (a grid)."""
    return "study" in b


def search_spec(b, key, layers):
    """The search of budget row ``b`` for search key ``key`` at ``layers``: ``{"inner_lr",
    "meta_lr", "iterations", "rung", "reduction", "val_episodes"}``. A grid is a study without
    pruning (``reduction`` ``None``, validated once at ``rung = iterations``); a ``study``
    takes its inner-lr grid from ``study_inner_lr`` by ``key``, else by ``layers``."""
    twenty = key.startswith("maml-20w1s")
    if not per_depth(b):
        inner, meta = b["lr_20w"] if twenty else (b["lr_inner"], b["lr_meta"])
        return {"inner_lr": inner, "meta_lr": meta, "iterations": b["lr_iterations"],
                "rung": b["lr_iterations"], "reduction": None,
                "val_episodes": b["lr_val_episodes"]}
    if twenty:
        return b["study_20w"]
    by = b.get("study_inner_lr", {})
    inner = by.get(key, by.get(layers))
    return b["study"] if inner is None else dict(b["study"], inner_lr=inner)


def study_grid(spec):
    """The grid of search ``spec`` as a study run and its record hold it."""
    return {"inner_lr": list(spec["inner_lr"]), "meta_lr": list(spec["meta_lr"])}


def default_results(budget_name, runs_dir="runs"):
    """Where ``budget_name``'s records go when no results folder is given: the checkout's
    committed ``results/`` for a real budget, ``<runs_dir>/results-<budget>`` (git-ignored)
    for a ``scratch`` one, so that a smoke run never lands among the committed records."""
    if budget(budget_name).get("scratch"):
        return f"{runs_dir}/results-{budget_name}"
    return "results"
