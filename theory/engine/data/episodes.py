"""N-way K-shot episode sampling and the 95% confidence interval of episode accuracies.

An episode (task) draws ``ways`` distinct classes of a split and, from each, ``shots`` support
and ``query`` query images, all distinct. The label of a drawn class is its position in a
uniformly random ordering of the drawn classes, so the class -> label map is a fresh random
permutation in every task (as in MAML, Finn et al. 2017, section 5.1).
"""

import numpy as np

from ... import _check

__all__ = ["sample_indices", "sample_tasks", "mean_ci95"]


def sample_indices(dataset, rng, *, tasks, ways, shots, query=15):
    """The image indices of ``sample_tasks``' episodes (same arguments, same draws):
    ``(support, queries)`` int arrays ``(T, N*K)`` and ``(T, N*Q)`` into ``dataset.images``,
    grouped by label as in ``sample_tasks``; ``dataset.labels[support[t, n*K]]`` is the
    class behind label ``n`` of task ``t``.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    tasks = _check.integer("tasks", tasks, 1)
    ways = _check.integer("ways", ways, 1)
    shots = _check.integer("shots", shots, 1)
    query = _check.integer("query", query, 1)
    if ways > dataset.n_classes:
        raise ValueError(f"ways={ways} exceeds the {dataset.n_classes} classes of "
                         f"{dataset.name}/{dataset.split} (valid: 1..{dataset.n_classes})")
    per_class = shots + query
    smallest = int(dataset.counts.min())
    if per_class > smallest:
        k = int(np.argmin(dataset.counts))
        raise ValueError(f"shots + query = {shots} + {query} = {per_class} exceeds the "
                         f"{smallest} images of class {k} ({dataset.class_names[k]!r}) in "
                         f"{dataset.name}/{dataset.split}; need shots + query <= {smallest}")
    # Random keys + argpartition draw T distinct-class subsets in one call; the selected
    # classes are then put in random order, which is the per-task label permutation.
    keys = rng.random((tasks, dataset.n_classes))
    classes = np.argpartition(keys, ways - 1, axis=1)[:, :ways] if ways < dataset.n_classes \
        else np.argsort(keys, axis=1)
    classes = np.take_along_axis(classes, rng.random((tasks, ways)).argsort(axis=1), axis=1)
    counts = dataset.counts[classes]                                    # (T, N)
    widest = int(counts.max())
    keys = rng.random((tasks, ways, widest))
    keys[np.arange(widest) >= counts[..., None]] = np.inf               # past a class's end
    # A full argsort (not argpartition) so that the order inside the chosen set, which decides
    # support versus query, is uniformly random too.
    picks = np.argsort(keys, axis=2)[..., :per_class]
    index = dataset.order[dataset.starts[classes][..., None] + picks]   # (T, N, K+Q)
    return index[..., :shots].reshape(tasks, ways * shots), \
        index[..., shots:].reshape(tasks, ways * query)


def sample_tasks(dataset, rng, *, tasks, ways, shots, query=15):
    """Draw ``tasks`` seeded N-way K-shot episodes from ``dataset``.

    Args:
        dataset: a ``Dataset``.
        rng: ``numpy.random.Generator``; the same generator state gives the same episodes.
        tasks: number of episodes T >= 1.
        ways: classes per episode N, 1 <= N <= ``dataset.n_classes``.
        shots: support images per class K >= 1.
        query: query images per class Q >= 1 (every class needs at least K + Q images).

    Returns:
        ``(x_s, y_s, x_q, y_q)``: float32 ``(T, N*K, C, H, W)``, int64 ``(T, N*K)``,
        float32 ``(T, N*Q, C, H, W)``, int64 ``(T, N*Q)``. Within a task the images are
        grouped by label: ``y_s[t] = [0]*K + [1]*K + ...`` and ``y_q[t] = [0]*Q + [1]*Q + ...``;
        which class carries label 0 is random per task.
    """
    support, queries = sample_indices(dataset, rng, tasks=tasks, ways=ways, shots=shots,
                                      query=query)
    y_s = np.broadcast_to(np.repeat(np.arange(ways), shots), (tasks, ways * shots)).copy()
    y_q = np.broadcast_to(np.repeat(np.arange(ways), query), (tasks, ways * query)).copy()
    return dataset.images[support], y_s, dataset.images[queries], y_q


def mean_ci95(accs):
    """Mean of episode accuracies and the half-width of its normal 95% confidence interval.

    ``half_width = 1.96 * std(accs, ddof=1) / sqrt(n)`` (the sample standard deviation, as
    in the few-shot literature's "mean +- 95% CI over 600 test episodes"). One accuracy
    has no spread estimate, so n = 1 gives half_width = nan.
    """
    accs = np.asarray(accs, dtype=np.float64).ravel()
    if accs.size == 0:
        raise ValueError("accs is empty; need at least one episode accuracy")
    if not np.all(np.isfinite(accs)):
        raise ValueError(f"accs contains non-finite values: {accs[~np.isfinite(accs)][:3]}")
    if accs.size == 1:
        return float(accs[0]), float("nan")
    return float(accs.mean()), float(1.96 * accs.std(ddof=1) / np.sqrt(accs.size))
