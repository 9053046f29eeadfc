"""The few-shot CNN (conv-BN-ReLU blocks, then a readout) with a LinNet head, over a task axis.

Params are a flat dict ``"layer/name" -> array`` (see ``init``). Each param is either *shared*
(its base shape) or *per task* (an extra leading axis of length T); ``apply`` accepts both, so
MAML's inner loop can adapt per-task copies while meta-parameters stay shared. The params fix
every shape; what they cannot tell apart, how a block downsamples and how the final map is read
out, is the ``Arch`` passed beside them (``arch=ARCH``, the default, is the original network).

Architecture: L blocks of 3x3 conv (padding 1) -> batch norm with per-task batch statistics
over (n, H, W) -> ReLU, each block downsampling by ``Arch.downsample``:

- ``"maxpool"``: a 2x2 max-pool after the block (floor division, only while the map is larger
  than 1x1: 28 -> 14 -> 7 -> 3 -> 1 -> 1), the blocks of Finn et al. (2017) for Omniglot and
  mini-ImageNet;
- ``"stride"``: the block's conv at stride 2 (padding 1: 28 -> 14 -> 7 -> 4 -> 2 -> 1), no
  pooling: learn2learn's ``OmniglotCNN``, the network of the paper's Omniglot experiments;
- ``"none"``: neither (the map keeps its size): the paper authors' CIFAR-FS network.

then a readout by ``Arch.readout``: ``"flatten"`` (channel, row, column) gives ``hidden * h * w``
features (the mini-ImageNet convention of Finn et al., and this project's original network), and
``"mean"`` averages the final map over its pixels, ``hidden`` features at every depth (Finn et
al.'s Omniglot network, learn2learn's ``OmniglotCNN`` and the authors' CIFAR-FS network); on a
1x1 final map the two coincide. Then k LinNet layers (linear, no bias, no non-linearity) ->
linear classifier ``head``. LinNet leaves the function class unchanged (``collapse``) but
changes MAML's adaptation dynamics, the paper's point (Arnold, Iqbal & Sha 2021, Sec. 5).

Two exact rewrites keep the forward pass cheap: ReLU is applied after the pool
(``relu(maxpool(z)) == maxpool(relu(z))`` since ReLU is monotone), and the conv bias is not
added because batch norm subtracts the per-task mean, which cancels any per-channel constant
exactly (``"conv{i}/b"`` is kept for the interface; its gradient is exactly zero).
"""

import dataclasses
import re

import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval

from theory import _check
from theory.engine import pooling
from theory.engine import primitives as P

__all__ = ["BN_EPS", "DOWNSAMPLES", "READOUTS", "INITS", "Arch", "ARCH", "is_head_key",
           "is_transform_key", "pooled_sizes", "map_sizes", "block_shapes", "feature_dim", "init", "base_ndim",
           "is_per_task", "architecture", "count", "mean", "features", "head", "apply", "collapse"]

BN_EPS = 1e-5
DOWNSAMPLES = ("maxpool", "stride", "none")
READOUTS = ("flatten", "mean")
INITS = ("he", "authors")


@dataclasses.dataclass(frozen=True)
class Arch:
    """What the params cannot say: how each block downsamples and how the final map is read out."""

    downsample: str = "maxpool"
    readout: str = "flatten"

    def __post_init__(self):
        _check.choice("downsample", self.downsample, DOWNSAMPLES)
        _check.choice("readout", self.readout, READOUTS)


ARCH = Arch()
_KEY = re.compile(r"^(conv|bn|lin)(\d+)/(\w+)$|^head/(\w+)$")
_HEAD = re.compile(r"lin\d+/w|head/w|head/b")


def is_head_key(key):
    """True for the keys ANIL adapts: the LinNet weights ``lin{j}/w``, ``head/w``, ``head/b``."""
    return bool(_HEAD.fullmatch(key))


