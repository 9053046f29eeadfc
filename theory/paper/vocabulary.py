"""The names ``theory.paper`` and ``theory.figures`` share: methods, depths, tables, datasets.

A method is a key of ``METHODS``, whose value is the engine config it overrides
(``theory.engine.config``); ``method_of`` maps an engine config back to its name, so a record
written anywhere finds its table cell. Table 1 of the paper is ``TABLE_A_*`` (MAML and MAML
w/ LinNet by depth), Table 2 is ``TABLE_B_METHODS`` at 2 layers (the paper's five methods plus
ANIL and ANIL+KFO); ``alpha`` is the sweep of the inner lr on CNNs (final test accuracy per
alpha, the mechanism of the paper's R1 on real images).
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
TABLE_A_METHODS, TABLE_A_LAYERS = ("maml", "linnet"), (2, 3, 4, 6)
TABLE_B_METHODS = ("maml", "metasgd", "mc", "tnet", "kfo", "anil", "anil-kfo")
CHECKPOINT_LAYERS = (2, 4)


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
