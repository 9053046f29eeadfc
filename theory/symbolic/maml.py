"""MAML on the 1D models, symbolically: inner loop, meta-objective, meta-gradients.

For a support loss L_s and a query loss L_q of the parameters theta (a tuple of symbols):

  theta_0 = theta,  theta_k = theta_{k-1} - alpha grad L_s(theta_{k-1})     (K steps)
  meta-loss            L_q(theta_K(theta))
  exact meta-gradient  d/dtheta L_q(theta_K(theta))
                  = (I - alpha H_s(theta_0)) ... (I - alpha H_s(theta_{K-1})) grad L_q(theta_K)
  first-order MAML     grad L_q(theta_K)            (the Jacobian of theta_K taken as identity)
  multi-task gradient  grad L_q(theta)              (no adaptation)

The exact meta-gradient is built from that chain rule (a reverse sweep through the inner
loop, the Hessians are symmetric) instead of differentiating the composed expression: the
result is the same expression mathematically (tests check both against each other and against
an independent numeric inner loop), and the construction reuses the shared subexpressions
theta_k, which keeps depth 4 with 3 inner steps fast.

Losses: ``population`` = the linear model's population loss sigma2/2 (W - a)^2 on both the
support and the query side (one task a); ``empirical`` = mean loss on n support points for the
inner loop and on n query points for the meta-loss (squared loss for ``linear``,
cross-entropy for ``logistic``), n = ``shots``.
"""

import contextvars
import dataclasses
import functools

import sympy

from .. import _check
from . import dag, losses, models, symbols

__all__ = ["MODELS", "LOSSES", "Derivation", "gradient", "hessian", "adapt", "meta_gradient",
           "effective_step", "validate", "stages", "derive"]

MODELS = ("linear", "logistic")
LOSSES = ("population", "empirical")


@dataclasses.dataclass(frozen=True)
class Derivation:
    """One derived MAML problem; every expression uses the symbols of ``theory.symbolic.symbols``.

    params          ``(w1, ..., wL)`` for linear, ``(w1, ..., wL, b)`` for logistic
    adapted         theta_K as a tuple of expressions, same order as params
    meta_loss       post-adaptation query loss of one task
    meta_grad       exact meta-gradient (first-order MAML when ``first_order``), order of params
    multitask_grad  gradient of the query loss without adaptation
    effective_step  linear models: the first-order (in alpha) contraction of one inner step on
                    the end-to-end slope, W_1 - W* = (1 - effective_step) (W - W*) + O(alpha^2),
                    with W* the support loss minimiser; equals alpha * L_s''(W) *
                    sum_l prod_{j!=l} w_j^2, i.e. alpha sigma2 sum_l prod_{j!=l} w_j^2 for the
                    population loss and the same with sigma2 replaced by the support mean
                    (1/n) sum_i x_i^2 for the empirical loss; ``None`` for logistic
    symbols         every symbol, in the order params, alpha, then sigma2, a (population) or
                    x1..xn, y1..yn, xq1..xqn, yq1..yqn (empirical)
    """

    model: str
    depth: int
    steps: int
    loss: str
    shots: int | None
    first_order: bool
    params: tuple
    adapted: tuple
    meta_loss: sympy.Expr
    meta_grad: tuple
    multitask_grad: tuple
    effective_step: sympy.Expr | None
    symbols: tuple


def gradient(loss, params):
    """``grad loss`` as a tuple of expressions, one per parameter."""
    return tuple(sympy.diff(loss, p) for p in params)


def hessian(loss, params):
    """``d^2 loss / dp_i dp_j`` as a tuple of rows."""
    grad = gradient(loss, params)
    return tuple(tuple(sympy.diff(g, p) for p in params) for g in grad)


def adapt(loss, params, step_size, steps, interner=None, tick=None):
    """The inner-loop trajectory ``(theta_0, ..., theta_K)`` of K gradient steps on ``loss``.

    Each theta_k is a tuple of expressions in the original ``params``; ``interner``: a
    ``dag.Interner`` shared by the steps of one derivation (a new one by default); ``tick()``
    is called after each step.
    """
    interner = interner if interner is not None else dag.Interner()
    grad = gradient(loss, params)
    theta = tuple(params)
    path = [theta]
    for _ in range(steps):
        at = dag.substitute(grad, dict(zip(params, theta, strict=True)), interner)
        theta = tuple(t - step_size * g for t, g in zip(theta, at, strict=True))
        path.append(theta)
        if tick is not None:
            tick()
    return tuple(path)


