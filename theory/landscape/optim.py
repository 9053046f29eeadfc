"""Outer-loop optimisers as ``(init, update, get_params)`` triples that never mutate.

``params`` is a tuple of arrays (one entry per restart); every restart is optimised
independently because the updates are elementwise.  Adam: Kingma & Ba (2015), Algorithm 1.
"""

import numpy as np


def _check_lr(lr):
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf"):
        raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
    return float(lr)


def sgd(lr):
    """Plain gradient descent ``theta <- theta - lr g``."""
    lr = _check_lr(lr)

    def init(params):
        return tuple(params)

    def update(i, grads, state):
        return tuple(p - lr * g for p, g in zip(state, grads, strict=True))

    return init, update, lambda state: state


def adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam with bias-corrected first and second moment estimates."""
    lr = _check_lr(lr)

    def init(params):
        zeros = tuple(np.zeros_like(p) for p in params)
        return tuple(params), zeros, zeros

    def update(i, grads, state):
        params, m, v = state
        m = tuple(b1 * mi + (1 - b1) * g for mi, g in zip(m, grads, strict=True))
        v = tuple(b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads, strict=True))
        t = i + 1
        params = tuple(p - lr * (mi / (1 - b1 ** t)) / (np.sqrt(vi / (1 - b2 ** t)) + eps)
                       for p, mi, vi in zip(params, m, v, strict=True))
        return params, m, v

    return init, update, lambda state: state[0]


OPTIMIZERS = {"sgd": sgd, "adam": adam}


def make(name, lr):
    """The optimiser triple called ``name`` (``"sgd"`` or ``"adam"``) with step ``lr``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](lr)
