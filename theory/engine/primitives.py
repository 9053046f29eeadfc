"""Fast CNN ops registered as ``autograd`` primitives, each VJP built from differentiable ops.

Activations use the internal layout ``(T, C, n, H, W)`` (task, channel, image, row, column), so
that the columns of one task form one matrix and a 3x3 convolution is one GEMM per task:
``W (T, O, C*9) @ cols (T, C*9, n*H*W)``.

Adjoint pairs (so gradients of gradients stay inside the registered ops):

- ``im2col`` / ``col2im``: linear maps with ``col2im = im2col^T``; each is the other's VJP
  (at stride 2 their bodies are ``theory.engine.strided``).
- ``conv`` (= ``wm @ im2col(a)``), ``conv_input_grad``, ``conv_weight_grad``: bilinear, closed
  under VJPs (each one's VJPs are the other two), built on im2col a few tasks at a time. The
  input adjoint is itself a conv, with the weight transposed and its taps rotated (image order
  needs no col2im). Their GEMMs, a few images at a time, and the stride-2 split form are
  ``theory.engine.gemm``.
- max-pooling and its adjoints: ``theory.engine.pooling``.
- batch norm's primitives (``theory.engine.batchnorm``, re-exported here): ``center``
  (self-adjoint) and ``sqmean``, the statistics over the last axis;
  ``scale_rows`` (``x * s``, one factor per row) and ``rowdot`` (row-wise inner product) map
  into each other under VJPs, so batch norm's scale never needs a full-size product to sum;
  ``batch_norm``, the whole map as one node whose input gradient is one ``blend_rows``.
- ``weight_split`` / ``weight_join``: a stride-2 weight's columns in the split order its split-form
  conv reads (``SPLIT_W``), once per use as a node of the graph; mutually adjoint permutations.
- ``relu`` (``max(x, 0)``) and ``masked`` (``g * mask``, a constant mask): ReLU and its VJP
  (``theory.engine.batchnorm``, re-exported here: ``batch_norm`` can end in the ReLU).

Block order (``blocks``, a bit mask: ``OUT_BLOCKS`` for a conv's output, ``IN_BLOCKS`` for its
input; ``True`` is ``OUT_BLOCKS``): a conv can emit its pixels ordered ``(p, q, n, H/2, W/2)``
for the pixel ``(2i + p, 2j + q)``, so that the four taps of every 2x2 pooling window lie in
four contiguous blocks and max-pooling (``theory.engine.pooling``), its masks and adjoints run
on contiguous memory instead of stride-2 views; the price is stride-2 im2col copies, which
pays where a layer has few input channels (``cnn._blocks_pay``). A stride-2 conv reads the four
parity phases of its input: given its input in block order (``IN_BLOCKS``, the output of a
stride-2 conv that emitted it so), each phase is one contiguous block. A stride-2 conv whose
output is in C order runs in ``strided``'s split form: four of its nine taps read a phase
unshifted, so their GEMMs read (and the input gradient's GEMM writes) the phases in place and
only five taps are copied into columns.

All ops keep the input dtype (float32 stays float32 through any order of differentiation).

A process that trains also wants ``theory.engine.heap.keep_freed_memory()``.
"""

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive

from theory.engine import gemm, strided
from theory.engine.batchnorm import (affine_rows, batch_norm, blend_rows, center,  # noqa: F401
                                     masked, moments, relu, rowdot, rowsum, scale_rows, sqmean)
from theory.engine.strided import _TAPS, IN_BLOCKS, OUT_BLOCKS, SPLIT_W, out_size


def _tap_ranges(d, size):
    """Output range ``[lo, hi)`` where a tap at offset ``d - 1`` reads inside the image."""
    return max(0, 1 - d), min(size, size + 1 - d)


def _padded(a):
    """``a (..., H, W)`` with a zero border of one pixel: ``(..., H + 2, W + 2)``."""
    pad = np.zeros(a.shape[:-2] + (a.shape[-2] + 2, a.shape[-1] + 2), dtype=a.dtype)
    pad[..., 1:-1, 1:-1] = a
    return pad


def _phase_views(pad, H2, W2):
    """``((k, phase), view)`` pairs: for kernel tap ``k`` and pooling phase ``2*p + q``, the
    ``(..., H2, W2)`` stride-2 view of the padded map that the pixels ``(2i + p, 2j + q)`` read."""
    for k, (di, dj) in enumerate(_TAPS):
        for p in range(2):
            for q in range(2):
                yield (k, 2 * p + q), pad[..., p + di:p + di + 2 * H2:2, q + dj:q + dj + 2 * W2:2]


