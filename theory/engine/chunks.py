"""A meta-gradient over its tasks in chunks, on several processes, within a memory budget.

``meta_grad(meta_params, batch, chunk=None, workers=None, **kwargs)`` is ``maml.meta_grad``
over the tasks ``chunk`` at a time, the chunks on ``workers`` processes (``parallel``). The
meta-loss is the mean over tasks, so chunk c of ``T_c`` tasks adds ``T_c / T`` times its own
mean loss and gradient, summed in chunk order; for a given ``chunk`` the result does not depend
on ``workers`` (bit for bit), and it equals the unchunked one up to the order of float
summation.

``task_chunk`` sizes the chunks from a memory model of the autodiff graph
(``graph_bytes_per_task``): batching all tasks holds every task's graph at once (5-way 5-shot,
K = 5, 16 tasks: about 2.4 GiB), and the page faults and reclaim of that much fresh memory cost
more than the batching saves, so the graphs of the chunks in flight are kept under
``CHUNK_BUDGET_BYTES`` (README, Performance: the measurements behind it).
"""

import functools
import math
import operator

import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval

from theory import _check, _tree
from theory.engine import cnn, maml, parallel

CHUNK_BUDGET_BYTES = 768 * 2 ** 20
# Arrays of one image's activations held per image pass that the graph keeps: fitted to the
# tracemalloc peak of one task's second-order meta-gradient (``bench.traced_peak``).
GRAPH_FACTOR = 6.5


def graph_bytes_per_task(params, batch, steps, algo, arch=cnn.ARCH):
    """Estimated bytes of one task's autodiff graph in a meta-gradient.

    Counts the conv-block activations of one image (``hidden x H x W`` per layer at the
    conv's output, before any pooling) times the images whose graph is kept, times
    ``GRAPH_FACTOR``: the query set once and, for second order, the support set once per inner
    step (first order and ANIL keep one support pass at a time).
    """
    x_s, x_q = batch[0], batch[2]
    n_s, n_q = anp.shape(x_s)[1], anp.shape(x_q)[1]
    _, H, W = anp.shape(x_q)[2:]
    per_image = 0
    layers = cnn.architecture(params)["layers"]
    for i, (Ho, Wo) in enumerate(cnn.map_sizes(H, W, layers, arch.downsample)):
        if arch.downsample != "maxpool":  # the conv itself gives the block's output size
            H, W = Ho, Wo
        per_image += np.shape(params[f"conv{i + 1}/w"])[-4] * H * W
        H, W = Ho, Wo
    itemsize = np.dtype(getval(x_q).dtype).itemsize
    return graph_bytes(per_image, n_s, n_q, steps, algo == "maml", itemsize)


def graph_bytes(per_image, n_s, n_q, steps, second_order, itemsize):
    """Bytes of one task's graph: ``GRAPH_FACTOR`` x ``itemsize`` x ``per_image`` activation
    values x the image passes kept (the ``n_q`` query images once; the ``n_s`` support images
    once per inner step for ``second_order``, else one pass at a time)."""
    passes = n_q + (max(steps, 1) * n_s if second_order else n_s)
    return GRAPH_FACTOR * itemsize * per_image * passes


def task_chunk(chunk, T, meta_params=None, batch=None, steps=1, algo="maml", workers=1,
               arch=cnn.ARCH):
    """Tasks per chunk of a meta-gradient over ``T`` tasks: ``chunk`` checked, or automatic.

    ``chunk`` must be an integer in 1..T, or ``None``: chunks of equal size (rounded up), as
    few as keep the estimated graphs (``graph_bytes_per_task``) of the ``workers`` chunks
    computed at once under ``CHUNK_BUDGET_BYTES`` together, and a multiple of ``workers``
    (so that every worker gets a chunk); one task per chunk if that is not enough.
    """
    if chunk is None:
        per_task = graph_bytes_per_task(meta_params["model"], batch, steps, algo, arch)
        chunks = max(1, math.ceil(T * per_task * workers / CHUNK_BUDGET_BYTES))
        chunks = min(T, workers * math.ceil(chunks / workers))
        return math.ceil(T / chunks)
    return _check.integer("chunk", chunk, 1, T)


def _chunk_grad(meta_params, batch, kwargs):
    """``maml.meta_grad`` of one chunk (a module-level function: it travels to the helpers)."""
    return maml.meta_grad(meta_params, batch, **kwargs)


def _weighted_sum(weights, values):
    """``w_1 x_1 + w_2 x_2 + ...``, summed in order (the chunks' order)."""
    return functools.reduce(operator.add, (w * x for w, x in zip(weights, values, strict=True)))


def meta_grad(meta_params, batch, *, chunk=None, workers=None, **kwargs):
    """``(loss, grads, aux)`` of ``maml.meta_grad`` (``kwargs`` are its own), computed over the
    tasks in chunks (``task_chunk``: ``None`` picks a size from the memory model) on
    ``workers`` processes (``None``: every core of the process), with single-threaded BLAS in
    each; ``aux`` arrays are concatenated over the chunks."""
    T = anp.shape(maml.check_batch(batch)[0])[0]
    workers = parallel.check_workers(workers)
    size = task_chunk(chunk, T, meta_params, batch, kwargs.get("steps", 1),
                      kwargs.get("algo", "maml"), workers, kwargs.get("arch", cnn.ARCH))
    parts = [tuple(a[start:start + size] for a in batch) for start in range(0, T, size)]
    results = parallel.map_chunks(_chunk_grad, [(meta_params, part, kwargs) for part in parts],
                                  workers)
    if len(parts) == 1:
        return results[0]
    weights = [len(part[1]) / T for part in parts]
    loss = _weighted_sum(weights, [r[0] for r in results])
    grads = _tree.map(lambda *g: _weighted_sum(weights, g), *[r[1] for r in results])
    aux = {k: np.concatenate([r[2][k] for r in results]) for k in results[0][2]}
    return loss, grads, aux
