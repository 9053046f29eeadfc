"""R5: MAML in d dimensions, as matrix identities checked for small symbolic d and width h.

Tasks are y = a^T x with x ~ N(0, Sigma), Sigma a symmetric positive definite d x d matrix,
and task vectors a with E[a] = mu, Cov(a) = V (only these two moments enter). The population
loss of an end-to-end vector w is L_a(w) = 1/2 (w - a)^T Sigma (w - a), with error e = w - a.
Every ``lhs`` below comes from differentiating that loss (``gradient``); every ``rhs`` is a
closed form written out here. What the identities give, with the conditions they need:

R5a  shallow f = w^T x: K steps map e -> (I - alpha Sigma)^K e; the task-averaged objective is
     1/2 (w - mu)^T Q (w - mu) + 1/2 tr(Q V), Q = (I - alpha Sigma)^K Sigma (I - alpha Sigma)^K,
     minimised at w = mu for every alpha > 0 (uniquely iff no eigenvalue of alpha Sigma is 1);
     the floor 1/2 tr(Q V) = 1/2 ||L^T (I - alpha Sigma)^K B||_F^2 (Sigma = B B^T, V = L L^T)
     is > 0 for V positive definite unless alpha Sigma = I (a symmetric matrix with
     (I - alpha Sigma)^K = 0 is 0). The formula needs no condition on alpha; the inner loop
     contracts every direction only when 0 < alpha lambda_max(Sigma) < 2, and beyond that the
     floor grows with K. For d = 1 it is R1's bound.
R5b  Meta-SGD w -> w - alpha diag(beta) Sigma e: zero loss for every task needs
     (I - alpha diag(beta) Sigma)^K = 0; diag(beta) Sigma is similar to the symmetric
     Sigma^(1/2) diag(beta) Sigma^(1/2), so that means alpha diag(beta) Sigma = I for every K,
     solvable iff Sigma is diagonal; otherwise no sequence of betas approaches zero loss either
     (the symmetric form would have to approach I, which bounds beta). For K = 1 the objective
     at w = mu is quadratic in beta,
     1/2 [tr(V Sigma) - 2 alpha c^T beta + alpha^2 beta^T (C o Sigma) beta] with C = Sigma V Sigma,
     c = diag(C) and o the entrywise product (C o Sigma is positive definite by Schur's product
     theorem), so beta* = (C o Sigma)^-1 c / alpha and the best floor is
     1/2 [tr(V Sigma) - c^T (C o Sigma)^-1 c]; for d = 2, V = I it is a positive multiple of
     s12^2: positive for every rotated Sigma.
R5c  KFO on the shallow model (the row-vector case of L G R): w^T -> w^T - alpha grad^T R, so
     e -> (I - alpha R^T Sigma) e. For K = 1 the unique zero of the loss is R = (alpha Sigma)^-1,
     for any Sigma. For K >= 2 every R with (I - alpha R^T Sigma) nilpotent is a zero as well,
     so the learned R need not be (alpha Sigma)^-1 there.
R5d  deep linear f = W2 W1 x (W1: h x d, W2: 1 x h), one step: the end-to-end w = (W2 W1)^T
     moves to w - alpha P Sigma e + alpha^2 (w^T Sigma e) Sigma e, P = ||W2||^2 I + W1^T W1; for
     a matrix output the first-order step on vec(W) is -alpha (I kron W2 W2^T + W1^T W1 kron I)
     vec(grad). e' vanishes for every task iff w = 0 and P = (alpha Sigma)^-1 (the quadratic
     part must vanish on its own: put e = w). That set is non-empty iff h >= d - m + 1, m the
     multiplicity of Sigma's largest eigenvalue: with u = W2^T != 0 the rows of W1 lie in
     u's orthogonal complement, so rank W1 <= h - 1, while W1^T W1 = (alpha Sigma)^-1 - ||u||^2 I
     has rank >= d - m; with u = 0 it needs rank W1 = d. For a Sigma with a simple top
     eigenvalue (every Sigma of ``theory.landscape.precondition``) that is h >= d; for d = 1 it
     is R2's set. When the set is empty the infimum of the loss is positive: the loss is a
     positive definite quadratic form in the coefficients of e' (I - alpha P Sigma and w), so a loss
     tending to 0 bounds P, hence (W1, W2), and a limit point would lie in the set.
     The identities here check d = h = 2 and the h = 1 < d = 2 elimination.
"""

