"""Few-shot evaluation: adapt to many sampled test episodes, report mean accuracy and 95% CI.

Each episode is adapted from the meta-learned initialisation with the run's inner loop
(``steps`` steps of size ``inner_lr``, through the meta-optimizer if any) on its support set and
scored on its query set, as in MAML (Finn et al. 2017, section 5). Episodes are drawn and
processed ``batch`` tasks at a time; the generator is consumed chunk by chunk, so the same
``rng`` state, ``episodes`` and ``batch`` always give the same episodes.

``adaptation_curve`` scores the same episodes after every number of inner steps k = 0..K from
one adaptation of K steps each (the paper's Fig. 1 measured on a trained CNN): with the same
``rng`` state its value at k equals ``evaluate`` with ``steps=k``.
"""

import math

import numpy as np
from tqdm.auto import tqdm

from theory import _check
from theory.engine import cnn, data, maml
from theory.engine import config as run_config
from theory.engine import metaopt as metaopts

__all__ = ["EPISODES", "BATCH", "algorithm_kwargs", "evaluate", "mean_accuracy",
           "adaptation_curve"]

EPISODES = 600
BATCH = 10


def algorithm_kwargs(config, metaopt):
    """Keyword arguments of ``maml.meta_grad``/``maml.evaluate_batch`` for a run ``config``.

    ``first_order`` with ``algo="maml"`` means FO-MAML.
    """
    algo = config["algo"]
    if config["first_order"] and algo == "maml":
        algo = "fomaml"
    return {"alpha": config["inner_lr"], "steps": config["steps"], "algo": algo,
            "metaopt": metaopt, "arch": run_config.arch(config)}


def _episodes(dataset, rng, config, episodes, batch, progress, desc):
    """Yield the episodes ``evaluate`` draws, ``batch`` tasks at a time."""
    done = 0
    with tqdm(total=episodes, desc=desc, disable=not progress, dynamic_ncols=True) as bar:
        while done < episodes:
            tasks = min(batch, episodes - done)
            yield data.sample_tasks(dataset, rng, tasks=tasks, ways=config["ways"],
                                    shots=config["shots"], query=config["query"])
            done += tasks
            bar.update(tasks)


def _summary(accs):
    mean, half = data.mean_ci95(accs)
    return mean, None if math.isnan(half) else half


def evaluate(meta_params, dataset, rng, *, config, episodes=EPISODES, metaopt=None,
             batch=BATCH, progress=False, desc="eval"):
    """Mean query accuracy over ``episodes`` tasks of ``dataset`` and its 95% CI half-width.

    ``meta_params`` is ``{"model": params, "metaopt": phi}``; ``config`` supplies ``ways``,
    ``shots``, ``query``, ``steps``, ``inner_lr``, ``algo``, ``first_order`` (the training
    config); ``metaopt`` is the ``MetaOpt`` object or ``None``. Returns ``{"accuracy",
    "ci95", "episodes", "accuracies"}`` (``ci95`` is ``None`` for a single episode).
    """
    return mean_accuracy(meta_params, dataset, rng, config=config, metaopt=metaopt,
                         episodes=_check.integer("episodes", episodes, 1),
                         batch=_check.integer("batch", batch, 1), progress=progress, desc=desc)


def mean_accuracy(meta_params, dataset, rng, *, config, episodes, metaopt, batch=BATCH,
                  progress=False, desc="eval"):
    """``evaluate`` for callers that have checked ``episodes`` and ``batch`` (``train``, the
    ``eval`` command line)."""
    kwargs = algorithm_kwargs(config, metaopt)
    accs = []
    for episode in _episodes(dataset, rng, config, episodes, batch, progress, desc):
        acc = maml.evaluate_batch(meta_params["model"], episode, phi=meta_params["metaopt"],
                                  **kwargs)
        accs.extend(float(a) for a in np.asarray(acc).ravel())
    mean, half = _summary(accs)
    return {"accuracy": mean, "ci95": half, "episodes": len(accs), "accuracies": accs}


def adaptation_curve(meta_params, dataset, rng, *, config, steps=range(11), episodes=EPISODES,
                     metaopt=None, batch=BATCH, progress=False, desc="curve"):
    """Mean query accuracy and 95% CI after ``k`` inner steps, for every ``k`` in ``steps``.

    Arguments as for ``evaluate`` (``config["steps"]`` is ignored). Each episode is adapted
    once, for ``K = max(steps)`` steps of the run's inner loop (``maml.adapt``); the params
    after step ``k`` are read where the loop hands them to the meta-optimizer's ``update``
    (the identity for ``metaopt=None``), so the curve costs one adaptation, not one per ``k``.
    Returns ``{"steps", "accuracy", "ci95", "episodes", "accuracies"}``: lists over the sorted
    distinct ``steps`` (``accuracies[i]`` holds the per-episode accuracies after ``steps[i]`` steps).
    """
    steps = sorted({int(k) for k in steps})
    if not steps or steps[0] < 0:
        raise ValueError(f"steps={steps!r} must hold at least one integer >= 0")
    _check.integer("episodes", episodes, 1)
    _check.integer("batch", batch, 1)
    params, phi = meta_params["model"], meta_params["metaopt"]
    base = metaopt if metaopt is not None else metaopts.get("none")
    anil = config["algo"] == "anil"
    arch = run_config.arch(config)
    keys = maml.adapt_keys(params, "anil") if anil else None
    accs = {k: [] for k in steps}
    for x_s, y_s, x_q, y_q in _episodes(dataset, rng, config, episodes, batch, progress, desc):
        seen = []

        def update(phi, grads, theta, step, seen=seen):
            seen.append(theta)          # theta before inner step ``step``
            return base.update(phi, grads, theta, step)

        adapted = maml.adapt(params, x_s, y_s, alpha=config["inner_lr"], steps=max(steps),
                             first_order=True, adapt_keys=keys,
                             metaopt=base._replace(update=update), phi=phi, arch=arch)
        thetas = [params, *seen[1:], adapted]
        feats = cnn.features(params, x_q, arch) if anil else None
        for k in steps:
            logits = cnn.head(thetas[k], feats) if anil else cnn.apply(thetas[k], x_q, arch)
            accs[k].extend(float(a) for a in np.asarray(maml.accuracy(logits, y_q)).ravel())
    summary = [_summary(accs[k]) for k in steps]
    return {"steps": steps, "accuracy": [m for m, _ in summary], "ci95": [h for _, h in summary],
            "episodes": len(accs[steps[0]]), "accuracies": [accs[k] for k in steps]}
