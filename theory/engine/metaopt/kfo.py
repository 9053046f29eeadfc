"""KFO: a Kronecker-factored meta-optimizer, linear (``kfo``) or a residual MLP (``kfo-mlp``).

Reference: Arnold, Iqbal & Sha (2021), "When MAML Can Adapt Fast and How to Assist When It
Cannot", sec. on meta-optimizers: the gradient of each parameter, reshaped to an n x m matrix
G, is mapped to U(G) = L G R (+ B), i.e. vec(U) = (R^T kron L) vec(G) + vec(B) with the
column-major vec; an nm x nm preconditioner stored with n^2 + m^2 numbers.

Choices made here (derived from the description; no code of the authors is used):
- (n, m), option ``conv``: with ``conv="in"`` (default) a conv weight O x I x k x k is
  viewed as O slices of I x k^2 (n = I, m = k^2) sharing one L and one R, the
  preconditioner I_O kron (R^T kron L): the layout of the authors' example code. It is the
  default because the paper's point is a light meta-learner that "scales to large deep
  networks": L and R then grow with the input channels and the filter size, not with
  O I k^2. On the 2-layer, hidden-32 Omniglot CNN (5-way, 17,541 parameters) ``kfo`` has
  2,977 parameters and ``kfo-mlp`` (hidden=2) 11,908. With ``conv="out"`` the weight is
  reshaped (row-major) to n = O, m = I k^2, so L mixes output channels and R everything
  feeding one output channel (every pair of entries can interact), at 1,105 + 83,968
  numbers for the two conv layers alone: ``kfo`` 86,863 and ``kfo-mlp`` 347,452 parameters
  on that CNN, 5x and 20x the model. A dense weight (out, in) keeps n = out, m = in. A
  vector (bias, BN gamma/beta) is n x 1 with no R (a 1 x 1 R is redundant with L) and, with
  option ``vectors="diagonal"`` (default), a diagonal L: channel mixing of biases buys little
  and would dominate the meta-optimizer's size. ``vectors="full"`` gives it a full n x n L,
  as learn2learn's ``KroneckerTransform`` does. A side longer than ``max_dim`` (default 1024) uses a diagonal factor, e.g. the
  1568-wide input of the 2-layer Omniglot head.
- ``psd=True`` uses (L^T L) G (R^T R): the preconditioner (R^T R) kron (L^T L) is then
  positive semi-definite, so -U(G) is never an ascent direction.
- ``bias=True`` adds a learned constant B (shaped like the matrix view), zero at init.
- ``kfo-mlp``: U(G) = H + L_o s(... s(L_1 H R_1) ...) R_o with H the linear map above,
  s = ReLU and ``hidden`` (default 2) Kronecker-factored hidden layers acting in the same
  n x m (factored) space, all identity-initialised except L_o = 0: the residual branch
  vanishes at init, so U is the identity and the first inner step is plain MAML exactly
  (the meta-gradient reaches L_o first, then the hidden layers). Hidden layers carry no
  bias, which keeps U positively homogeneous (U(cG) = c U(G), c > 0): alpha keeps setting
  the step scale.
- ``adapt_transform`` (default False): whether phi also takes inner-loop steps. Off by
  default because the transform is meant to be the task-independent update rule (the
  paper's "meta-optimizer"); adapting it per task needs a per-task copy of phi and a
  second-order term at every step. When on, the inner loop (``maml.adapt``) carries a
  per-task phi and, at every inner step s >= 1 and before the step's direction, moves it
  with ``MetaOpt.adapt_phi``, as in the authors' example code (the transform adapts from
  the second step, when the loss first depends on it):
  phi_s = phi_{s-1} - alpha dL(theta_s)/dphi_{s-1}, with theta_s = theta_{s-1} -
  alpha U_{phi_{s-1}}(g_{s-1}). ``update`` itself never changes phi: every function here is
  pure, and the object holds no state between calls.
"""

import autograd
from autograd import numpy as np

from . import _factors
from theory.engine.cnn import base_ndim
from theory.engine.maml import checked_keys

from ._common import MetaOpt, base_shape, frozen, require_phi

__all__ = ["MAX_DIM", "CONV_LAYOUTS", "VECTOR_FACTORS", "AUTHORS", "matrix_view", "make"]

MAX_DIM = 1024
CONV_LAYOUTS = ("in", "out")
VECTOR_FACTORS = ("diagonal", "full")
# The options of the paper authors' released code (learn2learn ``KroneckerTransform(
# KroneckerLinear, psd=True)``, no bias, the transform adapted in the inner loop from the second
# step on; a conv weight as O slices of I x k^2; a vector with a full left factor).
AUTHORS = {"psd": True, "bias": False, "adapt_transform": True, "conv": "in", "vectors": "full"}


def matrix_view(key, shape, conv="in"):
    """Shape of the matrix view of a gradient of ``key`` (base ``shape``): (..., n, m).

    A conv weight with ``conv="in"`` gives (O, I, k^2): O slices of n x m = I x k^2.
    """
    nd = base_ndim(key)
    if nd == 4:
        O, I, kh, kw = shape
        return (O, I * kh * kw) if conv == "out" else (O, I, kh * kw)
    if nd == 2:
        return tuple(shape)
    return shape[0], 1


