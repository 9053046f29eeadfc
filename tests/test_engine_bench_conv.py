"""The speed primitives (chunked convolution, row scaling): adjoints and second derivatives."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd.test_util import check_grads

from theory.engine import gemm
from theory.engine import primitives as P

SHAPE = (3, 2, 2, 4, 5)  # T, C, n, H, W
O = 3


@pytest.fixture(params=[2 ** 25, 1], ids=["one-chunk", "task-by-task"])
def chunk(request, monkeypatch):
    """Run each test with all tasks in one chunk and with one task per chunk."""
    monkeypatch.setattr(gemm, "CHUNK_BYTES", request.param)


def rand(rng, *shape):
    return rng.standard_normal(shape)


def test_conv_is_matmul_of_im2col(chunk):
    rng = np.random.default_rng(0)
    a = rand(rng, *SHAPE)
    for wm in (rand(rng, O, 18), rand(rng, 3, O, 18)):
        np.testing.assert_allclose(P.conv(a, wm), wm @ P.im2col(a), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("per_task", [False, True])
def test_adjoint_identities(chunk, per_task):
    """<conv(a, w), g> = <a, conv_input_grad(g, w)> = <w, conv_weight_grad(g, a)>.

    A shared weight's gradient is the sum of the per-task ones.
    """
    rng = np.random.default_rng(1)
    a, g = rand(rng, *SHAPE), rand(rng, 3, O, 2 * 4 * 5)
    wm = rand(rng, 3, O, 18) if per_task else rand(rng, O, 18)
    lhs = np.sum(P.conv(a, wm) * g)
    np.testing.assert_allclose(np.sum(a * P.conv_input_grad(g, wm, SHAPE)), lhs, rtol=1e-12)
    gw = P.conv_weight_grad(g, a)
    np.testing.assert_allclose(np.sum(wm * (gw if per_task else gw.sum(0))), lhs, rtol=1e-12)


@pytest.mark.parametrize("per_task", [False, True])
def test_second_order(chunk, per_task):
    rng = np.random.default_rng(2)
    a, g = rand(rng, *SHAPE), rand(rng, 3, O, 2 * 4 * 5)
    wm = rand(rng, 3, O, 18) if per_task else rand(rng, O, 18)
    check_grads(lambda a, w: anp.sum(anp.tanh(P.conv(a, w)) ** 2), modes=["rev"], order=2)(a, wm)
    check_grads(lambda g, w: anp.sum(anp.sin(P.conv_input_grad(g, w, SHAPE))), modes=["rev"],
                order=2)(g, wm)
    check_grads(lambda g, a: anp.sum(anp.sin(P.conv_weight_grad(g, a))), modes=["rev"],
                order=2)(g, a)


def test_float32_stays_float32(chunk):
    rng = np.random.default_rng(3)
    a, wm = rand(rng, *SHAPE).astype(np.float32), rand(rng, O, 18).astype(np.float32)
    g = np.ones((3, O, 40), np.float32)
    assert P.conv(a, wm).dtype == np.float32
    assert P.conv_input_grad(g, wm, SHAPE).dtype == np.float32
    assert P.conv_weight_grad(g, a).dtype == np.float32


@pytest.mark.parametrize("lead", [(3, 2), (1, 2)], ids=["per-task", "shared"])
def test_scale_rows_and_rowdot(lead):
    rng = np.random.default_rng(4)
    x, y, s = rand(rng, 3, 2, 7), rand(rng, 3, 2, 7), rand(rng, *lead, 1)
    np.testing.assert_allclose(P.scale_rows(x, s), x * s, rtol=1e-15)
    np.testing.assert_allclose(P.rowdot(x, y), np.sum(x * y, -1, keepdims=True), rtol=1e-12)
    check_grads(lambda x, s: anp.sum(anp.sin(P.scale_rows(x, s))), modes=["rev"], order=2)(x, s)
    check_grads(lambda x, y: anp.sum(anp.sin(P.rowdot(x, y))), modes=["rev"], order=2)(x, y)


@pytest.mark.parametrize("lead", [(3, 2), (1, 2)], ids=["per-task", "shared"])
def test_affine_rows_and_rowsum(lead):
    rng = np.random.default_rng(5)
    x, s, b = rand(rng, 3, 2, 7), rand(rng, *lead, 1), rand(rng, *lead, 1)
    np.testing.assert_allclose(P.affine_rows(x, s, b), x * s + b, rtol=1e-14)
    np.testing.assert_allclose(P.rowsum(x), np.sum(x, -1, keepdims=True), rtol=1e-13)
    check_grads(lambda x, s, b: anp.sum(anp.sin(P.affine_rows(x, s, b))),
                modes=["rev"], order=3)(x, s, b)
    check_grads(lambda x: anp.sum(anp.sin(P.rowsum(x))), modes=["rev"], order=3)(x)
    assert P.affine_rows(*(v.astype(np.float32) for v in (x, s, b))).dtype == np.float32


def test_weight_split_is_a_permutation_and_conv3x3_reads_it():
    rng = np.random.default_rng(9)
    w = rand(rng, 3, 4, 2, 3, 3)                        # per task (T, O, C, 3, 3)
    wm = w.reshape(3, 4, 18)
    np.testing.assert_array_equal(P.weight_join(P.weight_split(wm)), wm)
    assert sorted(P.weight_split(wm)[0, 0]) == sorted(wm[0, 0])
    check_grads(lambda wm: anp.sum(anp.sin(P.weight_split(wm)) * np.arange(18.0)),
                modes=["rev"], order=2)(wm)
    a = rand(rng, 3, 2, 2, 5, 6)
    # the split-order conv of conv3x3 against the natural-order conv primitive
    np.testing.assert_allclose(P.conv3x3(a, w, 0, 2), P.conv(a, wm, 0, 2), rtol=1e-13, atol=1e-13)
    check_grads(lambda a, w: anp.sum(anp.sin(P.conv3x3(a, w, 0, 2))), modes=["rev"], order=2)(a, w)
