"""Outer-loop optimisers as ``(init, update, get_params)`` triples that never mutate.

``params`` is a tuple of arrays (one entry per restart); every restart is optimised
independently because the updates are elementwise. ``adam`` is the shared tree Adam
(``theory._optim``; Kingma & Ba 2015, Algorithm 1). ``plateaued(curve, tol)``: per restart,
whether the loss has stopped moving (the ``converged`` flag of a run).
"""

import numpy as np

from theory import _check, _optim, _tree


def sgd(lr):
    """Plain gradient descent ``theta <- theta - lr g``."""
    lr = _check.positive("learning rate", lr)

    def update(i, grads, state):
        return _tree.map(lambda p, g: p - lr * g, state, grads)

    return tuple, update, lambda state: state


def adam(lr):
    """Adam with bias-corrected first and second moment estimates and step ``lr``."""
    return _optim.adam(_check.positive("learning rate", lr))


OPTIMIZERS = {"sgd": sgd, "adam": adam}


def make(name, lr):
    """The optimiser triple called ``name`` (``"sgd"`` or ``"adam"``) with step ``lr``."""
    _check.choice("optimizer", name, sorted(OPTIMIZERS))
    return OPTIMIZERS[name](lr)


def plateaued(curve, tol, window=None):
    """Per restart: did the loss stop moving? ``curve`` is (iterations + 1, R).

    True where the loss changed by at most ``tol`` times its starting value over the last
    ``window`` iterations (default: the last tenth, at least one) and is finite: relative to
    the start, so a loss still falling towards 0 at 1e-12 counts as converged, and a run
    creeping along a plateau at a tenth of its starting loss does not.
    """
    curve = np.asarray(curve, dtype=float)
    window = max(1, (len(curve) - 1) // 10) if window is None else window
    if len(curve) <= window:
        return np.zeros(curve.shape[1], dtype=bool)
    change = np.abs(curve[-1] - curve[-1 - window])
    with np.errstate(invalid="ignore"):
        return np.isfinite(curve[-1]) & (change <= tol * np.abs(curve[0]))