def is_transform_key(key):
    """True for a T-Nets transform ``".../T"`` (meta-learned in the forward pass, never adapted)."""
    return key.endswith("/T")


def pooled_sizes(H, W, layers):
    """Spatial size after each max-pooled block: halve (floor) while both sides are >= 2, e.g. 28 -> 14 -> 7 -> 3 -> 1."""
    sizes = []
    for _ in range(layers):
        if H >= 2 and W >= 2:
            H, W = H // 2, W // 2
        sizes.append((H, W))
    return sizes


def map_sizes(H, W, layers, downsample="maxpool"):
    """Spatial size after each block under ``downsample`` (``Arch.downsample``)."""
    if downsample == "maxpool":
        return pooled_sizes(H, W, layers)
    stride = 2 if downsample == "stride" else 1
    sizes = []
    for _ in range(layers):
        H, W = P.out_size(H, stride), P.out_size(W, stride)
        sizes.append((H, W))
    return sizes


def block_shapes(in_shape, widths, downsample="maxpool"):
    """Per block of widths ``widths`` on an ``in_shape`` ``(C, H, W)`` image: ``(c_in, (H, W),
    (conv_H, conv_W), width)``, its input channels and map and its conv's output map (before
    any pooling). The last block's output map is ``map_sizes(...)[-1]``."""
    c_in, H, W = in_shape
    out = []
    for width, (Ho, Wo) in zip(widths, map_sizes(H, W, len(widths), downsample)):
        out.append((c_in, (H, W), (H, W) if downsample == "maxpool" else (Ho, Wo), width))
        H, W, c_in = Ho, Wo, width
    return out


def feature_dim(hidden, H, W, layers, arch=ARCH):
    """Number of features the readout gives the head: ``hidden`` (mean) or ``hidden * h * w``."""
    if arch.readout == "mean":
        return hidden
    Hf, Wf = map_sizes(H, W, layers, arch.downsample)[-1]
    return hidden * Hf * Wf


def init(rng, *, layers=4, hidden=32, ways=5, in_shape=(1, 28, 28), linnet=0,
         linnet_width=None, dtype=np.float32, arch=ARCH, scheme="he"):
    """Random params for the network ``arch`` under the initialisation ``scheme``.

    Keys in order: ``conv{i}/w`` (O, I, 3, 3), ``conv{i}/b``, ``bn{i}/gamma``, ``bn{i}/beta`` for
    i = 1..layers; ``lin{j}/w`` (width, d) for j = 1..linnet; ``head/w`` (ways, d_last), ``head/b``.

    ``scheme="he"``: He-normal convs, Glorot-normal (gain 2) linear layers, BN gamma=1, beta=0,
    zero biases. ``scheme="authors"``: learn2learn's, as the paper's Omniglot network was built
    (``OmniglotCNN`` and its ``ConvBlock``): conv weights Xavier-uniform with gain 1
    (``maml_init_``), conv biases 0, batch-norm scales uniform on [0, 1) (``ConvBlock``), shifts
    0, the head's weight standard normal (``OmniglotCNN``'s ``normal_()``) and bias 0. LinNet
    layers are not in that code; they are assumed Xavier-uniform like its convs.
    """
    for name, value in (("layers", layers), ("hidden", hidden), ("ways", ways)):
        _check.integer(name, value, 1)
    _check.integer("linnet", linnet, 0)
    _check.choice("scheme", scheme, INITS)
    if len(in_shape) != 3 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in in_shape):
        raise ValueError(f"in_shape must be three positive integers (C, H, W), got {in_shape!r}")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    C, H, W = in_shape
    d = feature_dim(hidden, H, W, layers, arch)
    width = d if linnet_width is None else linnet_width
    _check.integer("linnet_width", width, 1)
    authors = scheme == "authors"

    def normal(shape, fan_in, gain):
        return (rng.standard_normal(shape) * np.sqrt(gain / fan_in)).astype(dtype)

    def xavier(shape, fan_in, fan_out):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, shape).astype(dtype)

    params = {}
    fan = C
    for i in range(1, layers + 1):
        shape = (hidden, fan, 3, 3)
        params[f"conv{i}/w"] = xavier(shape, fan * 9, hidden * 9) if authors \
            else normal(shape, fan * 9, 2.0)
        params[f"conv{i}/b"] = np.zeros(hidden, dtype)
        params[f"bn{i}/gamma"] = rng.uniform(0.0, 1.0, hidden).astype(dtype) if authors \
            else np.ones(hidden, dtype)
        params[f"bn{i}/beta"] = np.zeros(hidden, dtype)
        fan = hidden
    fan = d
    for j in range(1, linnet + 1):
        params[f"lin{j}/w"] = xavier((width, fan), fan, width) if authors \
            else normal((width, fan), fan + width, 2.0)
        fan = width
    params["head/w"] = rng.standard_normal((ways, fan)).astype(dtype) if authors \
        else normal((ways, fan), fan + ways, 2.0)
    params["head/b"] = np.zeros(ways, dtype)
    return params


