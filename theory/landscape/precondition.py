"""R5 numerically: d-dimensional MAML, Meta-SGD and KFO on the exact population objective.

Tasks are y = a^T x, x ~ N(0, Sigma), a ~ N(mu, V); the post-adaptation loss of a task is
L_a = 1/2 e_K^T Sigma e_K with e_K the error after K inner steps of size alpha. Averaged over a
it is a closed form in (Sigma, mu, V) (:mod:`theory.symbolic.matrix`, R5a-R5d), so meta-training
needs neither sampled tasks nor data, and the gradients below are written out by hand (the
tests check them against central differences in float64, the losses against exact Gauss-Hermite
expectations and the floors against theory.symbolic). Restarts are the leading array axis.

Methods, all with the step e -> e - alpha P Sigma e to first order in alpha:
maml, depth 1   f = w^T x, P = I fixed; params (w,)
metasgd         P = diag(beta) (Meta-SGD, beta a learned multiplier of alpha); params (w, beta);
                K = 1 uses R5b's quadratic form in beta, O(d^2) per restart
kfo             w^T -> w^T - alpha grad^T R, P = R^T learned (R5c); params (w, R); K = 1
                completes the square around R = (alpha Sigma)^-1 (three products per restart)
maml, depth L   f = W_L ... W_1 x (widths h), params (W_1, .., W_{L-1}, u), u = W_L^T; one step
                moves w by -alpha P Sigma e to first order, P = sum_l ||W_L..W_{l+1}||^2
                (W_{l-1}..W_1)^T (W_{l-1}..W_1) (R5e). L = 2, K = 1 is R5d's closed form
                (Isserlis, degree 4, any d); every other (L, K) is :mod:`.deep` (the K steps
                unrolled, E over a by an exact Gauss-Hermite rule where affordable, else Monte
                Carlo with its standard error).

Conventions: Sigma = Q diag(lambda) Q^T with lambda log-spaced from 1 down to 1/kappa (the
largest eigenvalue is 1 and simple when kappa > 1, so R5d's exact set needs h >= d) and Q = I,
or a random rotation (``rotate``). The inner map of the shallow model contracts every direction
iff 0 < alpha lambda < 2, i.e. alpha < 2 here; larger alpha is allowed and may diverge.
The target preconditioner is (alpha Sigma)^-1: it zeroes the loss of every task in one step.

covariance(rng, dim, cond, rotate) -> Sigma   eigenvalues log-spaced in [1/cond, 1]
shallow_floor(sigma, cov, alpha, steps)      R5a's 1/2 tr((I - alpha Sigma)^K Sigma (I - ..)^K V)
metasgd_floor(sigma, cov, alpha)             R5b's best K = 1 floor and its beta*
exact_width(sigma, depth)                    the least width h with an exact deep set (R5d, R5e)
objective(method, depth, params, problem, rule)  (loss per restart, grads)
meta_train(rng, *, sigma, method, depth, ...) -> dict   Adam on every restart at once
experiment(rng, *, dim, width, cond, rotate, method, ...) -> dict   the CLI's JSON result
finite_or_null(obj)                          nested dicts/lists with NaN and inf as None (JSON)
"""

import collections

import numpy as np

from .. import _check
from . import deep, optim
from .deep import _dot, _mv, exact_width

__all__ = ["METHODS", "Problem", "covariance", "target", "shallow_floor", "metasgd_floor",
           "objective", "preconditioner", "init", "validate", "closed_form", "expectation",
           "meta_train", "finite_or_null", "experiment"]

METHODS = ("maml", "metasgd", "kfo")
Problem = collections.namedtuple("Problem", "sigma mu cov alpha steps")


def covariance(rng, dim, cond, rotate=False):
    """Sigma (dim x dim) with eigenvalues geomspace(1, 1/cond); random eigenvectors if rotate."""
    if dim == 1 and cond != 1:
        raise ValueError(f"the condition number of a 1 x 1 Sigma is 1, got cond={cond}")
    lam = np.geomspace(1.0, 1.0 / cond, dim)
    if not rotate:
        return np.diag(lam)
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    q = q * np.sign(np.diag(r))  # a Haar-distributed rotation
    return (q * lam) @ q.T


