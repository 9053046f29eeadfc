"""R5e/R5f numerically: a depth-L linear network in d dimensions, K inner steps, any L and K.

f(x) = W_L ... W_1 x with W_1: h x d, W_l: h x h (1 < l < L) and the top row u^T = W_L (1 x h);
params are ``(W_1, ..., W_{L-1}, u)`` with restarts on the leading axis (``(W_1, u)`` is the
depth-2 layout of :mod:`.precondition`). A task y = a^T x, x ~ N(0, Sigma) has the population
loss 1/2 e^T Sigma e, e = w - a, w^T = W_L ... W_1. The gradient of layer l is the outer
product alpha_l beta_l^T with alpha_l = (W_L ... W_{l+1})^T and beta_l = W_{l-1} ... W_1 Sigma e,
so after k steps every layer is its start plus k rank-one terms per task and no h x h matrix is
formed per task: a step costs O(L (h^2 + k h)) per (restart, task). To first order one step
moves w by -alpha P Sigma e with P = sum_l ||W_L ... W_{l+1}||^2 (W_{l-1} ... W_1)^T
(W_{l-1} ... W_1) (:func:`preconditioner`; derived and checked in theory.symbolic.matrix_deep).

The K-step error is a polynomial of degree L (2L - 1)^(K-1) in a (:func:`.tasks.loss_degree`), so
the task average E over a ~ N(mu, V) is taken with a ``TaskRule``: the tensor Gauss-Hermite rule
with ``exact_nodes(L, K)`` nodes per coordinate, exact for that degree, where it has at most
``MAX_NODES`` nodes, else a Monte-Carlo sample of antithetic pairs (a, 2 mu - a) whose
standard error is stated. Gradients are autograd's reverse mode through the unrolled steps.

TaskRule(z, weight, exact)                 nodes z (N, d) of a ~ mu + chol(V) z and weights
task_rule(rng, dim, depth, steps, tasks)   the exact rule if affordable, else Monte Carlo
adapted_error(params, sigma, alpha, steps, a) -> (R, N, d)   e_K of every restart and task
objective(params, problem, rule) -> (loss (R,), grads)       weighted task average and grads
two_layer_one_step(W_1, u, problem)         L = 2, K = 1 by Isserlis (degree 4): exact, any d
per_task_loss(params, problem, rule) -> (R, N)               1/2 e_K^T Sigma e_K at each node
preconditioner(params) -> (R, d, d)         P of each restart
init(rng, depth, dim, width, restarts)      W_1 ~ N(0, 1/d), W_l and u ~ N(0, 1/h) entrywise
exact_point(sigma, alpha, depth, width)     a point of the one-step-exact set (R5e)
"""

import collections

import autograd
import autograd.numpy as anp
import numpy as np

from .tasks import exact_nodes

__all__ = ["MAX_NODES", "TaskRule", "task_rule", "adapted_error", "per_task_loss", "objective",
           "two_layer_one_step", "preconditioner", "init", "exact_width", "exact_point"]

MAX_NODES = 4096
TaskRule = collections.namedtuple("TaskRule", "z weight exact")


