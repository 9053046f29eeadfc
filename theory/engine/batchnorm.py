"""Batch norm's primitives, on the flat form ``(T, O, M)`` a conv emits (one row per task and
channel, ``M`` pixels of all images), each with VJPs built from primitives of this module so
that every order of differentiation stays exact:

- ``center`` (``z - mean(z)`` per row; an orthogonal projection, so self-adjoint) and ``sqmean``
  (the mean of squares per row): the batch statistics;
- ``scale_rows`` (``x * s``, one factor per row) and ``rowdot`` (row-wise inner product): the
  scale by ``gamma / std``; they map into each other under VJPs, so a row factor's gradient is
  one fused reduction, never a full-size product summed afterwards;
- ``affine_rows`` (``x * s + b``, the scale and shift in one new array) and ``rowsum`` (the
  sum over the last axis, the shift's gradient).

Row sums and products run through ``np.einsum``, a single pass that is 2-3x faster here than
``ndarray.sum``/``mean`` over a long last axis (those sum pairwise, for accuracy that a
per-row statistic of at most a few tens of thousands of float32 values does not need: einsum
adds in several independent SIMD lanes).
"""

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive

__all__ = ["center", "sqmean", "scale_rows", "rowdot", "affine_rows", "rowsum"]


@primitive
def center(z):
    """Subtract the mean over the last axis: ``z - mean(z, -1)``, for batch norm on ``(T, O, M)``.

    An orthogonal projection, hence self-adjoint: its VJP is ``center`` again, with no
    full-size broadcast of the mean's gradient to add up.
    """
    return z - rowsum.fun(z) * (1.0 / z.shape[-1])


@primitive
def sqmean(zc):
    """Mean of squares over the last axis (keepdims): the batch variance of centred ``zc``."""
    return np.einsum("...m,...m->...", zc, zc)[..., None] * (1.0 / zc.shape[-1])


@primitive
def scale_rows(x, s):
    """``x * s`` for ``x (..., M)`` and one factor per row ``s (..., 1)`` (may broadcast)."""
    return x * s


@primitive
def affine_rows(x, s, b):
    """``x * s + b`` for ``x (..., M)``, one scale and one shift per row (``(..., 1)``, may
    broadcast): batch norm's affine map, written into one new array."""
    out = np.multiply(x, s)
    out += b
    return out


@primitive
def rowsum(x):
    """``sum(x, axis=-1, keepdims=True)``, in one einsum pass."""
    return np.einsum("...m->...", x)[..., None]


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
defvjp(affine_rows, lambda ans, x, s, b: lambda g: scale_rows(g, s),
       lambda ans, x, s, b: lambda g: _sum_to(rowdot(g, x), anp.shape(s)),
       lambda ans, x, s, b: lambda g: _sum_to(rowsum(g), anp.shape(b)))
defvjp(rowsum, lambda ans, x: lambda h: anp.broadcast_to(h, anp.shape(x)))
defvjp(center, lambda ans, z: lambda g: center(g))
defvjp(sqmean, lambda ans, zc: lambda g: scale_rows(zc, g * (2.0 / zc.shape[-1])))
