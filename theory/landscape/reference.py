"""Naive per-task reference of the linear meta-training simulator (for tests and benchmarks).

Same random stream and same per-task formulas as :func:`theory.landscape.simulate.meta_train`,
but restarts and tasks are visited one at a time with Python loops, as a straightforward
implementation would.  Agreement (to rounding) checks the vectorised broadcasting and
reductions; the timing ratio measures what vectorisation buys.
"""

import numpy as np

from .. import _check
from . import closed, optim
from .simulate import check_divergence, linear_setup
from .tasks import LinearTasks, linear_batch


def meta_train_naive(rng, *, depth=2, method="maml", steps=1, alpha=0.5, tasks=None,
                     population=True, shots=10, meta_batch=16, restarts=32, iterations=500,
                     optimizer="sgd", lr=0.3, init=None, init_scale=1.0):
    """Final parameters ``(R, depth)`` of linear meta-training (methods maml, fomaml,
    multitask), looping over restarts and tasks."""
    _check.choice("method", method, ("maml", "fomaml", "multitask"))
    depth = _check.integer("depth", depth, 1)
    alpha = _check.positive("alpha", alpha)
    tasks = LinearTasks() if tasks is None else tasks
    k = 0 if method == "multitask" else _check.integer("steps", steps, 0)
    _, theta = linear_setup(rng, depth, init, init_scale, restarts)
    init_opt, update, get_params = optim.make(optimizer, lr)
    states = [init_opt(tuple(float(w[r]) for w in theta)) for r in range(restarts)]
    for i in range(iterations + 1):
        batch = linear_batch(tasks, rng, (restarts, meta_batch), population=population,
                             shots=shots)
        for r in range(restarts):
            w = get_params(states[r])
            loss, grads = 0.0, [0.0] * depth
            for t in range(meta_batch):
                support = tuple(float(q[r, t]) for q in batch.support)
                query = tuple(float(q[r, t]) for q in batch.query)
                lt, gt, _ = closed.meta_value_and_grad(w, support, query, alpha, k,
                                                       first_order=method == "fomaml")
                loss += float(lt) * batch.weight[t]
                grads = [g + float(gj) * batch.weight[t] for g, gj in zip(grads, gt, strict=True)]
            check_divergence(i, np.array([loss]), [np.array([g]) for g in grads],
                             [np.array([wj]) for wj in w])
            if i < iterations:
                states[r] = update(i, tuple(grads), states[r])
    return np.array([get_params(s) for s in states], dtype=float)
