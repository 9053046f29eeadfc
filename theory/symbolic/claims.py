"""Results R1-R4 as claims ``lhs == rhs`` between a derived expression and a closed form.

Each function returns a tuple of ``Claim(statement, lhs, rhs)``; ``lhs`` comes from the
derivation (``derive``, or differentiation of its meta-loss), ``rhs`` is the closed form written
out here. ``holds(claim)`` checks ``simplify(lhs - rhs) == 0``. The population task
distribution enters through its first two moments only: E[a] = mu, Var(a) = v.
"""

import collections

import sympy

from . import dag, losses, maml, models, symbols
from .symbols import a, alpha, mu, sigma2, v

Claim = collections.namedtuple("Claim", "statement lhs rhs")


def holds(claim):
    """``simplify(lhs - rhs) == 0``, after bringing the difference to a rational normal form.

    Matrix claims (R5) hold when every entry does; a shape mismatch raises sympy's error.

    ``expand`` splits exp(u + v) into exp(u) exp(v), so ``together`` + ``cancel`` treat the
    exponentials as polynomial generators; this decides the logistic claims in well under a
    second where ``simplify`` alone takes minutes.
    """
    difference = claim.lhs - claim.rhs
    if isinstance(difference, sympy.MatrixBase):
        return all(holds(Claim(claim.statement, x, 0)) for x in difference)
    difference = sympy.cancel(sympy.together(sympy.expand(difference)))
    return sympy.simplify(difference) == 0


def expect_over_tasks(expr):
    """E_a[expr] for an expression polynomial of degree <= 2 in the task slope ``a``.

    Uses E[a] = mu and E[a^2] = mu^2 + v; higher moments are not part of the model.
    """
    poly = sympy.Poly(sympy.expand(expr), a)
    if poly.degree() > 2:
        raise ValueError(f"degree {poly.degree()} in a is not <= 2 (only E[a], Var(a) are known)")
    moments = (1, mu, mu ** 2 + v)
    return sympy.Add(*(c * moments[k] for (k,), c in poly.terms()))


def _first_order_in_alpha(expr):
    """alpha * d expr / d alpha at alpha = 0: the O(alpha) part of an inner-loop quantity."""
    (rate,) = dag.substitute([sympy.diff(expr, alpha)], {alpha: sympy.Integer(0)})
    return alpha * rate


def _lever(weights):
    """``sum_l prod_{j != l} w_j^2``: how strongly one gradient step on the layers moves W."""
    return sympy.Add(*(models.other_layers(weights, l) ** 2 for l in range(len(weights))))


def _slope_gradient(loss_of, weights):
    """dL/dW of a loss of the end-to-end slope, evaluated at W = prod(weights)."""
    slope = sympy.Dummy("W", real=True)
    return sympy.diff(loss_of((slope,)), slope).subs(slope, models.end_to_end(weights))


def r1_shallow_linear(steps):
    """R1: for L = 1, K steps shrink the slope error by (1 - alpha sigma2)^K, whatever w is.

    >>> [holds(claim) for claim in r1_shallow_linear(2)]
    [True, True, True]
    """
    d, d0 = maml.derive("linear", 1, steps), maml.derive("linear", 1, 0)
    (w,) = d.params
    factor = (1 - alpha * sigma2) ** steps
    return (
        Claim(f"the adapted slope error after K={steps} steps is (1 - alpha sigma2)^K (w - a)",
              d.adapted[0] - a, factor * (w - a)),
        Claim(f"the K={steps} MAML objective is (1 - alpha sigma2)^(2K) times the multi-task "
              "objective sigma2/2 (w - a)^2", d.meta_loss, factor ** 2 * d0.meta_loss),
        Claim("so the meta-gradient is that factor times the multi-task gradient",
              d.meta_grad[0], factor ** 2 * d.multitask_grad[0]),
    )


def r1_task_average(steps):
    """R1 over tasks: minimiser E[a] for every alpha; loss >= sigma2/2 (1-alpha sigma2)^(2K) v."""
    d = maml.derive("linear", 1, steps)
    (w,) = d.params
    objective = expect_over_tasks(d.meta_loss)
    factor = (1 - alpha * sigma2) ** (2 * steps)
    bound = sigma2 / 2 * factor * v
    (minimiser,) = sympy.solve(sympy.diff(objective, w), w)
    return (
        Claim("the task-averaged objective minus the bound sigma2/2 (1 - alpha sigma2)^(2K) "
              "Var(a) is a square, so the bound holds for every w",
              objective - bound, sigma2 / 2 * factor * (w - mu) ** 2),
        Claim("the minimiser is E[a] = mu whatever alpha is (for alpha sigma2 != 1)",
              minimiser, mu),
        Claim("the bound is attained at w = mu", objective.subs(w, minimiser), bound),
    )


