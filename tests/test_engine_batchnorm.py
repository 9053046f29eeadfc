"""Batch norm as one primitive (``batchnorm.batch_norm``): values, every order of its gradient,
its statistics (``moments``) and their cache, and ``blend_rows``."""

import gc

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from theory.engine import batchnorm as B

EPS = 1e-5


def plain(z, gamma, beta, eps=EPS):
    """Batch norm written directly with numpy's mean and variance."""
    return (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + eps) * gamma + beta


def composed(z, gamma, beta, eps=EPS):
    """The same map from the separate primitives (what the max-pool network runs)."""
    zc = B.center(z)
    return B.affine_rows(zc, gamma / anp.sqrt(B.sqmean(zc) + eps), beta)


def problem(seed, lead, offset=0.0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((3, 2, 7)) + offset
    gamma, beta = rng.uniform(0.2, 1.5, lead + (1,)), rng.standard_normal(lead + (1,))
    return z, gamma, beta


@pytest.mark.parametrize("lead", [(1, 2), (3, 2)], ids=["shared", "per-task"])
@pytest.mark.parametrize("offset", [0.0, 20.0], ids=["centred", "offset"])
def test_batch_norm_values_and_gradients_to_third_order(lead, offset):
    z, gamma, beta = problem(1, lead, offset)
    np.testing.assert_allclose(B.batch_norm(z, gamma, beta, EPS), plain(z, gamma, beta),
                               rtol=1e-12, atol=1e-12)
    w = np.random.default_rng(2).standard_normal(z.shape)
    loss = lambda z, gamma, beta: anp.sum(anp.tanh(B.batch_norm(z, gamma, beta, EPS)) * w)  # noqa: E731
    check_grads(loss, modes=["rev"], order=3)(z, gamma, beta)
    reference = lambda z, gamma, beta: anp.sum(anp.tanh(composed(z, gamma, beta)) * w)  # noqa: E731
    for argnum in range(3):
        np.testing.assert_allclose(grad(loss, argnum)(z, gamma, beta),
                                   grad(reference, argnum)(z, gamma, beta), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("lead", [(1, 2), (3, 2)], ids=["shared", "per-task"])
def test_batch_norm_ending_in_relu_is_relu_of_batch_norm_to_second_order(lead):
    z, gamma, beta = problem(11, lead)
    out = B.batch_norm(z, gamma, beta, EPS, relu=True)
    np.testing.assert_allclose(out, np.maximum(plain(z, gamma, beta), 0), rtol=1e-12, atol=1e-12)
    assert 0 < np.mean(out > 0) < 1                         # both sides of the kink are tested
    w = np.random.default_rng(12).standard_normal(z.shape)
    loss = lambda z, gamma, beta: anp.sum(anp.sin(B.batch_norm(z, gamma, beta, EPS, relu=True)) * w)  # noqa: E731
    check_grads(loss, modes=["rev"], order=2)(z, gamma, beta)
    reference = lambda z, gamma, beta: anp.sum(anp.sin(B.relu(composed(z, gamma, beta))) * w)  # noqa: E731
    for argnum in range(3):
        np.testing.assert_allclose(grad(loss, argnum)(z, gamma, beta),
                                   grad(reference, argnum)(z, gamma, beta), rtol=1e-9, atol=1e-12)


def test_batch_norm_is_differentiable_in_eps():
    z, gamma, beta = problem(13, (3, 2))      # rows of variance about 1: eps = 0.3 matters
    w = np.random.default_rng(14).standard_normal(z.shape)
    loss = lambda eps, z: anp.sum(anp.tanh(B.batch_norm(z, gamma, beta, eps)) * w)  # noqa: E731
    check_grads(loss, modes=["rev"], order=2)(0.3, z)
    reference = lambda eps: anp.sum(anp.tanh(composed(z, gamma, beta, eps)) * w)  # noqa: E731
    np.testing.assert_allclose(grad(loss)(0.3, z), grad(reference)(0.3), rtol=1e-9)


def test_batch_norm_keeps_float32_through_its_gradient():
    z, gamma, beta = (v.astype(np.float32) for v in problem(3, (1, 2)))
    assert B.batch_norm(z, gamma, beta, EPS).dtype == np.float32
    g = grad(lambda z: anp.sum(B.batch_norm(z, gamma, beta, EPS) ** 2))(z)
    assert g.dtype == np.float32


def test_moments_are_the_rows_mean_and_variance_whether_remembered_or_not():
    z, gamma, beta = problem(4, (1, 2), offset=3.0)
    fresh = B.moments(z.copy())                  # not seen by batch_norm: computed
    B.batch_norm(z, gamma, beta, EPS)
    remembered = B.moments(z)                    # the value the forward pass computed
    expected = np.stack([z.mean(-1), z.var(-1)], axis=-1)
    np.testing.assert_allclose(fresh, expected, rtol=1e-12)
    np.testing.assert_allclose(remembered, expected, rtol=1e-12)
    check_grads(lambda z: anp.sum(anp.sin(B.moments(z)) * np.array([1.0, -2.0])),
                modes=["rev"], order=3)(z)


def test_the_moments_cache_holds_no_array_alive_and_stays_small(monkeypatch):
    monkeypatch.setattr(B, "_MOMENTS", {})                 # whatever earlier tests left in it
    monkeypatch.setattr(B, "_prune_at", B._MOMENTS_PRUNE)
    z, gamma, beta = problem(5, (1, 2))
    B.batch_norm(z, gamma, beta, EPS)
    assert B._recall(z) is not None and B._recall(z.copy()) is None   # by identity, not value
    for _ in range(2 * B._MOMENTS_PRUNE):
        B.batch_norm(np.random.default_rng(0).standard_normal((1, 2, 5)), gamma[:1], beta[:1], EPS)
    gc.collect()
    assert len(B._MOMENTS) <= 2 * B._MOMENTS_PRUNE
    assert B._recall(z) is not None                  # a live map's entry survives pruning
    # many live maps: all are kept, and the pruning threshold grows with them
    live = [np.random.default_rng(i).standard_normal((1, 2, 5)) for i in range(3 * B._MOMENTS_PRUNE)]
    for x in live:
        B.batch_norm(x, gamma[:1], beta[:1], EPS)
    assert all(B._recall(x) is not None for x in live)
    assert B._prune_at >= len(live)
    del live
    gc.collect()
    more = [np.random.default_rng(i).standard_normal((1, 2, 5)) for i in range(B._prune_at)]
    for x in more:      # reaching the threshold again drops the entries of the dead maps
        B.batch_norm(x, gamma[:1], beta[:1], EPS)
    assert len(B._MOMENTS) <= len(more) + 2


def test_blend_rows_values_and_gradients():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 5))
    a, b, c = rng.standard_normal((2, 3, 1)), rng.standard_normal((1, 3, 1)), rng.standard_normal((2, 1, 1))
    np.testing.assert_allclose(B.blend_rows(x, a, y, b, c), x * a + y * b + c, rtol=1e-14)
    check_grads(lambda *v: anp.sum(anp.sin(B.blend_rows(*v))), modes=["rev"], order=3)(x, a, y, b, c)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 9)),
                  elements=st.floats(-100, 100)),
       st.floats(-50, 50), st.floats(0.5, 4.0))