import functools

import sympy

from . import symbols
from .claims import Claim, r2_deep_linear_one_step
from .symbols import alpha, sigma2, v

__all__ = ["HALF", "vector", "symmetric", "lower", "population_loss", "gradient",
           "expect_over_tasks", "r5a_shallow", "meta_sgd_quadratic", "meta_sgd_floor",
           "r5b_meta_sgd", "r5c_kfo", "r5d_deep_linear", "r5d_reduces_to_r2", "all_claims"]

HALF = sympy.Rational(1, 2)


def vector(name, d):
    """A column of real symbols ``name1 .. named``."""
    return sympy.Matrix([sympy.Symbol(f"{name}{i}", real=True) for i in range(1, d + 1)])


def symmetric(name, d):
    """A symmetric d x d matrix of real symbols ``name_ij`` (i <= j), e.g. Sigma = s11 s12 s22."""
    return sympy.Matrix(d, d, lambda i, j: sympy.Symbol(f"{name}{min(i, j) + 1}{max(i, j) + 1}",
                                                        real=True))


def lower(name, d):
    """A lower-triangular d x d matrix of real symbols (a Cholesky factor)."""
    return sympy.Matrix(d, d, lambda i, j: sympy.Symbol(f"{name}{i + 1}{j + 1}", real=True)
                        if j <= i else 0)


def population_loss(w, a, sigma):
    """L_a(w) = 1/2 (w - a)^T Sigma (w - a), the population loss of y = a^T x, x ~ N(0, Sigma)."""
    e = w - a
    return HALF * (e.T * sigma * e)[0, 0]


def gradient(expr, params):
    """d expr / d params as a column, by differentiation."""
    return sympy.Matrix([sympy.diff(expr, p) for p in params])


def expect_over_tasks(expr, a, mu, cov):
    """E_a[expr] for expr polynomial of degree <= 2 in the vector a (E[a] = mu, Cov(a) = cov)."""
    poly = sympy.Poly(sympy.expand(expr), *a)
    if poly.total_degree() > 2:
        raise ValueError(f"degree {poly.total_degree()} in a is not <= 2 (only E[a], Cov(a) known)")
    total = sympy.Integer(0)
    for powers, coeff in poly.terms():
        idx = [i for i, k in enumerate(powers) for _ in range(k)]
        moment = (1 if not idx else mu[idx[0]] if len(idx) == 1
                  else mu[idx[0]] * mu[idx[1]] + cov[idx[0], idx[1]])
        total += coeff * moment
    return total


def _step(loss_of, params, direction):
    """One inner step params - alpha direction(grad), the gradient taken by differentiation."""
    dummies = [sympy.Dummy() for _ in params]
    grad = gradient(loss_of(sympy.Matrix(dummies)), dummies)
    at = dict(zip(dummies, params, strict=True))
    return params - alpha * direction(grad.subs(at, simultaneous=True))


@functools.lru_cache(maxsize=None)
def _setting(d):
    return (symmetric("s", d), symmetric("v", d), vector("a", d), vector("mu", d),
            vector("w", d))


def _frobenius2(m):
    return sum(x ** 2 for x in m)


