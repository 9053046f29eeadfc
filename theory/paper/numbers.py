"""The paper's numbers: all 39 cells of its Tables 1 and 2, in the project's method names.

Arnold, Iqbal & Sha, "When MAML Can Adapt Fast and How to Assist When It Cannot",
AISTATS 2021, Tables 1 and 2: test accuracy in percent, 5-way 5-shot. Table 1: MAML and
MAML w/ LinNet at 2, 3, 4, 6 CNN layers (2 x 4 x 3 datasets = 24 cells); Table 2: MAML and
four meta-optimizers on 2-layer CNNs (5 x 3 = 15 cells). Method names are those of
``theory.paper.vocabulary.METHODS`` (``linnet`` is MAML w/ LinNet), the vocabulary of every
module of this package and of the figures.
"""

from theory.paper.vocabulary import (LABEL, PAPER_DATASETS, TABLE1_LAYERS, TABLE1_METHODS,
                                     TABLE2_METHODS)

SOURCE = "Arnold, Iqbal & Sha (AISTATS 2021), Tables 1 and 2"

_TABLE1 = {   # per (dataset, method): layers 2, 3, 4, 6, as printed
    ("omniglot", "maml"): ("66.8", "93.5", "98.5", "97.6"),
    ("omniglot", "linnet"): ("88.1", "95.5", "98.1", "97.6"),
    ("cifarfs", "maml"): ("62.2", "68.9", "70.9", "71.3"),
    ("cifarfs", "linnet"): ("66.1", "71.1", "74.4", "71.9"),
    ("mini-imagenet", "maml"): ("52.6", "54.0", "64.1", "64.6"),
    ("mini-imagenet", "linnet"): ("60.5", "60.2", "64.9", "64.1"),
}
_TABLE2 = {   # per dataset: TABLE2_METHODS in order, as printed
    "omniglot": ("66.6", "74.07", "94.63", "92.27", "96.62"),
    "cifarfs": ("62.2", "62.82", "68.37", "66.42", "69.64"),
    "mini-imagenet": ("52.6", "59.90", "58.95", "58.47", "59.08"),
}

PRINTED = {**{(dataset, method, layers): _TABLE1[(dataset, method)][i]
              for dataset in PAPER_DATASETS for method in TABLE1_METHODS
              for i, layers in enumerate(TABLE1_LAYERS)},
           **{(dataset, method): _TABLE2[dataset][i]
              for dataset in PAPER_DATASETS for i, method in enumerate(TABLE2_METHODS)}}
"""Each cell as the paper prints it (``"54.0"``, ``"59.90"``): Table 1 keys ``(dataset,
method, layers)``, Table 2 keys ``(dataset, method)``."""

TABLE1 = {key: float(text) for key, text in PRINTED.items() if len(key) == 3}
"""``(dataset, method, layers) -> accuracy %`` (24 cells)."""

TABLE2 = {key: float(text) for key, text in PRINTED.items() if len(key) == 2}
"""``(dataset, method) -> accuracy %`` (15 cells, 2-layer CNN)."""


def table1(dataset, method, layers):
    """Table 1 cell in percent, or ``None`` for a dataset the paper did not run (synthetic);
    ``ValueError`` for a method or depth not in the table."""
    if method not in TABLE1_METHODS or layers not in TABLE1_LAYERS:
        raise ValueError(f"Table 1 has no cell {(dataset, method, layers)!r}; methods "
                         f"{TABLE1_METHODS}, layers {TABLE1_LAYERS}")
    return TABLE1.get((dataset, method, layers))


def table2(dataset, method):
    """Table 2 cell in percent, or ``None`` for a dataset the paper did not run (synthetic) or
    a method it did not put in Table 2 (ANIL, ANIL+KFO, LinNet); ``ValueError`` for a method
    that is not one of ours."""
    if method not in LABEL:
        raise ValueError(f"unknown method {method!r}; valid: {list(LABEL)}")
    return TABLE2.get((dataset, method))