def task_rule(rng, dim, depth, steps, tasks=32):
    """Nodes for E over a: exact tensor Gauss-Hermite if <= MAX_NODES nodes, else Monte Carlo.

    Monte Carlo draws ``tasks // 2`` standard normal z and uses (z, -z), each weight 1/tasks.
    """
    n = exact_nodes(depth, steps)
    if n ** dim <= MAX_NODES:
        x, w = np.polynomial.hermite_e.hermegauss(n)
        grid = np.stack(np.meshgrid(*[x] * dim, indexing="ij"), -1).reshape(-1, dim)
        weight = np.prod(np.stack(np.meshgrid(*[w / w.sum()] * dim, indexing="ij"), -1)
                         .reshape(-1, dim), axis=1)
        return TaskRule(grid, weight, True)
    half = rng.standard_normal((max(1, tasks // 2), dim))
    z = np.concatenate([half, -half])
    return TaskRule(z, np.full(len(z), 1.0 / len(z)), False)


def _mv(a, x):
    return (a @ x[..., None])[..., 0]


def _dot(x, y):
    return np.sum(x * y, axis=-1)


def _apply(w, corrections, x):
    """(W + sum_j u_j v_j^T) x for x (R, in, N): base W (R, out, in), per-task rank-one terms.

    Tasks are the last axis, so W x is one batched matrix product and the dot products v^T x
    reduce over rows of contiguous tasks.
    """
    out = anp.matmul(w, x)
    for u, v in corrections:
        out = out + u * anp.sum(v * x, axis=1, keepdims=True)
    return out


def _apply_t(w, corrections, y):
    """(W + sum_j u_j v_j^T)^T y for y (R, out, N)."""
    out = anp.matmul(anp.swapaxes(w, 1, 2), y)
    for u, v in corrections:
        out = out + v * anp.sum(u * y, axis=1, keepdims=True)
    return out


def _layers(params):
    """The layer matrices (R, out, in), the top row u as (R, 1, h)."""
    return list(params[:-1]) + [params[-1][:, None, :]]


def _top_down(layers, corrections, restarts):
    """alpha_l = (W_L ... W_{l+1})^T for l = L .. 0 (alpha_0 = w), as a list indexed by l."""
    alphas = [None] * (len(layers) + 1)
    alphas[-1] = anp.ones((restarts, 1, 1))
    for l in range(len(layers), 0, -1):
        alphas[l - 1] = _apply_t(layers[l - 1], corrections[l - 1], alphas[l])
    return alphas


def _unrolled(params, sigma, alpha, steps, a_t):
    """e_K as (R, d, N) for tasks a_t (d, N): the inner loop with tasks on the last axis."""
    layers = _layers(params)
    restarts = len(layers[0])
    corrections = [[] for _ in layers]
    for _ in range(steps):
        alphas = _top_down(layers, corrections, restarts)
        beta = anp.matmul(sigma, alphas[0] - a_t)
        new = []
        for l, w in enumerate(layers):
            new.append((-alpha * alphas[l + 1], beta))
            if l + 1 < len(layers):
                beta = _apply(w, corrections[l], beta)
        corrections = [c + [term] for c, term in zip(corrections, new, strict=True)]
    return _top_down(layers, corrections, restarts)[0] - a_t


def adapted_error(params, sigma, alpha, steps, a):
    """e_K = w_K - a after ``steps`` inner steps of size alpha, for tasks a (N, d) -> (R, N, d)."""
    return anp.swapaxes(_unrolled(params, sigma, alpha, steps, a.T), 1, 2)


def per_task_loss(params, problem, rule):
    """1/2 e_K^T Sigma e_K at each node a = mu + chol(V) z of ``rule`` -> (R, N)."""
    sigma, mu, cov, alpha, steps = problem
    a_t = mu[:, None] + np.linalg.cholesky(cov) @ rule.z.T
    e = _unrolled(params, sigma, alpha, steps, a_t)
    return 0.5 * anp.sum(anp.matmul(sigma, e) * e, axis=1)


def objective(params, problem, rule):
    """(task-averaged K-step loss per restart (R,), its gradients in the order of params)."""
    def loss(ps):
        return anp.dot(per_task_loss(ps, problem, rule), rule.weight)

    vjp, value = autograd.make_vjp(loss)(tuple(params))
    return value, vjp(np.ones(len(value)))


def two_layer_one_step(w1, u, problem):
    """L = 2, K = 1 in closed form: loss and (dF/dW1, dF/du), E over a ~ N(mu, V) exact (R5d).

    With e' = A e + alpha^2 (s^T e) Sigma e, A = I - alpha P Sigma, s = Sigma w, the average of
    1/2 e'^T Sigma e' needs Gaussian moments of e ~ N(m, V) up to degree 4 (Isserlis).
    """
    sigma, mu, cov, alpha, _ = problem
    a2, a4 = alpha ** 2, alpha ** 4
    s2, s3 = sigma @ sigma, sigma @ sigma @ sigma
    w = np.einsum("rhd,rh->rd", w1, u)
    diag = np.arange(len(sigma))
    p = np.swapaxes(w1, 1, 2) @ w1
    p[:, diag, diag] += _dot(u, u)[:, None]  # in place: one pass fewer over (R, d, d)
    a_mat = -alpha * (p @ sigma)
    a_mat[:, diag, diag] += 1
    a_t = np.swapaxes(a_mat, 1, 2)
    m, s = w - mu, w @ sigma
    vs = s @ cov
    am, s2m = _mv(a_mat, m), m @ s2
    sigma_av = sigma @ (a_mat @ cov)
    q1, t1 = _dot(am, am @ sigma), np.sum(a_mat * sigma_av, axis=(1, 2))
    m2m = 0.5 * (_mv(a_t, s2m) + am @ s2)
    m2vs = 0.5 * (_mv(a_t, vs @ s2) + _mv(a_mat, vs) @ s2)
    q2t2 = _dot(am, s2m) + np.sum(a_mat * (s2 @ cov), axis=(1, 2))
    c, b2 = _dot(s, m), _dot(vs, m2m)
    n3m, n3vs = m @ s3, vs @ s3
    qt_n = _dot(m, n3m) + np.trace(s3 @ cov)
    v_s, b_n = _dot(s, vs), _dot(vs, n3m)
    loss = (0.5 * (q1 + t1) + a2 * (c * q2t2 + 2 * b2)
            + 0.5 * a4 * ((c ** 2 + v_s) * qt_n + 4 * c * b_n + 2 * _dot(vs, n3vs)))
    g_c = a2 * q2t2 + a4 * (c * qt_n + 2 * b_n)
    cc = c[:, None]
    g_m = (_mv(a_t, am @ sigma) + g_c[:, None] * s + 2 * a2 * cc * m2m + 2 * a2 * m2vs
           + a4 * (c ** 2 + v_s)[:, None] * n3m + 2 * a4 * cc * n3vs)
    g_s = (g_c[:, None] * m + 2 * a2 * m2m @ cov + a4 * qt_n[:, None] * vs
           + 2 * a4 * cc * n3m @ cov + 2 * a4 * n3vs @ cov)
    g_w = g_m + g_s @ sigma
    # dF/dA = Sigma A S + Sigma^2 sym(dF/dM2), S = m m^T + V, M2 = sym(A^T Sigma^2); its rank-2
    # part is one stacked (R, d, 2) @ (R, 2, d) product, already multiplied by Sigma
    left = np.stack([am @ sigma + a2 * cc * s2m + a2 * vs @ s2, a2 * s2m], axis=2)
    right = np.stack([m @ sigma, vs @ sigma], axis=1)
    g_p = -alpha * (left @ right + sigma_av @ sigma + a2 * c[:, None, None] * (s2 @ cov @ sigma))
    grad_w1 = u[:, :, None] * g_w[:, None, :] + w1 @ (g_p + np.swapaxes(g_p, 1, 2))
    grad_u = _mv(w1, g_w) + 2 * np.trace(g_p, axis1=1, axis2=2)[:, None] * u
    return loss, (grad_w1, grad_u)


def preconditioner(params):
    """P = sum_l ||W_L ... W_{l+1}||^2 (W_{l-1} ... W_1)^T (W_{l-1} ... W_1), (R, d, d)."""
    layers = _layers(params)
    restarts, dim = len(layers[0]), layers[0].shape[2]
    below = [np.broadcast_to(np.eye(dim), (restarts, dim, dim))]
    for w in layers[:-1]:
        below.append(w @ below[-1])
    above, p = np.ones((restarts, 1, 1)), 0
    for l in range(len(layers) - 1, -1, -1):
        p = p + np.sum(above ** 2, axis=(1, 2))[:, None, None] * (
            np.swapaxes(below[l], 1, 2) @ below[l])
        above = above @ layers[l]
    return p


def init(rng, depth, dim, width, restarts):
    """W_1 ~ N(0, 1/d), hidden W_l ~ N(0, 1/h), u ~ N(0, 1/h) entrywise (depth 2: as before)."""
    layers = [rng.normal(size=(restarts, width, dim)) / np.sqrt(dim)]
    layers += [rng.normal(size=(restarts, width, width)) / np.sqrt(width)
               for _ in range(depth - 2)]
    return tuple(layers) + (rng.normal(size=(restarts, width)) / np.sqrt(width),)


def exact_width(sigma, depth=2, rtol=1e-9):
    """R5e: the least h with a non-empty one-step-exact set, d - m + 1 for every L >= 2.

    m is the multiplicity of Sigma's largest eigenvalue (eigenvalues within rtol count as one).
    Depth 1 has no width; its set is non-empty iff alpha Sigma = I, so this returns None.
    """
    if depth == 1:
        return None
    lam = np.linalg.eigvalsh(sigma)
    return len(lam) - int(np.sum(lam >= lam[-1] * (1 - rtol))) + 1


def exact_point(sigma, alpha, depth, width, rtol=1e-9):
    """A point (one restart) with e_1 = 0 for every task: the constructions of R5e.

    h >= d: u = 0, W_1 = [(alpha Sigma)^(-1/2); 0], hidden W_l = I, so only u moves and
    P = W_1^T W_1. Otherwise (h >= d - m + 1): u = s e_1 with s^2 = 1/(alpha lambda_max), hidden
    W_l = I and W_1's first row 0, its rows 2.. a factor of ((alpha Sigma)^-1 - s^2 I) /
    ((L - 2) s^2 + 1); every product of two gradient terms then contains (W_1 g)_1 = 0.
    """
    dim = len(sigma)
    need = exact_width(sigma, depth, rtol)
    if need is None or width < need:
        raise ValueError(f"no one-step-exact point at depth={depth}, width={width}: it needs "
                         f"depth >= 2 and width >= {need}")
    lam, q = np.linalg.eigh(alpha * sigma)
    w1 = np.zeros((width, dim))
    u = np.zeros(width)
    hidden = [np.eye(width)] * (depth - 2)
    if width >= dim:
        w1[:dim] = (q / np.sqrt(lam)).T  # (alpha Sigma)^(-1/2) up to a rotation of rows
    else:
        s2 = 1.0 / lam[-1]
        u[0] = np.sqrt(s2)
        rest = np.clip(1.0 / lam - s2, 0.0, None) / ((depth - 2) * s2 + 1)
        keep = np.flatnonzero(lam < lam[-1] * (1 - rtol))
        w1[1:1 + len(keep)] = (q[:, keep] * np.sqrt(rest[keep])).T
    return tuple(x[None] for x in (w1, *hidden, u))
