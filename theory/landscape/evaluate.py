"""Meta-test evaluation: post-adaptation query loss (and accuracy) after k = 0..K inner steps.

Parameters come as an array ``(R, P)`` (the ``params`` of a :class:`~.simulate.Run`, one row per
restart); the step of each row is ``alpha`` or, for Meta-SGD, its learned ``beta`` column.
"""

import numpy as np

from .. import _check
from . import closed, models
from .tasks import exact_nodes, linear_batch


def _split(params, depth, extra):
    _check.integer("depth", depth, 1)
    params = np.asarray(params, dtype=float)
    if params.ndim != 2 or params.shape[1] not in (depth + extra, depth + extra + 1):
        raise ValueError(f"params must have shape (restarts, {depth + extra}) "
                         f"[+1 column for beta], got {params.shape}")
    cols = tuple(params[:, j][:, None] for j in range(params.shape[1]))
    return cols[:depth + extra], cols[depth + extra:]


def linear_curve(rng, params, tasks, *, depth, alpha, steps, population=True, shots=10,
                 n_tasks=1000):
    """Expected post-adaptation query loss after k = 0..``steps`` steps, shape ``(R, K+1)``.

    Population mode is exact (Gauss rule in ``a``, ``rng`` unused); otherwise ``n_tasks``
    sampled tasks with ``shots`` support and query points.
    """
    w, beta = _split(params, depth, 0)
    step = beta[0] if beta else _check.positive("alpha", alpha)
    steps = _check.integer("steps", steps, 0)
    if population:
        a, p = tasks.slope.quadrature(exact_nodes(depth, steps))
        support = tasks.population(a[None, :])
        query, weight = support, p
    else:
        batch = linear_batch(tasks, rng, (1, n_tasks), population=False,
                             shots=_check.integer("shots", shots, 1))
        support, query, weight = batch.support, batch.query, batch.weight
    with np.errstate(over="ignore", invalid="ignore"):
        path = closed.inner_path(w, support, step, steps)
        out = np.stack([closed.task_loss(wk, query) @ weight for wk in path], axis=-1)
    _raise_if_diverged(out, "linear adaptation curve")
    return out


def logistic_curve(rng, params, tasks, *, depth, alpha, steps, shots=10, query_shots=200,
                   n_tasks=1000):
    """Post-adaptation query cross-entropy and accuracy after k = 0..``steps`` steps on
    ``n_tasks`` fresh tasks: two arrays of shape ``(R, K+1)``."""
    theta, beta = _split(params, depth, 1)
    step = beta[0] if beta else _check.positive("alpha", alpha)
    steps = _check.integer("steps", steps, 0)
    restarts = theta[0].shape[0]
    if query_shots is not None:
        _check.integer("query_shots", query_shots, 1)
    _, support, query = tasks.sample(rng, (1, n_tasks), _check.integer("shots", shots, 1),
                                     query_shots)
    # the same meta-test tasks for every restart: restarts on axis 0, tasks on axis 1
    per_task = tuple(np.broadcast_to(p, (restarts, n_tasks)) for p in theta)
    support = tuple(np.broadcast_to(s, (restarts,) + s.shape[1:]) for s in support)
    xq, yq = (np.broadcast_to(q, (restarts,) + q.shape[1:]) for q in query)
    with np.errstate(over="ignore", invalid="ignore"):
        path = models.adapt(models.cross_entropy, per_task, support, step, steps)
        loss = np.stack([models.cross_entropy(th, xq, yq).mean(axis=1) for th in path], -1)
        acc = np.stack([models.accuracy(th, xq, yq).mean(axis=1) for th in path], -1)
    _raise_if_diverged(loss, "logistic adaptation curve")
    return loss, acc


def _raise_if_diverged(values, what):
    if not np.all(np.isfinite(values)):
        raise closed.DivergenceError(f"{what}: the inner loop diverged (value "
                                     f"{values[~np.isfinite(values)][0]}); lower alpha")
