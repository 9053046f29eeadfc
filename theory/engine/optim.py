"""Adam as a jax-style ``(init, update, get_params)`` triple over nested dicts; never mutates.

Kingma & Ba 2015, Alg. 1: ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
``x <- x - step_size * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^(i+1))``,
``v_hat = v / (1 - b2^(i+1))`` at 0-based iteration ``i``.
A state is ``{"x": tree, "m": tree, "v": tree}``; trees are nested dicts of arrays.

Step-size schedules ``schedule(name, step_size, total) -> step_size(i)`` (``SCHEDULES``):
``constant`` (``step_size`` at every iteration) and ``cosine`` (Loshchilov & Hutter 2017,
without restarts: ``step_size (1 + cos(pi i / total)) / 2`` for ``i < total``, from
``step_size`` down towards 0 at ``total``). Each is a pure function of the iteration, so a run
resumed at iteration ``i`` takes exactly the steps of an uninterrupted one.
"""

import json
import math

import autograd.numpy as anp
import numpy as np

_SEP = "::"


def _map(f, *trees):
    if isinstance(trees[0], dict):
        for t in trees[1:]:
            if not isinstance(t, dict) or set(t) != set(trees[0]):
                raise ValueError(f"trees do not match: keys {list(trees[0])} vs "
                                 f"{list(t) if isinstance(t, dict) else type(t).__name__}")
        return {k: _map(f, *(t[k] for t in trees)) for k in trees[0]}
    shapes = [np.shape(t) for t in trees]
    if len(set(shapes)) != 1:
        raise ValueError(f"leaf shapes do not match: {shapes}")
    return f(*trees)


def adam(step_size, b1=0.9, b2=0.999, eps=1e-8):
    """Adam with a constant ``step_size`` (float > 0) or a schedule ``step_size(i) -> float``."""
    if not callable(step_size) and not step_size > 0:
        raise ValueError(f"step_size must be > 0 or a schedule, got {step_size!r}")
    for name, b in (("b1", b1), ("b2", b2)):
        if not 0 <= b < 1:
            raise ValueError(f"{name} must lie in [0, 1), got {b!r}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    b1, b2, eps = float(b1), float(b2), float(eps)
    rate = step_size if callable(step_size) else (lambda i: step_size)

    def init(params):
        zeros = lambda x: np.zeros(np.shape(x), dtype=np.result_type(x))  # noqa: E731
        return {"x": params, "m": _map(zeros, params), "v": _map(zeros, params)}

    def update(i, grads, state):
        if not isinstance(i, (int, np.integer)) or i < 0:
            raise ValueError(f"iteration i must be an integer >= 0, got {i!r}")
        i = int(i)
        # Python floats keep float32 leaves float32 (numpy's weak scalar promotion)
        lr, c1, c2 = float(rate(i)), 1.0 - b1 ** (i + 1), 1.0 - b2 ** (i + 1)
        m = _map(lambda g, m: b1 * m + (1.0 - b1) * g, grads, state["m"])
        v = _map(lambda g, v: b2 * v + (1.0 - b2) * g * g, grads, state["v"])
        x = _map(lambda x, m, v: x - lr * (m / c1) / (anp.sqrt(v / c2) + eps), state["x"], m, v)
        return {"x": x, "m": m, "v": v}

    def get_params(state):
        return state["x"]

    return init, update, get_params


SCHEDULES = ("constant", "cosine")


def schedule(name, step_size, total):
    """The step size of iteration ``i`` (0-based) under schedule ``name`` over ``total`` steps.

    ``name`` is one of ``SCHEDULES``; ``step_size`` > 0; ``total`` (an integer >= 1) is the
    length the cosine spans (a run's cap on meta-iterations); iterations past it keep the
    last value of the cosine rather than rising again.
    """
    if name not in SCHEDULES:
        raise ValueError(f"schedule {name!r} is not one of {list(SCHEDULES)}")
    if not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
        raise ValueError(f"total={total!r} must be an integer >= 1")
    step_size, total = float(step_size), int(total)
    if name == "constant":
        return lambda i: step_size
    return lambda i: step_size * 0.5 * (1.0 + math.cos(math.pi * min(i, total - 1) / total))


def _flatten(tree, prefix, out, structure):
    for k, v in tree.items():
        if _SEP in k:
            raise ValueError(f"key {k!r} contains the reserved separator {_SEP!r}")
        if isinstance(v, dict):
            structure[k] = {}
            _flatten(v, prefix + k + _SEP, out, structure[k])
        else:
            structure[k] = None
            out[prefix + k] = np.asarray(v)


def state_to_arrays(state):
    """Flat ``{name: array}`` for ``np.savez`` (no pickling); inverse: ``state_from_arrays``."""
    out, structure = {}, {}
    _flatten(state, "", out, structure)
    out["__structure__"] = np.array(json.dumps(structure))
    return out


def _unflatten(structure, arrays, prefix):
    return {k: _unflatten(s, arrays, prefix + k + _SEP) if isinstance(s, dict)
            else np.asarray(arrays[prefix + k]) for k, s in structure.items()}


def state_from_arrays(arrays):
    """Rebuild a state from ``state_to_arrays`` output (or an opened ``.npz`` file)."""
    if "__structure__" not in arrays:
        raise ValueError("arrays hold no '__structure__' entry; not written by state_to_arrays")
    return _unflatten(json.loads(str(arrays["__structure__"][()])), arrays, "")
