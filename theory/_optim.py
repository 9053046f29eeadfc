"""Adam over trees (``theory._tree``) as a jax-style ``(init, update, get_params)`` triple.

Kingma & Ba 2015, Alg. 1: ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
``x <- x - step_size * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^(i+1))``,
``v_hat = v / (1 - b2^(i+1))`` at 0-based iteration ``i``. A state is ``{"x": tree, "m":
tree, "v": tree}``; nothing is mutated, so the updates can be differentiated. The engine's
outer loop (nested dicts of params) and the landscape's restarts (tuples of arrays) share it.
"""

import autograd.numpy as anp
import numpy as np

from theory import _check, _tree


def adam(step_size, b1=0.9, b2=0.999, eps=1e-8):
    """Adam with a constant ``step_size`` (float > 0) or a schedule ``step_size(i) -> float``."""
    if not callable(step_size):
        step_size = _check.positive("step_size", step_size)
    for name, b in (("b1", b1), ("b2", b2)):
        if not 0 <= b < 1:
            raise ValueError(f"{name} must lie in [0, 1), got {b!r}")
    b1, b2, eps = float(b1), float(b2), _check.positive("eps", eps)
    rate = step_size if callable(step_size) else (lambda i: step_size)

    def init(params):
        zeros = lambda x: np.zeros(np.shape(x), dtype=np.result_type(x))  # noqa: E731
        return {"x": params, "m": _tree.map(zeros, params), "v": _tree.map(zeros, params)}

    def update(i, grads, state):
        # ``i`` and ``grads`` come from the caller's loop and autograd, so they are trusted:
        # an integer >= 0, and a tree of the params' structure (``_tree.map`` zips strictly)
        # Python floats keep float32 leaves float32 (numpy's weak scalar promotion)
        lr, c1, c2 = float(rate(i)), 1.0 - b1 ** (i + 1), 1.0 - b2 ** (i + 1)
        m = _tree.map(lambda g, m: b1 * m + (1.0 - b1) * g, grads, state["m"])
        v = _tree.map(lambda g, v: b2 * v + (1.0 - b2) * g * g, grads, state["v"])
        x = _tree.map(lambda x, m, v: x - lr * (m / c1) / (anp.sqrt(v / c2) + eps),
                      state["x"], m, v)
        return {"x": x, "m": m, "v": v}

    def get_params(state):
        return state["x"]

    return init, update, get_params