def base_ndim(key):
    """Number of axes of a param's shared (base) shape, from its key."""
    m = _KEY.match(key)
    if m is None:
        raise ValueError(f"unknown param key {key!r}; expected conv{{i}}/*, bn{{i}}/*, lin{{j}}/*, head/*")
    kind, leaf = m.group(1) or "head", m.group(3) or m.group(4)
    if leaf == "T":
        return 2
    if kind == "conv" and leaf == "w":
        return 4
    return 2 if leaf == "w" else 1


def is_per_task(key, value):
    """True if ``value`` carries a leading task axis on top of the base shape of ``key``."""
    return anp.ndim(value) == base_ndim(key) + 1


def architecture(params):
    """Architecture summary ``{layers, hidden, ways, in_shape, linnet, widths}`` from the params.

    ``in_shape`` holds only the input channels ``(C,)``: spatial size is not stored in the params.
    """
    layers = sum(1 for k in params if re.fullmatch(r"conv\d+/w", k))
    linnet = sum(1 for k in params if re.fullmatch(r"lin\d+/w", k))
    if layers < 1 or "head/w" not in params:
        raise ValueError(f"params hold {layers} conv layers and head/w={'head/w' in params}; "
                         "expected >= 1 conv layer and a head")
    shape = lambda k: np.shape(params[k])[-base_ndim(k):]  # noqa: E731
    w1 = shape("conv1/w")
    widths = [shape(f"conv{i}/w")[0] for i in range(1, layers + 1)]
    widths += [shape(f"lin{j}/w")[0] for j in range(1, linnet + 1)]
    return {"layers": layers, "hidden": int(w1[0]), "ways": int(shape("head/w")[0]),
            "in_shape": (int(w1[1]),), "linnet": linnet,
            "feature_dim": int(shape("lin1/w" if linnet else "head/w")[1]),
            "widths": [int(v) for v in widths]}


def count(params):
    """Number of scalars in the params (per-task copies counted as stored)."""
    return int(sum(np.size(v) for v in params.values()))


def mean(x, axis):
    """``anp.mean(x, axis, keepdims=True)`` whose VJP keeps float32 (autograd's divides by an int64)."""
    n = int(np.prod([anp.shape(x)[a] for a in np.atleast_1d(axis)]))
    return anp.sum(x, axis=axis, keepdims=True) * (1.0 / n)


def _task_view(key, value):
    """Reshape a shared or per-task vector param to broadcast against ``(T, O, M)``."""
    return anp.reshape(value, (-1, anp.shape(value)[-1], 1) if is_per_task(key, value)
                       else (1, anp.shape(value)[-1], 1))


def _matT(value):
    """Transpose of the last two axes (``out = x @ W.T``), shared or per task."""
    return anp.swapaxes(value, -1, -2)