@functools.lru_cache(maxsize=None)  # sympy objects are immutable
def r5a_shallow(d, steps):
    """R5a: K shallow steps, the task-averaged objective, its minimiser mu and its floor."""
    sigma, cov, a, mu, w = _setting(d)
    adapted = w
    for _ in range(steps):
        adapted = _step(lambda x: population_loss(x, a, sigma), adapted, lambda g: g)
    contraction = (sympy.eye(d) - alpha * sigma) ** steps
    q = contraction * sigma * contraction
    objective = expect_over_tasks(population_loss(adapted, a, sigma), a, mu, cov)
    floor = HALF * (q * cov).trace()
    b, chol = lower("b", d), lower("l", d)
    factored = dict(zip(list(sigma) + list(cov), list(b * b.T) + list(chol * chol.T),
                        strict=True))
    claims = [
        Claim(f"d={d}, K={steps}: the adapted error is (I - alpha Sigma)^K (w - a)",
              adapted - a, contraction * (w - a)),
        Claim(f"d={d}, K={steps}: E_a L_a(w_K) = 1/2 (w - mu)^T Q (w - mu) + 1/2 tr(Q V), "
              "Q = (I - alpha Sigma)^K Sigma (I - alpha Sigma)^K",
              objective, HALF * ((w - mu).T * q * (w - mu))[0, 0] + floor),
        Claim(f"d={d}, K={steps}: its gradient vanishes at w = mu = E[a], whatever alpha is",
              gradient(objective, w).subs(dict(zip(w, mu, strict=True))), sympy.zeros(d, 1)),
        Claim(f"d={d}, K={steps}: with Sigma = B B^T, V = L L^T the floor 1/2 tr(Q V) is "
              "1/2 ||L^T (I - alpha Sigma)^K B||_F^2: > 0 unless alpha Sigma = I",
              floor.subs(factored, simultaneous=True),
              HALF * _frobenius2(chol.T * contraction.subs(factored, simultaneous=True) * b)),
    ]
    if d == 1:
        claims.append(Claim(f"d=1, K={steps}: the floor is R1's sigma2/2 (1 - alpha sigma2)^(2K) v",
                            floor.subs({sigma[0]: sigma2, cov[0]: v}),
                            sigma2 / 2 * (1 - alpha * sigma2) ** (2 * steps) * v))
    return tuple(claims)


def _elimination(equations, unknowns, keep):
    """Generators of the equations' ideal free of ``unknowns`` (lex Groebner basis), sorted."""
    basis = sympy.groebner([sympy.expand(q) for q in equations], *unknowns, *keep, order="lex")
    return _sorted(g for g in basis.exprs if not g.free_symbols & set(unknowns))


def _sorted(exprs):
    return sympy.Matrix(sorted(exprs, key=sympy.default_sort_key))


def meta_sgd_quadratic(sigma, cov):
    """``(c, C o Sigma)`` of R5b, C = Sigma V Sigma, c = diag(C), o the entrywise product."""
    c_mat = sigma * cov * sigma
    return sympy.Matrix([c_mat[i, i] for i in range(sigma.rows)]), c_mat.multiply_elementwise(sigma)


def meta_sgd_floor(sigma, cov):
    """Best K = 1 Meta-SGD floor 1/2 [tr(V Sigma) - c^T (C o Sigma)^-1 c] and alpha beta*."""
    c, hadamard = meta_sgd_quadratic(sigma, cov)
    best = hadamard.inv() * c
    return HALF * ((cov * sigma).trace() - (c.T * best)[0, 0]), best


@functools.lru_cache(maxsize=None)
def r5b_meta_sgd():
    """R5b, d = 2: the Meta-SGD step, its exact-adaptation condition and its K = 1 best floor."""
    sigma, cov, a, mu, w = _setting(2)
    beta = vector("beta", 2)
    rate = sympy.diag(*beta)
    adapted = _step(lambda x: population_loss(x, a, sigma), w, lambda g: rate * g)
    mismatch = sympy.eye(2) - alpha * rate * sigma
    objective = expect_over_tasks(population_loss(adapted, a, sigma), a, mu, cov)
    at_mu = objective.subs(dict(zip(w, mu, strict=True)))
    floor, best = meta_sgd_floor(sigma, cov)
    c, hadamard = meta_sgd_quadratic(sigma, cov)
    at_best = dict(zip(beta, best / alpha, strict=True))
    s11, s12, s22 = sigma[0, 0], sigma[0, 1], sigma[1, 1]
    unit = {cov[0, 0]: 1, cov[0, 1]: 0, cov[1, 1]: 1}
    ratio = (s11 + s22) * sigma.det() / (
        2 * (s11 ** 2 * s22 ** 2 + s12 ** 2 * (s11 ** 2 + s11 * s22 + s22 ** 2)))
    return (
        Claim("the adapted error is (I - alpha diag(beta) Sigma)(w - a)", adapted - a,
              mismatch * (w - a)),
        Claim("exact adaptation alpha diag(beta) Sigma = I: eliminating beta leaves s12 = 0, so "
              "only a diagonal Sigma allows it", _elimination(list(mismatch), list(beta),
                                                              [s11, s12, s22, alpha]),
              sympy.Matrix([s12])),
        Claim("K=1, w = mu: the objective is 1/2 [tr(V Sigma) - 2 alpha c^T beta + alpha^2 "
              "beta^T (C o Sigma) beta], c = diag(C), C = Sigma V Sigma", at_mu,
              HALF * ((cov * sigma).trace() - 2 * alpha * (c.T * beta)[0, 0]
                      + alpha ** 2 * (beta.T * hadamard * beta)[0, 0])),
        Claim("K=1, w = mu: its beta-gradient vanishes at beta* = (C o Sigma)^-1 c / alpha, where "
              "it is the best floor 1/2 [tr(V Sigma) - c^T (C o Sigma)^-1 c]",
              gradient(at_mu, beta).subs(at_best), sympy.zeros(2, 1)),
        Claim("K=1, V = I: the best floor is s12^2 (s11 + s22) det(Sigma) / (2 (s11^2 s22^2 + "
              "s12^2 (s11^2 + s11 s22 + s22^2))), > 0 for every non-diagonal Sigma",
              floor.subs(unit), s12 ** 2 * ratio),
    )


