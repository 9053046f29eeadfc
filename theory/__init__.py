"""theory: why MAML needs depth, made exact, simulated and measured.

Reference implementation of "When MAML Can Adapt Fast and How to Assist When It Cannot"
(Arnold, Iqbal & Sha, AISTATS 2021).

Subpackages
-----------
symbolic   -- sympy derivations of MAML objectives and meta-gradients (1D linear, logistic)
landscape  -- numeric meta-training simulations on 1D tasks
engine     -- numpy + autograd CNN engine: MAML, FO-MAML, ANIL, LinNet, meta-optimizers
figures    -- every figure of the project, ``python -m theory.figures``
"""

__version__ = "0.1.0"