def target(sigma, alpha):
    """(alpha Sigma)^-1, the preconditioner of exact one-step adaptation."""
    return np.linalg.inv(alpha * sigma)


def shallow_floor(sigma, cov, alpha, steps):
    """R5a: min_w of the task-averaged K-step shallow loss, attained at w = mu."""
    m = np.linalg.matrix_power(np.eye(len(sigma)) - alpha * sigma, steps)
    return 0.5 * float(np.trace(m @ sigma @ m @ cov))


def _metasgd_quadratic(sigma, cov):
    """``(c, C o Sigma)`` of R5b: C = Sigma V Sigma, c = diag(C), o the entrywise product."""
    c_mat = sigma @ cov @ sigma
    return np.diag(c_mat).copy(), c_mat * sigma


def metasgd_floor(sigma, cov, alpha):
    """R5b (K = 1): best floor 1/2 [tr(V Sigma) - c^T (C o Sigma)^-1 c] and beta*, C = S V S."""
    c, hadamard = _metasgd_quadratic(sigma, cov)
    best = np.linalg.solve(hadamard, c)
    # a minimum of squares: a negative difference is rounding (a diagonal Sigma gives 0)
    return max(0.5 * float(np.trace(cov @ sigma) - c @ best), 0.0), best / alpha


def _linear(w, p_sigma, problem, learned=True):
    """Loss, dF/dw, dF/dN (None unless P is learned) of e_K = N^K e, N = I - alpha P Sigma."""
    sigma, mu, cov, alpha, steps = problem
    n = np.eye(len(sigma)) - alpha * p_sigma
    powers = [None, n]  # N^0 = I is never multiplied out
    for _ in range(steps - 1):
        powers.append(powers[-1] @ n)
    nk = powers[-1]
    m = w - mu
    nkm = _mv(nk, m)
    snk, snkm = sigma @ nk, nkm @ sigma  # Sigma is symmetric
    snkv = snk @ cov
    loss = 0.5 * (_dot(nkm, snkm) + np.sum(nk * snkv, axis=(-2, -1)))
    grad_w = _mv(np.swapaxes(nk, -1, -2), snkm)
    if not learned:
        return loss, grad_w, None
    g_k = snkm[..., :, None] * m[..., None, :] + snkv  # Sigma N^K (m m^T + V)
    g_n = 0
    for j in range(steps):
        left, right = powers[j], powers[steps - 1 - j]
        term = g_k if left is None else np.swapaxes(left, -1, -2) @ g_k
        g_n = g_n + (term if right is None else term @ np.swapaxes(right, -1, -2))
    return loss, grad_w, g_n


def _metasgd_one_step(w, beta, problem):
    """Meta-SGD, K = 1, in O(d^2) per restart: R5b's quadratic in beta plus the mean term.

    F = 1/2 r^T Sigma r + floor + alpha^2/2 (beta - beta*)^T (C o Sigma) (beta - beta*) with
    r = (I - alpha diag(beta) Sigma)(w - mu), C = Sigma V Sigma and (floor, beta*) of
    :func:`metasgd_floor`: every term is >= 0, so no cancellation makes a loss negative.
    """
    sigma, mu, _, alpha, _ = problem
    _, hadamard = _metasgd_quadratic(sigma, problem.cov)
    floor, best = metasgd_floor(sigma, problem.cov, alpha)
    m = w - mu
    s = m @ sigma
    r = m - alpha * beta * s
    sr = r @ sigma
    h_delta = (beta - best) @ hadamard
    loss = 0.5 * _dot(r, sr) + floor + 0.5 * alpha ** 2 * _dot(beta - best, h_delta)
    grad_w = sr - alpha * (beta * sr) @ sigma
    return loss, (grad_w, -alpha * s * sr + alpha ** 2 * h_delta)


