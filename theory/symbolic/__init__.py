"""Exact MAML objectives and meta-gradients of 1D linear and logistic models, with sympy.

Why MAML needs depth, as a formula sheet ("When MAML Can Adapt Fast and How to Assist When It
Cannot", Arnold, Iqbal & Sha, AISTATS 2021), derived here from first principles.

derive(model, depth, steps, loss, shots, first_order) -> Derivation   cached derivation (maml)
Derivation          params, adapted, meta_loss, meta_grad, multitask_grad, effective_step, symbols
bridge.lambdify(exprs, names)  numpy twin of expressions, broadcasting over grids
bridge.numeric(derivation)     NumericDerivation: .meta_loss/.meta_grad/.multitask_grad/
                               .effective_step(**values), .names
symbols             alpha, sigma2, a, mu, v, b, weights(L), support(n), query(n), by_name(names)
models              end_to_end, other_layers, linear, logit, sigmoid, logistic
losses              population_loss, squared_loss, cross_entropy
maml                adapt, meta_gradient, gradient, hessian, effective_step, validate
results             R1-R4 as claims lhs == rhs: r1_shallow_linear, r1_task_average,
                    r2_deep_linear_one_step, r2_minimisers, r2_effective_step,
                    r3_bottom_layer_update, r3_meta_sgd, r3_collapse, r4_logistic_shallow,
                    r4_logistic_linnet
report              text of R1-R4 (``python -m theory.symbolic report``)
dag                 shared-subexpression helpers (the derived expressions are small DAGs)

Command line: ``python -m theory.symbolic derive --model linear --depth 2 --steps 1`` and
``python -m theory.symbolic report``.
"""

from . import bridge, losses, maml, models, symbols
from .maml import Derivation, derive

__all__ = ["Derivation", "bridge", "derive", "losses", "maml", "models", "symbols"]
