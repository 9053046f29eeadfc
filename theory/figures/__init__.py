"""Every figure of the project: compute (numbers, JSON-ready) then draw (a matplotlib Figure).

Run ``python -m theory.figures`` (``--list``, ``--quick``, ``--seed``, ``--out``) to write them:
PNG and PDF into ``figures/`` of the checkout, each figure's data (with the ``summary`` numbers
quoted in ``paper_repro.md``) into ``results/figures/<name>.json``, wherever Python is started.
A ``--quick`` run writes to ``figures/quick/`` instead (git-ignored) and never over full-budget
data; with ``--out DIR`` every output (images and data) goes to DIR. Nothing else in this
package writes files. The 1D figures build on ``theory.landscape`` analyses and
``theory.symbolic``; the CNN figures (the two tables, the adaptation and the training curves)
read records under ``results/`` through ``theory.paper.cells``, one budget per figure, and
never train.

Registry
--------
REGISTRY                 name -> Entry (``.compute``, ``.fig``, ``.description``, ``.reads_results``)

Figures (``compute_<name>(rng, quick=False) -> dict``, ``fig_<name>(dict) -> Figure``)
--------------------------------------------------------------------------------------
failure_mode     failure.py  shallow vs deep linear regression, LogR vs LogR+LinNet
surface          surface.py  L = 2 meta-loss surface, MAML trajectories, predicted minimisers
alpha_sweep      alpha_sweep.py  post-adaptation loss and learned effective step vs alpha
collapse         collapse.py a meta-trained deep model collapsed to its product
linnet_depth     tables.py   Table 1 (Omniglot): MAML vs MAML w/ LinNet, paper beside ours
meta_optimizers  tables.py   Table 2 (Omniglot, 2-layer CNN): meta-optimizers, paper vs ours
adaptation_cnn   adaptation.py  test accuracy vs inner steps of meta-trained CNNs, both protocols (records)
alpha_cnn        alpha_cnn.py  test accuracy vs the inner lr alpha of CNNs, authors' protocol
training_curves  training.py validation accuracy vs meta-iteration of CNN runs, both protocols
gradient_ratio   ratio.py    (1 - alpha sigma2)^(2K): sympy vs simulated meta-gradient ratio
preconditioner   precondition.py  R5 (d dims): loss vs kappa and vs depth L (K = 1, 2); learned P
                                  vs (alpha Sigma)^-1

Support
-------
style      Okabe-Ito palette, ``style.context()`` rcParams, ``style.figure()`` panels
cli        ``build(name, seed=0, quick=False) -> (data, Figure)``, ``save``, ``main(argv)``
"""

import collections
import importlib


class Entry(collections.namedtuple("Entry", "module name description reads_results")):
    """One registered figure; ``compute``/``fig`` are imported on first use, so listing the
    registry does not load sympy or autograd."""

    __slots__ = ()

    @property
    def compute(self):
        """``compute_<name>(rng, quick=False, **options) -> dict``."""
        return getattr(importlib.import_module(f"theory.figures.{self.module}"),
                       f"compute_{self.name}")

    @property
    def fig(self):
        """``fig_<name>(data) -> matplotlib.figure.Figure``."""
        return getattr(importlib.import_module(f"theory.figures.{self.module}"), f"fig_{self.name}")


REGISTRY = {
    "failure_mode": Entry("failure", "failure_mode",
                          "shallow vs deep linear regression and LogR vs LogR+LinNet: "
                          "post-adaptation loss/accuracy vs meta-iterations and inner steps",
                          False),
    "surface": Entry("surface", "surface",
                     "L=2 MAML meta-loss surface with meta-training trajectories and the "
                     "predicted minimiser set", False),
    "alpha_sweep": Entry("alpha_sweep", "alpha_sweep",
                         "best post-adaptation loss and learned effective step vs alpha, "
                         "shallow vs deep", False),
    "collapse": Entry("collapse", "collapse",
                      "collapsing a meta-trained deep linear model to its product restores "
                      "the shallow failure", False),
    "linnet_depth": Entry("tables", "linnet_depth",
                          "Table 1, Omniglot 5-way 5-shot: MAML vs MAML w/ LinNet at 2-6 "
                          "CNN layers, paper vs ours", True),
    "meta_optimizers": Entry("tables", "meta_optimizers",
                             "Table 2, Omniglot 5-way 5-shot 2-layer CNN: meta-optimizers, "
                             "paper vs ours", True),
    "adaptation_cnn": Entry("adaptation", "adaptation_cnn",
                            "Omniglot 5-way 5-shot CNNs after meta-training: test accuracy vs "
                            "inner steps k = 0..10, MAML 2/4 layers, MAML w/ LinNet, KFO; the "
                            "authors' protocol beside ours",
                            True),
    "alpha_cnn": Entry("alpha_cnn", "alpha_cnn",
                       "Omniglot 5-way 5-shot, the authors' network: final test accuracy vs "
                       "the inner lr alpha, MAML 2/4 layers, MAML w/ LinNet, KFO", True),
    "training_curves": Entry("training", "training_curves",
                             "Omniglot 5-way 5-shot CNN runs that stop early: validation "
                             "accuracy vs meta-iteration, best round, plateau or cap", True),
    "gradient_ratio": Entry("ratio", "gradient_ratio",
                            "shallow meta-gradient ratio (1 - alpha sigma2)^(2K): sympy vs "
                            "simulation", False),
    "preconditioner": Entry("precondition", "preconditioner",
                            "R5, d dimensions: post-adaptation loss vs condition number for "
                            "MAML, Meta-SGD, KFO and deep linear MAML, and vs depth L at K = 1, 2; "
                            "learned preconditioners vs (alpha Sigma)^-1", False),
}
