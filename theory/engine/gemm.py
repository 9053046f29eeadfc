"""A 3x3 conv's GEMMs, a few images at a time: the bodies of ``primitives.conv`` and its adjoints.

- chunking: the columns of a conv are built for a few images (or tasks) at a time
  (``chunks``, within ``CHUNK_BYTES``) and consumed by the GEMM at once, with views of the maps
  as matrices (``phases``, ``matrix``) and the rows of a per-task weight (``per_task``);
- the split form of a stride-2 conv whose output is in C order (``is_split``): the four taps
  that read a phase of the input unshifted are read in place, only the five shifted ones are
  copied into columns (``theory.engine.strided``), so the forward conv (``conv_split``) and
  its adjoints (``weight_grad_split``, ``input_grad_split``) run two GEMMs per chunk, one per
  half of the weight's columns (``split_columns``).

Plain numpy on arrays; ``theory.engine.primitives`` registers the ops and their VJPs.
"""

import numpy as np

from theory.engine import strided
from theory.engine.strided import IN_BLOCKS, OUT_BLOCKS, SPLIT_W, out_size

__all__ = ["CHUNK_BYTES", "chunks", "phases", "matrix", "per_task", "pixels", "is_split",
           "tall_product", "split_columns", "conv_split", "weight_grad_split", "input_grad_split"]

# im2col columns are built a few images at a time and consumed by the GEMM at once, so that no
# column matrix exceeds about this many bytes and it is mostly read back from cache rather than
# memory. 4 MiB beat 1 MiB and 32 MiB (one whole task) in whole meta-steps (README, Performance).
CHUNK_BYTES = 2 ** 22


def chunks(T, n, rows, pixels, itemsize, blocks=0):
    """``(tasks, images)`` slice pairs whose ``(rows, images * pixels)`` column matrices fit
    ``CHUNK_BYTES``: several whole tasks, or a few images of one task (whole tasks only for an
    input in block order, whose images are not one slice)."""
    per_image = max(1, rows * pixels * itemsize)
    if per_image * n <= CHUNK_BYTES or blocks & IN_BLOCKS:
        step = max(1, CHUNK_BYTES // (per_image * n))
        return [(slice(s, min(T, s + step)), slice(0, n)) for s in range(0, T, step)]
    step = max(1, CHUNK_BYTES // per_image)
    return [(slice(t, t + 1), slice(s, min(n, s + step))) for t in range(T) for s in range(0, n, step)]


def phases(x, n, blocks):
    """View ``(T, R, P, n, pixels / P)`` of a map ``(T, R, n * pixels)``: P = 4 pooling phases in
    pooling-block order, else 1, so that an image range of every phase is one slice."""
    return np.reshape(x, x.shape[:2] + (4 if blocks & OUT_BLOCKS else 1, n, -1), copy=False)


def matrix(x):
    """View ``(T, R, images * pixels)`` of a ``(T, R, images, pixels)`` slice (never a copy)."""
    return np.reshape(x, x.shape[:2] + (-1,), copy=False)


def per_task(wm, tasks):
    """The rows of ``tasks`` of a per-task ``(T, O, K)`` matrix; a shared ``(O, K)`` one as is."""
    return wm if wm.ndim == 2 else wm[tasks]


def pixels(H, W, stride):
    return out_size(H, stride) * out_size(W, stride)


def is_split(blocks, stride):
    """Whether a conv runs in the split form: at stride 2 with its output in C order
    (the four unshifted taps read in place from the input's phases, five copied)."""
    return stride == 2 and not blocks & OUT_BLOCKS


def tall_product(x, y):
    """``x @ y^T`` per task, the taller factor on the left (OpenBLAS is faster so)."""
    if y.shape[-2] >= x.shape[-2]:
        return np.swapaxes(y @ np.swapaxes(x, -1, -2), -1, -2)
    return x @ np.swapaxes(y, -1, -2)


def split_columns(wm, blocks):
    """A split-form weight's unshifted and shifted columns, views if it is in split order
    already (``blocks & SPLIT_W``)."""
    return strided.split_halves(wm if blocks & SPLIT_W else strided.to_split_order(wm))


def conv_split(a, wm, blocks, out):
    """``conv`` at stride 2 in the split form, a few images at a time, into ``out``."""
    T, C, n, H, W = a.shape
    Ho, Wo = out_size(H, 2), out_size(W, 2)
    ph = strided.phase_split(a, blocks)
    w0, w1 = split_columns(wm, blocks)
    out4 = out.reshape(T, -1, n, Ho * Wo)
    for tasks, images in chunks(T, n, C * 5, Ho * Wo, out.itemsize):
        sub = ph[tasks, :, :, images]
        target = matrix(out4[tasks, :, images])
        np.matmul(per_task(w0, tasks), np.reshape(sub, sub.shape[:1] + (4 * C, -1), copy=False),
                  out=target)
        target += per_task(w1, tasks) @ strided.shifted_cols(sub, Ho, Wo)
    return out


def weight_grad_split(g, a, blocks):
    """``conv_weight_grad`` at stride 2 in the split form: ``(T, O, C*9)``."""
    T, C, n, H, W = a.shape
    Ho, Wo = out_size(H, 2), out_size(W, 2)
    O = g.shape[1]
    ph = strided.phase_split(a, blocks)
    g4 = np.ascontiguousarray(g).reshape(T, O, n, Ho * Wo)
    both = np.zeros((T, O, 9 * C), dtype=np.result_type(g, a))
    g0, g1 = both[..., :4 * C], both[..., 4 * C:]
    for tasks, images in chunks(T, n, C * 5, Ho * Wo, g0.itemsize):
        sub = ph[tasks, :, :, images]
        g_t = matrix(g4[tasks, :, images])
        g0[tasks] += tall_product(g_t, np.reshape(sub, sub.shape[:1] + (4 * C, -1), copy=False))
        g1[tasks] += tall_product(g_t, strided.shifted_cols(sub, Ho, Wo))
    return both if blocks & SPLIT_W else strided.join_weight(g0, g1)


def input_grad_split(g, wm, shape, blocks):
    """``conv_input_grad`` at stride 2 in the split form, a few images at a time (so that the
    shifted taps' columns are added from cache): the unshifted taps' GEMM writes the phases,
    the shifted taps' columns are added into them (``strided.add_shifted``)."""
    T, C, n, H, W = shape
    Ho, Wo = out_size(H, 2), out_size(W, 2)
    ph = np.empty((T, C, 4, n, Ho * Wo), dtype=np.result_type(g, wm))
    w0, w1 = (np.swapaxes(w, -1, -2) for w in split_columns(wm, blocks))
    g4 = g.reshape(T, -1, n, Ho * Wo)
    for tasks, images in chunks(T, n, C * 5, Ho * Wo, ph.itemsize):
        sub = ph[tasks, :, :, images]
        g_t = matrix(g4[tasks, :, images])
        np.matmul(per_task(w0, tasks), g_t,
                  out=np.reshape(sub, sub.shape[:1] + (4 * C, -1), copy=False))
        strided.add_shifted(sub, per_task(w1, tasks) @ g_t, Ho, Wo)
    return strided.phase_merge(ph, shape, blocks)