def test_batch_norm_ignores_a_shift_and_a_positive_scale_of_each_row(z, shift, scale):
    """Batch norm is invariant under ``z -> scale * z + shift`` per row (up to ``eps``, which
    is negligible for rows whose variance is not tiny), and its output rows have mean beta."""
    spread = z.var(-1, keepdims=True)
    gamma, beta = np.full((1, z.shape[1], 1), 1.3), np.full((1, z.shape[1], 1), -0.4)
    out = B.batch_norm(z, gamma, beta, EPS)
    np.testing.assert_allclose(out.mean(-1, keepdims=True), np.broadcast_to(beta, spread.shape),
                               atol=1e-9)
    wide = (spread > 1.0)[..., 0]
    moved = B.batch_norm(z * scale + shift, gamma, beta, EPS)
    np.testing.assert_allclose(moved[wide], out[wide], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("block", [1, 7, 2 ** 62], ids=["row-by-row", "two-rows", "whole"])
def test_blocks_of_rows_change_no_value(monkeypatch, block):
    """``batch_norm`` and ``blend_rows`` make their passes a block of rows at a time; the block
    size changes nothing but the speed (shared and per-task row factors)."""
    z, gamma, beta = problem(7, (1, 2), offset=2.0)
    g = np.random.default_rng(8).standard_normal(z.shape)
    a, b, c = (np.random.default_rng(9).standard_normal(s) for s in ((3, 2, 1), (1, 2, 1), (3, 1, 1)))
    monkeypatch.setattr(B, "_BLOCK", block)
    np.testing.assert_allclose(B.batch_norm(z, gamma, beta, EPS), plain(z, gamma, beta),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(B.moments(z), np.stack([z.mean(-1), z.var(-1)], -1), rtol=1e-12)
    np.testing.assert_allclose(B.blend_rows(g, a, z, b, c), g * a + z * b + c, rtol=1e-13,
                               atol=1e-13)