@primitive
def im2col(a, blocks=False, stride=1):
    """3x3, padding 1 patches: ``a (T, C, n, H, W) -> cols (T, C*9, n*Ho*Wo)``.

    Row ``c*9 + 3*di + dj`` of a task's column matrix holds channel ``c`` shifted by
    ``(di - 1, dj - 1)`` (zero outside the image), matching ``w.reshape(O, C*9)``.
    Columns follow the output pixels ``(n, Ho, Wo)`` in C order, ``Ho = out_size(H, stride)``;
    with ``blocks`` (stride 1, even H and W) they follow ``(p, q, n, H/2, W/2)`` for the pixel
    ``(2i + p, 2j + q)`` instead, so that a conv's output holds each 2x2 pooling window's four
    taps in four contiguous blocks (``maxpool2``). ``stride=2`` reads every second pixel
    (output pixel ``(i, j)`` centred on input ``(2i, 2j)``, as ``torch.nn.Conv2d``); its input
    may be in block order (``blocks & IN_BLOCKS``) and its columns may follow the output
    pixels in block order (``blocks & OUT_BLOCKS``, even Ho and Wo).
    """
    T, C, n, H, W = a.shape
    if stride != 1:
        return strided.im2col(a, blocks)
    if blocks & IN_BLOCKS:
        raise ValueError("an input in block order is read by stride-2 convs only")
    if blocks:
        H2, W2 = H // 2, W // 2
        cols = np.empty((T, C, 9, 4, n, H2, W2), dtype=a.dtype)
        for (k, phase), view in _phase_views(_padded(a), H2, W2):
            cols[:, :, k, phase] = view
        return cols.reshape(T, C * 9, n * H * W)
    L = n * H * W
    cols = np.empty((T, C, 9, n, H, W), dtype=a.dtype)
    flat_a, flat_cols = a.reshape(T, C, L), cols.reshape(T, C, 9, L)
    for k, (di, dj) in enumerate(_TAPS):
        # a shift of all n flattened images by s at once (long contiguous runs beat short row
        # slices); what crosses from one image row or image into the next is padding, zeroed
        # below, and so is what the shift leaves unwritten at either end (the first or last
        # image's outer row or column)
        s = (di - 1) * W + (dj - 1)
        lo = min(L, max(0, -s))
        hi = max(lo, min(L, L - s))
        flat_cols[:, :, k, lo:hi] = flat_a[..., lo + s:hi + s]
        if di != 1:  # the row above/below each image
            cols[:, :, k, :, 0 if di == 0 else H - 1, :] = 0
        if dj != 1:  # the column left/right of each image
            cols[:, :, k, ..., 0 if dj == 0 else W - 1] = 0
    return cols.reshape(T, C * 9, n * H * W)


@primitive
def col2im(cols, shape, blocks=False, stride=1):
    """Adjoint of ``im2col``: scatter-add ``cols (T, C*9, n*Ho*Wo)`` back to ``shape (T, C, n, H, W)``."""
    T, C, n, H, W = shape
    if stride != 1:
        return strided.col2im(cols, shape, blocks)
    if blocks:
        H2, W2 = H // 2, W // 2
        c7 = cols.reshape(T, C, 9, 4, n, H2, W2)
        pad = np.zeros((T, C, n, H + 2, W + 2), dtype=cols.dtype)
        for (k, phase), view in _phase_views(pad, H2, W2):
            view += c7[:, :, k, phase]
        return np.ascontiguousarray(pad[..., 1:-1, 1:-1])
    c6 = cols.reshape(T, C, 9, n, H, W)
    out = c6[:, :, 4].copy()  # the centre tap covers every pixel
    for k, (di, dj) in enumerate(_TAPS):
        if k == 4:
            continue
        (r0, r1), (c0, c1) = _tap_ranges(di, H), _tap_ranges(dj, W)
        out[..., r0 + di - 1:r1 + di - 1, c0 + dj - 1:c1 + dj - 1] += c6[:, :, k, ..., r0:r1, c0:c1]
    return out


defvjp(im2col, lambda ans, a, blocks=False, stride=1: lambda g: col2im(g, a.shape, blocks, stride))
defvjp(col2im, lambda ans, cols, shape, blocks=False, stride=1: lambda g: im2col(g, blocks, stride))