def r2_deep_linear_one_step():
    """R2: for L = 2, one step maps e = w1 w2 - a to e (1 - alpha s2 (w1^2 + w2^2) + ...).

    The full factor is 1 - alpha sigma2 (w1^2 + w2^2) + alpha^2 sigma2^2 e w1 w2.
    """
    d = maml.derive("linear", 2, 1)
    w1, w2 = d.params
    e = w1 * w2 - a
    after = e * (1 - alpha * sigma2 * (w1 ** 2 + w2 ** 2) + alpha ** 2 * sigma2 ** 2 * e * w1 * w2)
    return (
        Claim("one inner step maps the slope error e = w1 w2 - a to "
              "e (1 - alpha sigma2 (w1^2 + w2^2) + alpha^2 sigma2^2 e w1 w2)",
              models.end_to_end(d.adapted) - a, after),
        Claim("the one-step MAML objective is sigma2/2 times its square", d.meta_loss,
              sigma2 / 2 * after ** 2),
    )


def r2_minimiser_points():
    """Parameters (w1, w2) whose one-step adapted slope error vanishes for every task a."""
    d = maml.derive("linear", 2, 1)
    error = sympy.Poly(sympy.expand(models.end_to_end(d.adapted) - a), a)
    return sympy.solve(error.coeffs(), d.params, dict=True)


def r2_minimisers():
    """R2: {w1 w2 = 0, w1^2 + w2^2 = 1/(alpha sigma2)} zeroes the one-step loss of every task."""
    d = maml.derive("linear", 2, 1)
    w1, w2 = d.params
    claims = []
    for point in r2_minimiser_points():
        at = {w1: point.get(w1, w1), w2: point.get(w2, w2)}
        where = f"at (w1, w2) = ({at[w1]}, {at[w2]})"
        claims += [
            Claim(f"{where}: w1 w2 = 0", (w1 * w2).subs(at), sympy.Integer(0)),
            Claim(f"{where}: w1^2 + w2^2 = 1/(alpha sigma2)", (w1 ** 2 + w2 ** 2).subs(at),
                  1 / (alpha * sigma2)),
            Claim(f"{where}: the meta-loss is 0 for every task a (so for every task "
                  "distribution: a global minimum)", d.meta_loss.subs(at), sympy.Integer(0)),
            Claim(f"{where}: the meta-gradient vanishes",
                  sympy.Matrix(d.meta_grad).subs(at).norm() ** 2, sympy.Integer(0)),
        ]
    return tuple(claims)


def r2_effective_step(depth):
    """R2, any L: to first order in alpha a step contracts W - a by the effective step.

    The effective step is alpha sigma2 sum_l prod_{j!=l} w_j^2 (alpha sigma2 when L = 1).
    """
    d = maml.derive("linear", depth, 1)
    weights = d.params
    step = alpha * sigma2 * _lever(weights)
    return (
        Claim(f"L={depth}: W_1 - W = -alpha sigma2 sum_l prod_(j!=l) w_j^2 (W - a) + O(alpha^2)",
              _first_order_in_alpha(models.end_to_end(d.adapted)),
              -step * (models.end_to_end(weights) - a)),
        Claim(f"L={depth}: derive(...).effective_step is alpha sigma2 sum_l prod_(j!=l) w_j^2",
              d.effective_step, step),
    )


def r3_bottom_layer_update(depth):
    """R3: the bottom layer's step is the shallow gradient dL/dW scaled by the layers above."""
    d = maml.derive("linear", depth, 1)
    weights = d.params

    def loss_of(ws):
        return losses.population_loss(ws, a, sigma2)

    above = models.end_to_end(weights[1:])
    return (Claim(f"L={depth}: w1_1 - w1 = -alpha (w2 ... wL) dL/dW", d.adapted[0] - weights[0],
                  -alpha * above * _slope_gradient(loss_of, weights)),)


def r3_meta_sgd(depth, loss="population", shots=None):
    """R3: to first order in alpha the step on W is Meta-SGD with a learned rate.

    The rate is alpha sum_l prod_{j!=l} w_j^2, set by the weights the outer loop trains.
    """
    d = maml.derive("linear", depth, 1, loss, shots)
    weights = d.params
    xs, ys = symbols.support(shots or 1)

    def loss_of(ws):
        if loss == "population":
            return losses.population_loss(ws, a, sigma2)
        return losses.squared_loss(ws, xs, ys)

    rate = alpha * _lever(weights)
    return (Claim(f"L={depth}, {loss} loss: W_1 - W = -(alpha sum_l prod_(j!=l) w_j^2) dL_s/dW "
                  "+ O(alpha^2), a Meta-SGD step whose rate the upper layers learn",
                  _first_order_in_alpha(models.end_to_end(d.adapted)),
                  -rate * _slope_gradient(loss_of, weights)),)


