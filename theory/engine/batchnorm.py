"""Batch norm's primitives, and ReLU's, on the flat form ``(T, O, M)`` a conv emits (one row
per task and channel, ``M`` pixels of all images), each with VJPs built from primitives of this
module so that every order of differentiation stays exact:

- ``center`` (``z - mean(z)`` per row; an orthogonal projection, so self-adjoint) and ``sqmean``
  (the mean of squares per row): the batch statistics;
- ``scale_rows`` (``x * s``, one factor per row) and ``rowdot`` (row-wise inner product): the
  scale by ``gamma / std``; they map into each other under VJPs, so a row factor's gradient is
  one fused reduction, never a full-size product summed afterwards;
- ``affine_rows`` (``x * s + b``, the scale and shift in one new array) and ``rowsum`` (the
  sum over the last axis, the shift's gradient);
- ``batch_norm`` (the whole map ``z -> (z - mean) * gamma / std + beta`` in one node, and the
  ReLU after it if asked) with
  ``moments`` (the rows' mean and variance) and ``blend_rows`` (``x * a + y * b + c``): its
  gradient in ``z`` is one ``blend_rows`` of the incoming gradient and ``z``;
- ``relu`` (``max(x, 0)``) and ``masked`` (``g * mask``, a constant mask), its VJP, also the
  first step of ``batch_norm``'s VJP when it ends in the ReLU.

Why ``batch_norm`` as one node: built from ``center``, ``sqmean`` and ``affine_rows``, the
centred map has two consumers, so autograd sums two full-size gradients into a third array, and
``center``'s VJP makes a fourth; as one node, the gradient in ``z`` of a layer is written once
(with its passes in blocks of rows, 2nd-order MAML on the authors' 4-layer, width-64 network
took about 0.96x the time of the composed ops per meta-step, and came closer to float64 in
float32, docs/engine.md). Its VJP needs the rows' statistics as values of
the graph one order up (so that it is itself differentiable): ``moments(z)``, a primitive
whose value is the one the forward pass computed, looked up by the identity of ``z``
(``_MOMENTS``), not a second pass over ``z``.

Row sums and products run through ``np.einsum``, a single pass that is 2-3x faster here than
``ndarray.sum``/``mean`` over a long last axis (those sum pairwise, for accuracy that a
per-row statistic of at most a few tens of thousands of float32 values does not need: einsum
adds in several independent SIMD lanes).
"""

import threading
import weakref

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, defvjp_argnums, primitive
from autograd.tracer import getval

__all__ = ["center", "sqmean", "scale_rows", "rowdot", "affine_rows", "rowsum", "batch_norm",
           "moments", "blend_rows", "relu", "masked"]


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


# The elementwise passes of blend_rows and batch_norm run over blocks of rows of about this
# many values (256 KiB of float32), so that every pass after a block's first reads it from the
# core's cache rather than from memory: on the first layer's (8, 64, 14700) map of the authors'
# network, 0.60x the time of whole-array passes for blend_rows and 0.88x for batch_norm
# (benchmarks/engine_rows.py; about even on the small maps).
_BLOCK = 2 ** 16


