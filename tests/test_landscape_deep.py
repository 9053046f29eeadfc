"""R5e/R5f numerically: the depth-L, K-step objective, its P, its exact set, its expectations."""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.landscape import closed, deep
from theory.landscape import precondition as pc
from theory.landscape.tasks import LinearTasks, SlopeDistribution, loss_degree


def problem(rng, d, steps, alpha=0.3, cond=5.0):
    sigma = pc.covariance(rng, d, cond if d > 1 else 1.0, rotate=True)
    b = rng.normal(size=(d, d))
    return pc.Problem(sigma, rng.normal(size=d), b @ b.T / d + 0.2 * np.eye(d), alpha, steps)


def params_of(rng, depth, d, h, restarts=2, scale=0.3):
    return tuple(p + scale * rng.normal(size=p.shape)
                 for p in deep.init(rng, depth, d, h, restarts))


def naive_error(layers, sigma, alpha, steps, a):
    """One task, explicit matrices, autograd's gradient of 1/2 e^T Sigma e per step."""
    def loss(ws):
        w = ws[-1]
        for m in ws[-2::-1]:
            w = w @ m
        e = w[0] - a
        return 0.5 * e @ sigma @ e, e

    for _ in range(steps):
        grads = autograd.grad(lambda ws: loss(ws)[0])(layers)
        layers = [m - alpha * g for m, g in zip(layers, grads, strict=True)]
    return loss(layers)[1]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), depth=st.integers(1, 4), steps=st.integers(1, 3),
       d=st.integers(1, 3), h=st.integers(1, 3))
def test_rank_one_unrolling_is_the_plain_inner_loop(seed, depth, steps, d, h):
    rng = np.random.default_rng(seed)
    prob = problem(rng, d, steps, alpha=0.2)
    params = (rng.normal(size=(1, d)),) if depth == 1 else params_of(rng, depth, d, h, 1)
    a = rng.normal(size=(3, d))
    fast = deep.adapted_error(params, prob.sigma, prob.alpha, steps, a)[0]
    layers = [p[0] for p in params[:-1]] + [params[-1][0][None, :]]
    for n in range(3):
        np.testing.assert_allclose(fast[n], naive_error(layers, prob.sigma, prob.alpha, steps,
                                                        a[n]), rtol=1e-10, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), depth=st.integers(1, 5), d=st.integers(1, 4),
       h=st.integers(1, 4))
def test_first_order_step_is_minus_alpha_p_sigma_e(seed, depth, d, h):
    """d e_1 / d alpha at alpha = 0 is -P Sigma e with R5e's P, for every depth and width."""
    rng = np.random.default_rng(seed)
    sigma = pc.covariance(rng, d, 1.0 if d == 1 else 3.0, rotate=True)
    params = (rng.normal(size=(2, d)),) if depth == 1 else params_of(rng, depth, d, h, 2, 0.5)
    a, eps = rng.normal(size=(4, d)), 1e-6
    rate = (deep.adapted_error(params, sigma, eps, 1, a)
            - deep.adapted_error(params, sigma, -eps, 1, a)) / (2 * eps)
    e = deep.adapted_error(params, sigma, 0.0, 1, a)
    p = deep.preconditioner(params)
    np.testing.assert_allclose(rate, -np.einsum("rij,rnj->rni", p, e @ sigma), rtol=1e-6,
                               atol=1e-7)
    if depth == 1:
        np.testing.assert_allclose(p, np.broadcast_to(np.eye(d), p.shape), atol=1e-15)


def test_linear_part_of_k_steps_is_the_kth_power():
    """R5f: d e_K / d e at e = 0 is (I - alpha P Sigma)^K, with P at the meta-parameters."""
    rng = np.random.default_rng(7)
    prob = problem(rng, 3, 3)
    params = params_of(rng, 3, 3, 2, 1)
    w = deep.adapted_error(params, prob.sigma, 0.0, 1, np.zeros((1, 3)))[0, 0]
    eps, basis = 1e-6, np.eye(3)
    jac = (deep.adapted_error(params, prob.sigma, prob.alpha, 3, w - eps * basis)
           - deep.adapted_error(params, prob.sigma, prob.alpha, 3, w + eps * basis))[0] / (2 * eps)
    n = np.eye(3) - prob.alpha * deep.preconditioner(params)[0] @ prob.sigma
    np.testing.assert_allclose(jac.T, np.linalg.matrix_power(n, 3), rtol=1e-6, atol=1e-8)