@primitive
def conv(a, wm, blocks=False, stride=1):
    """3x3 convolution, padding 1: ``a (T, C, n, H, W)``, ``wm (O, C*9)`` or ``(T, O, C*9)``.

    Returns ``(T, O, n*Ho*Wo)`` = ``wm @ im2col(a, blocks, stride)``, with the columns built a
    few images at a time (``gemm.chunks``; ``blocks``: the pixels in ``im2col``'s pooling-block
    order).
    """
    T, C, n, H, W = a.shape
    out = np.empty((T, wm.shape[-2], n * gemm.pixels(H, W, stride)), dtype=np.result_type(a, wm))
    if gemm.is_split(blocks, stride):
        return gemm.conv_split(a, wm, blocks, out)
    out_p = gemm.phases(out, n, blocks)
    pixels = gemm.pixels(H, W, stride)
    for tasks, images in gemm.chunks(T, n, C * 9, pixels, out.itemsize, blocks):
        cols = gemm.phases(im2col.fun(a[tasks, :, images], blocks, stride),
                           images.stop - images.start, blocks)
        for p in range(cols.shape[2]):
            np.matmul(gemm.per_task(wm, tasks), gemm.matrix(cols[:, :, p]),
                      out=gemm.matrix(out_p[tasks, :, p, images]))
    return out


def _rotated(wm, C):
    """The weight matrix of ``conv``'s adjoint: ``w'[c, o, k] = w[o, c, 8 - k]``, ``(..., C, O*9)``.

    Transposed in channels and with the 3x3 taps rotated by 180 degrees (tap ``k`` at offset
    ``d`` becomes tap ``8 - k`` at ``-d``), as a conv's adjoint in its input is that conv.
    """
    O = wm.shape[-2]
    w = wm.reshape(wm.shape[:-2] + (O, C, 9))[..., ::-1]
    return np.swapaxes(w, -3, -2).reshape(wm.shape[:-2] + (C, O * 9))


