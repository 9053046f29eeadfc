"""How the benchmarks time and measure: wall and CPU seconds of a call, its traced memory peak,
and rounds of calls whose times are compared within each round.

``rounds(calls, repeats, warmup)`` runs every call once per round, in an order that changes from
round to round so that every call follows every other equally often (``call_order``, a
Williams design); ``paired_ratio`` summarises two calls' per-round ratios by their median and
quartiles, which cancels the machine's drift between rounds. ``theory.engine.bench`` (engine
against PyTorch) and the scripts of ``benchmarks/`` time with these.
"""

import time
import tracemalloc

import numpy as np

from theory.engine import parallel

__all__ = ["clocks", "traced_peak", "call_order", "rounds", "paired_ratio"]


def clocks(fn):
    """(wall, CPU) seconds of ``fn()``; CPU of this process and of the engine's helpers."""
    parallel.helper_usage(reset=True)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu + parallel.helper_usage()[0]


def traced_peak(fn):
    """Peak bytes traced by ``tracemalloc`` during ``fn()`` above what was traced before, plus
    the peaks the engine's helper processes traced meanwhile (``parallel.helper_usage``)."""
    parallel.helper_usage(reset=True)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base + parallel.helper_usage()[1]
    finally:
        tracemalloc.stop()


def call_order(n, r):
    """The order of ``n`` calls in round ``r``: a Williams design, in which every call follows
    every other equally often, so that what one call leaves behind (cold caches, helper
    processes still exiting, a fragmented heap) weighs on all the others alike. Round ``r``
    adds ``r`` to the first row ``0, 1, n-1, 2, n-2, ...`` (mod ``n``); for odd ``n`` each
    second block of ``n`` rounds is reversed, which the balance needs. The balance is exact
    over any ``n`` consecutive rounds (``2n`` for odd ``n``)."""
    first, lo, hi = [0], 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    order = [(c + r) % n for c in first]
    return order[::-1] if n % 2 and (r // n) % 2 else order


def rounds(calls, repeats, warmup=0, bar=None):
    """``{name: [(wall, cpu) per round]}``: ``warmup + repeats`` rounds in which every call runs
    once (in the order of ``call_order``), the first ``warmup`` rounds dropped.

    Times of one round are taken within seconds of each other: their ratios are paired, free
    of the machine's drift between rounds (``paired_ratio``).
    """
    names, times = list(calls), {name: [] for name in calls}
    for r in range(warmup + repeats):
        for i in call_order(len(names), r):
            name = names[i]
            t = clocks(calls[name])
            if r >= warmup:
                times[name].append(t)
            if bar is not None:
                bar.update(1)
    return times


def paired_ratio(numer, denom):
    """Median and quartiles ``(q25, q50, q75)`` of the per-round ratios ``numer[i] / denom[i]``
    (seconds of two calls timed in the same rounds, ``rounds``)."""
    ratios = np.asarray(numer, float) / np.asarray(denom, float)
    return tuple(float(q) for q in np.percentile(ratios, (25, 50, 75)))
