"""Batch norm's primitives, on the flat form ``(T, O, M)`` a conv emits (one row per task and
channel, ``M`` pixels of all images), each with VJPs built from primitives of this module so
that every order of differentiation stays exact:

- ``center`` (``z - mean(z)`` per row; an orthogonal projection, so self-adjoint) and ``sqmean``
  (the mean of squares per row): the batch statistics;
- ``scale_rows`` (``x * s``, one factor per row) and ``rowdot`` (row-wise inner product): the
  scale by ``gamma / std``; they map into each other under VJPs, so a row factor's gradient is
  one fused reduction, never a full-size product summed afterwards.
"""

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive

__all__ = ["center", "sqmean", "scale_rows", "rowdot"]


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
