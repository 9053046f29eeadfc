"""Closed-form linear recurrences and autograd MAML vs finite differences and the R1/R2 facts."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads
from hypothesis import given
from hypothesis import strategies as st

from theory.landscape import closed, models, tasks

floats = st.floats(-1.5, 1.5)


def _central(f, w, h=1e-6):
    out = []
    for j in range(len(w)):
        up = list(w)
        down = list(w)
        up[j] = w[j] + h
        down[j] = w[j] - h
        out.append((f(tuple(up)) - f(tuple(down))) / (2 * h))
    return np.array(out)


@given(depth=st.integers(1, 4), steps=st.integers(0, 3), seed=st.integers(0, 2 ** 32 - 1),
       alpha=st.floats(0.05, 0.4))
def test_meta_gradient_matches_central_differences(depth, steps, seed, alpha):
    rng = np.random.default_rng(seed)
    w = tuple(rng.uniform(-1.2, 1.2, depth))
    support = (rng.uniform(0.5, 1.5), rng.normal(), 0.1)
    query = (rng.uniform(0.5, 1.5), rng.normal(), 0.3)
    loss, g, g_alpha = closed.meta_value_and_grad(w, support, query, alpha, steps)
    f = lambda w: float(closed.meta_loss(w, support, query, alpha, steps))  # noqa: E731
    assert float(loss) == pytest.approx(f(w), rel=1e-12)
    np.testing.assert_allclose(np.array(g, dtype=float), _central(f, w), rtol=1e-6, atol=1e-8)
    h = 1e-6
    fd_alpha = (float(closed.meta_loss(w, support, query, alpha + h, steps))
                - float(closed.meta_loss(w, support, query, alpha - h, steps))) / (2 * h)
    assert float(g_alpha) == pytest.approx(fd_alpha, rel=1e-6, abs=1e-8)


@given(depth=st.integers(1, 3), steps=st.integers(1, 3), seed=st.integers(0, 2 ** 32 - 1),
       first_order=st.booleans())
def test_recurrence_equals_autograd_on_raw_data(depth, steps, seed, first_order):
    """The quadratic reduction + hand recurrence == autograd through models.squared_loss."""
    rng = np.random.default_rng(seed)
    xs, xq = rng.normal(size=(2, 3, 7))
    a = rng.normal(size=(3, 1))
    ys, yq = a * xs + 0.1 * rng.normal(size=xs.shape), a * xq
    w = tuple(rng.uniform(-1, 1, 3) for _ in range(depth))
    alpha = 0.2

    def f(w):
        path = models.adapt(models.squared_loss, w, (xs, ys), alpha, steps, first_order)
        return anp.sum(models.squared_loss(path[-1], xq, yq))

    expected = grad(f)(w)
    loss, g, _ = closed.meta_value_and_grad(w, tasks.quadratic(xs, ys), tasks.quadratic(xq, yq),
                                            alpha, steps, first_order=first_order)
    assert np.sum(loss) == pytest.approx(float(f(w)), rel=1e-12)
    for gj, ej in zip(g, expected, strict=True):
        np.testing.assert_allclose(gj, ej, rtol=1e-10, atol=1e-12)


def test_logistic_meta_loss_second_order_grads():
    rng = np.random.default_rng(3)
    xs, xq = rng.normal(size=(2, 2, 5))
    ys, yq = (rng.random((2, 2, 5)) < 0.5).astype(float)
    params = (rng.normal(size=2), rng.normal(size=2), rng.normal(size=2))

    def meta(w1, w2, b, beta):  # beta: the inner step, learned by Meta-SGD
        path = models.adapt(models.cross_entropy, (w1, w2, b), (xs, ys), beta, 2)
        return anp.sum(models.cross_entropy(path[-1], xq, yq))

    check_grads(meta, modes=["rev"], order=2)(*params, np.array([0.3, 0.5]))


@given(w=floats, alpha=st.floats(0.05, 1.9), steps=st.integers(0, 4))
def test_shallow_population_loss_is_R1(w, alpha, steps):
    """R1: the shallow K-step objective is (1 - alpha sigma2)^(2K) x the multi-task objective."""
    dist = tasks.LinearTasks(sigma2=0.8, slope=tasks.SlopeDistribution(1.0, 0.7), noise=0.0)
    exact = closed.expected_meta_loss((np.array(w),), dist, alpha, steps)
    multitask = closed.expected_meta_loss((np.array(w),), dist, alpha, 0)
    assert float(exact) == pytest.approx(float(closed.shallow_loss(w, alpha, dist, steps)),
                                         rel=1e-12, abs=1e-15)
    assert float(exact) == pytest.approx((1 - alpha * 0.8) ** (2 * steps) * float(multitask),
                                         rel=1e-12, abs=1e-15)


@given(w1=floats, w2=floats, a=floats, alpha=st.floats(0.05, 1.0))
def test_one_step_map_is_R2(w1, w2, a, alpha):
    sigma2 = 1.3
    e = w1 * w2 - a
    path = closed.inner_path((w1, w2), (sigma2, a, 0.0), alpha, 1)
    expected = e * (1 - alpha * sigma2 * (w1 ** 2 + w2 ** 2)
                    + alpha ** 2 * sigma2 ** 2 * e * w1 * w2)
    assert path[1][0] * path[1][1] - a == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kind", ["normal", "uniform", "two-point"])
@pytest.mark.parametrize("depth, steps", [(2, 1), (2, 3), (3, 2)])
def test_gauss_rule_is_exact_for_the_polynomial_degree(kind, depth, steps):
    dist = tasks.LinearTasks(1.0, tasks.SlopeDistribution(0.8, 0.4, kind))
    w = tuple(np.linspace(-1, 1, 7) * (j + 1) / depth for j in range(depth))
    exact = closed.expected_meta_loss(w, dist, 0.3, steps)
    more = closed.expected_meta_loss(w, dist, 0.3, steps,
                                     nodes=tasks.exact_nodes(depth, steps) + 6)
    np.testing.assert_allclose(exact, more, rtol=1e-11)
    if kind == "normal" and depth == 2 and steps == 3:
        fewer = closed.expected_meta_loss(w, dist, 0.3, steps, nodes=3)
        assert np.max(np.abs(fewer - exact) / exact) > 1e-9  # too few nodes is not exact


def test_zero_meta_loss_on_the_minimiser_circle():
    """R2: w1 w2 = 0 and w1^2 + w2^2 = 1/(alpha sigma2) adapt every task exactly in one step."""
    alpha, sigma2 = 0.4, 1.5
    r = 1 / np.sqrt(alpha * sigma2)
    dist = tasks.LinearTasks(sigma2, tasks.SlopeDistribution(2.0, 1.0))
    loss = closed.expected_meta_loss((np.array([r, 0.0]), np.array([0.0, -r])), dist, alpha, 1)
    np.testing.assert_allclose(loss, 0.0, atol=1e-25)
    assert closed.effective_step((r, 0.0), alpha, sigma2) == pytest.approx(1.0)


def test_surface_overflow_raises_divergence_error():
    with pytest.raises(closed.DivergenceError, match="overflows at w1="):
        closed.expected_meta_loss((np.array([1e60]), np.array([1e60])), tasks.LinearTasks(),
                                  0.5, 5)


def test_symmetric_surface_equals_the_direct_grid():
    axis = np.linspace(-2.0, 2.0, 13)
    axis = (axis - axis[::-1]) / 2
    dist = tasks.LinearTasks(1.2, tasks.SlopeDistribution(0.7, 0.6), noise=0.2)
    direct = closed.expected_meta_loss(np.meshgrid(axis, axis, indexing="ij"), dist, 0.3, 3)
    np.testing.assert_allclose(closed.depth2_surface(axis, dist, 0.3, 3), direct, rtol=1e-13)
    with pytest.raises(ValueError, match="symmetric about 0"):
        closed.depth2_surface(np.linspace(0.0, 1.0, 5), dist, 0.3, 1)
