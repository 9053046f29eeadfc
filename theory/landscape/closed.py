"""Closed forms for linear models on quadratic task losses: inner loop, meta-loss, meta-gradient.

Every linear task loss is ``l(W) = s/2 (W - c)^2 + k`` in the end-to-end slope
``W = w1 ... wL`` (see :mod:`theory.landscape.tasks`).  With the cofactors
``P_j = prod_{i != j} w_i`` and ``P_jl = prod_{i not in {j, l}} w_i``:

    grad_j l  = s e P_j,                     e = W - c
    (H v)_j   = s (P_j sum_l P_l v_l + e sum_{l != j} P_jl v_l)

MAML's inner loop is ``w_{k+1} = w_k - alpha grad l_s(w_k)``; the exact (second-order)
meta-gradient of ``l_q(w_K)`` is the reverse recurrence ``v_K = grad l_q(w_K)``,
``v_k = v_{k+1} - alpha H_s(w_k) v_{k+1}`` and ``d/d alpha = -sum_k grad l_s(w_k) . v_{k+1}``
(the Meta-SGD step-size gradient).  First-order MAML keeps ``v_K``.  All functions act
elementwise on arrays of any broadcastable shape (restarts x tasks, or a grid x quadrature
nodes), so there is never a Python loop over tasks, only over layers and inner steps.

Shallow special case (``theory.symbolic`` R1): ``w_K - c = (1 - alpha s)^K (w - c)``, so the
population MAML objective is ``(1 - alpha sigma2)^(2K)`` times the multi-task one.
"""

import numpy as np

from .models import slope
from .tasks import exact_nodes

__all__ = ["DivergenceError", "cofactors", "hessian_vector", "inner_path", "task_loss",
           "meta_loss", "meta_value_and_grad", "effective_step", "shallow_loss", "shallow_floor",
           "expected_meta_loss", "depth2_surface"]


class DivergenceError(ArithmeticError):
    """A simulation produced a non-finite or exploding value; the message names where."""


def cofactors(w):
    """``P_j = prod_{i != j} w_i`` for each layer ``j`` (prefix/suffix products, no division)."""
    depth = len(w)
    if depth == 2:  # the common case of the paper's figures, without the ones_like products
        return (w[1], w[0])
    prefix = [np.ones_like(w[0])]
    for j in range(depth - 1):
        prefix.append(prefix[-1] * w[j])
    out = [None] * depth
    suffix = np.ones_like(w[0])
    for j in reversed(range(depth)):
        out[j] = prefix[j] * suffix
        suffix = suffix * w[j]
    return tuple(out)


def _pair_cofactor(w, j, l):
    out = np.ones_like(w[0])
    for i, wi in enumerate(w):
        if i != j and i != l:
            out = out * wi
    return out


def hessian_vector(w, s, e, P, v):
    """``H v`` for the loss ``s/2 (W - c)^2`` at ``w`` with ``e = W - c``, ``P = cofactors(w)``."""
    Pv = sum(Pl * vl for Pl, vl in zip(P, v, strict=True))
    out = []
    for j in range(len(w)):
        cross = sum(_pair_cofactor(w, j, l) * v[l] for l in range(len(w)) if l != j)
        out.append(s * (P[j] * Pv + e * cross))
    return tuple(out)


def inner_path(w, support, alpha, steps):
    """Parameters after 0..``steps`` inner steps on the support quadratic ``(s, c, k)``."""
    s, c = support[0], support[1]
    path = [tuple(w)]
    for _ in range(steps):
        cur = path[-1]
        step = alpha * s * (slope(cur) - c)
        path.append(tuple(wj - step * Pj for wj, Pj in zip(cur, cofactors(cur), strict=True)))
    return path


def task_loss(w, coeffs):
    """``s/2 (W - c)^2 + k`` at the factors ``w``."""
    s, c, k = coeffs
    return 0.5 * s * (slope(w) - c) ** 2 + k


def meta_loss(w, support, query, alpha, steps):
    """Post-adaptation query loss of each task (elementwise)."""
    return task_loss(inner_path(w, support, alpha, steps)[-1], query)


def meta_value_and_grad(w, support, query, alpha, steps, *, first_order=False):
    """Per-task ``(loss, grad_w, grad_alpha)`` of the post-adaptation query loss.

    ``grad_w`` is a tuple like ``w`` (exact second order, or first order with
    ``first_order``); ``grad_alpha`` is the exact derivative with respect to the inner step
    (used by Meta-SGD; meaningless with ``first_order``).  ``steps = 0`` gives the multi-task
    loss and gradient on the query set.
    """
    s, c = support[0], support[1]
    path = inner_path(w, support, alpha, steps)
    sq, cq, kq = query
    eq = slope(path[-1]) - cq
    loss = 0.5 * sq * eq ** 2 + kq
    v = tuple(sq * eq * Pj for Pj in cofactors(path[-1]))
    d_alpha = np.zeros_like(loss)
    for k in reversed(range(steps)):
        cur = path[k]
        e = slope(cur) - c
        P = cofactors(cur)
        d_alpha = d_alpha - sum(s * e * Pj * vj for Pj, vj in zip(P, v, strict=True))
        if not first_order:
            Hv = hessian_vector(cur, s, e, P, v)
            v = tuple(vj - alpha * hj for vj, hj in zip(v, Hv, strict=True))
    return loss, v, d_alpha