def _kfo_one_step(w, r_mat, problem):
    """KFO, K = 1, with three matrix products per restart (R5c).

    F = 1/2 r^T Sigma r + alpha^2/2 tr(D Sigma D^T C), r = (I - alpha R^T Sigma)(w - mu),
    D = R - (alpha Sigma)^-1, C = Sigma V Sigma: the second term is tr((I - alpha R^T Sigma)^T
    Sigma (I - alpha R^T Sigma) V) / 2 with the square completed, >= 0 and 0 at the target.
    """
    sigma, mu, cov, alpha, _ = problem
    c_mat = sigma @ cov @ sigma
    d_mat = r_mat - target(sigma, alpha)
    d_sigma, c_d = d_mat @ sigma, c_mat @ d_mat
    m = w - mu
    s = m @ sigma
    r = m - alpha * _mv(np.swapaxes(r_mat, 1, 2), s)
    sr = r @ sigma
    loss = 0.5 * _dot(r, sr) + 0.5 * alpha ** 2 * np.sum(d_sigma * c_d, axis=(1, 2))
    grad_w = sr - alpha * _mv(r_mat, sr) @ sigma
    grad_r = -alpha * s[:, :, None] * sr[:, None, :] + alpha ** 2 * c_d @ sigma
    return loss, (grad_w, grad_r)


def objective(method, depth, params, problem, rule=None):
    """(post-adaptation population loss per restart, gradients in the order of params).

    ``rule`` (a :class:`.deep.TaskRule`) is the expectation over a of the deep model beyond
    L = 2, K = 1; every other case is a closed form and ignores it.
    """
    if depth >= 2:
        if closed_form(depth, problem.steps):
            return deep.two_layer_one_step(*params, problem)
        return deep.objective(params, problem, rule)
    sigma, alpha = problem.sigma, problem.alpha
    if method == "maml":
        loss, grad_w, _ = _linear(params[0], sigma, problem, learned=False)
        return loss, (grad_w,)
    w, q = params
    if method == "metasgd" and problem.steps == 1:
        return _metasgd_one_step(w, q, problem)
    if method == "metasgd":  # diag(beta) Sigma and diag(dF/dN Sigma) without a matmul
        loss, grad_w, g_n = _linear(w, q[:, :, None] * sigma, problem)
        return loss, (grad_w, -alpha * np.sum(g_n * sigma, axis=2))
    if problem.steps == 1:
        return _kfo_one_step(w, q, problem)
    loss, grad_w, g_n = _linear(w, np.swapaxes(q, 1, 2) @ sigma, problem)
    return loss, (grad_w, -alpha * np.swapaxes(g_n @ sigma, 1, 2))


def preconditioner(method, depth, params):
    """The learned P of each restart: I, diag(beta), R (kfo) or R5e's P of the deep model."""
    if depth >= 2:
        return deep.preconditioner(params)
    w = params[0]
    if method == "maml":
        return np.broadcast_to(np.eye(w.shape[1]), (len(w), w.shape[1], w.shape[1]))
    return np.einsum("ri,ij->rij", params[1], np.eye(w.shape[1])) if method == "metasgd" \
        else params[1]


def init(rng, method, depth, dim, width, restarts):
    """Initial params: w ~ N(0, I/d); beta = 1 + N(0, 0.1^2); R = I + N(0, 0.1^2/d);
    deep W_1 ~ N(0, 1/d), W_l and u ~ N(0, 1/h) entrywise (:func:`.deep.init`; at L = 2, P
    starts near (1 + h/d) I)."""
    if depth >= 2:
        return deep.init(rng, depth, dim, width, restarts)
    w = rng.normal(size=(restarts, dim)) / np.sqrt(dim)
    if method == "maml":
        return (w,)
    if method == "metasgd":
        return w, 1 + 0.1 * rng.normal(size=(restarts, dim))
    return w, np.eye(dim) + 0.1 * rng.normal(size=(restarts, dim, dim)) / np.sqrt(dim)


