"""Batch norm's primitives, on the flat form ``(T, O, M)`` a conv emits (one row per task and
channel, ``M`` pixels of all images), each with VJPs built from primitives of this module so
that every order of differentiation stays exact:

- ``center`` (``z - mean(z)`` per row; an orthogonal projection, so self-adjoint) and ``sqmean``
  (the mean of squares per row): the batch statistics;
- ``scale_rows`` (``x * s``, one factor per row) and ``rowdot`` (row-wise inner product): the
  scale by ``gamma / std``; they map into each other under VJPs, so a row factor's gradient is
  one fused reduction, never a full-size product summed afterwards;
- ``affine_relu`` (``max(x * s + b, 0)``): the scale, the shift ``beta`` and ReLU in one pass
  over the map instead of five (product, sum, comparison, cast, masked product), with a
  boolean mask in place of a float one. Its VJPs are the masked ops ``masked_affine``
  (``(x * s + b) * m``), ``masked_rowdot`` (``sum(x * y * m)`` per row), ``masked_rowsum`` and
  ``masked_rows`` (``b * m``), which map into each other under VJPs with the mask ``m = [ans >
  0]`` a constant, as ReLU's derivative is (exact a.e., the kink at 0 has measure zero).
"""

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, defvjp_argnums, primitive

__all__ = ["center", "sqmean", "scale_rows", "rowdot", "affine_relu", "masked_affine",
           "masked_rowdot", "masked_rowsum", "masked_rows"]


@primitive
def center(z):
    """Subtract the mean over the last axis: ``z - mean(z, -1)``, for batch norm on ``(T, O, M)``.

    An orthogonal projection, hence self-adjoint: its VJP is ``center`` again, with no
    full-size broadcast of the mean's gradient to add up.
    """
    return z - z.mean(axis=-1, keepdims=True)


@primitive
def sqmean(zc):
    """Mean of squares over the last axis (keepdims): the batch variance of centred ``zc``."""
    return np.einsum("...m,...m->...", zc, zc)[..., None] * (1.0 / zc.shape[-1])


@primitive
def scale_rows(x, s):
    """``x * s`` for ``x (..., M)`` and one factor per row ``s (..., 1)`` (may broadcast)."""
    return x * s


@primitive
def rowdot(x, y):
    """``sum(x * y, axis=-1, keepdims=True)`` without the full-size product."""
    return np.einsum("...m,...m->...", x, y)[..., None]


def _sum_to(r, shape):
    """Sum ``r`` over the axes where ``shape`` has length 1 and ``r`` does not (keepdims)."""
    axes = tuple(i for i, (m, k) in enumerate(zip(anp.shape(r), shape, strict=True)) if k == 1 != m)
    return anp.sum(r, axis=axes, keepdims=True) if axes else r


# scale_rows and rowdot map into each other under VJPs: the row factor's gradient is one fused
# reduction instead of a full-size product summed afterwards, at every order.
defvjp(scale_rows, lambda ans, x, s: lambda g: scale_rows(g, s),
       lambda ans, x, s: lambda g: _sum_to(rowdot(g, x), anp.shape(s)))
defvjp(rowdot, lambda ans, x, y: lambda h: scale_rows(y, h),
       lambda ans, x, y: lambda h: scale_rows(x, h))
defvjp(center, lambda ans, z: lambda g: center(g))
defvjp(sqmean, lambda ans, zc: lambda g: scale_rows(zc, g * (2.0 / zc.shape[-1])))


@primitive
def affine_relu(x, s, b):
    """``max(x * s + b, 0)`` for ``x (..., M)`` and per-row ``s``, ``b`` (``(..., 1)``, may
    broadcast): batch norm's scale and shift, then ReLU, in one pass."""
    y = np.multiply(x, s)
    y += b
    return np.maximum(y, 0, out=y)


@primitive
def masked_affine(x, s, b, m):
    """``(x * s + b) * m`` with a constant boolean mask ``m`` shaped as ``x``; ``b`` may be 0."""
    y = np.multiply(x, s)
    if not (np.isscalar(b) and b == 0):
        y += b
    y *= m
    return y


@primitive
def masked_rowdot(x, y, m):
    """``sum(x * y * m, axis=-1, keepdims=True)``."""
    return np.einsum("...m,...m->...", x * m, y)[..., None]


@primitive
def masked_rowsum(x, m):
    """``sum(x * m, axis=-1, keepdims=True)``."""
    return np.einsum("...m,...m->...", x, m.astype(x.dtype))[..., None]


@primitive
def masked_rows(b, m):
    """``b * m``: per-row values ``b (..., 1)`` spread over the mask ``m (..., M)``."""
    return b * m


def _masked_vjps(x, s, b, m):
    """The VJP of ``(x * s + b) * m`` in its arguments ``(x, s, b)`` as functions of ``g``."""
    return (lambda g: masked_affine(g, s, 0.0, m),
            lambda g: _sum_to(masked_rowdot(g, x, m), anp.shape(s)),
            lambda g: _sum_to(masked_rowsum(g, m), anp.shape(b)))


def _affine_relu_vjp(argnums, ans, args, kwargs):
    vjps = _masked_vjps(*args, ans > 0)     # the mask once for every argument
    return lambda g: tuple(vjps[i](g) for i in argnums)


def _masked_affine_vjp(argnums, ans, args, kwargs):
    vjps = _masked_vjps(*args)
    return lambda g: tuple(vjps[i](g) for i in argnums)


defvjp_argnums(affine_relu, _affine_relu_vjp)
defvjp_argnums(masked_affine, _masked_affine_vjp)
defvjp(masked_rowdot, lambda ans, x, y, m: lambda h: masked_affine(y, h, 0.0, m),
       lambda ans, x, y, m: lambda h: masked_affine(x, h, 0.0, m))
defvjp(masked_rowsum, lambda ans, x, m: lambda h: masked_rows(h, m))
defvjp(masked_rows, lambda ans, b, m: lambda h: _sum_to(masked_rowsum(h, m), anp.shape(b)))
