"""Task chunks of a meta-gradient on several threads, each with single-threaded BLAS.

A meta-step spends nearly all its time inside numpy (ufunc loops, copies, BLAS calls), which
releases the GIL, so chunks of tasks traced on separate threads run on separate cores, and the
elementwise work (batch norm, pooling, ReLU, im2col) is spread over the cores too, which BLAS
threads cannot do. Assumed and arranged at import:

- autograd's trace counter is per thread (``thread_safe_autograd``). autograd numbers nested
  traces with one process-wide counter, incremented on entry and decremented on exit;
  interleaved by two threads, an inner trace can get the number of a live outer trace, and
  their boxes mix (wrong higher-order derivatives). Each thread only sees its own boxes (the
  shared inputs are plain arrays), so one counter per thread is autograd's own rule per thread.
- glibc's malloc serves every thread from its main arena (``primitives.keep_freed_memory``):
  the other arenas hand large blocks to ``mmap``, whose page faults cost two threads 1.6x the
  CPU time of one doing the same work.

BLAS is limited to one thread while chunks run (through threadpoolctl, process-wide), so the
``workers`` threads are all the threads a meta-step uses. Measured choices are in the README
("Performance").

Also public: ``default_workers`` (cores this process may run on (``os.sched_getaffinity``, else
``os.cpu_count``)); ``check_workers`` (``workers`` as an int >= 1 (``None``:
``default_workers()``); ValueError otherwise); ``map_chunks`` (``[fn(x) for x in items]`` in
order, on up to ``workers`` threads, BLAS single-threaded).
"""

import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import autograd.tracer
import numpy as np
from threadpoolctl import ThreadpoolController


class _PerThreadTraceStack(threading.local, autograd.tracer.TraceStack):
    """autograd's ``TraceStack`` with its counter ``top`` held per thread."""


def thread_safe_autograd():
    """Give every thread its own autograd trace counter (idempotent; keeps this thread's)."""
    old = autograd.tracer.trace_stack
    if not isinstance(old, _PerThreadTraceStack):
        new = _PerThreadTraceStack()
        new.top = old.top  # a trace live in this thread keeps its number
        autograd.tracer.trace_stack = new


thread_safe_autograd()


def default_workers():
    """Cores this process may run on (``os.sched_getaffinity``, else ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def check_workers(workers):
    """``workers`` as an int >= 1 (``None``: ``default_workers()``); ValueError otherwise."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be None (all cores) or an integer >= 1, got {workers!r}")
    return int(workers)


_controller = []


def _blas():
    """One ``ThreadpoolController`` (it inspects the loaded libraries once)."""
    if not _controller:
        _controller.append(ThreadpoolController())
    return _controller[0]


def map_chunks(fn, items, workers):
    """``[fn(x) for x in items]`` in order, on up to ``workers`` threads, BLAS single-threaded.

    Each call runs in a copy of the caller's context, so ``np.errstate`` (a context variable)
    holds in the workers as it does in the caller.
    """
    workers = min(workers, len(items))
    with _blas().limit(limits=1, user_api="blas"):
        if workers <= 1:
            return [fn(x) for x in items]
        contexts = [contextvars.copy_context() for _ in items]
        with ThreadPoolExecutor(workers, thread_name_prefix="meta-grad") as pool:
            return list(pool.map(lambda ctx, x: ctx.run(fn, x), contexts, items))
