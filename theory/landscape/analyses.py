"""Analyses of MAML on 1D linear tasks: loss surface, alpha sweep, collapse, effective step.

Each function takes ``rng`` and keyword budgets whose defaults run in seconds, and returns a
plain JSON-serialisable ``dict`` (lists of floats); the keys are listed in each docstring.
Every reported loss is the exact expected post-adaptation population query loss (Gauss rules
in the slope ``a``, :func:`theory.landscape.tasks.exact_nodes`) unless a key says
Monte-Carlo.  Training uses that exact objective with ``population=True`` (the default) and
sampled meta-batches of ``meta_batch`` tasks with ``shots`` points otherwise.
"""

import math

import numpy as np

from .. import _check
from . import closed, evaluate
from .simulate import meta_train
from .tasks import LinearTasks, SlopeDistribution, linear_batch

__all__ = ["linear_tasks", "train", "monte_carlo_meta_loss", "surface", "alpha_sweep", "collapse",
           "effective_steps"]


def linear_tasks(sigma2=1.0, slope_mean=1.0, slope_std=0.5, slope_kind="normal", noise=0.0):
    """The :class:`LinearTasks` of the analyses' keyword arguments."""
    return LinearTasks(sigma2, SlopeDistribution(slope_mean, slope_std, slope_kind), noise)


def train(rng, *, population, shots, meta_batch, **kwargs):
    """``meta_train`` on the exact expectation over tasks (``population``: ``meta_batch`` is
    ignored) or on sampled meta-batches of ``meta_batch`` tasks with ``shots`` support and
    query points each; the other keywords go to ``meta_train`` unchanged."""
    return meta_train(rng, population=population, shots=shots,
                      meta_batch=None if population else meta_batch, **kwargs)


def _grid(extent, grid):
    axis = np.linspace(-extent, extent, grid)
    return (axis - axis[::-1]) / 2  # exactly symmetric about 0


