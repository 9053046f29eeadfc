"""Meta-Curvature: mode-wise meta-learned matrices applied to each gradient tensor.

Reference: Park & Oliva (2019), "Meta-Curvature", sec. 3: for a conv weight gradient G of
shape O x I x k x k (the k x k filter flattened to one mode of size k^2),
    MC(G) = G x_1 M_o x_2 M_i x_3 M_f,
i.e. the preconditioner (M_f kron M_i kron M_o) on vec(G); for a dense weight (out x in)
MC(G) = M_o G M_i^T; for a vector parameter (bias, BN gamma/beta) an elementwise vector M.
All factors start at the identity, so the first inner step is plain MAML exactly.

Choice made here: a side longer than ``max_dim`` (default 1024) gets a diagonal factor
instead of a full matrix (e.g. the 1568-wide input of the 2-layer Omniglot head), keeping
the meta-optimizer within a few times the model size.
"""

from autograd import numpy as np

from . import _factors
from theory.engine.cnn import base_ndim
from theory.engine.maml import checked_keys

from ._common import MetaOpt, base_shape, frozen, require_phi

__all__ = ["MAX_DIM", "make"]

MAX_DIM = 1024
_NAMES = {4: ("M_o", "M_i", "M_f"), 2: ("M_o", "M_i"), 1: ("M",)}


def _modes(key, shape):
    """(factor name, axis, side) for each mode of the gradient of ``key`` (base ``shape``)."""
    nd = base_ndim(key)
    if nd == 4:
        O, I, kh, kw = shape
        sides = (O, I, kh * kw)
    else:
        sides = tuple(shape)
    return [(f"{key}/{name}", axis, side)
            for name, axis, side in zip(_NAMES[nd], range(-len(sides), 0), sides, strict=True)]


def make(max_dim=MAX_DIM):
    """The Meta-Curvature ``MetaOpt``; sides longer than ``max_dim`` use diagonal factors."""

    def init(rng, params, keys=None):
        """Identity factors for each adapting key (vectors: ones)."""
        phi = {}
        for k in checked_keys(params, keys):
            p = params[k]
            for name, _, side in _modes(k, base_shape(k, p)):
                phi[name] = (np.ones(side, dtype=p.dtype) if base_ndim(k) == 1
                             else _factors.identity(side, max_dim, p.dtype))
        return phi

    def update(phi, grads, params, step):
        """direction[k] = G x_1 M_o x_2 M_i (x_3 M_f) per key; vectors: M * g."""
        require_phi(grads, lambda k: f"{k}/M" in phi or f"{k}/M_o" in phi)
        out = {}
        for k, g in grads.items():
            shape = base_shape(k, g)
            modes = _modes(k, shape)
            if base_ndim(k) == 1:
                out[k] = phi[modes[0][0]] * g
                continue
            X = g.reshape(g.shape[:g.ndim - len(shape)] + tuple(s for _, _, s in modes))
            for name, axis, side in modes:
                X = _factors.mode_product(phi[name], X, axis, _factors.is_diagonal(side, max_dim))
            out[k] = X.reshape(g.shape)
        return out

    return MetaOpt("mc", init, update, frozen({"max_dim": max_dim}))
