"""R5e, R5f: a depth-L linear network in d dimensions, its preconditioner, its exact set, K steps.

Setting of :mod:`.matrix` (y = a^T x, x ~ N(0, Sigma), L_a(w) = 1/2 e^T Sigma e, e = w - a) with
f(x) = W_L ... W_1 x, W_1: h x d, W_l: h x h, W_L: 1 x h, w^T = W_L ... W_1. Write
A_l = W_L ... W_{l+1} (1 x h, A_L = 1) and B_l = W_{l-1} ... W_1 (B_1 = I); then
dL/dW_l = A_l^T (Sigma e)^T B_l^T, and one inner step is the product of the L factors
W_l - alpha A_l^T g^T B_l^T, g = Sigma e. Expanding it:

R5e  first order: w -> w - alpha P Sigma e + O(alpha^2) with
     P = sum_l ||A_l||^2 B_l^T B_l = ||A_1||^2 I + W_1^T X W_1, X = sum_{l>=2} ||A_l||^2
     (W_{l-1} .. W_2)^T (W_{l-1} .. W_2): symmetric, positive semi-definite; at L = 2 it is R5d's
     ||W_2||^2 I + W_1^T W_1, at d = h = 1 R2's sum_l prod_{j != l} w_j^2. The term of order
     alpha^L (every factor replaced) is (-alpha)^L (g^T w)^(L-1) g. The one-step-exact set
     {e_1 = 0 for every task} therefore needs P = (alpha Sigma)^-1 (order 1 in e) and w = 0
     (order L in e: (g^T w)^(L-1) g = 0 for every g). Then A_1 W_1 = w^T = 0: if A_1 != 0 the
     image of W_1 lies in A_1's orthogonal complement, rank W_1 <= h - 1, and
     (alpha Sigma)^-1 - ||A_1||^2 I = W_1^T X W_1 is positive semi-definite of rank <= h - 1,
     which needs ||A_1||^2 = 1/(alpha lambda_max) and d - m <= h - 1 (m the multiplicity of
     Sigma's top eigenvalue); if A_1 = 0, P = W_1^T X W_1 has rank <= h, so h >= d. Both
     constructions below reach the bound, so for every L >= 2 the set is non-empty iff
     h >= d - m + 1, R5d's condition, whatever the depth (for L = 1, P = I: iff alpha Sigma = I):
     W_L = 0: only W_L moves and e_1 = (I - alpha B_L^T B_L Sigma) e exactly (needs h >= d);
     W_L = (s, 0, ..), W_l = I between, W_1 with first row 0: every product of two gradient
     terms carries (W_1 g)_1 = 0, so again e_1 = (I - alpha P Sigma) e exactly, with
     P = s^2 I + ((L - 2) s^2 + 1) W_1^T W_1, whose least eigenvalue s^2 has multiplicity
     d - rank W_1 >= d - h + 1. For d = 1 (m = 1) the set is non-empty at every width: R2's set.
R5f  K steps: the weights after k steps differ from the start by O(e), so the part of e_K linear
     in e is (I - alpha P Sigma)^K e with P at the meta-parameters. Zero loss for every task
     needs it to vanish; I - alpha P Sigma is similar to the symmetric
     M = I - alpha Sigma^(1/2) P Sigma^(1/2), and a symmetric M with M^K = 0 is 0
     (tr(M^2) is the sum of squares of its entries), so every zero of the K-step loss has
     P = (alpha Sigma)^-1, and the one-step-exact set (where later steps do not move: the
     gradient is 0) is contained in it. The K-step error is a polynomial of degree
     L (2L - 1)^(K-1) in a (theory.landscape.tasks.loss_degree).
The claims check these identities for d = h = 2 (L = 2, 3), the narrow construction for
d = 3, h = 2, L = 3, and the elimination for h = 1 < d = 2 at L = 3.
"""

import functools

import sympy

from . import claims as one_d
from .claims import Claim
from .matrix import _elimination, _setting, _sorted, _step, lower, population_loss
from .symbols import alpha

__all__ = ["layers", "product", "preconditioner", "adapted", "r5e_deep_preconditioner",
           "r5f_k_steps", "all_claims"]


def layers(d, h, depth):
    """[W_1 (h x d), W_2 .. W_{L-1} (h x h), W_L (1 x h)] of real symbols W<l>_<i><j>."""
    shapes = [(h, d)] + [(h, h)] * (depth - 2) + [(1, h)]
    if depth == 1:
        shapes = [(1, d)]
    return [sympy.Matrix(r, c, lambda i, j, l=l: sympy.Symbol(f"W{l + 1}_{i + 1}{j + 1}",
                                                             real=True))
            for l, (r, c) in enumerate(shapes)]


