"""R5 (d dimensions) holds symbolically and agrees with numpy at random SPD matrices."""

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.symbolic import claims, matrix, matrix_deep
from theory.symbolic.symbols import alpha

SECTIONS = range(6)  # R5a-R5f, derived inside the test (collection stays cheap)


@pytest.mark.parametrize("section", SECTIONS)
def test_r5_claims_hold(section):
    title, stated = (matrix.all_claims() + matrix_deep.all_claims())[section]
    assert title.startswith(f"R5{'abcdef'[section]}") and stated
    for claim in stated:
        assert claims.holds(claim), claim.statement


def test_holds_rejects_a_wrong_matrix_closed_form():
    right = matrix.r5a_shallow(2, 1)[0]
    sigma = matrix._setting(2)[0]
    wrong = claims.Claim("one step too many", right.lhs,
                          (sympy.eye(2) - alpha * sigma) * right.rhs)
    assert claims.holds(right) and not claims.holds(wrong)


def spd(rng, d, cond=10.0):
    """A random SPD matrix with eigenvalues in [1/cond, 1] and random eigenvectors."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q @ np.diag(np.geomspace(1.0, 1.0 / cond, d)) @ q.T


def values(sym, num):
    return dict(zip(list(sym), np.asarray(num, dtype=float).ravel(), strict=True))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.floats(0.1, 1.9), st.integers(1, 2))
def test_shallow_floor_and_objective_match_numpy(seed, step, steps):
    rng = np.random.default_rng(seed)
    sigma, cov, w, mu = spd(rng, 2), spd(rng, 2, 3.0), rng.normal(size=2), rng.normal(size=2)
    s_sigma, s_cov, _, s_mu, s_w = matrix._setting(2)
    _, objective, _, _ = matrix.r5a_shallow(2, steps)[:4]
    at = {**values(s_sigma, sigma), **values(s_cov, cov), **values(s_w, w), **values(s_mu, mu),
          alpha: step}
    m = np.linalg.matrix_power(np.eye(2) - step * sigma, steps)
    q = m @ sigma @ m
    expected = 0.5 * (w - mu) @ q @ (w - mu) + 0.5 * np.trace(q @ cov)
    assert float(objective.lhs.subs(at)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.floats(0.2, 1.5))
def test_meta_sgd_floor_is_the_minimum_over_beta(seed, step):
    """The closed-form floor beats random betas and equals a numpy least-squares minimum."""
    rng = np.random.default_rng(seed)
    sigma, cov = spd(rng, 2), spd(rng, 2, 3.0)
    floor, best = matrix.meta_sgd_floor(sympy.Matrix(sigma), sympy.Matrix(cov))

    def objective(beta):
        n = np.eye(2) - step * np.diag(beta) @ sigma
        return 0.5 * np.trace(n.T @ sigma @ n @ cov)

    # 1/2 ||Sigma^(1/2) (I - alpha B Sigma) V^(1/2)||_F^2 is linear least squares in beta
    rs, rv = np.linalg.cholesky(sigma).T, np.linalg.cholesky(cov)
    basis = [-step * rs @ np.diag(np.eye(2)[i]) @ sigma @ rv for i in range(2)]
    design = np.stack([b.ravel() for b in basis], axis=1)
    beta, *_ = np.linalg.lstsq(design, -(rs @ rv).ravel(), rcond=None)
    assert float(floor) == pytest.approx(objective(beta), rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(np.array(best, dtype=float).ravel() / step, beta, rtol=1e-7)
    for _ in range(5):
        assert objective(beta + rng.normal(scale=0.3, size=2)) >= float(floor) - 1e-12
    assert float(floor) > 0


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.floats(0.05, 1.0))
def test_deep_step_matches_numpy(seed, step):
    rng = np.random.default_rng(seed)
    sigma, a = spd(rng, 2), rng.normal(size=2)
    w1, w2 = rng.normal(size=(2, 2)), rng.normal(size=(1, 2))
    claim = matrix.r5d_deep_linear()[0]
    s_sigma, _, s_a, _, _ = matrix._setting(2)
    names = sorted(claim.lhs.free_symbols - {alpha} - set(s_sigma) - set(s_a), key=str)
    at = {**values(s_sigma, sigma), **values(s_a, a), alpha: step,
          **dict(zip(names, [*w1.ravel(), *w2.ravel()], strict=True))}
    w = (w2 @ w1).ravel()
    e = w - a
    p = (w2 @ w2.T).item() * np.eye(2) + w1.T @ w1
    expected = w - step * p @ sigma @ e + step ** 2 * (w @ sigma @ e) * sigma @ e
    np.testing.assert_allclose(np.array(claim.lhs.subs(at), dtype=float).ravel(), expected,
                               rtol=1e-9, atol=1e-12)


def test_vector_expectation_uses_two_moments():
    a, mu, cov = matrix.vector("a", 2), matrix.vector("mu", 2), matrix.symmetric("v", 2)
    assert matrix.expect_over_tasks(a[0] * a[1] + 3 * a[0], a, mu, cov) == (
        mu[0] * mu[1] + cov[0, 1] + 3 * mu[0])
    with pytest.raises(ValueError, match="degree 3 in a is not <= 2"):
        matrix.expect_over_tasks(a[0] ** 2 * a[1], a, mu, cov)
