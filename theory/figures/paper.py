"""The paper's numbers that our sources quote, each with where it comes from.

Arnold, Iqbal & Sha, "When MAML Can Adapt Fast and How to Assist When It Cannot",
AISTATS 2021. Test accuracies in percent, 5-way 5-shot.

Table 1 (MAML vs MAML w/ LinNet for CNNs of 2, 3, 4, 6 layers) and Table 2 (meta-optimizers on
2-layer CNNs) each report three datasets: 2 methods x 4 depths x 3 datasets = 24 cells and
5 methods x 3 datasets = 15 cells. Only the Omniglot cells are quoted in our sources (the
project's issues 7 and 8); every other cell is ``None`` ("value not quoted in our sources") and
must never be filled by a guess. The two non-Omniglot datasets are taken to be CIFAR-FS and
mini-ImageNet, the other image benchmarks this project's engine loads; that identification is
an assumption, not a quote.
"""

SOURCE = "issue 8 ('Why', items a and b) and issue 7 of this project, quoting the paper's Tables 1-2"

DATASETS = ("omniglot", "cifarfs", "mini-imagenet")
DATASET_LABEL = {"omniglot": "Omniglot", "cifarfs": "CIFAR-FS", "mini-imagenet": "mini-ImageNet"}

TABLE1_METHODS = ("maml", "maml+linnet")
TABLE1_LAYERS = (2, 3, 4, 6)
TABLE1_LABEL = {"maml": "MAML", "maml+linnet": "MAML w/ LinNet"}

TABLE2_METHODS = ("maml", "metasgd", "mc", "tnet", "kfo")
TABLE2_LABEL = {"maml": "MAML", "metasgd": "Meta-SGD", "mc": "MC", "tnet": "T-Nets",
                "kfo": "KFO"}

_QUOTED1 = {
    ("omniglot", "maml"): (66.8, 93.5, 98.5, 97.6),
    ("omniglot", "maml+linnet"): (88.1, 95.5, 98.1, 97.6),
}
_QUOTED2 = {
    ("omniglot", "maml"): 66.6,
    ("omniglot", "metasgd"): 74.07,
    ("omniglot", "mc"): 94.63,
    ("omniglot", "tnet"): 92.27,
    ("omniglot", "kfo"): 96.62,
}

TABLE1 = {
    (dataset, method, layers): (_QUOTED1[(dataset, method)][i]
                                if (dataset, method) in _QUOTED1 else None)
    for dataset in DATASETS for method in TABLE1_METHODS
    for i, layers in enumerate(TABLE1_LAYERS)
}
"""``(dataset, method, layers) -> accuracy %`` or ``None`` when not quoted (24 cells)."""

TABLE2 = {(dataset, method): _QUOTED2.get((dataset, method))
          for dataset in DATASETS for method in TABLE2_METHODS}
"""``(dataset, method) -> accuracy %`` or ``None`` when not quoted (15 cells, 2-layer CNN)."""

NOT_QUOTED = "value not quoted in our sources"


def table1(dataset, method, layers):
    """Table 1 cell in percent, or ``None`` if not quoted; ValueError for a cell not in the table."""
    key = (dataset, method, layers)
    if key not in TABLE1:
        raise ValueError(f"Table 1 has no cell {key!r}; datasets {DATASETS}, methods "
                         f"{TABLE1_METHODS}, layers {TABLE1_LAYERS}")
    return TABLE1[key]


def table2(dataset, method):
    """Table 2 cell in percent, or ``None`` if not quoted; ValueError for a cell not in the table."""
    key = (dataset, method)
    if key not in TABLE2:
        raise ValueError(f"Table 2 has no cell {key!r}; datasets {DATASETS}, methods "
                         f"{TABLE2_METHODS}")
    return TABLE2[key]