def product(ws):
    """W_L ... W_1 of the list [W_1, .., W_L] (the identity for an empty list)."""
    out = None
    for w in ws:
        out = w if out is None else w * out
    return out


def preconditioner(ws):
    """P = sum_l ||A_l||^2 B_l^T B_l, A_l = W_L .. W_{l+1}, B_l = W_{l-1} .. W_1."""
    d = ws[0].cols
    total = sympy.zeros(d, d)
    for l in range(len(ws)):
        above, below = product(ws[l + 1:]), product(ws[:l])
        scale = 1 if above is None else (above * above.T)[0, 0]
        total += scale * (sympy.eye(d) if below is None else below.T * below)
    return total


def adapted(ws, a, sigma, steps=1):
    """The end-to-end w (column) after ``steps`` inner steps on L_a, by differentiation."""
    sizes = [w.shape for w in ws]
    flat = sympy.Matrix([x for w in ws for x in w])

    def unflatten(v):
        out, k = [], 0
        for r, c in sizes:
            out.append(sympy.Matrix(r, c, list(v[k:k + r * c])))
            k += r * c
        return out

    for _ in range(steps):
        flat = _step(lambda v: population_loss(product(unflatten(v)).T, a, sigma), flat,
                     lambda g: g)
    return product(unflatten(flat)).T


def _order(expr, k):
    """alpha^k times the coefficient of alpha^k of a polynomial in alpha (entrywise)."""
    return alpha ** k * expr.diff(alpha, k).subs(alpha, 0) / sympy.factorial(k)


@functools.lru_cache(maxsize=None)
def r5e_deep_preconditioner():
    """R5e: P of depth L, its alpha^L term, its structure, the exact set's constructions."""
    sigma, _, a, _, _ = _setting(2)
    ws, thin = layers(2, 2, 3), layers(2, 1, 3)
    w, w_thin = product(ws).T, product(thin).T
    g, g_thin = sigma * (w - a), sigma * (w_thin - a)
    new = adapted(ws, a, sigma)
    p = preconditioner(ws)
    upper = product(ws[1:])
    between = ws[1].T * ws[1] + (ws[2] * ws[2].T)[0, 0] * sympy.eye(2)
    zero_top = {x: 0 for x in ws[2]}
    b = product(ws[:2])
    deep2 = layers(2, 2, 2)
    slopes = layers(1, 1, 3)
    return (
        Claim("L=3, d=h=2: one step moves w by -alpha P Sigma e + O(alpha^2), P = sum_l "
              "||W_L..W_(l+1)||^2 (W_(l-1)..W_1)^T (W_(l-1)..W_1)", _order(new, 1),
              -alpha * p * g),
        Claim("L=3, d=2, h=1: its alpha^L term is (-alpha)^L (g^T w)^(L-1) g, g = Sigma e: "
              "exact adaptation needs w = 0", _order(adapted(thin, a, sigma), 3),
              -alpha ** 3 * (g_thin.T * w_thin)[0, 0] ** 2 * g_thin),
        Claim("L=3: P = ||W_L..W_2||^2 I + W_1^T X W_1 with X = ||W_3||^2 I + W_2^T W_2 (the rest "
              "of P lies in W_1's row space)", p,
              (upper * upper.T)[0, 0] * sympy.eye(2) + ws[0].T * between * ws[0]),
        Claim("L=3, W_L = 0: the adapted error is exactly (I - alpha B^T B Sigma) e, B = W_2 W_1, "
              "for every Sigma (exact at Sigma = (alpha B^T B)^-1, h >= d)",
              new.subs(zero_top) - a, (sympy.eye(2) - alpha * b.T * b * sigma) * (w - a).subs(
                  zero_top)),
        Claim("L=2: P is R5d's ||W_2||^2 I + W_1^T W_1", preconditioner(deep2),
              (deep2[1] * deep2[1].T)[0, 0] * sympy.eye(2) + deep2[0].T * deep2[0]),
        Claim("d=h=1, L=3: P is R2's sum_l prod_(j!=l) w_j^2",
              preconditioner(slopes)[0, 0], one_d._lever([s[0, 0] for s in slopes])),
    ) + _narrow_construction() + _narrow_elimination()