def r3_collapse(steps):
    """R3: collapsing the layers into W keeps f but restores step alpha and the R1 failure."""
    shallow = maml.derive("linear", 1, steps)
    slope = sympy.Symbol("W", real=True)
    to_slope = {shallow.params[0]: slope}
    deep = maml.derive("linear", 2, 1)
    w1, w2 = deep.params
    e = w1 * w2 - a
    e1 = r2_deep_linear_one_step()[0].rhs
    return (
        Claim(f"the collapsed model W x with K={steps}: objective (1 - alpha sigma2)^(2K) "
              "sigma2/2 (W - a)^2, the shallow failure", shallow.meta_loss.subs(to_slope),
              (1 - alpha * sigma2) ** (2 * steps) * sigma2 / 2 * (slope - a) ** 2),
        Claim("the collapsed model's effective step is the plain alpha sigma2",
              shallow.effective_step, alpha * sigma2),
        Claim("the deep (L=2) one-step objective changes along w1 -> t w1, w2 -> w2/t, which "
              "keeps f: w1 d/dw1 - w2 d/dw2 of it is -2 alpha sigma2^2 e e_1 (w1^2 - w2^2)",
              w1 * sympy.diff(deep.meta_loss, w1) - w2 * sympy.diff(deep.meta_loss, w2),
              -2 * alpha * sigma2 ** 2 * e * e1 * (w1 ** 2 - w2 ** 2)),
    )


def r4_logistic_shallow(shots=1):
    """R4: the shallow LogR meta-gradient is (I - alpha H_s(theta)) grad L_q(theta_1).

    H_s is the support curvature, mean p (1 - p) [x, 1][x, 1]^T: the sigmoid's curvature is
    the only thing the meta-parameters (w, b) can use to shape the adaptation step.
    """
    d = maml.derive("logistic", 1, 1, "empirical", shots)
    xs, ys = symbols.support(shots)
    support = losses.cross_entropy(d.params, xs, ys)
    hess = sympy.Matrix(maml.hessian(support, d.params))
    query = losses.cross_entropy(d.params, *symbols.query(shots))
    query_grad = sympy.Matrix(dag.substitute(maml.gradient(query, d.params),
                                             dict(zip(d.params, d.adapted, strict=True))))
    chain = (sympy.eye(2) - alpha * hess) * query_grad
    curvature = sympy.zeros(2, 2)
    for x in xs:
        p = models.logistic(d.params, x)
        feature = sympy.Matrix([x, 1])
        curvature += p * (1 - p) * feature * feature.T / shots
    claims = [Claim(f"n={shots}: d/d{p} of L_q(theta_1) = [(I - alpha H_s) grad L_q(theta_1)]_{i}",
                    sympy.diff(d.meta_loss, p), chain[i]) for i, p in enumerate(d.params)]
    claims += [Claim(f"n={shots}: H_s[{i},{j}] = mean_i p_i (1 - p_i) [x_i, 1]^T [x_i, 1] with "
                     "p_i = sigmoid(w x_i + b): only the sigmoid's curvature shapes the step",
                     hess[i, j], curvature[i, j]) for i, j in ((0, 0), (0, 1), (1, 1))]
    return tuple(claims)


def r4_logistic_linnet(depth, shots=1):
    """R4: with LinNet factors the first-order step on W is rescaled by sum_l prod_{j!=l} w_j^2."""
    d = maml.derive("logistic", depth, 1, "empirical", shots)
    weights, bias = d.params[:-1], d.params[-1]
    xs, ys = symbols.support(shots)
    slope = sympy.Dummy("W", real=True)
    support = losses.cross_entropy((slope, bias), xs, ys)
    dl_dw = sympy.diff(support, slope).subs(slope, models.end_to_end(weights))
    dl_db = sympy.diff(support, bias).subs(slope, models.end_to_end(weights))
    return (
        Claim(f"L={depth}, n={shots}: W_1 - W = -(alpha sum_l prod_(j!=l) w_j^2) dL_s/dW "
              "+ O(alpha^2), the R2/R3 rescaling", _first_order_in_alpha(
                  models.end_to_end(d.adapted[:-1])), -alpha * _lever(weights) * dl_dw),
        Claim(f"L={depth}, n={shots}: the bias step is the plain -alpha dL_s/db",
              d.adapted[-1] - bias, -alpha * dl_db),
    )


def all_claims():
    """Every result with the parameters the report shows: ``[(title, claims), ...]``."""
    return [
        ("R1 shallow linear, K = 1, 2", r1_shallow_linear(1) + r1_shallow_linear(2)),
        ("R1 over tasks (E[a] = mu, Var(a) = v), K = 1, 2",
         r1_task_average(1) + r1_task_average(2)),
        ("R2 deep linear L = 2, one step", r2_deep_linear_one_step()),
        ("R2 global minimisers of the one-step objective", r2_minimisers()),
        ("R2 effective step, L = 1..4", sum((r2_effective_step(L) for L in range(1, 5)), ())),
        ("R3 bottom layer update, L = 2, 3",
         r3_bottom_layer_update(2) + r3_bottom_layer_update(3)),
        ("R3 Meta-SGD step from the inside, L = 3",
         r3_meta_sgd(3) + r3_meta_sgd(3, "empirical", 2)),
        ("R3 collapsing the layers, K = 1", r3_collapse(1)),
        ("R4 logistic, shallow (LogR), n = 1", r4_logistic_shallow(1)),
        ("R4 logistic with LinNet factors, L = 2", r4_logistic_linnet(2)),
    ]