@functools.lru_cache(maxsize=None)
def r5c_kfo():
    """R5c, d = 2: KFO's step, its unique one-step zero R = (alpha Sigma)^-1, K = 2's others."""
    sigma, cov, a, mu, w = _setting(2)
    r = sympy.Matrix(2, 2, lambda i, j: sympy.Symbol(f"R{i + 1}{j + 1}", real=True))
    adapted = _step(lambda x: population_loss(x, a, sigma), w, lambda g: (g.T * r).T)
    mismatch = sympy.eye(2) - alpha * r.T * sigma
    (solution,) = sympy.solve(list(mismatch), list(r), dict=True)
    target = (alpha * sigma).inv()
    nilpotent = sympy.Matrix([[0, 1], [0, 0]])
    other = ((sympy.eye(2) - nilpotent) * target).T
    objective = expect_over_tasks(population_loss(adapted, a, sigma), a, mu, cov)
    return (
        Claim("the step w^T - alpha grad^T R maps e to (I - alpha R^T Sigma) e", adapted - a,
              mismatch * (w - a)),
        Claim("K=1: the only R with I - alpha R^T Sigma = 0 is (alpha Sigma)^-1, for any Sigma",
              r.subs(solution), target),
        Claim("there alpha Sigma R = I and the objective is 0 for every w, mu, V",
              sympy.Matrix([objective.subs(dict(zip(r, target, strict=True)))]),
              sympy.zeros(1, 1)),
        Claim("K=2: R^T = (I - N)(alpha Sigma)^-1 with N = [[0, 1], [0, 0]] also zeroes "
              "(I - alpha R^T Sigma)^2: the two-step zero set is larger",
              (sympy.eye(2) - alpha * other.T * sigma) ** 2, sympy.zeros(2, 2)),
    )


def _deep_step(d, h, outputs=1, loss_of=None):
    """One inner step of f = W2 W1 x (W1: h x d, W2: outputs x h) on loss_of(W), W = W2 W1."""
    w1 = sympy.Matrix(h, d, lambda i, j: sympy.Symbol(f"W1_{i + 1}{j + 1}", real=True))
    w2 = sympy.Matrix(outputs, h, lambda i, j: sympy.Symbol(f"W2_{i + 1}{j + 1}", real=True))
    params = sympy.Matrix(list(w1) + list(w2))

    def loss(flat):
        return loss_of(sympy.Matrix(outputs, h, list(flat[h * d:]))
                       * sympy.Matrix(h, d, list(flat[:h * d])))

    new = _step(loss, params, lambda g: g)
    return (w1, w2, sympy.Matrix(h, d, list(new[:h * d])),
            sympy.Matrix(outputs, h, list(new[h * d:])))


