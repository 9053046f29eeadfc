"""Adaptation curves: shallow vs deep linear, LogR vs LogR+LinNet, at equal alpha.

After meta-training each model with K-step MAML, the post-adaptation query loss (and, for the
logistic models, accuracy) after k = 0..K inner steps on meta-test tasks, and the meta-test
loss along meta-training.  This is the failure mode of the paper in numbers: the shallow
models stay at a loss fixed by alpha (R1, R4), the deeper ones drive it down (R2, R3).
"""

import numpy as np

from . import evaluate
from .analyses import linear_tasks, train
from .simulate import meta_train
from .tasks import ClassificationTasks, SlopeDistribution


def adaptation_curves(rng, *, alpha=0.5, steps=2, depth=2, sigma2=1.0, slope_mean=1.0,
                      slope_std=0.5, restarts=4, iterations=1000, lr=0.02, optimizer="adam",
                      logistic=True, class_mean=1.0, class_std=2.0, sharpness=4.0, shots=20,
                      meta_batch=16, logistic_iterations=400, logistic_lr=0.03, n_tasks=500,
                      records=8, population=True, linear_shots=10, linear_meta_batch=16):
    """Adaptation curves of MAML-trained models, all with inner step ``alpha`` and K=``steps``.

    The linear models train on the exact population objective (``population``) or on sampled
    meta-batches (``linear_meta_batch`` tasks of ``linear_shots`` points); their losses are
    always the exact expected population query loss.  The logistic models train on sampled
    meta-batches of ``meta_batch`` tasks with ``shots`` support and query points.

    Keys: ``k`` (0..K); ``linear`` with ``shallow`` and ``deep`` (``[restart][k]`` exact
    expected population query loss) and ``meta_test`` (``iterations``, ``shallow``, ``deep``:
    ``[record][restart]``); if ``logistic``: ``logistic`` with ``logr`` and ``linnet``, each
    holding ``loss`` and ``accuracy`` (``[restart][k]``, ``n_tasks`` fresh tasks of ``shots``
    support and 200 query points) and ``meta_test`` (``iterations``, ``loss`` and ``accuracy``
    after K steps, ``[record][restart]``); ``config``.
    """
    tasks = linear_tasks(sigma2, slope_mean, slope_std)
    out = {"k": list(range(steps + 1)), "linear": {"meta_test": {}}}
    for name, L in (("shallow", 1), ("deep", depth)):
        run = train(rng, population=population, shots=linear_shots,
                    meta_batch=linear_meta_batch, depth=L, steps=steps, alpha=alpha,
                    tasks=tasks, restarts=restarts, iterations=iterations, lr=lr,
                    optimizer=optimizer, record_every=max(1, iterations // records))
        exact = lambda params: evaluate.linear_curve(rng, params, tasks, depth=L,  # noqa: E731
                                                     alpha=alpha, steps=steps)
        out["linear"][name] = exact(run.params).tolist()
        out["linear"]["meta_test"][name] = [exact(p)[:, -1].tolist() for p in run.trajectory]
        out["linear"]["meta_test"]["iterations"] = run.iterations.tolist()
    out["config"] = dict(alpha=alpha, steps=steps, depth=depth, sigma2=sigma2,
                         slope_mean=slope_mean, slope_std=slope_std, restarts=restarts,
                         iterations=iterations, lr=lr, optimizer=optimizer,
                         population=population, linear_shots=linear_shots,
                         linear_meta_batch=linear_meta_batch)
    if logistic:
        ctasks = ClassificationTasks(sigma2, SlopeDistribution(class_mean, class_std), sharpness)
        out["logistic"] = {name: _logistic(rng, ctasks, L, alpha, steps, restarts, shots,
                                           meta_batch, logistic_iterations, logistic_lr,
                                           n_tasks, records)
                           for name, L in (("logr", 1), ("linnet", depth))}
        out["config"].update(class_mean=class_mean, class_std=class_std, sharpness=sharpness,
                             shots=shots, meta_batch=meta_batch, n_tasks=n_tasks,
                             logistic_iterations=logistic_iterations, logistic_lr=logistic_lr)
    return out


def _logistic(rng, tasks, depth, alpha, steps, restarts, shots, meta_batch, iterations, lr,
              n_tasks, records):
    run = meta_train(rng, model="logistic", depth=depth, steps=steps, alpha=alpha, tasks=tasks,
                     shots=shots, meta_batch=meta_batch, restarts=restarts,
                     iterations=iterations, optimizer="adam", lr=lr,
                     record_every=max(1, iterations // records))
    loss, acc = evaluate.logistic_curve(rng, run.params, tasks, depth=depth, alpha=alpha,
                                        steps=steps, shots=shots, n_tasks=n_tasks)
    # every record on the same meta-test tasks, so the curve is not sampling noise
    seed = rng.integers(2 ** 63)
    along = [evaluate.logistic_curve(np.random.default_rng(seed), params, tasks, depth=depth,
                                     alpha=alpha, steps=steps, shots=shots,
                                     n_tasks=max(1, n_tasks // 4))
             for params in run.trajectory]
    return {"loss": loss.tolist(), "accuracy": acc.tolist(), "params": run.params.tolist(),
            "meta_test": {"iterations": run.iterations.tolist(),
                          "loss": [lc[0][:, -1].tolist() for lc in along],
                          "accuracy": [lc[1][:, -1].tolist() for lc in along]}}


def logistic_collapse(rng, *, alpha=0.5, steps=1, depth=2, restarts=4, iterations=400, lr=0.03,
                      class_mean=1.0, class_std=2.0, sharpness=4.0, shots=20, meta_batch=16,
                      n_tasks=500):
    """Meta-train LogR+LinNet, collapse ``w1 ... wL`` into ``W`` (a LogR computing the same
    function) and adapt both with the same ``alpha`` on the same meta-test tasks (R3, R4).

    Keys (``[restart][k]``, k = 0..K): ``linnet_loss``, ``linnet_accuracy``, ``collapsed_loss``,
    ``collapsed_accuracy`` (equal at k = 0: same function); ``params``; ``config``.
    """
    tasks = ClassificationTasks(1.0, SlopeDistribution(class_mean, class_std), sharpness)
    run = meta_train(rng, model="logistic", depth=depth, steps=steps, alpha=alpha, tasks=tasks,
                     shots=shots, meta_batch=meta_batch, restarts=restarts,
                     iterations=iterations, optimizer="adam", lr=lr, record_every=iterations)
    collapsed = np.stack([np.prod(run.params[:, :depth], axis=1), run.params[:, depth]], -1)
    seed = rng.integers(2 ** 63)
    out = {}
    for name, params, L in (("linnet", run.params, depth), ("collapsed", collapsed, 1)):
        loss, acc = evaluate.logistic_curve(np.random.default_rng(seed), params, tasks, depth=L,
                                            alpha=alpha, steps=steps, shots=shots,
                                            n_tasks=n_tasks)
        out[name + "_loss"], out[name + "_accuracy"] = loss.tolist(), acc.tolist()
    out["params"] = run.params.tolist()
    out["config"] = dict(run.config, class_mean=class_mean, class_std=class_std,
                         sharpness=sharpness, n_tasks=n_tasks)
    return out