def _blocks_pay(C, O):
    """Whether a conv with C inputs and O outputs should emit its pixels in pooling-block order.

    That order makes pooling, its argmax masks and their adjoints contiguous over the O output
    rows, at the price of stride-2 copies of the 9*C im2col rows (``P.im2col``); it pays
    where the outputs outnumber the columns, e.g. the first layer of a grey-scale network.
    """
    return 9 * C <= O


def _emits_blocks(Ho, Wo, another):
    """Whether a stride-2 conv emits its ``Ho x Wo`` output in block order: when another
    stride-2 conv reads it and both sides are even, so that the reader's four parity phases
    are contiguous blocks (``P.IN_BLOCKS``); batch norm and ReLU do not depend on pixel order.
    Only for maps of at least 10 x 10 pixels: on smaller ones the reader's own split is cheap
    and the copies into block order cost more than they save."""
    return another and Ho % 2 == 0 and Wo % 2 == 0 and Ho * Wo >= 100


def _pool_first(scale):
    """Whether batch norm's affine map may follow the max-pool: every per-channel scale > 0.

    A positive scale and a shift commute with the maximum, so pooling the centred map first
    gives the same values and the affine map runs on a quarter of the pixels. The argmax mask
    can differ only where rounding ties two taps of a window, whose outputs are then equal
    (either routing is a valid derivative).
    """
    return bool(np.all(getval(scale) > 0))


def _pool(z, blocks, shape):
    """2x2 max-pool of a conv's flat output ``z (T, O, n*H*W)`` -> ``(T, O, n*H/2*W/2)``."""
    if blocks:
        return pooling.maxpool2(z, blocks=True)
    T, O = shape[:2]
    return anp.reshape(pooling.maxpool2(anp.reshape(z, shape)), (T, O, -1))


def _check_shapes(params, x):
    # ``features`` and ``apply`` are the model's public entry points (notebooks, adapt_task and
    # MAML's inner loop call them alike), so they check here, once per call: a walk over the
    # param keys, negligible next to one convolution. An unchecked twin for the inner loop
    # would double the model's entry points for no measurable gain.
    if anp.ndim(x) != 5:
        raise ValueError(f"x must have shape (T, n, C, H, W), got shape {anp.shape(x)}")
    T = anp.shape(x)[0]
    for key, value in params.items():
        if key.startswith(("conv", "bn", "lin", "head")) and is_per_task(key, value) \
                and anp.shape(value)[0] != T:
            raise ValueError(f"per-task param {key!r} has {anp.shape(value)[0]} tasks, x has T={T}")