def meta_gradient(support_loss, query_loss, params, path, step_size, first_order=False,
                  interner=None, tick=None):
    """d/dtheta of ``query_loss(theta_K)`` through the trajectory ``path`` from ``adapt``.

    Exact (second order) by the reverse sweep g <- (I - alpha H_s(theta_k)) g, k = K-1..0,
    started at g = grad L_q(theta_K); ``first_order`` stops at grad L_q(theta_K).
    ``interner``: the ``dag.Interner`` that ``adapt`` used, if any; ``tick()`` is called after
    each step of the sweep.
    """
    interner = interner if interner is not None else dag.Interner()
    g = dag.substitute(gradient(query_loss, params), dict(zip(params, path[-1], strict=True)),
                       interner)
    if first_order:
        return tuple(g)
    hess = hessian(support_loss, params)
    if tick is not None:
        tick()
    for theta in reversed(path[:-1]):
        at = dag.substitute([h for row in hess for h in row],
                            dict(zip(params, theta, strict=True)), interner)
        rows = [at[i * len(params):(i + 1) * len(params)] for i in range(len(params))]
        hg = [sympy.Add(*(h * gj for h, gj in zip(row, g, strict=True))) for row in rows]
        g = [gi - step_size * hgi for gi, hgi in zip(g, hg, strict=True)]
        if tick is not None:
            tick()
    return tuple(g)


def effective_step(support_loss_of, weights, step_size):
    """``alpha * L_s''(W) * sum_l prod_{j!=l} w_j^2`` for a loss quadratic in the slope W.

    ``support_loss_of(params)`` builds the support loss of any weight tuple; its curvature in W
    is read off the depth-1 model. See ``Derivation.effective_step``.
    """
    slope = sympy.Dummy("W", real=True)
    curvature = sympy.diff(support_loss_of((slope,)), slope, 2)
    lever = sympy.Add(*(models.other_layers(weights, l) ** 2 for l in range(len(weights))))
    return step_size * curvature * lever


def validate(model, depth, steps, loss, shots, first_order):
    """Checked and normalised ``derive`` arguments; ``ValueError`` naming the bad value."""
    _check.choice("model", model, MODELS)
    depth = _check.integer("depth", depth, 1)
    steps = _check.integer("steps", steps, 0)
    _check.choice("loss", loss, LOSSES)
    if model == "logistic" and loss == "population":
        raise ValueError("loss 'population' is not available for model 'logistic': the logistic "
                         "model has only the empirical loss (loss='empirical', shots >= 1)")
    if loss == "empirical":
        if shots is None:
            raise ValueError("shots must be an integer >= 1 (the empirical loss needs the "
                             "number of support and query points), got None")
        shots = _check.integer("shots", shots, 1)
    elif shots is not None:
        raise ValueError(f"shots {shots!r} is not None: the population loss has no data points "
                         "(use loss='empirical' for shots >= 1)")
    _check.choice("first_order", first_order, (True, False))
    return model, depth, steps, loss, shots, bool(first_order)


def stages(steps, first_order=False):
    """How many times ``derive`` reports progress: K inner steps, then (exact meta-gradient)
    the support Hessian and K sweep steps."""
    return steps + (0 if first_order else steps + 1)


def derive(model="linear", depth=1, steps=1, loss="population", shots=None, first_order=False,
           progress=None):
    """Derive the K-step MAML problem of a 1D model of depth L; cached. See ``Derivation``.

    model ``'linear'`` or ``'logistic'``; depth L >= 1; steps K >= 0; loss ``'population'``
    (linear only) or ``'empirical'`` with ``shots`` n >= 1 support and query points;
    ``progress()``: called after each of the ``stages(steps, first_order)`` stages of a
    derivation that is not cached yet.

    >>> d = derive("linear", depth=2, steps=1)
    >>> d.params, d.symbols[2:]
    ((w1, w2), (alpha, sigma2, a))
    >>> d.adapted[0]
    -alpha*sigma2*w2*(-a + w1*w2) + w1
    >>> d.effective_step
    alpha*sigma2*(w1**2 + w2**2)
    """
    token = _TICK.set(progress)
    try:
        return _derive(*validate(model, depth, steps, loss, shots, first_order))
    finally:
        _TICK.reset(token)


_TICK = contextvars.ContextVar("tick", default=None)  # outside _derive's cache key


@functools.lru_cache(maxsize=None)
def _derive(model, depth, steps, loss, shots, first_order):
    weights = symbols.weights(depth)
    alpha = symbols.alpha
    if loss == "population":
        data = (symbols.sigma2, symbols.a)

        def support_of(params):
            return losses.population_loss(params, symbols.a, symbols.sigma2)

        query_of = support_of
    else:
        xs, ys = symbols.support(shots)
        xq, yq = symbols.query(shots)
        data = xs + ys + xq + yq
        task_loss = losses.squared_loss if model == "linear" else losses.cross_entropy

        def support_of(params):
            return task_loss(params, xs, ys)

        def query_of(params):
            return task_loss(params, xq, yq)

    params = weights if model == "linear" else weights + (symbols.b,)
    support, query = support_of(params), query_of(params)
    interner, tick = dag.Interner(), _TICK.get()
    path = adapt(support, params, alpha, steps, interner, tick)
    (meta_loss,) = dag.substitute([query], dict(zip(params, path[-1], strict=True)), interner)
    return Derivation(
        model=model, depth=depth, steps=steps, loss=loss, shots=shots, first_order=first_order,
        params=params, adapted=path[-1], meta_loss=meta_loss,
        meta_grad=meta_gradient(support, query, params, path, alpha, first_order, interner,
                                tick),
        multitask_grad=gradient(query, params),
        effective_step=effective_step(support_of, weights, alpha) if model == "linear" else None,
        symbols=params + (alpha,) + data)
