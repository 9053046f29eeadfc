"""1D models as pure functions of ``(params, x)`` and MAML's inner loop written with autograd.

Conventions: ``params`` is a tuple of arrays that broadcast against ``x.shape[:-1]`` (one value
per restart, or per restart and task); ``x`` has the points of a set on its last axis.

- linear, depth L:   ``params = (w1, ..., wL)``,     ``f(x) = (w1 ... wL) x``
- logistic, depth L: ``params = (w1, ..., wL, b)``,  ``p(y=1|x) = sigmoid((w1 ... wL) x + b)``
  (L = 1 is "LogR", L > 1 is "LogR+LinNet": the extra linear factors do not change the
  function class, only the geometry of gradient descent).
"""

import autograd.numpy as anp
from autograd import grad
from autograd.extend import defvjp, primitive


def slope(weights):
    """End-to-end slope ``W = w1 w2 ... wL`` of a tuple of factors."""
    out = weights[0]
    for w in weights[1:]:
        out = out * w
    return out


def linear(params, x):
    """Depth-L linear model ``(w1 ... wL) x``; ``params = (w1, ..., wL)``."""
    return slope(params)[..., None] * x


def logistic(params, x):
    """Logit of LogR (+LinNet): ``(w1 ... wL) x + b``; ``params = (w1, ..., wL, b)``."""
    return slope(params[:-1])[..., None] * x + params[-1][..., None]


def squared_loss(params, x, y):
    """Mean of ``1/2 (f(x) - y)^2`` over the last axis for the linear model."""
    return 0.5 * anp.mean((linear(params, x) - y) ** 2, axis=-1)


def cross_entropy(params, x, y):
    """Mean binary cross-entropy of the logistic model over the last axis (stable form)."""
    z = logistic(params, x)
    return anp.mean(anp.logaddexp(0.0, z) - y * z, axis=-1)


def accuracy(params, x, y):
    """Fraction of points whose predicted label ``[logit > 0]`` equals ``y`` (last axis)."""
    return anp.mean((logistic(params, x) > 0) == (y > 0.5), axis=-1)


@primitive
def stop_gradient(x):
    """Identity whose derivative is zero (first-order MAML treats the inner gradient as data)."""
    return x


defvjp(stop_gradient, lambda ans, x: lambda g: anp.zeros_like(g))


def adapt(loss, params, batch, step_size, steps, first_order=False):
    """Run ``steps`` inner gradient steps ``theta <- theta - step_size grad loss`` per task.

    ``loss(params, *batch)`` returns one loss per task (shape ``R x T``); since tasks do not
    share parameters, the gradient of the summed loss is the per-task gradient.  ``params``
    must already have the per-task shape.  ``step_size`` may be an array (Meta-SGD).  With
    ``first_order`` the inner gradients are treated as constants (FO-MAML).  Returns the list of
    parameters after 0, 1, ..., ``steps`` steps.
    """
    total = lambda theta: anp.sum(loss(theta, *batch))  # noqa: E731
    path = [tuple(params)]
    for _ in range(steps):
        g = grad(total)(path[-1])
        if first_order:
            g = tuple(stop_gradient(gi) for gi in g)
        path.append(tuple(p - step_size * gi for p, gi in zip(path[-1], g, strict=True)))
    return path