def monte_carlo_meta_loss(rng, w, tasks, alpha, steps, *, n_tasks, shots, chunk=1 << 22):
    """Monte-Carlo estimate of the expected post-adaptation loss at factors ``w`` (a tuple of
    equally shaped arrays): ``n_tasks`` sampled slopes, each with ``shots`` sampled support and
    query points; the same tasks at every point of ``w``."""
    shots = _check.integer("shots", shots, 1)
    batch = linear_batch(tasks, rng, (1, n_tasks), population=False, shots=shots)
    flat = tuple(np.asarray(wi, dtype=float).reshape(-1, 1) for wi in np.broadcast_arrays(*w))
    out = np.zeros(flat[0].shape[0])
    cols = max(1, chunk // out.size)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, n_tasks, cols):
            part = slice(start, start + cols)
            support = tuple(q[:, part] for q in batch.support)
            query = tuple(q[:, part] for q in batch.query)
            out += closed.meta_loss(flat, support, query, alpha, steps).sum(axis=1)
    if not np.all(np.isfinite(out)):
        raise closed.DivergenceError(f"the {steps}-step inner loop with alpha={alpha} "
                                     "overflows on this grid; shrink the grid or alpha")
    return (out / n_tasks).reshape(np.shape(w[0]))


def _starts(rng, restarts, extent, alpha_sigma2, bound=1.5):
    """Uniform starts in ``[-0.9 extent, 0.9 extent]^2`` with ``alpha sigma2 |w|^2 < bound``:
    where the inner loop contracts the meta-gradient is moderate and plain SGD is stable
    (outside it grows like a power of ``|w|`` of degree ``4 * 3^(K-1)``)."""
    out = np.empty((0, 2))
    while len(out) < restarts:
        w = rng.uniform(-0.9 * extent, 0.9 * extent, (4 * restarts, 2))
        out = np.concatenate([out, w[alpha_sigma2 * np.sum(w ** 2, axis=1) < bound]])
    return out[:restarts]


def surface(rng, *, alpha=0.5, sigma2=1.0, slope_mean=1.0, slope_std=0.5, steps=1, extent=2.5,
            grid=65, mc_tasks=2000, mc_shots=200, restarts=12, iterations=2000, lr=None,
            optimizer="sgd", record_every=20, nodes=None, population=True, shots=10,
            meta_batch=16):
    """Meta-loss surface of the depth-2 linear model over a ``grid x grid`` square
    ``[-extent, extent]^2`` with MAML trajectories (exact population objective, or sampled
    meta-batches) from ``restarts`` random starts (see :func:`_starts`); ``lr`` defaults to 0.3
    on the exact objective and 0.03 on sampled meta-batches, whose gradients are noisy.  With
    ``population=False`` the trajectories follow the ``shots``-shot objective, whose minimisers
    are not the population ones (the sampled support curvature ``mean(x^2)`` makes one fixed
    step size wrong for most tasks; with 10 shots runs settle near ``w1 = w2``).

    Keys: ``w1``, ``w2`` (axes), ``closed_form`` (``[i][j]`` at ``(w1[i], w2[j])``, exact
    expectation), ``monte_carlo`` (same grid, ``mc_tasks`` tasks x ``mc_shots`` points),
    ``mc_error`` (relative RMS difference),
    ``mc_error_stable`` (the same where ``alpha sigma2 (w1^2 + w2^2) < 2``, i.e. where the inner
    loop contracts; outside, the loss is explosive in the sampled ``mean(x^2)`` and the
    finite-shot estimate is heavy-tailed and biased upward), ``trajectories``
    (``[restart][record] -> [w1, w2]``),
    ``trajectory_loss`` (``[restart][record]``), ``final`` (``[restart] -> [w1, w2]``),
    ``minimiser_radius`` (``1/sqrt(alpha sigma2)``, the circle of ``theory.symbolic`` R2 when
    ``steps = 1``), ``config``.
    """
    tasks = linear_tasks(sigma2, slope_mean, slope_std)
    alpha = _check.positive("alpha", alpha)
    steps = _check.integer("steps", steps, 0)
    axis = _grid(_check.positive("extent", extent), _check.integer("grid", grid, 2))
    w1, w2 = np.meshgrid(axis, axis, indexing="ij")
    exact = closed.depth2_surface(axis, tasks, alpha, steps, nodes)
    mc = monte_carlo_meta_loss(rng, (w1, w2), tasks, alpha, steps, n_tasks=mc_tasks,
                               shots=mc_shots)
    init = _starts(rng, restarts, extent, alpha * sigma2)
    lr = (0.3 if population else 0.03) if lr is None else lr
    run = train(rng, population=population, shots=shots, meta_batch=meta_batch, depth=2,
                steps=steps, alpha=alpha, tasks=tasks, restarts=restarts,
                iterations=iterations, optimizer=optimizer, lr=lr, init=init,
                record_every=record_every, nodes=nodes)
    stable = alpha * sigma2 * (w1 ** 2 + w2 ** 2) < 2
    return {"w1": axis.tolist(), "w2": axis.tolist(), "closed_form": exact.tolist(),
            "monte_carlo": mc.tolist(), "mc_error": _relative_rms(mc, exact),
            "mc_error_stable": _relative_rms(mc[stable], exact[stable]),
            "trajectories": run.trajectory.transpose(1, 0, 2).tolist(),
            "trajectory_loss": run.meta_loss.T.tolist(), "final": run.params.tolist(),
            "minimiser_radius": 1.0 / math.sqrt(alpha * sigma2),
            "config": dict(run.config, extent=extent, grid=int(grid), mc_tasks=mc_tasks,
                           mc_shots=mc_shots)}


def _relative_rms(estimate, exact):
    if exact.size == 0:
        return None
    return float(np.sqrt(np.mean((estimate - exact) ** 2) / np.mean(exact ** 2)))


def _best(run, tasks):
    """Lowest exact post-adaptation loss over the restarts of ``run`` and its parameters."""
    c = run.config
    loss = evaluate.linear_curve(None, run.params, tasks, depth=c["depth"], alpha=c["alpha"],
                                 steps=c["steps"])[:, -1]
    i = int(np.argmin(loss))
    return float(loss[i]), run.params[i].tolist()


def alpha_sweep(rng, *, alphas=(0.05, 0.1, 0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 1.9), sigma2=1.0,
                slope_mean=1.0, slope_std=0.5, steps=1, depth=2, restarts=8, iterations=1500,
                lr=0.02, optimizer="adam", population=True, shots=10, meta_batch=16):
    """Best reachable post-adaptation loss vs ``alpha``: shallow vs depth-``depth`` MAML.

    Keys: ``alphas``; ``shallow`` (trained, best restart), ``shallow_floor`` (R1,
    ``sigma2/2 (1 - alpha sigma2)^(2K) Var a``), ``deep`` (best restart), ``deep_params``,
    ``shallow_params`` (per alpha), ``config``.
    """
    if len(alphas) == 0:
        raise ValueError("alphas must hold at least one step size > 0, got an empty list")
    tasks = linear_tasks(sigma2, slope_mean, slope_std)
    out = {k: [] for k in ("shallow", "shallow_floor", "deep", "deep_params", "shallow_params")}
    for alpha in alphas:
        for name, L in (("shallow", 1), ("deep", depth)):
            try:
                run = train(rng, population=population, shots=shots, meta_batch=meta_batch,
                            depth=L, steps=steps, alpha=alpha, tasks=tasks,
                            restarts=restarts, iterations=iterations, lr=lr,
                            optimizer=optimizer, record_every=iterations)
            except closed.DivergenceError as err:
                raise closed.DivergenceError(f"alpha={alpha}, depth={L}: {err}") from None
            loss, params = _best(run, tasks)
            out[name].append(loss)
            out[name + "_params"].append(params)
        out["shallow_floor"].append(closed.shallow_floor(alpha, tasks, steps))
    out["alphas"] = [float(a) for a in alphas]
    out["config"] = dict(sigma2=sigma2, slope_mean=slope_mean, slope_std=slope_std, steps=steps,
                         depth=depth, restarts=restarts, iterations=iterations, lr=lr,
                         optimizer=optimizer, population=population, shots=shots,
                         meta_batch=meta_batch)
    return out


def collapse(rng, *, alpha=0.5, sigma2=1.0, slope_mean=1.0, slope_std=0.5, steps=1, depth=2,
             restarts=8, iterations=1500, lr=0.02, optimizer="adam", population=True, shots=10,
             meta_batch=16):
    """Meta-train a depth-``depth`` linear model, replace its factors by their product ``W``
    and adapt with the same ``alpha`` (``theory.symbolic`` R3).

    Keys (per restart): ``deep`` (post-adaptation loss of the trained deep model),
    ``collapsed`` (of the shallow model ``w = W``, same alpha), ``collapsed_predicted``
    (R1 at ``W``: ``sigma2/2 (1 - alpha sigma2)^(2K) ((W - E a)^2 + Var a)``), ``W``,
    ``params``; ``shallow_floor`` (best any shallow model can do), ``config``.
    """
    tasks = linear_tasks(sigma2, slope_mean, slope_std)
    run = train(rng, population=population, shots=shots, meta_batch=meta_batch, depth=depth,
                steps=steps, alpha=alpha, tasks=tasks, restarts=restarts,
                iterations=iterations, lr=lr, optimizer=optimizer, record_every=iterations)
    deep = evaluate.linear_curve(rng, run.params, tasks, depth=depth, alpha=alpha,
                                 steps=steps)[:, -1]
    W = np.prod(run.params, axis=1)
    collapsed = evaluate.linear_curve(rng, W[:, None], tasks, depth=1, alpha=alpha,
                                      steps=steps)[:, -1]
    return {"deep": deep.tolist(), "collapsed": collapsed.tolist(),
            "collapsed_predicted": closed.shallow_loss(W, alpha, tasks, steps).tolist(),
            "W": W.tolist(), "params": run.params.tolist(),
            "shallow_floor": closed.shallow_floor(alpha, tasks, steps),
            "config": dict(run.config)}


def effective_steps(rng, *, alpha=0.2, sigma2=1.0, slope_mean=1.0, slope_std=0.5, steps=1,
                    depth=2, restarts=8, iterations=1500, lr=0.02, optimizer="adam",
                    record_every=25, population=True, shots=10, meta_batch=16):
    """Effective step ``alpha sigma2 sum_l prod_{j != l} w_j^2`` along deep MAML training next
    to the learned ``beta sigma2`` of shallow Meta-SGD (depth acting as a learned optimiser).

    Keys: ``iterations``; ``deep`` and ``metasgd`` (``[record][restart]``); ``deep_loss`` and
    ``metasgd_loss`` (same shape, the training meta-loss: exact with ``population``, else the
    meta-batch estimate); ``config``.
    """
    tasks = linear_tasks(sigma2, slope_mean, slope_std)
    runs = {name: train(rng, population=population, shots=shots, meta_batch=meta_batch,
                        depth=L, method=method, steps=steps, alpha=alpha, tasks=tasks,
                        restarts=restarts, iterations=iterations, lr=lr, optimizer=optimizer,
                        record_every=record_every)
            for name, L, method in (("deep", depth, "maml"), ("metasgd", 1, "metasgd"))}
    return {"iterations": runs["deep"].iterations.tolist(),
            "deep": runs["deep"].effective_step.tolist(),
            "metasgd": runs["metasgd"].effective_step.tolist(),
            "deep_loss": runs["deep"].meta_loss.tolist(),
            "metasgd_loss": runs["metasgd"].meta_loss.tolist(),
            "config": dict(runs["deep"].config)}