def features(params, x, arch=ARCH):
    """Body of the network and its readout: ``x (T, n, C, H, W) -> features (T, n, d)``.

    ``d = hidden * h * w`` for the flattened final map, ``hidden`` for its mean (``Arch``).
    Plain-array images are cast to the params' dtype (the model computes in its own precision:
    float32 images never promote a float32 model, float64 images never promote it silently).
    """
    _check_shapes(params, x)
    T, n, C, H, W = anp.shape(x)
    dtype = getval(params["conv1/w"]).dtype
    if isinstance(x, np.ndarray) and x.dtype != dtype:
        x = x.astype(dtype)
    a = anp.transpose(x, (0, 2, 1, 3, 4))  # internal layout (T, C, n, H, W)
    stride = 2 if arch.downsample == "stride" else 1
    in_blocks = 0   # whether ``a`` holds its pixels in block order (``_emits_blocks``)
    i = 1
    while f"conv{i}/w" in params:
        w = params[f"conv{i}/w"]
        if anp.shape(w)[-3] != anp.shape(a)[1]:
            raise ValueError(f"conv{i}/w expects {anp.shape(w)[-3]} input channels, got {anp.shape(a)[1]}")
        if f"conv{i}/T" in params:  # 1x1 conv after conv i == conv with T @ W
            Tm, wm = params[f"conv{i}/T"], anp.reshape(w, anp.shape(w)[:-3] + (-1,))
            w = anp.reshape(Tm @ wm, anp.shape(wm)[:-1] + (anp.shape(a)[1], 3, 3))
        O, C = anp.shape(w)[-4], anp.shape(w)[-3]
        pool = arch.downsample == "maxpool" and H >= 2 and W >= 2
        blocks = pool and H % 2 == W % 2 == 0 and _blocks_pay(C, O)
        if stride == 2:
            H, W = P.out_size(H, stride), P.out_size(W, stride)
            out_blocks = not in_blocks and _emits_blocks(H, W, f"conv{i + 1}/w" in params)
            if not in_blocks and not out_blocks:
                # the input's phases, once, as a node of the graph (P.phase_blocks)
                a, in_blocks = P.phase_blocks(a), P.IN_BLOCKS
            blocks = in_blocks | (P.OUT_BLOCKS if out_blocks else 0)
            in_blocks = P.IN_BLOCKS if out_blocks else 0
        # (T, O, n*Ho*Wo), pixels in pooling-block order if blocks (output block order)
        z = P.conv3x3(a, w, blocks, stride)
        gamma = _task_view(f"bn{i}/gamma", params[f"bn{i}/gamma"])
        beta = _task_view(f"bn{i}/beta", params[f"bn{i}/beta"])
        if arch.downsample != "maxpool":     # batch norm and ReLU as one node of the graph
            a = anp.reshape(P.batch_norm(z, gamma, beta, BN_EPS, relu=True), (T, O, n, H, W))
        else:   # composed, so that the pool can take the centred map before its scale
            zc = P.center(z)
            scale = gamma / anp.sqrt(P.sqmean(zc) + BN_EPS)
            if pool and _pool_first(scale):
                z = P.affine_rows(_pool(zc, blocks, (T, O, n, H, W)), scale, beta)
            else:
                z = P.affine_rows(zc, scale, beta)
                if pool:
                    z = _pool(z, blocks, (T, O, n, H, W))
            if pool:
                H, W = H // 2, W // 2
            a = P.relu(anp.reshape(z, (T, O, n, H, W)))
        i += 1
    O = anp.shape(a)[1]
    if arch.readout == "mean" and H * W > 1:
        return anp.transpose(anp.sum(a, axis=(3, 4)) * (1.0 / (H * W)), (0, 2, 1))
    return anp.reshape(anp.transpose(a, (0, 2, 1, 3, 4)), (T, n, O * H * W))


def head(params, feats):
    """LinNet layers and classifier: ``feats (T, n, d) -> logits (T, n, ways)``."""
    out = feats
    j = 1
    while f"lin{j}/w" in params:
        out = out @ _matT(params[f"lin{j}/w"])
        if f"lin{j}/T" in params:
            out = out @ _matT(params[f"lin{j}/T"])
        j += 1
    b = params["head/b"]
    out = out @ _matT(params["head/w"]) + (b[:, None, :] if is_per_task("head/b", b) else b)
    if "head/T" in params:
        out = out @ _matT(params["head/T"])
    return out


def apply(params, x, arch=ARCH):
    """Logits ``(T, n, ways)`` for images ``x (T, n, C, H, W)``; shared or per-task params."""
    return head(params, features(params, x, arch))


def collapse(params):
    """Multiply the LinNet layers into ``head/w`` (``W_head @ W_k @ ... @ W_1``); bias unchanged.

    Same outputs as ``params`` (to rounding); T-Nets ``lin{j}/T`` factors are folded in too.
    """
    out = {k: v for k, v in params.items() if not k.startswith("lin")}
    w = params["head/w"]
    j = 1
    while f"lin{j}/w" in params:
        j += 1
    for k in range(j - 1, 0, -1):
        if f"lin{k}/T" in params:
            w = w @ params[f"lin{k}/T"]
        w = w @ params[f"lin{k}/w"]
    out["head/w"] = w
    # keep the dict order of init: head/w before head/b
    return {k: out[k] for k in params if k in out}