def validate(method, depth, width, steps):
    """Raise ValueError for a combination the objectives do not cover."""
    _check.choice("method", method, METHODS)
    _check.integer("depth", depth, 1)
    _check.integer("steps", steps, 1)
    _check.integer("width", width, 1)
    if depth >= 2 and method != "maml":
        raise ValueError(f"depth {depth} is deep linear maml; {method} learns P on the shallow "
                         "model (use depth 1)")


def closed_form(depth, steps):
    """True where the objective is a closed form in (Sigma, mu, V): L = 1, or L = 2 with K = 1."""
    return depth == 1 or (depth == 2 and steps == 1)


def expectation(depth, steps, rule):
    """How E over a is taken: ``{"kind": "closed form" | "exact" | "monte carlo", "nodes"}``."""
    if closed_form(depth, steps):
        return {"kind": "closed form", "nodes": None}
    return {"kind": "exact" if rule.exact else "monte carlo", "nodes": len(rule.z)}


def meta_train(rng, *, sigma, method="maml", depth=1, width=None, alpha=0.5, steps=1, mu=None,
               cov=None, restarts=8, iterations=20000, lr=0.02, tasks=32, tol=1e-6):
    """Adam on the population objective of every restart at once; returns the final state.

    mu defaults to 0 and V (cov) to I. ``tasks`` is the Monte-Carlo sample of the deep model
    where no exact rule is affordable (:func:`.deep.task_rule`, drawn once: every iteration
    sees the same tasks). A restart stops at the first iteration where its gradient norm is
    at most ``tol`` or its loss has gone flat (:class:`.optim.Stopping`; ``iterations`` is the
    cap) and the loop ends
    when every restart has stopped or diverged. Returns a dict with ``params`` (tuple of
    arrays), ``loss`` (R,) (non-finite for a diverged restart), ``curve`` (iterations run + 1,
    R), ``grad_norm`` (R,) where each restart stopped (its final params otherwise),
    ``converged`` (R,), ``stopped_at`` (R,) (the iteration each restart stopped, the cap if
    it did not), ``rule``.
    """
    dim = len(sigma)
    width = dim if width is None else width
    validate(method, depth, width, steps)
    problem = Problem(sigma, np.zeros(dim) if mu is None else mu,
                      np.eye(dim) if cov is None else cov, alpha, steps)
    params = init(rng, method, depth, dim, width, restarts)
    rule = None if closed_form(depth, steps) else deep.task_rule(rng, dim, depth, steps, tasks)
    opt_init, update, get = optim.adam(lr)
    state = opt_init(params)
    stop = optim.Stopping(tol, restarts, iterations)
    curve = []
    with np.errstate(all="ignore"):  # a diverging restart is reported, not fatal
        for i in range(iterations + 1):
            loss, grads = objective(method, depth, get(state), problem, rule)
            curve.append(np.where(stop.stopped, curve[-1], loss) if curve else loss)
            if stop.check(i, loss, grads, np.isfinite(loss)) or i == iterations:
                break
            state = optim.freeze(stop.stopped, update(i, grads, state), state)
    return {"params": get(state), "loss": curve[-1], "curve": np.array(curve),
            "problem": problem, "grad_norm": stop.grad_norm, "converged": stop.converged,
            "stopped_at": stop.iteration, "rule": rule}


