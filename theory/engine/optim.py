"""The outer optimiser: Adam (``theory._optim.adam``), step-size schedules, state on disk.

``adam(step_size, b1, b2, eps) -> (init, update, get_params)``: jax-style, never mutating; a
state is ``{"x": tree, "m": tree, "v": tree}`` over the nested dicts of meta-parameters.
``state_to_arrays(state)`` / ``state_from_arrays(arrays)``: a state as flat arrays for
``np.savez`` (the checkpoint's ``adam`` group).

Step-size schedules ``schedule(name, step_size, total) -> step_size(i)`` (``SCHEDULES``):
``constant`` (``step_size`` at every iteration) and ``cosine`` (Loshchilov & Hutter 2017,
without restarts: ``step_size (1 + cos(pi i / total)) / 2`` for ``i < total``, from
``step_size`` down towards 0 at ``total``). Each is a pure function of the iteration, so a run
resumed at iteration ``i`` takes exactly the steps of an uninterrupted one.
"""

import json
import math

import numpy as np

from theory import _check, _tree
from theory._optim import adam

_SEP = "::"
SCHEDULES = ("constant", "cosine")


def schedule(name, step_size, total):
    """The step size of iteration ``i`` (0-based) under schedule ``name`` over ``total`` steps.

    ``name`` is one of ``SCHEDULES``; ``step_size`` > 0; ``total`` (an integer >= 1) is the
    length the cosine spans (a run's cap on meta-iterations); iterations past it keep the
    last value of the cosine rather than rising again.
    """
    _check.choice("schedule", name, SCHEDULES)
    step_size = _check.positive("step_size", step_size)
    total = _check.integer("total", total, 1)
    if name == "constant":
        return lambda i: step_size
    return lambda i: step_size * 0.5 * (1.0 + math.cos(math.pi * min(i, total - 1) / total))


def state_to_arrays(state):
    """Flat ``{name: array}`` for ``np.savez`` (no pickling); inverse: ``state_from_arrays``.

    A leaf at path ``("x", "model", "conv1/w")`` is stored as ``"x::model::conv1/w"``;
    ``"__structure__"`` holds the nesting as JSON (the state with ``null`` leaves).
    """
    out = {}
    for path, leaf in _tree.with_paths(state):
        for k in path:
            if _SEP in k:
                raise ValueError(f"key {k!r} contains the reserved separator {_SEP!r}")
        out[_SEP.join(path)] = np.asarray(leaf)
    out["__structure__"] = np.array(json.dumps(_tree.map(lambda _: None, state)))
    return out


def state_from_arrays(arrays):
    """Rebuild a state from ``state_to_arrays`` output (or an opened ``.npz`` file)."""
    if "__structure__" not in arrays:
        raise ValueError("arrays hold no '__structure__' entry; not written by state_to_arrays")
    return _tree.map_with_path(lambda path, _: np.asarray(arrays[_SEP.join(path)]),
                               json.loads(str(arrays["__structure__"][()])))


__all__ = ["SCHEDULES", "adam", "schedule", "state_from_arrays", "state_to_arrays"]
