"""Chunks of a meta-gradient in several processes, each with single-threaded BLAS.

``map_chunks(fn, args, workers)`` is ``[fn(*a) for a in args]``: the calling process computes
chunks ``0, W, 2W, ...`` itself and a pool of ``W - 1`` helper processes computes the others
(``W = min(workers, len(args))``). Processes, not threads: autograd's bookkeeping between
numpy calls is Python and holds the GIL, as do numpy's many calls on small arrays, so threads
wait for each other (docs/engine.md: the measurements).

- The helpers are forked on Linux (``START_METHOD``: a script needs no ``__main__`` guard,
  and they start with the engine imported); elsewhere they start the platform's default way
  (spawn on macOS and Windows, where a script that trains must guard its entry point with
  ``if __name__ == "__main__":``, as for any ``multiprocessing`` code). They are created on
  first use, kept for later calls with the same ``workers`` and stopped at exit
  (``shutdown``). They ignore SIGINT, so an interrupt reaches the caller alone; there it
  stops the helpers at once (``stop_now``), abandoning their chunks with the caller's own,
  and the interrupt goes on (``train`` stops within seconds, keeping its last checkpoint).
- ``fn`` must be a module-level function and ``args`` picklable (a ``MetaOpt`` of the registry
  travels as its name and options); otherwise (a meta-optimizer of one's own built from
  closures) every chunk runs in the calling process, with a UserWarning. The helpers run
  ``fn`` under the caller's ``np.errstate``; their exceptions are raised in the caller. For
  given chunks the results do not depend on ``workers``, bit for bit (each chunk is the same
  computation in any process).
- BLAS is limited to one thread in every process while chunks run (threadpoolctl), so the
  ``workers`` processes are all the threads a meta-step uses.
- A daemonic process (a Dask worker, a ``multiprocessing`` pool's worker) may not have
  children: there the default is one worker, and more is a ValueError. Off the main thread
  (a task of a server or of a thread pool, e.g. a Dask worker without a nanny) the default is
  one worker too: a fork there would copy the server's open sockets into the helpers.
- A helper exits when its caller's process does (even when killed), and takes SIGTERM's
  default action rather than a handler forked from the caller.

A caller that runs meta-steps on threads of its own (a Dask worker with several threads)
first calls ``thread_safe_autograd()``, as the paper sweep's task does
(``theory.paper.execute.train_run``): autograd numbers nested traces with one process-wide
counter, so two threads' traces can get one number and mix their boxes (wrong higher-order
derivatives); one counter per thread is autograd's own rule per thread. It changes autograd
for the whole process, so importing this module does not call it.
"""

import atexit
import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import tracemalloc
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import autograd.tracer
import numpy as np
from threadpoolctl import ThreadpoolController

from theory import _check

__all__ = ["thread_safe_autograd", "default_workers", "check_workers", "one_blas_thread",
           "START_METHOD", "shutdown", "stop_now", "deferred_interrupt", "helper_usage",
           "map_chunks"]


class _PerThreadTraceStack(threading.local, autograd.tracer.TraceStack):
    """autograd's ``TraceStack`` with its counter ``top`` held per thread."""


def thread_safe_autograd():
    """Give every thread its own autograd trace counter (idempotent; keeps this thread's)."""
    old = autograd.tracer.trace_stack
    if not isinstance(old, _PerThreadTraceStack):
        new = _PerThreadTraceStack()
        new.top = old.top  # a trace live in this thread keeps its number
        autograd.tracer.trace_stack = new


def _daemonic():
    return multiprocessing.current_process().daemon


def default_workers():
    """Cores this process may run on (``os.sched_getaffinity``, else ``os.cpu_count``); 1 in a
    daemonic process, which may not start the helper processes, and 1 off the main thread."""
    if _daemonic() or threading.current_thread() is not threading.main_thread():
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def check_workers(workers):
    """``workers`` as an int >= 1 (``None``: ``default_workers()``); ValueError otherwise."""
    if workers is None:
        return default_workers()
    workers = _check.integer("workers", workers, 1, none="all cores")
    if workers > 1 and _daemonic():
        raise ValueError(f"workers must be 1 (or None) in a daemonic process such as a Dask "
                         f"worker, which may not start processes, got {workers!r}")
    return workers


_controller = []


def _blas():
    """One ``ThreadpoolController`` (it inspects the loaded libraries once)."""
    if not _controller:
        _controller.append(ThreadpoolController())
    return _controller[0]


def one_blas_thread():
    """Context manager: BLAS single-threaded in this process (threadpoolctl), restored after."""
    return _blas().limit(limits=1, user_api="blas")


# how helpers start: fork on Linux; None (the platform's default) elsewhere
START_METHOD = "fork" if sys.platform.startswith("linux") else None

_pool = {}  # {helpers: ProcessPoolExecutor}, at most one entry, of this process alone
if hasattr(os, "register_at_fork"):  # a forked child (a helper too) starts without a pool
    os.register_at_fork(after_in_child=_pool.clear)