def finite_or_null(obj):
    """``obj`` with every non-finite float replaced by ``None`` (JSON has no NaN); dicts,
    lists and tuples are walked (tuples become lists)."""
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _held_out(rng, out, depth, tasks):
    """Monte Carlo only: the final loss on a fresh sample of ``16 tasks`` antithetic tasks
    (unbiased, unlike the training sample the params were fitted to) and its standard error."""
    rule = out["rule"]
    if rule is None or rule.exact:
        return out["loss"], np.zeros_like(out["loss"])
    fresh = deep.task_rule(rng, len(rule.z[0]), depth, out["problem"].steps, 16 * tasks)
    with np.errstate(all="ignore"):
        values = deep.per_task_loss(out["params"], out["problem"], fresh)
    pairs = 0.5 * (values[:, :len(values[0]) // 2] + values[:, len(values[0]) // 2:])
    return pairs.mean(axis=1), pairs.std(axis=1, ddof=1) / np.sqrt(pairs.shape[1])


def experiment(rng, *, dim, width=None, cond=10.0, rotate=False, method="maml", depth=1,
               alpha=0.5, steps=1, restarts=8, iterations=20000, lr=0.02, task_mean=0.0,
               task_var=1.0, tasks=32, tol=1e-6):
    """Meta-train on Sigma = covariance(rng, dim, cond, rotate), a ~ N(task_mean 1, task_var I).

    Returns a JSON-ready dict: ``final_loss`` per restart (None where it diverged, also listed
    in ``diverged``; for a Monte-Carlo ``expectation`` the estimate on fresh tasks, with
    ``final_loss_stderr``, while ``train_loss`` is the loss on the sample it was fitted to: a
    gap says the sample was too small), per restart ``converged``, ``grad_norm`` and
    ``stopped_at`` (``meta_train``: stopped on ``tol``, ``iterations`` the cap), the closed-form
    ``floor`` (R5a, the shallow model at this K) and ``floor_metasgd`` (R5b, K = 1 only; either
    is None where alpha, K overflow it), the ``preconditioner`` of the best restart with
    ``target`` = (alpha Sigma)^-1 and their relative Frobenius distance, ``exact_width`` (R5e:
    the least h with a one-step-exact set at this depth; None at depth 1) and ``sigma``.
    ``width`` (every hidden layer) is ignored for depth 1 and defaults to ``dim``.
    """
    width = dim if width is None else width
    validate(method, depth, width, steps)
    sigma = covariance(rng, dim, cond, rotate)
    mu, cov = np.full(dim, float(task_mean)), task_var * np.eye(dim)
    out = meta_train(rng, sigma=sigma, method=method, depth=depth, width=width, alpha=alpha,
                     steps=steps, mu=mu, cov=cov, restarts=restarts, iterations=iterations,
                     lr=lr, tasks=tasks, tol=tol)
    finite = np.isfinite(out["loss"])
    loss, stderr = _held_out(rng, out, depth, tasks)
    best = int(np.argmin(np.where(finite, out["loss"], np.inf))) if finite.any() else None
    goal = target(sigma, alpha)
    with np.errstate(all="ignore"):  # a large alpha K overflows: the floor is then None
        floors = finite_or_null(np.array([
            shallow_floor(sigma, cov, alpha, steps),
            metasgd_floor(sigma, cov, alpha)[0] if steps == 1 else np.nan], dtype=float).tolist())
    learned = None if best is None else preconditioner(method, depth, out["params"])[best]
    return {
        "dim": dim, "width": width if depth >= 2 else None, "cond": cond, "rotate": rotate,
        "method": method, "depth": depth, "alpha": alpha, "steps": steps,
        "restarts": restarts, "iterations": iterations, "lr": lr, "optimizer": "adam",
        "task_mean": task_mean, "task_var": task_var,
        "expectation": expectation(depth, steps, out["rule"]),
        "final_loss": finite_or_null(np.where(finite, loss, np.nan).tolist()),
        "final_loss_stderr": finite_or_null(np.where(finite, stderr, np.nan).tolist()),
        "train_loss": finite_or_null(out["loss"].tolist()),
        "diverged": [int(r) for r in np.flatnonzero(~finite)],
        "converged": [bool(c) for c in out["converged"] & finite],
        "grad_norm": finite_or_null(out["grad_norm"].tolist()),
        "stopped_at": [int(i) for i in out["stopped_at"]],
        "tol": tol,
        "best_restart": best,
        "floor": floors[0],
        "floor_metasgd": floors[1],
        "exact_width": exact_width(sigma, depth),
        "preconditioner": None if learned is None else learned.tolist(),
        "target": goal.tolist(),
        "relative_error": None if learned is None else float(
            np.linalg.norm(learned - goal) / np.linalg.norm(goal)),
        "sigma": sigma.tolist(),
    }
