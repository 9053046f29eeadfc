"""Task losses: population squared loss, empirical squared loss, empirical cross-entropy.

Conventions: the squared loss carries a factor 1/2 and the empirical losses are means over the
n points, so that the population loss is the expectation of the empirical one:
for y = a x with E[x^2] = sigma2,  E[(1/2n) sum_i (W x_i - y_i)^2] = sigma2/2 (W - a)^2.
"""

import sympy

from . import models


def population_loss(params, a, sigma2):
    """``L_a(theta) = sigma2/2 (W - a)^2`` for the linear model; the task is the slope ``a``."""
    return sigma2 / 2 * (models.end_to_end(params) - a) ** 2


def squared_loss(params, xs, ys):
    """``(1/2n) sum_i (W x_i - y_i)^2`` of the linear model on n points."""
    n = len(xs)
    return sympy.Rational(1, 2 * n) * sympy.Add(
        *((models.linear(params, x) - y) ** 2 for x, y in zip(xs, ys, strict=True)))


def cross_entropy(params, xs, ys):
    """Mean negative log-likelihood of labels y in {0, 1} under the logistic model.

    Written as ``log(1 + exp(z)) - y z`` with ``z = W x + b``, which equals
    ``-y log p - (1 - y) log(1 - p)`` for ``p = sigmoid(z)``.
    """
    n = len(xs)
    terms = []
    for x, y in zip(xs, ys, strict=True):
        z = models.logit(params, x)
        terms.append(sympy.log(1 + sympy.exp(z)) - y * z)
    return sympy.Rational(1, n) * sympy.Add(*terms)
