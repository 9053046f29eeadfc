"""2x2 max-pooling as ``autograd`` primitives, each VJP built from differentiable ops.

- ``maxpool2`` -> ``unpool2`` (given the argmax mask), ``unpool2`` <-> ``pool_gather``: given a
  fixed one-hot mask both are linear and mutually adjoint. The mask (``pool_mask``) is piecewise
  constant in the input, so it carries no derivative (max-pooling is linear almost everywhere).
- Layouts: an image ``(..., H, W)`` (stride-2 views), or a map ``(..., 4*M)`` in pooling-block
  order (``blocks=True``, ``theory.engine.primitives.im2col``), whose four taps are contiguous.
- ``maxpool2``'s VJP computes each pooled array's mask once while the array lives
  (``_mask_once``): second-order MAML builds that VJP twice for every pool of the support set.

All ops keep the input dtype.
"""

import weakref

import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval


def _windows(x):
    """View (copy if cropped) of the map as ``(..., H//2, 2, W//2, 2)``; odd last row/column dropped."""
    *lead, H, W = x.shape
    H2, W2 = H // 2, W // 2
    if (H, W) != (2 * H2, 2 * W2):
        x = x[..., : 2 * H2, : 2 * W2]
    return x.reshape(tuple(lead) + (H2, 2, W2, 2))


def _taps(x, blocks):
    """The four taps of every 2x2 window (row-major) as views: strided ``(..., H//2, W//2)`` of
    an image ``(..., H, W)``, or contiguous ``(..., M)`` of a map ``(..., 4*M)`` whose pixels are
    in pooling-block order (``im2col(..., blocks=True)``)."""
    if blocks:
        v = x.reshape(x.shape[:-1] + (4, x.shape[-1] // 4))
        return [v[..., k, :] for k in range(4)]
    win = _windows(x)
    return [win[..., k // 2, :, k % 2] for k in range(4)]


def pool_mask(x, blocks=False, pooled=None):
    """One-hot boolean masks of each 2x2 window's first maximum: ``(4,) + pooled shape``.

    ``mask[2*i + j]`` marks the windows whose maximum sits at tap ``(i, j)``; ties go to the first
    tap in row-major order, so exactly one input per window gets the gradient (flat image
    backgrounds make ties common). Layouts as in ``_taps``. ``pooled``, if given, must be
    ``maxpool2(x, blocks)``: each window's maximum is then found by equality (``np.maximum``
    returns one of its inputs exactly) instead of recomputed. Booleans, not x's dtype: a
    quarter of the bytes to write and keep, and ``g * mask`` costs what a float mask does.
    """
    x = getval(x)
    taps = _taps(x, blocks)
    m = maxpool2.fun(x, blocks) if pooled is None else getval(pooled)
    mask = np.empty((4,) + m.shape, dtype=bool)
    np.equal(taps[0], m, out=mask[0])
    seen = mask[0].copy()  # windows whose maximum an earlier tap already took
    for k in (1, 2):
        np.equal(taps[k], m, out=mask[k])
        mask[k] &= ~seen
        seen |= mask[k]
    np.logical_not(seen, out=mask[3])  # the last tap takes every window left
    return mask


@primitive
def maxpool2(x, blocks=False):
    """2x2 max-pool, stride 2, floor division (``H -> H // 2``): ``(..., H, W) -> (..., H//2, W//2)``.

    With ``blocks``: ``(..., 4*M) -> (..., M)`` for a map in pooling-block order (``_taps``),
    the maximum of four contiguous blocks.
    """
    if blocks:
        t = _taps(x, True)
        return np.maximum(np.maximum(t[0], t[1]), np.maximum(t[2], t[3]))
    win = _windows(x)
    rows = np.maximum(win[..., 0, :, :], win[..., 1, :, :])
    return np.maximum(rows[..., 0], rows[..., 1])


@primitive
def unpool2(g, mask, shape, blocks=False):
    """Route ``g`` (the pooled shape) to the argmax taps given by ``mask``; zeros elsewhere.

    Output has the full ``shape`` (``(..., H, W)``: a dropped odd row/column gets zero;
    ``(..., 4*M)`` with ``blocks``).
    """
    dtype = np.result_type(g, np.float32)  # float32 stays float32, float64 stays float64
    if blocks:
        out = np.empty(shape, dtype=dtype)
        for k, tap in enumerate(_taps(out, True)):
            np.multiply(g, mask[k], out=tap)
        return out
    H2, W2 = g.shape[-2:]
    win = np.empty(g.shape[:-2] + (H2, 2, W2, 2), dtype=dtype)
    for k in range(4):
        np.multiply(g, mask[k], out=win[..., k // 2, :, k % 2])
    full = win.reshape(g.shape[:-2] + (2 * H2, 2 * W2))
    if tuple(shape[-2:]) == (2 * H2, 2 * W2):
        return full
    out = np.zeros(shape, dtype=full.dtype)
    out[..., : 2 * H2, : 2 * W2] = full
    return out


@primitive
def pool_gather(h, mask, blocks=False):
    """Adjoint of ``unpool2``: pick, in each 2x2 window of ``h``, the masked entry."""
    taps = _taps(h, blocks)
    out = taps[0] * mask[0]
    for k in range(1, 4):
        out += taps[k] * mask[k]
    return out


# a mask per pooled array, while it lives: second-order MAML builds maxpool2's VJP twice for
# every pool of the support set (in the inner and in the outer backward pass)
_masks = {}


def _mask_once(x, blocks, pooled):
    """``pool_mask(x, blocks, pooled)``, computed once per array ``x`` (which it must not outlive)."""
    x = getval(x)
    key = (id(x), blocks)
    hit = _masks.get(key)
    if hit is not None and hit[0]() is x:
        return hit[1]
    mask = pool_mask(x, blocks, pooled)
    _masks[key] = (weakref.ref(x, lambda _: _masks.pop(key, None)), mask)
    return mask


defvjp(maxpool2, lambda ans, x, blocks=False: (lambda m, s: lambda g: unpool2(g, m, s, blocks))(
    _mask_once(x, blocks, ans), x.shape))
defvjp(unpool2, lambda ans, g, mask, shape, blocks=False: lambda h: pool_gather(h, mask, blocks))
defvjp(pool_gather, lambda ans, h, mask, blocks=False: lambda g: unpool2(g, mask, h.shape, blocks))