def _exit_with(parent):
    """Exit once ``parent`` has: a helper must not outlive a killed caller (it would hold the
    caller's inherited files and sockets open, and its memory)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _start_helper(parent):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler forked from the caller
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    _blas().limit(limits=1, user_api="blas")  # for the helper's lifetime


def _helpers(n):
    """The pool of ``n`` helper processes, started (or restarted with another size) on demand."""
    if n not in _pool:
        shutdown()
        _pool[n] = ProcessPoolExecutor(n, multiprocessing.get_context(START_METHOD),
                                       initializer=_start_helper, initargs=(os.getpid(),))
        atexit.unregister(shutdown)     # once, however often the pool was restarted
        atexit.register(shutdown)
    return _pool[n]


def shutdown():
    """Stop the helper processes (they restart on the next ``map_chunks`` that needs them)."""
    for pool in _pool.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _pool.clear()


def stop_now():
    """Stop the helper processes at once, abandoning the chunks they run (a Ctrl-C in the
    caller): they are killed rather than sent their end-of-work sentinels, which they would
    read only after finishing their chunks. The next ``map_chunks`` starts new ones."""
    for pool in _pool.values():
        kill = getattr(pool, "kill_workers", None)      # Python >= 3.14
        if kill is not None:
            kill()
        else:   # earlier versions keep the processes in the executor's ``_processes`` alone
            for process in list((pool._processes or {}).values()):
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
    _pool.clear()


@contextlib.contextmanager
def deferred_interrupt():
    """Hold a Ctrl-C (SIGINT) that arrives inside the block until the block ends.

    Around the forks of helper processes (a ``KeyboardInterrupt`` raised in the parent's
    after-fork hooks is printed as "Exception ignored" and lost) and a checkpoint write (one
    inside ``zipfile`` left a half-closed archive and a ``ValueError`` instead of the
    interrupt). A second Ctrl-C inside the block is raised at once. Only the main thread
    receives signals, so elsewhere (a Dask worker thread, say) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []

    def hold(signum, frame):
        if held:
            raise KeyboardInterrupt
        held.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt


# what the helpers report with each chunk: CPU seconds, and per helper process the largest
# peak of memory traced during one chunk (only while the caller traces memory). Kept here, not
# in ``bench`` which reads them (``helper_usage``): only the helper's task wrapper ``_call``
# sees a chunk's CPU time and memory peak in the helper process.
_usage = {"cpu_s": 0.0, "peak_bytes": {}}


def helper_usage(reset=False):
    """``(cpu_s, peak_bytes)`` of the helper processes since the last reset: CPU seconds spent
    in their chunks, and the sum over helpers of each one's largest ``tracemalloc`` peak of a
    chunk, traced while the caller traces memory (else 0). The caller's own process is not
    included (``time.process_time``, ``tracemalloc`` there)."""
    out = _usage["cpu_s"], sum(_usage["peak_bytes"].values())
    if reset:
        _usage["cpu_s"], _usage["peak_bytes"] = 0.0, {}
    return out


def _call(payload, errstate, trace):
    cpu = time.process_time()
    fn, args = pickle.loads(payload)
    if trace:
        tracemalloc.start()
    try:
        with np.errstate(**errstate):
            out = fn(*args)
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
    finally:
        if trace:
            tracemalloc.stop()
    return out, os.getpid(), time.process_time() - cpu, peak


def _collect(future):
    out, pid, cpu, peak = future.result()
    _usage["cpu_s"] += cpu
    _usage["peak_bytes"][pid] = max(peak, _usage["peak_bytes"].get(pid, 0))
    return out


def map_chunks(fn, args, workers):
    """``[fn(*a) for a in args]`` in order, on up to ``workers`` processes, BLAS single-threaded."""
    args = list(args)
    workers = min(workers, len(args))
    with one_blas_thread():
        if workers <= 1:
            return [fn(*a) for a in args]
        try:  # pickled here, so that what cannot travel is known before anything starts
            payloads = {i: pickle.dumps((fn, a), pickle.HIGHEST_PROTOCOL)
                        for i, a in enumerate(args) if i % workers}
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            warnings.warn(f"the chunks of {getattr(fn, '__qualname__', fn)} run in this process "
                          f"alone: their arguments cannot be sent to helper processes ({err})",
                          UserWarning, stacklevel=2)
            return [fn(*a) for a in args]
        pool, errstate, futures = _helpers(workers - 1), np.geterr(), {}
        try:
            with deferred_interrupt():     # the first submit forks the helpers
                futures = {i: pool.submit(_call, payload, errstate, tracemalloc.is_tracing())
                           for i, payload in payloads.items()}
            own = {i: fn(*a) for i, a in enumerate(args) if i % workers == 0}
            return [own[i] if i in own else _collect(futures[i]) for i in range(len(args))]
        except BrokenProcessPool:
            shutdown()  # a helper died (killed, out of memory): start afresh next time
            raise
        except KeyboardInterrupt:
            stop_now()  # Ctrl-C: not a wait for the helpers to finish their chunks
            raise
        finally:
            for future in futures.values():
                future.cancel()  # the rest of a failed call
