"""Checking JSON read from files against a schema: one line naming the file and the field.

A schema is built from a few specs, each with ``check(value, field) -> message or None``:
``Int(low, high)``, ``Num(low, high)`` (finite, bools refused), ``Str(choices)``,
``Name()`` (a string safe as a file-name part, ``theory._io.safe_name``), ``Bool()``, ``Any()``,
``Opt(spec)`` (``None`` allowed), ``List(spec, length)``, ``Tuple(*specs)``, ``Map(value)`` (a JSON object
with string keys) and ``Obj(required, optional)`` (a JSON object whose listed keys are checked;
any other key is allowed, so a file written by a newer version still reads). ``check(obj,
schema, source)`` raises ``ValueError("<source>: field <path> is <value>; expected <what>")``
at the first mismatch, and refuses JSON nested deeper than ``MAX_DEPTH`` before looking at it.
The schemas of the project's files are in ``theory.engine.schema`` and ``theory.paper.schema``.
"""

import math
import numbers

from theory._io import safe_name

MAX_DEPTH = 32              # the deepest file the project writes nests 6 levels


class Spec:
    """A value's expected form: ``what`` for messages, ``check`` -> a message or ``None``."""
    what = "a value"

    def check(self, value, field):
        return None if self.ok(value) else _wrong(field, value, self.what)

    def ok(self, value):
        return True


class Any(Spec):
    what = "any value"


class Bool(Spec):
    what = "true or false"

    def ok(self, value):
        return isinstance(value, bool)


class Num(Spec):
    """A finite number in ``[low, high]`` (either bound optional)."""

    def __init__(self, low=None, high=None, *, integer=False):
        self.low, self.high, self.integer = low, high, integer
        kind = "an integer" if integer else "a finite number"
        bounds = [f">= {low:g}" if low is not None else "", f"<= {high:g}" if high is not None
                  else ""]
        self.what = " ".join([kind, " and ".join(b for b in bounds if b)]).strip()

    def ok(self, value):
        kind = numbers.Integral if self.integer else numbers.Real
        return not isinstance(value, bool) and isinstance(value, kind) \
            and math.isfinite(value) and (self.low is None or value >= self.low) \
            and (self.high is None or value <= self.high)


def Int(low=None, high=None):      # noqa: N802 -- reads like the other specs
    """An integer in ``[low, high]``."""
    return Num(low, high, integer=True)


class Str(Spec):
    """A string, one of ``choices`` if given."""

    def __init__(self, choices=None):
        self.choices = None if choices is None else tuple(choices)
        self.what = "a string" if choices is None else \
            "one of " + ", ".join(map(repr, self.choices))

    def ok(self, value):
        return isinstance(value, str) and (self.choices is None or value in self.choices)


class Name(Spec):
    what = "a name of letters, digits and . _ + = - (starting with a letter or digit)"

    def ok(self, value):
        return safe_name(value)


class Opt(Spec):
    """``spec`` or ``null``."""

    def __init__(self, spec):
        self.spec, self.what = spec, f"{spec.what} or null"

    def check(self, value, field):
        return None if value is None else self.spec.check(value, field)


class List(Spec):
    """A JSON array of ``spec`` items (exactly ``length`` of them if given)."""

    def __init__(self, spec, length=None):
        self.spec, self.length = spec, length
        self.what = "an array" if length is None else f"an array of {length} items"

    def check(self, value, field):
        if not isinstance(value, list) or (self.length is not None
                                           and len(value) != self.length):
            return _wrong(field, value, self.what)
        return _first(self.spec.check(item, f"{field}[{k}]") for k, item in enumerate(value))


class Tuple(Spec):
    """A JSON array of exactly one item per spec of ``specs``, in order."""

    def __init__(self, *specs):
        self.specs = specs
        self.what = f"an array of {len(specs)} items"

    def check(self, value, field):
        if not isinstance(value, list) or len(value) != len(self.specs):
            return _wrong(field, value, self.what)
        return _first(spec.check(item, f"{field}[{k}]")
                      for k, (spec, item) in enumerate(zip(self.specs, value, strict=True)))


class Map(Spec):
    """A JSON object of any string keys, each value ``spec`` (``key`` checks the keys)."""
    what = "an object"

    def __init__(self, spec, key=None):
        self.spec, self.key = spec, key

    def check(self, value, field):
        if not isinstance(value, dict):
            return _wrong(field, value, self.what)
        for name, item in value.items():
            if self.key is not None and not self.key.ok(name):
                return _wrong(f"{field} key", name, self.key.what)
            message = self.spec.check(item, f"{field}.{name}" if field else str(name))
            if message:
                return message
        return None


class Obj(Spec):
    """A JSON object with ``required`` keys and ``optional`` ones, each ``{key: spec}``."""
    what = "an object"

    def __init__(self, required=None, optional=None):
        self.required, self.optional = dict(required or {}), dict(optional or {})

    def extend(self, required=None, optional=None):
        """A copy with more keys (a record kind that adds fields to another)."""
        return Obj({**self.required, **(required or {})}, {**self.optional, **(optional or {})})

    def check(self, value, field):
        if not isinstance(value, dict):
            return _wrong(field, value, self.what)
        for key in self.required:
            if key not in value:
                return f"field {_join(field, key)} is missing"
        for key, spec in (*self.required.items(), *self.optional.items()):
            if key in value:
                message = spec.check(value[key], _join(field, key))
                if message:
                    return message
        return None


def check(obj, schema, source):
    """``obj`` if it fits ``schema``, else ``ValueError`` naming ``source`` and the field."""
    message = _too_deep(obj) or schema.check(obj, "")
    if message:
        raise ValueError(f"{source}: {message}")
    return obj


def problem(obj, schema):
    """What is wrong with ``obj`` (``check``'s message without the source), or ``None``."""
    return _too_deep(obj) or schema.check(obj, "")


def _too_deep(obj):
    """A message if ``obj`` nests deeper than ``MAX_DEPTH`` (walked without recursion)."""
    stack = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return None


def _join(field, key):
    return f"{field}.{key}" if field else str(key)


def _first(messages):
    return next((m for m in messages if m), None)


def _wrong(field, value, what):
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"field {field or '(top level)'} is {shown}; expected {what}"
