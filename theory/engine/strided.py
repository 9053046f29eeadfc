"""Stride-2 3x3 convolution patches: the bodies of ``primitives.im2col``/``col2im`` at stride 2.

Output pixel ``(i, j)`` of a 3x3, padding-1, stride-2 conv reads input pixels ``(2i + di - 1,
2j + dj - 1)``. Split into its parity phases (pixel ``(2I + u, 2J + v)`` -> phase ``(u, v)`` at
``(I, J)``), the input gives every tap as one phase shifted by a whole number of pixels, so the
patches are one long copy per image and tap (``im2col``) and their adjoint one long add
(``col2im``). Block order (a bit mask): ``OUT_BLOCKS``, the columns follow the output pixels
in block order ``(p, q, n, Ho/2, Wo/2)`` (then the input is split into phases mod 4);
``IN_BLOCKS``, the input is given in block order, its four phases contiguous, as a stride-2 conv
emitting ``OUT_BLOCKS`` leaves it. ``primitives`` registers the two as adjoint primitives.

The split form (an output in C order, so M = 2), used by ``primitives.conv`` and its two
adjoints: the four taps that read a phase unshifted take it in place from one ``(T, C, 4, n,
Ho*Wo)`` array of the phases (``phase_split``; a view of an input in block order), and only the
five shifted taps are copied into columns (``shifted_cols``; adjoint ``add_shifted``), with
the weight's columns split to match (``split_weight``/``join_weight``). It moves 5/9 of the
column bytes of ``im2col`` and no column matrix of the unshifted taps at all.
"""

import functools

import numpy as np

__all__ = ["OUT_BLOCKS", "IN_BLOCKS", "SPLIT_W", "UNSHIFTED", "SHIFTED", "out_size", "im2col", "col2im",
           "to_split_order", "from_split_order", "split_halves", "split_weight", "join_weight",
           "phase_split", "phase_merge", "shifted_cols",
           "add_shifted"]

OUT_BLOCKS, IN_BLOCKS = 1, 2
# a third bit of ``blocks``: a split-form conv's weight is in split order (``split_weight``)
SPLIT_W = 4

# (row, column) offsets of the 3x3 kernel taps, in the order of a (O, C, 3, 3) weight's last axes.
_TAPS = tuple((di, dj) for di in range(3) for dj in range(3))


def out_size(size, stride=1):
    """Output side of a 3x3 convolution with padding 1: ``(size - 1) // stride + 1``.

    Stride 1 keeps the side; stride 2 halves it, rounding up (28 -> 14 -> 7 -> 4 -> 2 -> 1).
    """
    return (size - 1) // stride + 1


def _modulus(blocks):
    """Input phases mod M of a stride-2 conv: 4 when its output is in block order, else 2."""
    return 4 if blocks & OUT_BLOCKS else 2


def _phases_of(a, Hb, Wb, blocks):
    """``{(u, v): a[..., u::M, v::M]}`` for ``a (..., H, W)``, each zero-filled to ``(Hb, Wb)``.

    An input in block order (``blocks & IN_BLOCKS``, M = 2, even H and W) holds its four
    phases as they are, so they are views.
    """
    M = _modulus(blocks)
    if blocks & IN_BLOCKS:
        split = a.reshape(a.shape[:2] + (4,) + a.shape[2:3] + (Hb, Wb))
        return {(u, v): split[:, :, 2 * u + v] for u in (0, 1) for v in (0, 1)}
    phases = {}
    for u in range(M):
        for v in range(M):
            part = a[..., u::M, v::M]
            if part.shape[-2:] == (Hb, Wb):
                phases[u, v] = np.ascontiguousarray(part)
            else:
                ph = np.zeros(a.shape[:-2] + (Hb, Wb), dtype=a.dtype)
                ph[..., :part.shape[-2], :part.shape[-1]] = part
                phases[u, v] = ph
    return phases


def _stride2_taps(Hb, Wb, M):
    """``(b, k, (u, v), s, cut)`` for output block ``b`` and tap ``k`` of a stride-2 conv.

    With M = 2B input phases per side, output pixel ``(B*I + P, B*J + Q)`` (block ``b = B*P +
    Q``; one block for B = 1) reads input row ``M*I + 2P + di - 1``: phase ``u = (2P + di - 1)
    mod M`` at row ``I + r``, ``r = floor((2P + di - 1) / M)`` in {-1, 0}; columns alike. Within
    an image's ``Hb*Wb`` pixels that is a flat shift ``s = r*Wb + c``, except that with
    ``c = -1`` (``cut``) column 0 reads the left border.
    """
    B = M // 2
    for P_ in range(B):
        for Q in range(B):
            for k, (di, dj) in enumerate(_TAPS):
                r, u = divmod(2 * P_ + di - 1, M)
                c, v = divmod(2 * Q + dj - 1, M)
                yield B * P_ + Q, k, (u, v), r * Wb + c, c == -1


