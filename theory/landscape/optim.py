"""Outer-loop optimisers as ``(init, update, get_params)`` triples that never mutate.

``params`` is a tuple of arrays (one entry per restart); every restart is optimised
independently because the updates are elementwise. ``adam`` is the shared tree Adam
(``theory._optim``; Kingma & Ba 2015, Algorithm 1). ``Stopping``: per restart, stop on a
tolerance (meta-gradient norm, or a flat loss) with the iteration count as the cap (the ``converged`` flag and final
gradient norm of ``landscape precondition`` and ``landscape train``), with ``gradient_norm``
and ``freeze`` (keep stopped restarts where they are).
"""

import collections
import dataclasses

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


def gradient_norm(grads):
    """Per restart, the Euclidean norm of a gradient given as a tuple of ``(R, ...)`` arrays
    (every parameter of the restart together): ``(R,)``."""
    restarts = len(grads[0])
    return np.sqrt(sum(np.sum(np.reshape(g, (restarts, -1)) ** 2, axis=1) for g in grads))


def freeze(mask, new, old):
    """Optimiser state ``new`` with the restarts where ``mask`` ``(R,)`` is True kept as in
    ``old`` (every leaf carries the restart axis first). Adam keeps moving on a zero
    gradient (its momentum), so a stopped restart is frozen in its state, not its gradient."""
    def keep(a, b):
        return np.where(np.reshape(mask, (-1,) + (1,) * (np.ndim(a) - 1)), b, a)

    return _tree.map(keep, new, old)


@dataclasses.dataclass
class Stopping:
    """Per-restart stopping on a tolerance, the iteration count ``cap`` being the cap.

    A restart stops (``stopped``) at the first iteration where its meta-gradient norm is at
    most ``tol``, or where its loss has moved by at most ``tol`` times its starting loss over
    the last ``window`` iterations (default: a tenth of the cap, at least one): Adam at a
    constant step keeps bouncing around a minimum with a gradient of the order of its step,
    so a flat loss is convergence too. It is ``converged`` there, and ``freeze`` keeps its
    parameters from then on. ``tol = 0`` stops only on an exactly zero gradient or an exactly
    constant loss, i.e. runs to the cap. ``iteration`` holds the iteration each restart
    stopped at (the cap for the others) and ``grad_norm`` its gradient norm there (its last
    one for the others). ``check(i, loss, grads, finite)`` records iteration ``i`` and returns
    whether every restart has stopped or diverged (``finite`` False: such a restart never
    counts as converged), i.e. whether the loop can end.
    """

    tol: float
    restarts: int
    cap: int
    window: int = None

    def __post_init__(self):
        self.tol = _check.number("tol", self.tol, 0)
        self.window = max(1, self.cap // 10) if self.window is None else self.window
        self.stopped = np.zeros(self.restarts, dtype=bool)
        self.iteration = np.full(self.restarts, self.cap)
        self.grad_norm = np.full(self.restarts, np.nan)
        self._losses = collections.deque(maxlen=self.window + 1)

    def check(self, i, loss, grads, finite):
        norm, finite = gradient_norm(grads), np.asarray(finite, dtype=bool)
        loss = np.asarray(loss, dtype=float)
        if i == 0:
            self._start = np.abs(loss)
        self._losses.append(loss)
        with np.errstate(invalid="ignore"):
            flat = (len(self._losses) > self.window) & \
                (np.abs(loss - self._losses[0]) <= self.tol * self._start)
            now = ~self.stopped & finite & ((norm <= self.tol) | flat)
        self.grad_norm = np.where(self.stopped, self.grad_norm, norm)
        self.iteration = np.where(now, i, self.iteration)
        self.stopped |= now
        return bool(np.all(self.stopped | ~finite))

    @property
    def converged(self):
        return self.stopped.copy()