@primitive
def conv_input_grad(g, wm, shape, blocks=False, stride=1):
    """Adjoint of ``conv`` in its input: ``col2im(wm^T @ g)`` -> ``shape (T, C, n, H, W)``.

    At stride 1, computed as the conv of ``g`` with the rotated weight (``_rotated``): its
    im2col copies are cheaper than col2im's scatter-adds. Pixels in pooling-block order
    (``blocks``) are not an image, and a strided conv's adjoint is not a stride-1 conv, so those
    cases scatter with ``col2im``, a few tasks at a time.
    """
    T, C, n, H, W = shape
    if gemm.is_split(blocks, stride):
        return gemm.input_grad_split(g, wm, shape, blocks)
    if not blocks and stride == 1:
        return conv.fun(g.reshape((T, g.shape[1]) + tuple(shape[2:])), _rotated(wm, C)).reshape(shape)
    out = np.empty(shape, dtype=np.result_type(g, wm))
    task_bytes = max(1, C * 9 * g.shape[-1] * out.itemsize)     # one task's columns
    step = 1 if blocks else max(1, gemm.CHUNK_BYTES // task_bytes)
    for t in range(0, T, step):
        tasks = slice(t, min(T, t + step))
        cols = np.swapaxes(gemm.per_task(wm, tasks), -1, -2) @ g[tasks]
        out[tasks] = col2im.fun(cols, (tasks.stop - t,) + tuple(shape[1:]), blocks, stride)
    return out


@primitive
def conv_weight_grad(g, a, blocks=False, stride=1):
    """Adjoint of ``conv`` in its weight, per task: ``g @ im2col(a)^T`` -> ``(T, O, C*9)``."""
    T, C, n, H, W = a.shape
    if gemm.is_split(blocks, stride):
        return gemm.weight_grad_split(g, a, blocks)
    out = np.zeros((T, g.shape[1], C * 9), dtype=np.result_type(g, a))
    g_p = gemm.phases(np.ascontiguousarray(g), n, blocks)
    pixels = gemm.pixels(H, W, stride)
    for tasks, images in gemm.chunks(T, n, C * 9, pixels, out.itemsize, blocks):
        cols = gemm.phases(im2col.fun(a[tasks, :, images], blocks, stride),
                           images.stop - images.start, blocks)
        for p in range(cols.shape[2]):
            out[tasks] += gemm.tall_product(gemm.matrix(g_p[tasks, :, p, images]),
                                            gemm.matrix(cols[:, :, p]))
    return out


def _to_weight(gw, wm):
    """A per-task weight gradient, summed over tasks if the weight is shared."""
    return gw if anp.ndim(wm) == 3 else anp.sum(gw, axis=0)


# conv is bilinear in (a, wm); its two adjoints are bilinear too, and the three ops map into
# each other under VJPs, so every order of differentiation stays inside these primitives.
defvjp(conv,
       lambda ans, a, wm, blocks=False, stride=1:
           lambda g: conv_input_grad(g, wm, a.shape, blocks, stride),
       lambda ans, a, wm, blocks=False, stride=1:
           lambda g: _to_weight(conv_weight_grad(g, a, blocks, stride), wm))
defvjp(conv_input_grad,
       lambda ans, g, wm, shape, blocks=False, stride=1: lambda h: conv(h, wm, blocks, stride),
       lambda ans, g, wm, shape, blocks=False, stride=1:
           lambda h: _to_weight(conv_weight_grad(g, h, blocks, stride), wm))
defvjp(conv_weight_grad,
       lambda ans, g, a, blocks=False, stride=1: lambda h: conv(a, h, blocks, stride),
       lambda ans, g, a, blocks=False, stride=1:
           lambda h: conv_input_grad(g, h, a.shape, blocks, stride))


@primitive
def phase_blocks(a):
    """The parity phases of ``a (T, C, n, H, W)`` in block order, as a stride-2 conv reads an
    input given with ``IN_BLOCKS``: ``(T, C, n, 2*Ho, 2*Wo)``, ``Ho = out_size(H, 2)``, the
    phases zero-filled to ``Ho x Wo`` (an odd side gains a row or column of zeros, which a
    3x3 stride-2 conv with padding 1 reads as the padding it is). Its own node in the graph,
    so a conv and its adjoints read the phases in place instead of splitting ``a`` anew."""
    T, C, n, H, W = a.shape
    Ho, Wo = out_size(H, 2), out_size(W, 2)
    return strided.phase_split(a, 0).reshape(T, C, n, 2 * Ho, 2 * Wo)


@primitive
def phase_unblocks(g, shape):
    """Adjoint of ``phase_blocks``: the map ``shape`` from its phases (the fill dropped)."""
    T, C, n, H, W = shape
    return strided.phase_merge(g.reshape(T, C, 4, n, -1), tuple(shape), 0)


def _shape_only(make):
    """A VJP maker that keeps only the argument's shape alive, not the argument."""
    return lambda ans, x, *rest: make(anp.shape(x), *rest)


defvjp(phase_blocks, _shape_only(lambda shape: lambda g: phase_unblocks(g, shape)))
defvjp(phase_unblocks, lambda ans, g, shape: lambda h: phase_blocks(h))


def conv3x3(a, w, blocks=False, stride=1):
    """3x3 convolution (cross-correlation), padding 1, no bias (``conv``), stride 1 or 2.

    ``a (T, C, n, H, W)``, ``w (O, C, 3, 3)`` shared or ``(T, O, C, 3, 3)`` per task
    -> ``(T, O, n*Ho*Wo)``, ``Ho = out_size(H, stride)`` (the caller reshapes; batch norm works
    on this flat form), pixels in C order or, with ``blocks`` (stride 1, even H and W), in
    pooling-block order (``im2col``).
    The backward pass rebuilds the columns a few tasks at a time instead of keeping the
    ``(T, C*9, n*H*W)`` matrix of every layer and step alive.
    """
    if stride == 1 and blocks & IN_BLOCKS:
        raise ValueError("an input in block order is read by stride-2 convs only")
    if blocks & IN_BLOCKS and blocks & OUT_BLOCKS:
        raise ValueError("a stride-2 conv reads its input or writes its output in block "
                         "order, not both")
    wm = w.reshape(w.shape[:-3] + (w.shape[-3] * 9,))
    if gemm.is_split(blocks, stride):  # the columns in split order once, as a node of the graph
        return conv(a, weight_split(wm), blocks | SPLIT_W, stride)
    return conv(a, wm, blocks, stride)


@primitive
def weight_split(wm):
    """A ``(..., O, C*9)`` weight's columns in ``strided``'s split order (a permutation), as
    the split-form conv reads them with ``SPLIT_W``; adjoint ``weight_join``."""
    return strided.to_split_order(wm)


@primitive
def weight_join(ws):
    """Inverse (and adjoint) of ``weight_split``."""
    return strided.from_split_order(ws)


defvjp(weight_split, lambda ans, wm: lambda g: weight_join(g))
defvjp(weight_join, lambda ans, ws: lambda g: weight_split(g))
