"""Batch norm's fused scale, shift and ReLU (``theory.engine.batchnorm.affine_relu``) and its
masked adjoints: values against their definitions, derivatives against finite differences up
to third order (float64), adjoint pairs, and float32 kept as float32."""

import autograd.numpy as anp
import numpy as np
from autograd.test_util import check_grads
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.engine import batchnorm as B
from theory.engine import primitives as P


def _problem(seed, T=2, O=3, M=7, shared_shift=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, O, M))
    s = rng.standard_normal((T, O, 1))
    b = rng.standard_normal((1 if shared_shift else T, O, 1))
    return rng, x, s, b


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.booleans())
def test_affine_relu_is_the_composition_it_replaces(seed, shared_shift):
    _, x, s, b = _problem(seed, shared_shift=shared_shift)
    np.testing.assert_allclose(B.affine_relu(x, s, b), np.maximum(x * s + b, 0), rtol=1e-15)
    np.testing.assert_allclose(B.affine_relu(x, s, b), P.relu(P.scale_rows(x, s) + b),
                               rtol=1e-15)


def test_affine_relu_derivatives_to_third_order():
    _, x, s, b = _problem(0)
    # a smooth outer function, so that every order involves every VJP of the masked ops
    check_grads(lambda x, s, b: anp.sum(anp.sin(B.affine_relu(x, s, b)) ** 2), modes=["rev"],
                order=3)(x, s, b)
    _, x, s, b = _problem(1, shared_shift=False)
    check_grads(lambda x, s, b: anp.sum(anp.cos(B.affine_relu(x, s, b))), modes=["rev"],
                order=2)(x, s, b)


def test_masked_ops_are_exact_and_adjoint():
    rng, x, s, b = _problem(2)
    m = rng.standard_normal(x.shape) > 0
    y = rng.standard_normal(x.shape)
    np.testing.assert_allclose(B.masked_affine(x, s, b, m), (x * s + b) * m, rtol=1e-15)
    np.testing.assert_allclose(B.masked_rowdot(x, y, m), np.sum(x * y * m, -1, keepdims=True),
                               rtol=1e-13)
    np.testing.assert_allclose(B.masked_rowsum(x, m), np.sum(x * m, -1, keepdims=True),
                               rtol=1e-13)
    # masked_rows spreads a row value over the mask; masked_rowsum is its adjoint
    np.testing.assert_allclose(np.sum(B.masked_rows(s, m) * y),
                               np.sum(s * B.masked_rowsum(y, m)), rtol=1e-12)
    for f, args in ((lambda x, s, b: B.masked_affine(x, s, b, m), (x, s, b)),
                    (lambda x, y: B.masked_rowdot(x, y, m), (x, y)),
                    (lambda x: B.masked_rowsum(x, m), (x,)),
                    (lambda s: B.masked_rows(s, m), (s,))):
        check_grads(lambda *a, f=f: anp.sum(anp.sin(f(*a))), modes=["rev"], order=2)(*args)


def test_float32_stays_float32():
    _, x, s, b = _problem(3)
    x, s, b = (v.astype(np.float32) for v in (x, s, b))
    m = x > 0
    assert B.affine_relu(x, s, b).dtype == np.float32
    assert B.masked_affine(x, s, 0.0, m).dtype == np.float32
    assert B.masked_rowdot(x, x, m).dtype == B.masked_rowsum(x, m).dtype == np.float32
    assert B.masked_rows(s, m).dtype == np.float32