def im2col(a, blocks):
    """Stride-2 patches ``a (T, C, n, H, W) -> cols (T, C*9, n*Ho*Wo)`` (``primitives.im2col``)."""
    T, C, n, H, W = a.shape
    # each (output block, tap) is an input phase shifted by s pixels within each image:
    # one long copy per image, then zeros where the tap reads the padding
    Ho, Wo = out_size(H, 2), out_size(W, 2)
    M = _modulus(blocks)
    Hb, Wb = Ho * 2 // M, Wo * 2 // M
    cols = np.empty((T, C, 9, M * M // 4, n, Hb * Wb), dtype=a.dtype)
    phases = _phases_of(a, Hb, Wb, blocks)
    P = Hb * Wb
    for b, k, phase, s, cut in _stride2_taps(Hb, Wb, M):
        src = phases[phase].reshape(T, C, n, P)
        m = max(P + s, 0)       # pixels the shift keeps (none when it reaches past the map)
        cols[:, :, k, b, :, P - m:] = src[..., :m]
        cols[:, :, k, b, :, :P - m] = 0
        if cut:
            cols[:, :, k, b, :, ::Wb] = 0
    return cols.reshape(T, C * 9, n * Ho * Wo)


def col2im(cols, shape, blocks):
    """Adjoint of ``im2col``: ``cols (T, C*9, n*Ho*Wo)`` scatter-added to ``shape``."""
    T, C, n, H, W = shape
    Ho, Wo = out_size(H, 2), out_size(W, 2)
    M = _modulus(blocks)
    Hb, Wb = Ho * 2 // M, Wo * 2 // M
    c6 = cols.reshape(T, C, 9, M * M // 4, n, Hb * Wb)
    split = np.empty((T, C, M * M, n, Hb * Wb), dtype=cols.dtype)
    # every phase has an unshifted tap (s = 0: it covers the phase whole); sorted first, the
    # first of them sets its phase, which spares a pass of zeros and a read per phase
    unset = set(range(M * M))
    for b, k, (u, v), s, cut in sorted(_stride2_taps(Hb, Wb, M), key=lambda t: t[3] != 0):
        if s == 0 and M * u + v in unset:
            unset.discard(M * u + v)
            split[:, :, M * u + v] = c6[:, :, k, b]
            continue
        if not cut:
            m = max(Hb * Wb + s, 0)
            split[:, :, M * u + v, :, :m] += c6[:, :, k, b, :, Hb * Wb - m:]
            continue
        # column 0 of each row read the left border: the other columns go one column
        # left of their own, and a row up as well if the tap reads a row up
        r = (s + 1) // Wb
        grid = split[:, :, M * u + v].reshape(T, C, n, Hb, Wb)
        tap = c6[:, :, k, b].reshape(T, C, n, Hb, Wb)
        grid[..., :Hb + r, :Wb - 1] += tap[..., -r:, 1:]
    if blocks & IN_BLOCKS:  # the phases, as they lie, are the input in block order
        return split.reshape(shape)
    out = np.empty(shape, dtype=cols.dtype)
    for u in range(M):
        for v in range(M):
            view = out[..., u::M, v::M]
            view[...] = split[:, :, M * u + v].reshape(T, C, n, Hb, Wb)[
                ..., :view.shape[-2], :view.shape[-1]]
    return out


# The split form (M = 2: an output not in block order). Four of the nine taps read a parity
# phase unshifted (tap (di, dj), di, dj in {1, 2}, reads phase (di - 1, dj - 1)): their columns
# ARE the phases, so with the phases laid out as one (T, C, 4, n, Hb*Wb) array a GEMM reads them
# in place, as a (4C, n*Hb*Wb) matrix; only the other five taps are copied into columns.
UNSHIFTED = (4, 5, 7, 8)        # phases 0..3 = (0, 0), (0, 1), (1, 0), (1, 1)
SHIFTED = (0, 1, 2, 3, 6)


@functools.lru_cache(maxsize=None)
def _split_order(C):
    """``(order, inverse)``: the columns of a ``(..., O, C*9)`` weight in split order (the
    unshifted taps ordered ``(c, phase)``, then the shifted ones ordered ``(c, SHIFTED
    index)``), and the permutation back."""
    base = 9 * np.arange(C)[:, None]
    order = np.concatenate([(base + np.array(UNSHIFTED)).ravel(),
                            (base + np.array(SHIFTED)).ravel()])
    return order, np.argsort(order)


def to_split_order(wm):
    """A ``(..., O, C*9)`` weight's columns in split order: the unshifted taps ordered
    ``(c, phase)``, then the shifted ones ordered ``(c, SHIFTED index)``.

    One gather of precomputed columns (``np.take``): 3-4x faster than slicing the 3x3 grid,
    whose runs of two taps make short copies."""
    return np.take(wm, _split_order(wm.shape[-1] // 9)[0], axis=-1)


def from_split_order(ws):
    """Inverse of ``to_split_order``."""
    return np.take(ws, _split_order(ws.shape[-1] // 9)[1], axis=-1)


def split_halves(ws):
    """A weight in split order as its unshifted and shifted columns (views):
    ``(..., O, C*9) -> (..., O, C*4), (..., O, C*5)``."""
    C4 = ws.shape[-1] // 9 * 4
    return ws[..., :C4], ws[..., C4:]


def split_weight(wm):
    """``(..., O, C*9) -> (..., O, C*4), (..., O, C*5)``: the columns of the unshifted taps,
    ordered ``(c, phase)``, and of the shifted ones, ordered ``(c, SHIFTED index)``."""
    return split_halves(to_split_order(wm))


def join_weight(w0, w1):
    """Inverse of ``split_weight``: ``(..., O, C*4), (..., O, C*5) -> (..., O, C*9)``."""
    return from_split_order(np.concatenate((w0, w1), axis=-1))


def phase_split(a, blocks):
    """The parity phases of ``a (T, C, n, H, W)`` as one ``(T, C, 4, n, Ho*Wo)`` array,
    zero-filled to ``Ho x Wo`` (``Ho = out_size(H, 2)``); a view of an input in block order."""
    T, C, n, H, W = a.shape
    Ho, Wo = out_size(H, 2), out_size(W, 2)
    if blocks & IN_BLOCKS:
        return a.reshape(T, C, 4, n, Ho * Wo)
    ph = np.empty((T, C, 4, n, Ho, Wo), dtype=a.dtype)
    for u in (0, 1):
        for v in (0, 1):
            part = a[..., u::2, v::2]
            h, w = part.shape[-2:]
            ph[:, :, 2 * u + v, :, :h, :w] = part
            ph[:, :, 2 * u + v, :, h:] = 0
            ph[:, :, 2 * u + v, :, :h, w:] = 0
    return ph.reshape(T, C, 4, n, Ho * Wo)


def _shifted_taps(Hb, Wb):
    """``(j, phase, s, up, cut)`` of the ``SHIFTED`` taps (``_stride2_taps`` with M = 2);
    ``up``: the tap reads a row up (its first output row reads the top border)."""
    return [(SHIFTED.index(k), 2 * u + v, s, s + cut < 0, cut)
            for _, k, (u, v), s, cut in _stride2_taps(Hb, Wb, 2) if k in SHIFTED]


def _flat(x):
    """View ``(..., n*P)`` of ``(..., n, P)``: the images of a phase as one row."""
    return np.reshape(x, x.shape[:-2] + (-1,), copy=False)


def _border(x, Hb, Wb, up, cut):
    """Zero in ``x (..., n, Hb*Wb)`` the pixels of a tap that read the border: the first row
    of every image (``up``) and its first column (``cut``)."""
    grid = x.reshape(x.shape[:-1] + (Hb, Wb))
    if up:
        grid[..., 0, :] = 0
    if cut:
        grid[..., :, 0] = 0


def shifted_cols(ph, Hb, Wb):
    """The columns of the shifted taps: ``ph (T, C, 4, n, Hb*Wb) -> (T, C*5, n*Hb*Wb)``.

    Each tap is one shifted copy over all the images of a phase at once (long contiguous
    runs even on a 2x2 map), then the pixels that crossed into the previous image or row,
    which read the border, are zeroed."""
    T, C, _, n, P = ph.shape
    cols = np.empty((T, C, 5, n, P), dtype=ph.dtype)
    for j, p, s, up, cut in _shifted_taps(Hb, Wb):
        src, dst = _flat(ph[:, :, p]), _flat(cols[:, :, j])
        m = max(n * P + s, 0)   # pixels the shift keeps (none when it reaches past them all)
        dst[..., n * P - m:] = src[..., :m]
        dst[..., :n * P - m] = 0
        _border(cols[:, :, j], Hb, Wb, up, cut)
    return cols.reshape(T, C * 5, n * P)


def add_shifted(ph, cols, Hb, Wb):
    """Adjoint of ``shifted_cols``, added in place: ``cols (T, C*5, n*Hb*Wb)`` into ``ph``.

    ``cols`` is overwritten: its pixels that read the border are zeroed, so that every tap
    is one shifted add over all the images of a phase."""
    T, C, _, n, P = ph.shape
    c5 = cols.reshape(T, C, 5, n, P)
    for j, p, s, up, cut in _shifted_taps(Hb, Wb):
        _border(c5[:, :, j], Hb, Wb, up, cut)
        m = max(n * P + s, 0)
        _flat(ph[:, :, p])[..., :m] += _flat(c5[:, :, j])[..., n * P - m:]


def phase_merge(ph, shape, blocks):
    """Adjoint of ``phase_split``: the phases ``(T, C, 4, n, Ho*Wo)`` as the map ``shape``."""
    if blocks & IN_BLOCKS:
        return ph.reshape(shape)
    T, C, n, H, W = shape
    Ho, Wo = out_size(H, 2), out_size(W, 2)
    grid = ph.reshape(T, C, 4, n, Ho, Wo)
    out = np.empty(shape, dtype=ph.dtype)
    for u in (0, 1):
        for v in (0, 1):
            view = out[..., u::2, v::2]
            view[...] = grid[:, :, 2 * u + v, :, :view.shape[-2], :view.shape[-1]]
    return out
