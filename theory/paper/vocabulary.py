"""The names ``theory.paper`` and ``theory.figures`` share: methods, depths, tables, datasets.

A method is a key of ``METHODS``, whose value is the engine config it overrides
(``theory.engine.config``); ``method_of`` maps an engine config back to its name, so a record
written anywhere finds its table cell, and ``LABEL`` its name in tables and figures.
``TABLE1_*`` are the paper's Table 1 (MAML and MAML w/ LinNet by depth; the plan's
``table-a``), ``TABLE2_METHODS`` its Table 2 (2 layers; the plan's ``table-b``,
``TABLE_B_METHODS``, adds ANIL and ANIL+KFO). ``TABLE1_KEYS``/``TABLE2_KEYS`` are their cells
``(method, layers)`` (Omniglot figures, claims C7 and C8), ``ADAPTATION_KEYS`` the models of
the adaptation curves (figure ``adaptation_cnn``, claim C12). The plan's ``alpha`` table is the
sweep of the inner lr on CNNs (final test accuracy per alpha: R1's mechanism on real images).
"""

METHODS = {
    "maml": {}, "linnet": {"linnet": 2, "linnet_width": 64},
    "metasgd": {"metaopt": "metasgd"}, "mc": {"metaopt": "mc"}, "tnet": {"metaopt": "tnet"},
    "kfo": {"metaopt": "kfo"}, "anil": {"algo": "anil"},
    "anil-kfo": {"algo": "anil", "metaopt": "kfo"},
}
LINNET, LINNET_WIDTH = METHODS["linnet"]["linnet"], METHODS["linnet"]["linnet_width"]
TABLES = ("lr-search", "table-a", "table-b", "checkpoints", "alpha")
DATASETS = ("omniglot", "synthetic", "cifarfs", "mini-imagenet")
ON_THIS_MACHINE = ("omniglot", "synthetic")   # the default datasets: their data is here
NEEDS_PATH = ("cifarfs", "mini-imagenet")     # the engine reads these from a path you give
SETTING = {"ways": 5, "shots": 5, "steps": 5, "meta_batch": 16, "query": 15}
SETTING_20W = {"ways": 20, "shots": 1, "steps": 5, "meta_batch": 16, "query": 15}
LABEL = {"maml": "MAML", "linnet": "MAML w/ LinNet", "metasgd": "Meta-SGD", "mc": "MC",
         "tnet": "T-Nets", "kfo": "KFO", "anil": "ANIL", "anil-kfo": "ANIL+KFO"}
PAPER_DATASETS = ("omniglot", "cifarfs", "mini-imagenet")
DATASET_LABEL = {"omniglot": "Omniglot", "cifarfs": "CIFAR-FS", "mini-imagenet": "mini-ImageNet",
                 "synthetic": "synthetic"}
TABLE1_METHODS, TABLE1_LAYERS = ("maml", "linnet"), (2, 3, 4, 6)
TABLE2_METHODS = ("maml", "metasgd", "mc", "tnet", "kfo")
META_OPTIMIZERS = TABLE2_METHODS[1:]
TABLE_B_METHODS = TABLE2_METHODS + ("anil", "anil-kfo")
CHECKPOINT_LAYERS = (2, 4)
TABLE1_KEYS = tuple((m, n) for m in TABLE1_METHODS for n in TABLE1_LAYERS)
TABLE2_KEYS = tuple((m, 2) for m in TABLE2_METHODS)
ADAPTATION_KEYS = (("maml", 2), ("linnet", 2), ("kfo", 2), ("maml", 4))
AUTHORS = "authors"        # the budget of the paper authors' protocol


def method_of(config):
    """The ``METHODS`` name of an engine config (``None`` if it is none of them): the inverse
    of the ``METHODS`` overrides."""
    linnet = (config.get("linnet") or 0) > 0
    for name, overrides in METHODS.items():
        if (config.get("algo", "maml"), config.get("metaopt") or "none", linnet) == (
                overrides.get("algo", "maml"), overrides.get("metaopt", "none"),
                "linnet" in overrides):
            return name
    return None
