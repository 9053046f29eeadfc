"""Work bounded before it starts: the memory a command will need, checked against the machine.

Every command line estimates the peak memory of what it was asked (its own module says how)
and calls ``check_memory(estimate, what)`` before the work begins. The limit is the memory
the machine has available now (``MemAvailable`` of ``/proc/meminfo``; elsewhere, the free
physical pages), or ``$THEORY_MEMORY_LIMIT`` (bytes, or with a suffix ``K``, ``M``, ``G``,
e.g. ``64G``) where set: a user who knows better (swap, a machine about to free memory)
raises it there. Beyond it the command refuses in one line naming what it was asked, the
estimate and the limit, instead of failing with a ``MemoryError`` minutes later.
"""

import os

ENV = "THEORY_MEMORY_LIMIT"
_UNITS = {"": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}


def available_bytes():
    """The memory limit in bytes: ``$THEORY_MEMORY_LIMIT`` if set, else what is available."""
    setting = os.environ.get(ENV, "").strip().upper().removesuffix("B")
    if setting:
        number, unit = (setting[:-1], setting[-1]) if setting[-1] in _UNITS else (setting, "")
        try:
            value = float(number) * _UNITS[unit]
        except ValueError:
            raise ValueError(f"{ENV}={os.environ[ENV]!r} is not a size in bytes (e.g. "
                             "8000000000 or 8G)") from None
        if not value > 0:
            raise ValueError(f"{ENV}={os.environ[ENV]!r} must be a positive size")
        return value
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def check_memory(estimate, what):
    """``ValueError`` if ``estimate`` bytes exceed ``available_bytes()``; ``what`` names the
    request in the message (e.g. ``"a meta-step of --hidden 100000 ..."``)."""
    limit = available_bytes()
    if estimate > limit:
        raise ValueError(f"{what} needs about {gib(estimate)} of memory, more than the "
                         f"{gib(limit)} available (set {ENV} to change the limit); ask for "
                         "less")
    return estimate


def gib(n):
    """``n`` bytes as text in MiB below 1 GiB, else GiB: ``"68.4 MiB"``, ``"3.2 GiB"``."""
    if n < 2 ** 30:
        return f"{n / 2 ** 20:.3g} MiB"
    return f"{n / 2 ** 30:.3g} GiB"
