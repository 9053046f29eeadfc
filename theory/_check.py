"""Input checks for the public entry points, shared by every subpackage.

Each check returns the value in its canonical type (``int``, ``float``) or raises a one-line
``ValueError`` that names the argument, the bad value and the valid range; ``theory._cli.run``
turns that into exit status 2. Public functions and CLIs check their arguments once, here;
the functions they call trust them (as scipy's internals, stax and micrograd do).
"""

import math
import numbers

from theory._cli import one_of


def is_integer(value, low=None, high=None):
    """Whether ``value`` is an integer (Python's or numpy's, not a bool) in ``[low, high]``."""
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) \
        and (low is None or value >= low) and (high is None or value <= high)


def integer(name, value, low=None, high=None, *, none=None):
    """``value`` as an ``int`` in ``[low, high]`` (either bound optional); bools are refused.
    ``none``: what ``None`` means where it is allowed (``None`` is then returned as is)."""
    if value is None and none is not None:
        return None
    if not is_integer(value, low, high):
        what = _range("an integer", low, high)
        raise ValueError(f"{name} must be {f'None ({none}) or ' if none else ''}{what}, "
                         f"got {value!r}")
    return int(value)


def number(name, value, low=None, high=None, *, above=None):
    """``value`` as a finite ``float`` in ``[low, high]``, or ``> above``; bools are refused."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) \
        and math.isfinite(value)
    if ok:
        ok = (low is None or value >= low) and (high is None or value <= high) \
            and (above is None or value > above)
    if not ok:
        what = f"a finite number > {above:g}" if above is not None else \
            _range("a finite number", low, high)
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


def positive(name, value):
    """``value`` as a finite ``float`` > 0."""
    return number(name, value, above=0)


def choice(name, value, choices):
    """``value`` if it is one of ``choices``, else an error listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be {one_of(map(repr, choices))}, got {value!r}")
    return value


def _range(what, low, high):
    if low is not None and high is not None:
        return f"{what} in [{low:g}, {high:g}]"
    if low is not None:
        return f"{what} >= {low:g}"
    if high is not None:
        return f"{what} <= {high:g}"
    return what