def make(psd=False, bias=False, hidden=0, max_dim=MAX_DIM, adapt_transform=False, conv="in",
         vectors="diagonal"):
    """A KFO ``MetaOpt``: linear for ``hidden=0`` (``kfo``), a residual MLP otherwise.

    The options are checked by ``metaopt.get``.
    """
    def layout(key, shape):
        """Matrix view and factor names with their (side, diagonal) for parameter ``key``."""
        view = matrix_view(key, shape, conv)
        n, m = view[-2:]
        diag_l = (base_ndim(key) == 1 and vectors == "diagonal") \
            or _factors.is_diagonal(n, max_dim)
        diag_r = _factors.is_diagonal(m, max_dim)
        sides = {}
        for j in ["", *range(1, hidden + 1), *(["o"] if hidden else [])]:
            sides[f"{key}/L{j}"] = (n, diag_l)
            if m > 1:
                sides[f"{key}/R{j}"] = (m, diag_r)
        return view, sides

    def init(rng, params, keys=None):
        """Identity L, R (and hidden layers); zero B and zero L_o (kfo-mlp)."""
        phi = {}
        for k in checked_keys(params, keys):
            p = params[k]
            view, sides = layout(k, base_shape(k, p))
            for name, (side, diag) in sides.items():
                phi[name] = np.ones(side, dtype=p.dtype) if diag else np.eye(side, dtype=p.dtype)
            if hidden:
                phi[f"{k}/Lo"] = np.zeros_like(phi[f"{k}/Lo"])
            if bias:
                phi[f"{k}/B"] = np.zeros(view, dtype=p.dtype)
        return phi

    def update(phi, grads, params, step):
        """direction[k] = L G R (+ B) (+ residual MLP) on the matrix view of each gradient."""
        require_phi(grads, lambda k: f"{k}/L" in phi)
        out = {}
        for k, g in grads.items():
            shape = base_shape(k, g)
            view, sides = layout(k, shape)
            G = g.reshape(g.shape[:g.ndim - len(shape)] + view)
            slices = len(view) > 2
            H = _kron(phi, sides, k, "", G, psd, slices)
            if bias:
                H = H + phi[f"{k}/B"]
            if hidden:
                Z = H
                for j in range(1, hidden + 1):
                    Z = np.maximum(_kron(phi, sides, k, j, Z, False, slices), 0.0)
                H = H + _kron(phi, sides, k, "o", Z, False, slices)
            out[k] = H.reshape(g.shape)
        return out

    def adapt_phi(phi, grads_prev, grads, alpha, first_order=False):
        """One inner step on the transform: phi <- phi - alpha dL(theta_s)/dphi, per task.

        theta_s = theta_{s-1} - alpha U_phi(g_{s-1}), so dL(theta_s)/dphi = -alpha J^T g_s
        with J^T g_s = grad_phi <U_phi(g_{s-1}), g_s>. ``grads_prev`` = g_{s-1} and ``grads``
        = g_s may carry a leading task axis; a shared phi is then first copied per task so
        that each task adapts its own transform. Only the factors of keys in ``grads`` move.
        ``first_order`` treats g_{s-1} and g_s as constants (FO-MAML).
        """
        local = {}
        for k, g in grads.items():
            shape = base_shape(k, g)
            task_shape = g.shape[:g.ndim - len(shape)]
            view, sides = layout(k, shape)
            factor_ndim = {name: 1 if diag else 2 for name, (_, diag) in sides.items()}
            if bias:
                factor_ndim[f"{k}/B"] = len(view)
            for name, nd in factor_ndim.items():
                p = phi[name]
                if p.ndim == nd:  # shared: one copy per task
                    p = p + np.zeros(task_shape + (1,) * nd, dtype=p.dtype)
                local[name] = p
        if first_order:
            grads_prev = {k: autograd.tracer.getval(v) for k, v in grads_prev.items()}
            grads = {k: autograd.tracer.getval(v) for k, v in grads.items()}

        def inner(sub):
            d = update({**phi, **sub}, grads_prev, None, 0)
            return sum(np.sum(d[k] * grads[k]) for k in grads)

        jtg = autograd.grad(inner)(local)
        return {**phi, **{name: local[name] + alpha * alpha * jtg[name] for name in local}}

    name = "kfo-mlp" if hidden else "kfo"
    options = {"psd": psd, "bias": bias, "hidden": hidden, "max_dim": max_dim,
               "adapt_transform": adapt_transform, "conv": conv, "vectors": vectors}
    return MetaOpt(name, init, update, frozen(options), adapt_phi if adapt_transform else None)


def _kron(phi, sides, key, j, X, psd, slices):
    """L_j X R_j (or L_j^T L_j X R_j^T R_j) with the factors of ``key`` in ``phi``.

    ``slices``: X is (..., O, n, m), O slices sharing the factors; a per-task factor then
    gets a broadcast axis for O.
    """
    for name, left in ((f"{key}/L{j}", True), (f"{key}/R{j}", False)):
        if name not in sides:
            continue
        F, diag = phi[name], sides[name][1]
        if psd:
            F = _factors.gram(F, diag)
        if slices and F.ndim > (1 if diag else 2):
            F = F[..., None, :] if diag else F[..., None, :, :]
        X = _factors.left(F, X, diag) if left else _factors.right(X, F, diag)
    return X