@functools.lru_cache(maxsize=None)
def r5d_deep_linear():
    """R5d, d = h = 2: the deep one-step map, the Kronecker form, the exact set, width h < d."""
    sigma, _, a, _, _ = _setting(2)
    w1, w2, w1_new, w2_new = _deep_step(2, 2, loss_of=lambda m: population_loss(m.T, a, sigma))
    w, e = (w2 * w1).T, (w2 * w1).T - a
    p = (w2 * w2.T)[0, 0] * sympy.eye(2) + w1.T * w1
    moved = w - alpha * p * sigma * e + alpha ** 2 * (w.T * sigma * e)[0, 0] * sigma * e
    target = {s: x for s, x in zip(sigma, (alpha * w1.T * w1).inv(), strict=True)}
    zero_w2 = {x: 0 for x in w2}
    big_a = sympy.Matrix(2, 2, lambda i, j: sympy.Symbol(f"A{i + 1}{j + 1}", real=True))
    m1, m2, m1_new, m2_new = _deep_step(2, 2, 2, lambda m: HALF * ((m - big_a) * sigma
                                                                  * (m - big_a).T).trace())
    grad = (m2 * m1 - big_a) * sigma
    m2m2 = m2 * m2.T
    kron = sympy.kronecker_product(sympy.eye(2), m2m2) + sympy.kronecker_product(m1.T * m1,
                                                                                sympy.eye(2))
    step = (m2_new * m1_new - m2 * m1).T.reshape(4, 1)
    first = sympy.diff(step, alpha).subs(alpha, 0)
    u, row = sympy.Symbol("u", real=True), sympy.Matrix([[sympy.Symbol("p1", real=True),
                                                         sympy.Symbol("p2", real=True)]])
    narrow = (u ** 2 * sympy.eye(2) + row.T * row) * alpha * sigma - sympy.eye(2)
    s11, s12, s22 = sigma[0, 0], sigma[0, 1], sigma[1, 1]
    return (
        Claim("h=d=2: one step moves w = (W2 W1)^T to w - alpha P Sigma e + alpha^2 "
              "(w^T Sigma e) Sigma e, P = ||W2||^2 I + W1^T W1, e = w - a",
              (w2_new * w1_new).T, moved),
        Claim("2 outputs: the step on vec(W) is -alpha (I kron W2 W2^T + W1^T W1 kron I) vec(G) "
              "+ O(alpha^2), G = dL/dW: the Kronecker sum KFO learns explicitly",
              alpha * first, -alpha * kron * grad.T.reshape(4, 1)),
        Claim("W2 = 0, Sigma = (alpha W1^T W1)^-1 (any invertible W1): the adapted error is 0 "
              "for every task a", (w2_new * w1_new).T.subs(zero_w2).subs(target) - a,
              sympy.zeros(2, 1)),
        Claim("h=1 < d=2: eliminating W1, W2 from {W2 W1 = 0, alpha P Sigma = I} leaves "
              "s11 = s22, s12 = 0: only Sigma = sigma2 I (a double top eigenvalue) allows it",
              _elimination(list(narrow) + list(row.T * u), [*row, u], [s11, s12, s22, alpha]),
              _sorted([s11 - s22, s12])),
    )


@functools.lru_cache(maxsize=None)
def r5d_reduces_to_r2():
    """R5d at d = h = 1 is R2's one-step factor."""
    w1, w2, w1_new, w2_new = _deep_step(1, 1, loss_of=lambda m: population_loss(
        m.T, sympy.Matrix([symbols.a]), sympy.Matrix([sigma2])))
    (r2,) = r2_deep_linear_one_step()[:1]
    rename = {sympy.Symbol("w1", real=True): w1[0], sympy.Symbol("w2", real=True): w2[0]}
    return (Claim("d=h=1: the deep step is R2's e (1 - alpha sigma2 (w1^2 + w2^2) + alpha^2 "
                  "sigma2^2 e w1 w2)", (w2_new * w1_new)[0, 0] - symbols.a,
                  r2.rhs.subs(rename, simultaneous=True)),)


def all_claims():
    """R5 with the sizes the report shows: ``[(title, claims), ...]``."""
    return [
        ("R5a shallow MAML in d dimensions, d = 1, 2, K = 1, 2",
         sum((r5a_shallow(d, k) for d in (1, 2) for k in (1, 2)), ())),
        ("R5b Meta-SGD, d = 2 (general symmetric Sigma, V)", r5b_meta_sgd()),
        ("R5c KFO on the shallow model, d = 2", r5c_kfo()),
        ("R5d deep linear MAML, d = h = 2, one step", r5d_deep_linear() + r5d_reduces_to_r2()),
    ]
