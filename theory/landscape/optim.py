"""Outer-loop optimisers as ``(init, update, get_params)`` triples that never mutate.

``params`` is a tuple of arrays (one entry per restart); every restart is optimised
independently because the updates are elementwise. ``adam`` is the shared tree Adam
(``theory._optim``; Kingma & Ba 2015, Algorithm 1).
"""

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
