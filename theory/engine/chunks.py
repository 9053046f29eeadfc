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

CHUNK_BUDGET_BYTES = 512 * 2 ** 20
# Arrays held per image pass that the graph keeps, per value of a conv's output map
# (OUT_FACTOR) and per value of its input map (IN_FACTOR): fitted to the tracemalloc peak of
# one task's second-order meta-gradient (``timing.traced_peak``), both networks (docs/engine.md).
OUT_FACTOR = 3.5
IN_FACTOR = 4.0


def conv_values(in_shape, widths, downsample):
    """``(outs, ins)``: the values of one image's conv output maps (before any pooling) and of
    the conv input maps, summed over the blocks of widths ``widths`` on an ``in_shape``
    ``(C, H, W)`` image. A stride-2 block reads a map four times the size of its output, a
    max-pool block one the size of its output: hence two counts, not one."""
    blocks = cnn.block_shapes(in_shape, widths, downsample)
    outs = sum(width * conv_H * conv_W for _, _, (conv_H, conv_W), width in blocks)
    ins = sum(c_in * H * W for c_in, (H, W), _, _ in blocks)
    return outs, ins


def graph_bytes_per_task(params, batch, steps, algo, arch=cnn.ARCH):
    """Estimated bytes of one task's autodiff graph in a meta-gradient (``graph_bytes`` of the
    conv maps of one image, ``conv_values``)."""
    x_s, x_q = batch[0], batch[2]
    n_s, n_q = anp.shape(x_s)[1], anp.shape(x_q)[1]
    layers = cnn.architecture(params)["layers"]
    widths = [np.shape(params[f"conv{i + 1}/w"])[-4] for i in range(layers)]
    values = conv_values(anp.shape(x_q)[2:], widths, arch.downsample)
    itemsize = np.dtype(getval(x_q).dtype).itemsize
    return graph_bytes(values, n_s, n_q, steps, algo == "maml", itemsize)


def graph_bytes(values, n_s, n_q, steps, second_order, itemsize):
    """Bytes of one task's graph: ``itemsize`` x (``OUT_FACTOR`` x outs + ``IN_FACTOR`` x ins,
    ``values = (outs, ins)`` of one image) x the image passes kept: the ``n_q`` query images
    once; the ``n_s`` support images once per inner step for ``second_order``, else one pass
    at a time (first order and ANIL)."""
    outs, ins = values
    passes = n_q + (max(steps, 1) * n_s if second_order else n_s)
    return itemsize * (OUT_FACTOR * outs + IN_FACTOR * ins) * passes


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
