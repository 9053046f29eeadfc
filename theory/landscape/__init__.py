"""Numeric meta-training of 1D models: surfaces, trajectories, adaptation curves, collapse.

The sampled counterpart of :mod:`theory.symbolic`: where the formulas say MAML goes, these
simulations watch it go, vectorised over the tasks of a meta-batch and over many restarts.
Randomness is always an ``rng: numpy.random.Generator`` argument (a seed reproduces a run bit
for bit); bad input raises ``ValueError`` naming the valid range; a diverging run raises
:class:`DivergenceError` (an ``ArithmeticError``) naming the iteration and the value.

Tasks (:mod:`.tasks`)
---------------------
SlopeDistribution(mean=1, std=0.5, kind)  -- slope ``a``: normal, uniform, two-point; Gauss rules
LinearTasks(sigma2=1, slope, noise=0)     -- ``y = a x + eps``, ``x ~ N(0, sigma2)``
ClassificationTasks(sigma2, slope, sharpness)
                                          -- ``y ~ Bernoulli(sigmoid(sharpness a x))``
quadratic(x, y)                           -- ``(s, c, k)`` of a set's loss ``s/2 (W - c)^2 + k``
exact_nodes(depth, steps)                 -- Gauss nodes that make expectations over ``a`` exact

Models (:mod:`.models`, pure functions of ``(params, x)``)
-----------------------------------------------------------
linear, logistic, slope                   -- depth-L linear; LogR (L = 1) / LogR+LinNet (L > 1)
squared_loss, cross_entropy, accuracy     -- per-task losses (last axis = points)
adapt(loss, params, batch, step_size, steps, first_order=False) -- MAML inner loop (autograd)

Closed forms (:mod:`.closed`, linear models)
--------------------------------------------
meta_value_and_grad(w, support, query, alpha, steps, first_order)
                                           -- exact (or first-order) meta-gradient recurrence
expected_meta_loss(w, tasks, alpha, steps, nodes=None)  -- exact expectation over ``a``
depth2_surface(axis, tasks, alpha, steps)  -- the same on a symmetric (w1, w2) grid, 4x cheaper
shallow_loss, shallow_floor                -- R1 loss at w, and its minimum at w = E[a]
effective_step(w, alpha, sigma2)           -- ``alpha sigma2 sum_l prod_{j != l} w_j^2``
DivergenceError                            -- non-finite or exploding values

Simulation (:mod:`.simulate`, :mod:`.optim`, :mod:`.evaluate`, :mod:`.reference`)
---------------------------------------------------------------------------------
meta_train(rng, *, model, depth, method, steps, alpha, ...) -> Run -- "maml", "fomaml",
    "multitask", "metasgd"; SGD or Adam; ``meta_batch=None`` = exact expectation over ``a``
Run                                        -- params (R, P), trajectory, meta_loss, effective_step
sgd(lr), adam(lr)                          -- outer optimisers as (init, update, get_params)
optim.Stopping(tol, restarts, cap)         -- per-restart stop on a gradient-norm tolerance
                                              (converged, grad_norm, iteration); optim.freeze
linear_curve, logistic_curve               -- post-adaptation loss (accuracy) after k = 0..K steps
simulate.linear_setup(rng, depth, init, init_scale, restarts)  -- names and starting values
meta_train_naive                           -- per-task Python-loop reference (tests, benchmark)

Analyses (JSON-serialisable dicts; defaults run in seconds)
-----------------------------------------------------------
analyses.surface(rng, *, alpha=0.5, steps=1, extent=2.5, grid=65, mc_tasks=2000, mc_shots=200,
    restarts=12, iterations=2000)          -- closed-form and Monte-Carlo surface + trajectories
analyses.alpha_sweep(rng, *, alphas, steps=1, depth=2, restarts=8, iterations=1500)
                                           -- best post-adaptation loss vs alpha, shallow vs deep
analyses.collapse(rng, *, alpha=0.5, depth=2, restarts=8, iterations=1500)
                                           -- deep -> product W -> the shallow (R1) loss again
analyses.effective_steps(rng, *, alpha=0.2, depth=2, iterations=1500)
                                           -- deep effective step vs Meta-SGD's learned beta
curves.logistic_collapse(rng, *, alpha=0.5, depth=2, restarts=4, iterations=400)
                                           -- LinNet collapsed to LogR: accuracy drops again
curves.adaptation_curves(rng, *, alpha=0.5, steps=2, depth=2, restarts=4, iterations=1000,
    logistic=True, logistic_iterations=400) -- shallow vs deep, LogR vs LogR+LinNet, equal alpha
analyses.train(rng, *, population, shots, meta_batch, ...)
                                           -- meta_train, exact (population) or sampled tasks
Every analysis also takes ``sigma2``, ``slope_mean``, ``slope_std``, ``lr``, ``optimizer`` and
``population`` (exact objective, default) or sampled meta-batches (``meta_batch``, ``shots``).

R5 in d dimensions (:mod:`.precondition`, our extension; closed forms in theory.symbolic.matrix)
---------------------------------------------------------------------------------------------
precondition.experiment(rng, *, dim, width, cond, rotate, method, depth, alpha, steps, ...)
                                           -- maml (any depth L), metasgd, kfo on the exact
                                              population loss; learned P vs (alpha Sigma)^-1
precondition.meta_train, objective, covariance, shallow_floor, metasgd_floor, exact_width,
finite_or_null
deep.adapted_error, objective, task_rule, preconditioner, exact_point, exact_width
                                           -- depth L, K steps: rank-one unrolling, exact
                                              Gauss-Hermite or Monte-Carlo task average (R5e/f)

Command line: ``python -m theory.landscape {surface,train,curves,sweep,collapse,effective}
[--json] [--out FILE] [--population/--no-population] [--seed N] ...`` and ``python -m
theory.landscape precondition --dim D --width H --cond KAPPA [--rotate] --method
{maml,metasgd,kfo} --depth L --alpha A --steps K --restarts R --seed S --json`` (:mod:`.cli`).
"""

from . import (analyses, closed, curves, deep, evaluate, models, optim, precondition, simulate,
               tasks)
from .closed import DivergenceError
from .simulate import Run, meta_train
from .tasks import ClassificationTasks, LinearTasks, SlopeDistribution

__all__ = ["ClassificationTasks", "DivergenceError", "LinearTasks", "Run", "SlopeDistribution",
           "analyses", "closed", "curves", "deep", "evaluate", "meta_train", "models", "optim",
           "precondition", "simulate", "tasks"]