def small_rule(rng, d, tasks=6):
    """Antithetic Monte-Carlo nodes with random positive weights (the gradient test needs no
    normalisation)."""
    half = rng.standard_normal((tasks // 2, d))
    return deep.TaskRule(np.concatenate([half, -half]), rng.random(tasks), False)


@pytest.mark.parametrize("depth, steps", [(2, 2), (3, 1), (3, 2), (4, 2)])
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_gradients_match_central_differences(depth, steps, seed):
    rng = np.random.default_rng(seed)
    prob = problem(rng, 2, steps, alpha=0.2)
    params = params_of(rng, depth, 2, 3)
    rule = small_rule(rng, 2)
    _, grads = deep.objective(params, prob, rule)
    directions = [rng.normal(size=p.shape) for p in params]
    eps = 1e-6
    shifted = [deep.objective(tuple(p + s * eps * v for p, v in zip(params, directions,
                                                                   strict=True)), prob, rule)[0]
               for s in (1, -1)]
    analytic = sum(np.sum((g * v).reshape(len(g), -1), axis=1)
                   for g, v in zip(grads, directions, strict=True))
    np.testing.assert_allclose(analytic, (shifted[0] - shifted[1]) / (2 * eps), rtol=1e-6,
                               atol=1e-9)


def test_exact_rule_is_the_two_layer_closed_form():
    rng = np.random.default_rng(2)
    prob = problem(rng, 3, 1)
    params = params_of(rng, 2, 3, 4, 3)
    rule = deep.task_rule(rng, 3, 2, 1)
    assert rule.exact and len(rule.z) == 3 ** 3
    loss, grads = deep.objective(params, prob, rule)
    loss2, grads2 = deep.two_layer_one_step(*params, prob)
    np.testing.assert_allclose(loss, loss2, rtol=1e-12)
    for g, g2 in zip(grads, grads2, strict=True):
        np.testing.assert_allclose(g, g2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("depth, steps", [(2, 2), (3, 1), (3, 2)])
def test_d_equals_one_is_the_1d_exact_expectation(depth, steps):
    """d = h = 1 is the paper's 1D model (R2/R3): the same loss as theory.landscape.closed."""
    rng = np.random.default_rng(3)
    slopes = rng.normal(size=(2, depth))
    params = tuple(slopes[:, l].reshape(2, 1, 1) for l in range(depth - 1)) + (
        slopes[:, -1:],)
    prob = pc.Problem(np.array([[1.3]]), np.array([0.7]), np.array([[0.25]]), 0.2, steps)
    loss, _ = deep.objective(params, prob, deep.task_rule(rng, 1, depth, steps))
    tasks = LinearTasks(1.3, SlopeDistribution(0.7, 0.5))
    expected = closed.expected_meta_loss(tuple(slopes.T), tasks, 0.2, steps)
    np.testing.assert_allclose(loss, expected, rtol=1e-11)


def test_rule_degree_is_exact_and_monte_carlo_agrees_within_its_error():
    """The tensor rule with exact_nodes(L, K) nodes equals one with 3 more (the integrand is a
    polynomial of degree loss_degree); a large Monte-Carlo sample lies within 4 standard errors."""
    rng = np.random.default_rng(4)
    prob = problem(rng, 2, 2, alpha=0.2)
    params = params_of(rng, 3, 2, 2, 2, 0.1)
    assert loss_degree(3, 2) == 30
    exact = deep.task_rule(rng, 2, 3, 2)
    loss, _ = deep.objective(params, prob, exact)
    x, w = np.polynomial.hermite_e.hermegauss(19)
    grid = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    finer = deep.TaskRule(grid, np.outer(w, w).ravel() / w.sum() ** 2, True)
    np.testing.assert_allclose(deep.objective(params, prob, finer)[0], loss, rtol=1e-10)
    mc = deep.per_task_loss(params, prob, small_rule(rng, 2, tasks=40000))
    pairs = 0.5 * (mc[:, :20000] + mc[:, 20000:])
    stderr = pairs.std(axis=1, ddof=1) / np.sqrt(20000)
    assert np.all(np.abs(pairs.mean(axis=1) - loss) < 4 * stderr)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), depth=st.integers(2, 5), d=st.integers(1, 5),
       top=st.integers(1, 5), extra=st.integers(0, 2), steps=st.integers(1, 3))
def test_exact_point_zeroes_every_task_at_every_k(seed, depth, d, top, extra, steps):
    """R5e: at width d - m + 1 (and wider) the construction has e_K = 0 and P = (alpha Sigma)^-1."""
    rng = np.random.default_rng(seed)
    m = min(top, d)
    lam = np.concatenate([np.ones(m), rng.uniform(0.2, 0.9, d - m)])
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    sigma, alpha = (q * lam) @ q.T, rng.uniform(0.2, 1.5)
    width = deep.exact_width(sigma, depth)
    assert width == d - m + 1
    params = deep.exact_point(sigma, alpha, depth, width + extra)
    a = 2 * rng.normal(size=(5, d))
    e = deep.adapted_error(params, sigma, alpha, steps, a)
    assert np.max(np.abs(e)) < 1e-9 * (1 + np.max(np.abs(a)))
    np.testing.assert_allclose(deep.preconditioner(params)[0], np.linalg.inv(alpha * sigma),
                               rtol=1e-9, atol=1e-9)
    if width > 1:
        with pytest.raises(ValueError, match=f"width >= {width}"):
            deep.exact_point(sigma, alpha, depth, width - 1)


def test_exact_width_at_depth_one_is_none():
    assert deep.exact_width(np.eye(3), 1) is None
    assert deep.exact_width(np.diag([1.0, 0.5, 0.5]), 4) == 3


def run(**kw):
    kw = {"dim": 3, "cond": 4.0, "rotate": True, "method": "maml", "alpha": 0.3,
          "restarts": 2, "iterations": 600, "lr": 0.05, **kw}
    return pc.experiment(np.random.default_rng(0), **kw)


def test_monte_carlo_runs_state_their_error():
    out = run(depth=3, width=2, steps=2, dim=4, tasks=16, iterations=30)
    assert out["expectation"] == {"kind": "monte carlo", "nodes": 16}
    assert all(s > 0 for s in out["final_loss_stderr"])
    exact = run(depth=3, width=3, steps=1, iterations=30)
    assert exact["expectation"] == {"kind": "exact", "nodes": 64}
    assert exact["final_loss_stderr"] == [0.0, 0.0]


def test_deep_k2_reaches_zero_iff_wide():
    """K = 2, L = 3, d = 2: h = d reaches zero loss and P = (alpha Sigma)^-1; h < d keeps a
    floor."""
    wide, narrow = (run(dim=2, depth=3, width=h, steps=2, iterations=600) for h in (2, 1))
    assert max(wide["final_loss"]) < 1e-5 and wide["relative_error"] < 1e-3
    assert min(narrow["final_loss"]) > 0.01