def effective_step(w, alpha, sigma2):
    """First-order effective step on ``W``: ``alpha sigma2 sum_l prod_{j != l} w_j^2``
    (``theory.symbolic`` R2; equals ``alpha sigma2`` for a shallow model)."""
    return alpha * sigma2 * sum(P ** 2 for P in cofactors(tuple(w)))


def shallow_loss(w, alpha, tasks, steps):
    """Exact expected post-adaptation population loss of a shallow model at ``w`` (R1):
    ``sigma2/2 (1 - alpha sigma2)^(2K) ((w - E a)^2 + Var a) + noise^2/2``."""
    factor = (1.0 - alpha * tasks.sigma2) ** (2 * steps)
    spread = (np.asarray(w) - tasks.slope.mean) ** 2 + tasks.slope.variance
    return 0.5 * tasks.sigma2 * factor * spread + tasks.noise ** 2 / 2


def shallow_floor(alpha, tasks, steps):
    """R1 floor: the best post-adaptation population loss of a shallow model,
    ``sigma2/2 (1 - alpha sigma2)^(2K) Var(a)`` (+ ``noise^2/2``), reached at ``w = E a``."""
    return float(shallow_loss(tasks.slope.mean, alpha, tasks, steps))


def expected_meta_loss(w, tasks, alpha, steps, nodes=None, chunk=1 << 16):
    """Exact expectation over ``a`` of the population post-adaptation loss at factors ``w``.

    ``w`` is a tuple of equally shaped arrays (e.g. a grid); the expectation is a Gauss rule in
    ``a`` with ``nodes`` nodes, exact when ``nodes >= exact_nodes(depth, steps)`` (the default).
    Work is chunked so that at most ``chunk`` (point, node) pairs are in flight at once (small
    enough to stay in cache, which is faster than one big array).
    Raises :class:`DivergenceError` if the inner loop overflows somewhere.
    """
    w = tuple(np.asarray(wi, dtype=float) for wi in np.broadcast_arrays(*w))
    nodes = exact_nodes(len(w), steps) if nodes is None else nodes
    a, p = tasks.slope.quadrature(nodes)
    support = (tasks.sigma2, a, tasks.noise ** 2 / 2)
    flat = tuple(wi.reshape(-1, 1) for wi in w)
    out = np.empty(flat[0].shape[0])
    rows = max(1, chunk // a.size)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, out.size, rows):
            part = tuple(wi[start:start + rows] for wi in flat)
            out[start:start + rows] = meta_loss(part, support, support, alpha, steps) @ p
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.argmax(bad))
        at = ", ".join(f"w{j + 1}={wi.flat[i]:.4g}" for j, wi in enumerate(w))
        raise DivergenceError(f"the {steps}-step inner loop with alpha={alpha} overflows at "
                              f"{at} (meta-loss {out[i]}); shrink the grid or alpha")
    return out.reshape(w[0].shape)


def depth2_surface(axis, tasks, alpha, steps, nodes=None):
    """:func:`expected_meta_loss` of the depth-2 model on the grid ``axis x axis``
    (``[i, j]`` at ``(w1, w2) = (axis[i], axis[j])``) for an axis symmetric about 0.

    Computes a quarter of the grid: swapping the layers and negating both leave every inner
    trajectory's product ``w1 w2`` unchanged (the updates ``w1 -= alpha s e w2``,
    ``w2 -= alpha s e w1`` commute with both maps), so the loss is invariant under
    ``(i, j) -> (j, i)`` and ``(i, j) -> (G-1-i, G-1-j)``.
    """
    axis = np.asarray(axis, dtype=float)
    if axis.ndim != 1 or axis.size < 1:
        raise ValueError(f"axis must be a 1D array with at least one point, got shape "
                         f"{axis.shape}")
    if not np.array_equal(axis, -axis[::-1]):
        raise ValueError("axis must be symmetric about 0 (axis == -axis[::-1])")
    G = axis.size
    i, j = np.triu_indices(G)
    keep = i + j <= G - 1
    i, j = i[keep], j[keep]
    values = expected_meta_loss((axis[i], axis[j]), tasks, alpha, steps, nodes)
    out = np.empty((G, G))
    for r, c in ((i, j), (j, i), (G - 1 - i, G - 1 - j), (G - 1 - j, G - 1 - i)):
        out[r, c] = values
    return out