def _narrow_construction():
    """d = 3, h = 2, L = 3: W_3 = (s, 0), W_2 = I, W_1 = [0; r]: e_1 = (I - alpha P Sigma) e."""
    sigma, _, a, _, _ = _setting(3)
    s = sympy.Symbol("s", positive=True)
    r = sympy.Matrix([[sympy.Symbol(f"r{i}", real=True) for i in range(1, 4)]])
    ws = [sympy.zeros(1, 3).col_join(r), sympy.eye(2), sympy.Matrix([[s, 0]])]
    p = preconditioner(ws)
    return (
        Claim("d=3, h=2, L=3 at W_3 = (s, 0), W_2 = I, W_1 = [0; r]: w = 0, P = s^2 I + "
              "(s^2 + 1) r^T r, and the adapted error is exactly (I - alpha P Sigma) e for every "
              "Sigma: exact at Sigma = (alpha P)^-1, whose top eigenvalue 1/(alpha s^2) is double "
              "(m = 2 = d - h + 1)",
              sympy.Matrix([*product(ws), *p, *(adapted(ws, a, sigma) - a)]),
              sympy.Matrix([*sympy.zeros(3, 1), *(s ** 2 * sympy.eye(3) + (s ** 2 + 1) * r.T * r),
                            *(-(sympy.eye(3) - alpha * p * sigma) * a)])),
    )


def _narrow_elimination():
    """h = 1 < d = 2, L = 3: {w = 0, alpha P Sigma = I} forces Sigma = sigma2 I."""
    sigma, _, _, _, _ = _setting(2)
    ws = layers(2, 1, 3)
    unknowns = [x for w in ws for x in w]
    equations = list(product(ws)) + list(preconditioner(ws) * alpha * sigma - sympy.eye(2))
    s11, s12, s22 = sigma[0, 0], sigma[0, 1], sigma[1, 1]
    return (Claim("h=1 < d=2, L=3: eliminating the weights from {w = 0, alpha P Sigma = I} leaves "
                  "s11 = s22, s12 = 0: depth does not lower R5d's width d - m + 1",
                  _elimination(equations, unknowns, [s11, s12, s22, alpha]),
                  _sorted([s11 - s22, s12])),)


@functools.lru_cache(maxsize=None)
def r5f_k_steps():
    """R5f: the linear part of e_K is (I - alpha P Sigma)^K e; zeros of the K-step loss."""
    sigma, _, a, _, _ = _setting(2)
    ws = layers(2, 2, 2)
    w = product(ws).T
    t, eps = sympy.Matrix(sympy.symbols("t1 t2", real=True)), sympy.Symbol("epsilon")
    task = w - eps * t  # e = eps t
    e2 = adapted(ws, a, sigma, 2).subs(dict(zip(a, task, strict=True)),
                                       simultaneous=True) - task
    n = sympy.eye(2) - alpha * preconditioner(ws) * sigma
    m = sympy.Matrix(2, 2, lambda i, j: sympy.Symbol(f"M{min(i, j) + 1}{max(i, j) + 1}",
                                                     real=True))
    b = lower("c", 2)  # any positive definite W_1^T W_1 is C^T C, C lower-triangular
    exact = {x: y for x, y in zip(sigma, (alpha * b.T * b).inv(), strict=True)}
    after_two = adapted([b, sympy.zeros(1, 2)], a, sigma, 2) - a
    return (
        Claim("L=2, d=h=2, K=2: the part of e_2 linear in e is (I - alpha P Sigma)^2 e, P at the "
              "meta-parameters", sympy.diff(e2, eps).subs(eps, 0), n * n * t),
        Claim("a symmetric M has tr(M^2) = sum of its squared entries, so M^K = 0 forces M = 0: "
              "zero K-step loss forces P = (alpha Sigma)^-1", (m * m).trace(),
              sum(x ** 2 for x in m)),
        Claim("L=2, K=2 at W_2 = 0, W_1 = C, Sigma = (alpha C^T C)^-1 (one-step exact): e_2 = 0 "
              "for every task", after_two.subs(exact, simultaneous=True), sympy.zeros(2, 1)),
    )


def all_claims():
    """R5e, R5f with the sizes the report shows: ``[(title, claims), ...]``."""
    return [
        ("R5e deep linear MAML at depth L: P, the alpha^L term, the one-step-exact set",
         r5e_deep_preconditioner()),
        ("R5f K inner steps of the deep model, d = h = 2, K = 2", r5f_k_steps()),
    ]
