"""Few-shot evaluation: adapt to many sampled test episodes, report mean accuracy and 95% CI.

Each episode is adapted from the meta-learned initialisation with the run's inner loop
(``steps`` steps of size ``inner_lr``, through the meta-optimizer if any) on its support set and
scored on its query set, as in MAML (Finn et al. 2017, section 5). Episodes are drawn and
processed ``batch`` tasks at a time; the generator is consumed chunk by chunk, so the same
``rng`` state, ``episodes`` and ``batch`` always give the same episodes.
"""

import math

import numpy as np
from tqdm.auto import tqdm

from theory.engine import data, maml

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
            "metaopt": metaopt}


def evaluate(meta_params, dataset, rng, *, config, episodes=EPISODES, metaopt=None,
             batch=BATCH, progress=False, desc="eval"):
    """Mean query accuracy over ``episodes`` tasks of ``dataset`` and its 95% CI half-width.

    ``meta_params`` is ``{"model": params, "metaopt": phi}``; ``config`` supplies ``ways``,
    ``shots``, ``query``, ``steps``, ``inner_lr``, ``algo``, ``first_order`` (the training
    config); ``metaopt`` is the ``MetaOpt`` object or ``None``. Returns ``{"accuracy",
    "ci95", "episodes", "accuracies"}`` (``ci95`` is ``None`` for a single episode).
    """
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) \
            or episodes < 1:
        raise ValueError(f"episodes={episodes!r} must be an integer >= 1")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch={batch!r} must be an integer >= 1")
    kwargs = algorithm_kwargs(config, metaopt)
    accs = []
    with tqdm(total=episodes, desc=desc, disable=not progress, dynamic_ncols=True) as bar:
        while len(accs) < episodes:
            tasks = min(batch, episodes - len(accs))
            episode = data.sample_tasks(dataset, rng, tasks=tasks, ways=config["ways"],
                                        shots=config["shots"], query=config["query"])
            acc = maml.evaluate_batch(meta_params["model"], episode, phi=meta_params["metaopt"],
                                      **kwargs)
            accs.extend(float(a) for a in np.asarray(acc).ravel())
            bar.update(tasks)
    mean, half = data.mean_ci95(accs)
    return {"accuracy": mean, "ci95": None if math.isnan(half) else half,
            "episodes": len(accs), "accuracies": accs}
