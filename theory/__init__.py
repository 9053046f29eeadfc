"""theory: why MAML needs depth, made exact, simulated and measured.

Reference implementation of "When MAML Can Adapt Fast and How to Assist When It Cannot"
(Arnold, Iqbal & Sha, AISTATS 2021): a shallow model, even one that represents every task
exactly, has nothing that shapes its adaptation gradient, so MAML cannot make it adapt fast; in
a deeper model the upper layers meta-learn an update rule for the layers below.

Subpackages (each docstring maps its own API)
---------------------------------------------
symbolic   sympy derivations of MAML objectives and meta-gradients (1D linear, logistic):
           ``derive``, ``bridge.numeric``, the results R1-R4; ``python -m theory.symbolic``
landscape  numeric meta-training on 1D tasks, vectorised over tasks and restarts: surfaces,
           trajectories, adaptation curves, alpha sweep, collapse; ``python -m theory.landscape``
engine     numpy + autograd CNN engine: MAML, FO-MAML, ANIL, LinNet, Meta-SGD, Meta-Curvature,
           T-Nets, KFO on few-shot image benchmarks; ``python -m theory.engine``
paper      the paper's Tables 1 and 2: its numbers, the sweep (plan, Dask execution), our table
           cells and ordering verdicts; ``python -m theory.paper``
figures    every figure, ``compute_<name>(rng, quick)`` + ``fig_<name>(data) -> Figure``;
           ``python -m theory.figures``

The five command lines share one grammar (``--json``, ``--out DIR``, ``--progress/--no-progress``,
``--seed``, ``--version``; CONTRIBUTING.md), built from ``theory._cli``.
"""

__version__ = "0.1.0"
