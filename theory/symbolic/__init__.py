"""Exact MAML objectives and meta-gradients of 1D linear and logistic models, with sympy.

Why MAML needs depth, as a formula sheet ("When MAML Can Adapt Fast and How to Assist When It
Cannot", Arnold, Iqbal & Sha, AISTATS 2021), derived here from first principles; R5 (our
extension) carries it to d dimensions as matrix identities for small symbolic d and width h.

derive(model, depth, steps, loss, shots, first_order) -> Derivation   cached derivation (maml)
Derivation          params, adapted, meta_loss, meta_grad, multitask_grad, effective_step, symbols
bridge.lambdify(exprs, names)  numpy twin of expressions, broadcasting over grids
bridge.numeric(derivation)     NumericDerivation: .meta_loss/.meta_grad/.multitask_grad/
                               .effective_step(**values), .names
symbols             alpha, sigma2, a, mu, v, b, weights(L), support(n), query(n), by_name(names)
models              end_to_end, other_layers, linear, logit, sigmoid, logistic
losses              population_loss, squared_loss, cross_entropy
maml                adapt, meta_gradient, gradient, hessian, effective_step, validate
claims.Claim        (statement, lhs, rhs): a result is the claim lhs == rhs
claims.holds        simplify(lhs - rhs) == 0 (after a rational normal form)
claims.r1_shallow_linear(K)       L = 1: adapted error, objective, meta-gradient scale by
                                  (1 - alpha sigma2)^K, ^(2K)
claims.r1_task_average(K)         minimiser E[a] = mu, bound sigma2/2 (1 - alpha sigma2)^(2K) v
claims.r2_deep_linear_one_step()  L = 2: e -> e (1 - alpha s2 (w1^2+w2^2) + alpha^2 s2^2 e w1 w2)
claims.r2_minimiser_points()      solutions of "adapted error = 0 for every a"
claims.r2_minimisers()            there w1 w2 = 0, w1^2 + w2^2 = 1/(alpha sigma2), loss 0
claims.r2_effective_step(L)       first-order step on W: alpha sigma2 sum_l prod_{j!=l} w_j^2
claims.r3_bottom_layer_update(L)  w1's step = shallow gradient times the layers above
claims.r3_meta_sgd(L, loss, shots)   first order in alpha: Meta-SGD step with a learned rate
claims.r3_collapse(K)             collapsed model: plain step alpha, R1 failure again
claims.r4_logistic_shallow(n)     LogR: (I - alpha H_s) grad L_q(w'), H_s the sigmoid curvature
claims.r4_logistic_linnet(L, n)   LogR+LinNet: step on W rescaled as in R2/R3
claims.expect_over_tasks(expr)    E_a[expr] from E[a] = mu, Var(a) = v
claims.all_claims()               every result as [(title, claims)]
matrix              R5 in d dimensions: r5a_shallow(d, K), r5b_meta_sgd(), r5c_kfo(),
                    r5d_deep_linear(), r5d_reduces_to_r2(), meta_sgd_floor, all_claims()
matrix_deep         R5e, R5f at depth L: preconditioner(ws), adapted(ws, a, Sigma, K),
                    r5e_deep_preconditioner(), r5f_k_steps(), all_claims()
report              R1-R5 checked once (``check()``), as text or JSON with the tally
                    (``text``, ``document``, ``tally``; ``python -m theory.symbolic report``)
cli.main(argv)      ``python -m theory.symbolic``; cli.document(d) / cli.parse(doc) are the
                    json form of a Derivation and its inverse
dag                 postorder, free_symbols, tree_size, share/unshare, substitute, Interner:
                    tools that walk the expressions as the small DAGs they are, never as
                    expanded trees

Command line: ``python -m theory.symbolic derive --model linear --depth 2 --steps 1`` and
``python -m theory.symbolic report``.
"""

from . import bridge, claims, dag, losses, maml, matrix, matrix_deep, models, symbols
from .maml import Derivation, derive

__all__ = ["Derivation", "bridge", "claims", "dag", "derive", "losses", "maml", "matrix",
           "matrix_deep", "models", "symbols"]