def _block_rows(M):
    return max(1, _BLOCK // max(1, M))


def _row_blocks(R, M):
    """Slices of ``R`` rows of ``M`` values, ``_block_rows(M)`` rows at a time."""
    step = _block_rows(M)
    return (slice(r, min(R, r + step)) for r in range(0, R, step))


def _rows(*arrays):
    """``(R, M)`` views (copies if need be) of arrays of one shape ``(..., M)``."""
    return [np.reshape(a, (-1, a.shape[-1])) for a in arrays]


def _per_row(shape, *factors):
    """Row factors ``(..., 1)`` broadcast to ``shape[:-1]`` and given as ``(R, 1)`` columns."""
    return [np.broadcast_to(f, shape[:-1] + (1,)).reshape(-1, 1) for f in factors]


# The rows' (mean, variance) of the maps batch_norm normalised, by id of the map, with a weak
# reference that tells a live map from a later array at the same address. Small arrays only;
# dead entries are dropped whenever it reaches twice the size it had after the last pruning
# (at least _MOMENTS_PRUNE), so that a graph with many live maps costs amortised O(1) each.
_MOMENTS, _MOMENTS_LOCK, _MOMENTS_PRUNE = {}, threading.Lock(), 256
_prune_at = _MOMENTS_PRUNE


def _remember(z, stats):
    global _prune_at
    with _MOMENTS_LOCK:
        if len(_MOMENTS) >= _prune_at:
            for key in [k for k, (ref, _) in _MOMENTS.items() if ref() is None]:
                del _MOMENTS[key]
            _prune_at = max(_MOMENTS_PRUNE, 2 * len(_MOMENTS))
        _MOMENTS[id(z)] = (weakref.ref(z), stats)


def _recall(z):
    with _MOMENTS_LOCK:
        ref, stats = _MOMENTS.get(id(z), (None, None))
    return stats if ref is not None and ref() is z else None


@primitive
def moments(z):
    """The rows' mean and (biased) variance of ``z (..., M)``, stacked: ``(..., 2)``.

    The value ``batch_norm`` computed for this very array when there is one (its VJP asks for
    it), else computed here (mean, then the mean square of the centred rows)."""
    stats = _recall(z)
    if stats is None:
        mu = rowsum.fun(z) * (1.0 / z.shape[-1])
        stats = np.concatenate([mu, sqmean.fun(z - mu)], axis=-1)
        _remember(z, stats)
    return stats


@primitive
def blend_rows(x, a, y, b, c):
    """``x * a + y * b + c`` for ``x, y (..., M)`` of one shape and one factor or shift per row
    (``(..., 1)``, may broadcast): batch norm's gradient in its input, written into one new
    array a block of rows at a time (``_row_blocks``)."""
    out = np.empty(np.broadcast_shapes(x.shape, y.shape), dtype=np.result_type(x, a, y, b, c))
    x, y = (np.broadcast_to(v, out.shape) for v in (x, y))
    (xr, yr, o), (ar, br, cr) = _rows(x, y, out), _per_row(out.shape, a, b, c)
    tmp = np.empty((min(_block_rows(o.shape[-1]), len(o)), o.shape[-1]), dtype=out.dtype)
    for rows in _row_blocks(*o.shape):
        block, t = o[rows], tmp[:rows.stop - rows.start]
        np.multiply(xr[rows], ar[rows], out=block)
        block += np.multiply(yr[rows], br[rows], out=t)
        block += cr[rows]
    return out


@primitive
def batch_norm(z, gamma, beta, eps, relu=False):
    """Batch norm of ``z (T, O, M)`` over its rows: ``(z - mean) * gamma / sqrt(var + eps) + beta``
    with each row's mean and biased variance over its ``M`` pixels; ``gamma``, ``beta``
    ``(T or 1, O, 1)``; then ``max(., 0)`` with ``relu`` (in the same pass over each block, and
    one node of the graph less). Differentiable at every order in ``z``, ``gamma``, ``beta``
    and ``eps`` (almost everywhere with ``relu``, as ``relu`` itself)."""
    out = np.empty(z.shape, dtype=np.result_type(z, gamma, beta))
    (zr, o), (gr, br) = _rows(z, out), _per_row(out.shape, gamma, beta)
    stats = np.empty((len(o), 2), dtype=out.dtype)
    mu, var = stats[:, :1], stats[:, 1:]
    for rows in _row_blocks(*o.shape):      # each block's passes after the first from cache
        block = o[rows]
        mu[rows] = rowsum.fun(zr[rows]) * (1.0 / o.shape[-1])
        np.subtract(zr[rows], mu[rows], out=block)
        var[rows] = sqmean.fun(block)
        block *= gr[rows] / np.sqrt(var[rows] + eps)
        block += br[rows]
        if relu:
            np.maximum(block, 0, out=block)
    _remember(z, stats.reshape(z.shape[:-1] + (2,)))
    return out


def _batch_norm_vjp(argnums, ans, args, kwargs):
    """The VJPs of ``batch_norm`` in the ``argnums`` asked for, sharing the row reductions.

    With ``s = gamma / std`` and ``zc = z - mean``, the gradient ``g`` of the output gives
    ``d gamma = <g, zc> / std``, ``d beta = sum g``, ``d eps = -sum <g, zc> s / (2 std^2)`` and
    ``d z = s (g - mean g) - zc s <g, zc> / (M std^2)``, written as ``blend_rows(g, s, z, c, d)`` with ``<g, zc> = <g, z> - mean sum g``
    (so ``zc`` is never formed again; in float32 the meta-gradient of the authors' network came
    out closer to its float64 value this way than with the composed ops, docs/engine.md)."""
    z, gamma, beta, eps = args
    mask = getval(ans) > 0 if kwargs.get("relu") else None      # relu's VJP first, if any
    M = anp.shape(z)[-1]
    stats = moments(z)
    mu = stats[..., 0:1]
    inv = 1.0 / anp.sqrt(stats[..., 1:2] + eps)
    s = gamma * inv

    def vjp(g):
        g = g if mask is None else masked(g, mask)
        g_sum = rowsum(g)
        g_zc = rowdot(g, z) - mu * g_sum if argnums != (2,) else None
        out = []
        for argnum in argnums:
            if argnum == 0:
                c = -s * inv * inv * g_zc * (1.0 / M)
                out.append(blend_rows(g, s, z, c, -s * g_sum * (1.0 / M) - mu * c))
            elif argnum == 1:
                out.append(_sum_to(g_zc * inv, anp.shape(gamma)))
            elif argnum == 2:
                out.append(_sum_to(g_sum, anp.shape(beta)))
            else:       # eps: d out / d eps = -zc s / (2 (var + eps))
                out.append(anp.sum(g_zc * s * inv * inv) * -0.5)
        return tuple(out)
    return vjp


def _moments_vjp(ans, z):
    M = anp.shape(z)[-1]
    mu = ans[..., 0:1]

    def vjp(h):   # d mean = h_m / M, d var = 2 h_v (z - mean) / M: one affine map of z
        a = h[..., 1:2] * (2.0 / M)
        return affine_rows(z, a, h[..., 0:1] * (1.0 / M) - mu * a)
    return vjp


defvjp_argnums(batch_norm, _batch_norm_vjp)
defvjp(moments, _moments_vjp)
defvjp(blend_rows,
       lambda ans, x, a, y, b, c: lambda h: scale_rows(h, a),
       lambda ans, x, a, y, b, c: lambda h: _sum_to(rowdot(h, x), anp.shape(a)),
       lambda ans, x, a, y, b, c: lambda h: scale_rows(h, b),
       lambda ans, x, a, y, b, c: lambda h: _sum_to(rowdot(h, y), anp.shape(b)),
       lambda ans, x, a, y, b, c: lambda h: _sum_to(rowsum(h), anp.shape(c)))


@primitive
def relu(x):
    """ReLU, ``max(x, 0)``; its VJP is ``masked`` by ``x > 0`` (read off the output, so the
    input need not stay alive), exact at every order a.e. (the second derivative is 0)."""
    return np.maximum(x, 0)


@primitive
def masked(g, mask):
    """``g * mask`` for a constant boolean ``mask`` (never differentiated): ``relu``'s VJP,
    and its own VJP in ``g``."""
    return g * mask


defvjp(relu, lambda ans, x: lambda g: masked(g, getval(ans) > 0))
defvjp(masked, lambda ans, g, mask: lambda h: masked(h, mask))
