"""How a process that trains uses the C heap: ``keep_freed_memory``.

A meta-step allocates and frees many temporaries of tens to hundreds of MB (im2col columns,
conv outputs and their gradients), and letting malloc reuse them instead of unmapping them
saves the kernel's page faults on every fresh block. It changes the whole process, so importing
the engine does not call it: ``python -m theory.engine``, the paper sweep's task
(``theory.paper.execute.train_run``) and the engine benchmarks do.
"""

import ctypes

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


def keep_freed_memory(limit=2 ** 30):
    """Make glibc's malloc keep freed blocks of up to ``limit`` bytes for reuse; True if it took.

    By default glibc serves blocks above 32 MB with a fresh ``mmap`` and unmaps them on ``free``,
    so every large temporary of a meta-step (im2col columns, conv outputs and their gradients)
    is page-faulted and zero-filled anew by the kernel: about half of the CPU time of a
    4-layer, 16-task meta-step. Raising the mmap and trim thresholds keeps those blocks in the
    heap; the resident set stays at its peak between meta-steps instead. All threads share the
    main arena: glibc's per-thread arenas are capped at 64 MB heaps and would ``mmap`` every
    large block of a meta-step run on a thread of one's own afresh. Process-wide (forked
    helper processes, ``parallel``, inherit it); a no-op (False) where the C library has no
    ``mallopt``.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    limit = int(min(limit, 2 ** 31 - 1))
    return all(mallopt(option, value) for option, value in
               ((_M_MMAP_THRESHOLD, limit), (_M_TRIM_THRESHOLD, limit), (_M_ARENA_MAX, 1)))

