"""1D models as pure functions of ``(params, x)``, written with sympy.

linear:   f(x) = W x with W = w1 w2 ... wL (the end-to-end slope); depth L >= 1.
logistic: p(y=1 | x) = sigmoid(W x + b), params ``(w1, ..., wL, b)``; L = 1 is "LogR", L > 1 is
          "LogR+LinNet": extra linear factors that leave the function class unchanged.
"""

import sympy


def end_to_end(weights):
    """The end-to-end slope ``W = w1 * ... * wL`` of a tuple of layer weights."""
    return sympy.Mul(*weights)


def other_layers(weights, l):
    """``prod_{j != l} w_j``: how much layer ``l`` (0-based) moves W per unit of its own change."""
    return sympy.Mul(*(w for j, w in enumerate(weights) if j != l))


def linear(params, x):
    """Deep linear model ``(w1 ... wL) x``; params are the L layer weights."""
    return end_to_end(params) * x


def logit(params, x):
    """The logistic model's log-odds ``(w1 ... wL) x + b``; params are ``(w1, ..., wL, b)``."""
    return end_to_end(params[:-1]) * x + params[-1]


def sigmoid(z):
    """``1 / (1 + exp(-z))``."""
    return 1 / (1 + sympy.exp(-z))


def logistic(params, x):
    """``p(y=1 | x) = sigmoid((w1 ... wL) x + b)``."""
    return sigmoid(logit(params, x))
