"""Pooling-block pixel order and pooling before batch norm's affine map: same maths, reordered."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads

from theory.engine import cnn, maml
from theory.engine import gemm, pooling
from theory.engine import primitives as P

SHAPE = (2, 1, 3, 4, 6)  # T, C, n, H, W (even H and W)


@pytest.fixture(autouse=True)
def _seed_check_grads():
    np.random.seed(0)  # check_grads draws its directions from numpy's global generator


def to_blocks(x):
    """``(..., n, H, W)`` in C order -> ``(..., 4*n*H/2*W/2)`` in order ``(p, q, n, i, j)``."""
    *lead, n, H, W = x.shape
    x = x.reshape(tuple(lead) + (n, H // 2, 2, W // 2, 2))
    k = len(lead)
    return np.moveaxis(x, (k + 2, k + 4), (k, k + 1)).reshape(tuple(lead) + (-1,))


def test_im2col_blocks_permutes_the_columns_and_col2im_is_its_adjoint():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(SHAPE)
    cols = P.im2col(a)
    T, C9 = cols.shape[:2]
    np.testing.assert_array_equal(P.im2col(a, True), to_blocks(cols.reshape((T, C9) + SHAPE[2:])))
    c = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(P.im2col(a, True) * c), np.sum(a * P.col2im(c, SHAPE, True)),
                               rtol=1e-12)


@pytest.mark.parametrize("chunk_bytes", [2 ** 20, 1], ids=["one-chunk", "image-by-image"])
@pytest.mark.parametrize("per_task", [False, True])
def test_conv_in_blocks_order_is_the_permuted_conv_to_second_order(per_task, chunk_bytes,
                                                                   monkeypatch):
    monkeypatch.setattr(gemm, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(1)
    a = rng.standard_normal(SHAPE)
    wm = rng.standard_normal(((2,) if per_task else ()) + (3, 9))
    z = P.conv(a, wm)
    np.testing.assert_allclose(P.conv(a, wm, True), to_blocks(z.reshape((2, 3) + SHAPE[2:])),
                               rtol=1e-12, atol=1e-12)
    check_grads(lambda a, w: anp.sum(anp.tanh(P.conv(a, w, True)) ** 2), modes=["rev"],
                order=2)(a, wm)
    g = rng.standard_normal(z.shape)
    check_grads(lambda g, w: anp.sum(anp.sin(P.conv_input_grad(g, w, SHAPE, True))),
                modes=["rev"], order=2)(g, wm)


def test_maxpool_in_blocks_order_equals_image_pooling_to_second_order():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 2, 4, 6))
    xb = to_blocks(x)
    np.testing.assert_array_equal(pooling.maxpool2(xb, True), pooling.maxpool2(x).reshape(2, 3, -1))
    np.testing.assert_array_equal(pooling.pool_mask(xb, True), pooling.pool_mask(x).reshape(4, 2, 3, -1))
    check_grads(lambda x: anp.sum(pooling.maxpool2(x, True) ** 3), modes=["rev"], order=2)(xb)


def _outputs_and_meta_gradient(params, x, y):
    def meta_loss(p):
        adapted = maml.adapt(p, x, y, alpha=0.3, steps=1)
        return anp.sum(maml.cross_entropy(cnn.apply(adapted, x), y))
    return cnn.apply(params, x), grad(meta_loss)(params)


def _assert_same(run, reference):
    (out, g), (ref_out, ref_g) = run, reference
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for k in ref_g:
        np.testing.assert_allclose(g[k], ref_g[k], rtol=1e-9, atol=1e-12)


def test_network_whose_first_layer_uses_blocks_matches_the_image_order(monkeypatch):
    """hidden >= 9 * channels on an even image: the first conv emits pooling-block order.

    Outputs and the second-order MAML meta-gradient equal those of the image order.
    """
    rng = np.random.default_rng(3)
    params = cnn.init(rng, layers=2, hidden=9, ways=2, in_shape=(1, 6, 6), dtype=np.float64)
    params["bn1/beta"] = rng.standard_normal(9)
    x, y = rng.random((2, 4, 1, 6, 6)), np.array([[0, 1, 0, 1], [1, 0, 0, 1]])
    assert cnn._blocks_pay(1, 9) and not cnn._blocks_pay(9, 9)
    run = _outputs_and_meta_gradient(params, x, y)
    monkeypatch.setattr(cnn, "_blocks_pay", lambda C, O: False)
    _assert_same(run, _outputs_and_meta_gradient(params, x, y))


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["positive-scale", "one-negative-scale"])
def test_pooling_before_the_affine_map_matches_pooling_after(sign, monkeypatch):
    rng = np.random.default_rng(4)
    params = cnn.init(rng, layers=2, hidden=9, ways=2, in_shape=(1, 6, 6), dtype=np.float64)
    for i in (1, 2):
        params[f"bn{i}/gamma"] = 0.5 + rng.random(9)
        params[f"bn{i}/beta"] = rng.standard_normal(9)
    params["bn2/gamma"][3] *= sign
    x, y = rng.random((2, 4, 1, 6, 6)), np.array([[0, 1, 0, 1], [1, 0, 0, 1]])
    calls = []
    pool_first = cnn._pool_first
    monkeypatch.setattr(cnn, "_pool_first", lambda s: calls.append(pool_first(s)) or calls[-1])
    run = _outputs_and_meta_gradient(params, x, y)
    assert calls[:2] == [True, sign > 0]  # layer 1 pools first; layer 2 only if all scales > 0
    monkeypatch.setattr(cnn, "_pool_first", lambda s: False)
    _assert_same(run, _outputs_and_meta_gradient(params, x, y))


def test_a_pool_mask_is_computed_once_per_array_and_freed_with_it(monkeypatch):
    """A Hessian-vector product builds maxpool2's VJP twice; the mask is computed once."""
    rng = np.random.default_rng(5)
    x, v = rng.standard_normal((2, 3, 4, 6)), rng.standard_normal((2, 3, 4, 6))
    calls = []
    pool_mask = pooling.pool_mask
    monkeypatch.setattr(pooling, "pool_mask", lambda x, blocks=False, pooled=None: calls.append(1) or pool_mask(x, blocks, pooled))

    def f(x):
        return anp.sum(pooling.maxpool2(x) ** 3)

    hvp = grad(lambda x: anp.sum(grad(f)(x) * v))(x)
    assert len(calls) == 1
    np.testing.assert_allclose(hvp, 6 * pooling.unpool2(pooling.maxpool2(x) * pooling.pool_gather(v, pool_mask(x)),
                                                  pool_mask(x), x.shape), rtol=1e-12)
    key = (id(x), False)
    assert key in pooling._masks  # held while x lives
    del x
    assert key not in pooling._masks
