"""The engine's autograd primitives: second-order gradient checks, adjointness, naive references."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads
from hypothesis import example, given
from hypothesis import strategies as st

from theory.engine import pooling
from theory.engine import primitives as P


@pytest.fixture(autouse=True)
def _seed_check_grads():
    # check_grads draws its random directions from numpy's global generator
    np.random.seed(0)


def rand(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def naive_conv(a, w):
    """Direct 3x3 cross-correlation, padding 1, on ``a (T, C, n, H, W)``; w shared or per task."""
    T, C, n, H, W = a.shape
    wt = np.broadcast_to(w, (T,) + w.shape[-4:])
    pad = np.pad(a, ((0, 0), (0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((T, wt.shape[1], n, H, W))
    for t in range(T):
        for i in range(H):
            for j in range(W):
                out[t, :, :, i, j] = np.einsum("ocij,cnij->on", wt[t], pad[t, :, :, i:i + 3, j:j + 3])
    return out.reshape(T, wt.shape[1], n * H * W)


@pytest.mark.parametrize("shape", [(2, 1, 2, 5, 5), (1, 2, 1, 4, 6)])
def test_im2col_col2im_second_order(shape):
    rng = np.random.default_rng(1)
    a = rand(rng, *shape)
    check_grads(P.im2col, modes=["rev"], order=2)(a)
    cols = P.im2col(a)
    check_grads(lambda c: P.col2im(c, shape), modes=["rev"], order=2)(rand(rng, *cols.shape))


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(0, 99))
@example(1, 1, 1, 2, 0)  # a shift longer than all the images together
@example(1, 1, 2, 1, 0)
def test_im2col_equals_zero_padded_patches(C, n, H, W, seed):
    """Also for a view of some tasks and images of a larger array (how ``conv`` calls it)."""
    rng = np.random.default_rng(seed)
    whole = rand(rng, 3, C, n + 2, H, W)
    for a in (whole[:2, :, :n], whole[1:, :, 1:n + 1]):
        pad = np.pad(a, ((0, 0), (0, 0), (0, 0), (1, 1), (1, 1)))
        naive = np.stack([pad[..., di:di + H, dj:dj + W] for di in range(3) for dj in range(3)], axis=2)
        np.testing.assert_array_equal(P.im2col(a), naive.reshape(2, C * 9, n * H * W))


@given(st.integers(1, 2), st.integers(1, 2), st.integers(1, 5), st.integers(1, 5), st.integers(0, 99))
def test_im2col_and_col2im_are_adjoint(T, C, H, W, seed):
    rng = np.random.default_rng(seed)
    a = rand(rng, T, C, 2, H, W)
    c = rand(rng, T, C * 9, 2 * H * W)
    lhs = np.sum(P.im2col(a) * c)
    rhs = np.sum(a * P.col2im(c, a.shape))
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs))


@pytest.mark.parametrize("per_task", [False, True])
def test_conv_equals_naive_direct_convolution(per_task):
    rng = np.random.default_rng(2)
    a = rand(rng, 2, 2, 3, 5, 6)
    w = rand(rng, *((2,) if per_task else ()), 3, 2, 3, 3)
    np.testing.assert_allclose(P.conv3x3(a, w), naive_conv(a, w), rtol=1e-12, atol=1e-12)


def test_conv_second_order_in_both_arguments():
    rng = np.random.default_rng(3)
    a, w = rand(rng, 2, 1, 2, 4, 4), rand(rng, 2, 2, 1, 3, 3)
    check_grads(lambda w: P.conv3x3(a, w), modes=["rev"], order=2)(w)
    check_grads(lambda a: P.conv3x3(a, w), modes=["rev"], order=2)(a)
    # a non-linear function of the conv makes the second-order terms non-trivial
    check_grads(lambda w: anp.sum(anp.tanh(P.conv3x3(a, w)) ** 2), modes=["rev"], order=2)(w)


@pytest.mark.parametrize("shape", [(2, 2, 1, 4, 4), (1, 1, 2, 5, 7), (1, 1, 1, 3, 3)])
def test_maxpool_forward_matches_naive_and_floors(shape):
    rng = np.random.default_rng(4)
    x = rand(rng, *shape)
    H2, W2 = shape[-2] // 2, shape[-1] // 2
    naive = np.array([[x[..., 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(-2, -1)) for j in range(W2)]
                      for i in range(H2)])
    np.testing.assert_array_equal(pooling.maxpool2(x), np.moveaxis(naive, (0, 1), (-2, -1)))


@pytest.mark.parametrize("shape", [(2, 1, 2, 4, 4), (1, 2, 1, 5, 3)])
def test_pool_primitives_second_order(shape):
    rng = np.random.default_rng(5)
    x = rand(rng, *shape)  # continuous random values: no ties, max-pool is smooth around x
    check_grads(pooling.maxpool2, modes=["rev"], order=2)(x)
    check_grads(lambda x: anp.sum(pooling.maxpool2(x) ** 3), modes=["rev"], order=2)(x)
    mask = pooling.pool_mask(x)
    g = rand(rng, *pooling.maxpool2(x).shape)
    check_grads(lambda g: pooling.unpool2(g, mask, shape), modes=["rev"], order=2)(g)
    check_grads(lambda h: pooling.pool_gather(h, mask), modes=["rev"], order=2)(rand(rng, *shape))


def test_unpool_and_gather_are_adjoint_and_route_to_argmax():
    rng = np.random.default_rng(6)
    x = rand(rng, 1, 2, 2, 5, 4)
    mask = pooling.pool_mask(x)
    g, h = rand(rng, 1, 2, 2, 2, 2), rand(rng, *x.shape)
    np.testing.assert_allclose(np.sum(pooling.unpool2(g, mask, x.shape) * h), np.sum(g * pooling.pool_gather(h, mask)))
    np.testing.assert_array_equal(pooling.pool_gather(x, mask), pooling.maxpool2(x))
    # the gradient of the pooled sum is 1 at each window's argmax, 0 elsewhere (incl. the odd row)
    dx = grad(lambda x: anp.sum(pooling.maxpool2(x)))(x)
    assert dx.sum() == 2 * 2 * 2 * 2 and set(np.unique(dx)) <= {0.0, 1.0}
    assert np.all(dx[..., 4, :] == 0)
    np.testing.assert_array_equal(dx * x, pooling.unpool2(pooling.maxpool2(x), mask, x.shape))


def test_pool_mask_ties_pick_exactly_one():
    x = np.zeros((1, 1, 1, 4, 5), dtype=np.float32)
    x[..., 2:, :2] = 1.0  # one window with a tie between its two top taps, others all equal
    x[..., 3, 0] = 0.0
    mask = pooling.pool_mask(x)
    np.testing.assert_array_equal(mask.sum(axis=0), np.ones((1, 1, 1, 2, 2)))
    dx = grad(lambda x: anp.sum(pooling.maxpool2(x)))(x)
    assert dx.sum() == 4 and dx[0, 0, 0, 2, 0] == 1 and dx[0, 0, 0, 2, 1] == 0


@given(st.lists(st.integers(-2, 2), min_size=4 * 2 * 3 * 4, max_size=4 * 2 * 3 * 4),
       st.booleans())
def test_pool_mask_is_the_first_maximum_of_each_window(values, blocks):
    """Small integer values make ties common; each window's mask is one-hot at its first
    maximum in row-major tap order, with or without the pooled maxima given."""
    x = np.array(values, dtype=np.float32).reshape(2, 3, 4, 4)
    if blocks:
        x = x.reshape(2, 3, 16)
    pooled = pooling.maxpool2(x, blocks)
    taps = np.stack([t.ravel() for t in pooling._taps(x, blocks)])  # (4, windows)
    expected = np.zeros_like(taps)
    expected[np.argmax(taps, axis=0), np.arange(taps.shape[1])] = 1  # argmax: first maximum
    for mask in (pooling.pool_mask(x, blocks), pooling.pool_mask(x, blocks, pooled)):
        np.testing.assert_array_equal(mask.reshape(4, -1), expected)


def test_relu_second_order():
    rng = np.random.default_rng(7)
    x = rand(rng, 3, 4)
    check_grads(lambda x: anp.sum(P.relu(x) ** 3), modes=["rev"], order=2)(x)
    np.testing.assert_array_equal(P.relu(x), x * (x > 0))
    assert P.relu(x.astype(np.float32)).dtype == np.float32


def test_float32_preserved_forward_and_backward():
    rng = np.random.default_rng(8)
    a, w = rand(rng, 2, 1, 2, 4, 4, dtype=np.float32), rand(rng, 2, 1, 3, 3, dtype=np.float32)

    def f(a, w):
        z = P.conv3x3(a, w).reshape(2, 2, 2, 4, 4)
        return anp.sum(P.relu(pooling.maxpool2(z)) ** 2)

    assert P.im2col(a).dtype == P.col2im(P.im2col(a), a.shape).dtype == np.float32
    assert f(a, w).dtype == np.float32
    ga, gw = grad(f, 0)(a, w), grad(f, 1)(a, w)
    assert ga.dtype == gw.dtype == np.float32
    # second order (a Hessian-vector product) stays float32 too
    hv = grad(lambda w: anp.sum(grad(f, 1)(a, w) * w))(w)
    assert hv.dtype == np.float32


def test_batch_norm_pieces_second_order_and_definitions():
    rng = np.random.default_rng(9)
    z = rand(rng, 2, 3, 7)
    np.testing.assert_allclose(P.center(z), z - z.mean(axis=-1, keepdims=True), rtol=1e-13, atol=1e-15)
    zc = P.center(z)
    np.testing.assert_allclose(P.sqmean(zc), zc.var(axis=-1, keepdims=True), rtol=1e-13)
    check_grads(P.center, modes=["rev"], order=2)(z)
    check_grads(P.sqmean, modes=["rev"], order=2)(z)
    check_grads(lambda z: anp.sum(P.center(z) ** 2 / anp.sqrt(P.sqmean(P.center(z)) + 0.1)),
                modes=["rev"], order=2)(z)
    assert P.center(z.astype(np.float32)).dtype == P.sqmean(z.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("C, O", [(1, 16), (4, 3)])  # 9 C < O and 9 C >= O: both GEMM orders
@pytest.mark.parametrize("blocks", [False, True])
def test_conv_weight_grad_is_g_times_the_columns_transposed(C, O, blocks):
    rng = np.random.default_rng(8)
    a, g = rand(rng, 2, C, 3, 4, 4), rand(rng, 2, O, 3 * 16)
    cols = P.im2col(a, blocks)
    np.testing.assert_allclose(P.conv_weight_grad(g, a, blocks), np.einsum("tom,tkm->tok", g, cols),
                               rtol=1e-12, atol=1e-14)
