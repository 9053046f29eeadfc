"""Task distributions for the 1D experiments: linear regression slopes and binary classification.

Linear regression (paper Sec. 3 setting): a task is a slope ``a``; data ``x ~ N(0, sigma2)``,
``y = a x + eps`` with ``eps ~ N(0, noise**2)``.  With squared loss ``1/2 (f(x) - y)^2`` every
linear-model loss on a set of points is a quadratic in the end-to-end slope ``W``:

    L(W) = s/2 (W - c)^2 + k,   s = mean(x^2),  c = mean(x y) / s,  k = (mean(y^2) - s c^2) / 2

so a task batch is summarised by ``(s, c, k)`` for the support set and for the query set.  In
population (infinite-data) mode ``s = sigma2``, ``c = a`` and ``k = noise**2 / 2``.

Expectations over ``a`` are computed either from sampled slopes or exactly by Gauss quadrature:
the post-adaptation loss of a linear model is a polynomial in ``a`` (degree given by
:func:`loss_degree`), and an ``n``-node Gauss rule integrates polynomials of degree ``2 n - 1``
exactly against the slope distribution (Gauss-Hermite for a normal ``a``, Gauss-Legendre for a
uniform ``a``, the two atoms themselves for a two-point ``a``).

Binary classification (:class:`ClassificationTasks`): a task is again a slope ``a``, now of
mixed sign; ``x ~ N(0, sigma2)`` and ``y ~ Bernoulli(sigmoid(sharpness * a x))``.  Why this
family shows the shallow failure: the Bayes rule is ``sign(a x)``, so a model that adapts well
must flip the sign of its slope for the minority-sign tasks.  The mean slope is non-zero, so the
meta-initialisation MAML prefers (near the multi-task solution) has the majority sign, and a
shallow logistic model moves its slope by at most ``alpha * sqrt(sigma2)`` per inner step; it has
nothing with which to enlarge that step (its meta-gradient only rescales by the sigmoid's
curvature, ``theory.symbolic`` R4), so minority-sign tasks stay misclassified.  LinNet factors
let the upper layers learn a larger effective step (R2/R3) and the sign flip becomes reachable.

The constructors check their parameters; the samplers trust their callers (``meta_train``, the
analyses and the evaluation check ``shots`` where it enters).
"""

import dataclasses
import math

import numpy as np
from scipy import special

from .. import _check

__all__ = ["SlopeDistribution", "loss_degree", "exact_nodes", "LinearTasks", "quadratic",
           "TaskBatch", "linear_batch", "expected_batch", "ClassificationTasks"]

_KINDS = ("normal", "uniform", "two-point")


@dataclasses.dataclass(frozen=True)
class SlopeDistribution:
    """Distribution of a task's slope ``a`` with mean ``mean`` and standard deviation ``std``.

    ``kind`` is ``"normal"``, ``"uniform"`` (on ``mean -+ sqrt(3) std``) or ``"two-point"``
    (``mean -+ std`` with probability 1/2 each).
    """

    mean: float = 1.0
    std: float = 0.5
    kind: str = "normal"

    def __post_init__(self):
        _check.choice("slope distribution kind", self.kind, _KINDS)
        _check.number("slope mean", self.mean)
        _check.number("slope std", self.std, low=0)

    @property
    def variance(self):
        """Var(a)."""
        return self.std ** 2

    @property
    def second_moment(self):
        """E[a^2]."""
        return self.mean ** 2 + self.std ** 2

    def sample(self, rng, shape):
        """Draw slopes of the given shape with ``rng``."""
        if self.kind == "normal":
            return self.mean + self.std * rng.standard_normal(shape)
        if self.kind == "uniform":
            half = math.sqrt(3.0) * self.std
            return rng.uniform(self.mean - half, self.mean + half, shape)
        signs = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        return self.mean + self.std * signs

    def quadrature(self, nodes):
        """Gauss rule ``(a_i, p_i)`` with ``sum p_i f(a_i) = E[f(a)]`` for polynomials of degree
        ``<= 2 nodes - 1`` (all polynomials for the two-point kind)."""
        nodes = _check.integer("quadrature nodes", nodes, 1)
        if self.kind == "two-point":
            return np.array([self.mean - self.std, self.mean + self.std]), np.array([0.5, 0.5])
        if self.kind == "normal":
            x, p = np.polynomial.hermite_e.hermegauss(int(nodes))
            return self.mean + self.std * x, p / math.sqrt(2.0 * math.pi)
        x, p = np.polynomial.legendre.leggauss(int(nodes))
        return self.mean + math.sqrt(3.0) * self.std * x, p / 2.0


def loss_degree(depth, steps):
    """Degree in ``a`` of the ``steps``-step post-adaptation population loss of a depth-``depth``
    linear model.

    Derivation: after the first step every factor is linear in ``a``; a step multiplies the
    degree by ``2 depth - 1`` (the gradient ``sigma2 (W - a) prod_{j != l} w_j`` has
    ``2 depth - 1`` factors), and the loss squares the ``depth``-fold product.  A shallow model
    stays linear in ``a`` (degree 2 loss).
    """
    if depth == 1 or steps == 0:
        return 2
    return 2 * depth * (2 * depth - 1) ** (steps - 1)


def exact_nodes(depth, steps):
    """Smallest Gauss rule that integrates the post-adaptation loss exactly."""
    return (loss_degree(depth, steps) + 2) // 2


@dataclasses.dataclass(frozen=True)
class LinearTasks:
    """1D linear regression tasks ``y = a x + eps``, ``x ~ N(0, sigma2)``, ``eps ~ N(0, noise^2)``.

    ``slope`` is the distribution of ``a``; the default has a non-zero mean, so the multi-task
    and the MAML objectives differ.
    """

    sigma2: float = 1.0
    slope: SlopeDistribution = SlopeDistribution()
    noise: float = 0.0

    def __post_init__(self):
        _check.positive("sigma2", self.sigma2)
        _check.number("noise", self.noise, low=0)

    def sample_points(self, rng, a, shots):
        """Sample ``(x, y)`` of shape ``a.shape + (shots,)`` for slopes ``a``."""
        x = math.sqrt(self.sigma2) * rng.standard_normal(np.shape(a) + (shots,))
        y = np.asarray(a)[..., None] * x + self.noise * rng.standard_normal(x.shape)
        return x, y

    def population(self, a):
        """Quadratic coefficients ``(s, c, k)`` of the population loss of slopes ``a``."""
        a = np.asarray(a, dtype=float)
        return (np.full(a.shape, float(self.sigma2)), a, np.full(a.shape, self.noise ** 2 / 2))


def quadratic(x, y):
    """Coefficients ``(s, c, k)`` of ``mean(1/2 (W x - y)^2) = s/2 (W - c)^2 + k`` over the last
    axis (shape ``x.shape[:-1]``)."""
    s = np.mean(x * x, axis=-1)
    sxy = np.mean(x * y, axis=-1)
    c = sxy / s
    k = 0.5 * (np.mean(y * y, axis=-1) - sxy * c)
    return s, c, k


@dataclasses.dataclass(frozen=True)
class TaskBatch:
    """Quadratic coefficients of a batch of linear tasks, arrays of shape ``(R, T)`` (or
    broadcastable), with task weights ``weight`` of shape ``(T,)`` summing to 1."""

    support: tuple
    query: tuple
    weight: np.ndarray


def linear_batch(tasks, rng, shape, *, population, shots):
    """Sample a :class:`TaskBatch` of ``shape = (R, T)`` tasks: slopes, then (unless
    ``population``) ``shots`` support and ``shots`` query points per task."""
    a = tasks.slope.sample(rng, shape)
    weight = np.full(shape[-1], 1.0 / shape[-1])
    if population:
        coeffs = tasks.population(a)
        return TaskBatch(coeffs, coeffs, weight)
    support = quadratic(*tasks.sample_points(rng, a, shots))
    query = quadratic(*tasks.sample_points(rng, a, shots))
    return TaskBatch(support, query, weight)


def expected_batch(tasks, nodes):
    """Deterministic population :class:`TaskBatch` of shape ``(1, nodes)`` whose weighted sums are
    exact expectations over ``a`` (Gauss rule of ``nodes`` nodes)."""
    a, p = tasks.slope.quadrature(nodes)
    coeffs = tasks.population(a[None, :])
    return TaskBatch(coeffs, coeffs, p)


@dataclasses.dataclass(frozen=True)
class ClassificationTasks:
    """1D binary classification: ``x ~ N(0, sigma2)``, ``y ~ Bernoulli(sigmoid(sharpness a x))``
    with ``a`` from ``slope`` (default mean 1, std 2: about 31% of tasks have a negative slope).
    See the module docstring for why this family makes the shallow failure visible."""

    sigma2: float = 1.0
    slope: SlopeDistribution = SlopeDistribution(mean=1.0, std=2.0)
    sharpness: float = 4.0

    def __post_init__(self):
        _check.positive("sigma2", self.sigma2)
        _check.positive("sharpness", self.sharpness)

    def sample_points(self, rng, a, shots):
        """Sample ``(x, y)`` of shape ``a.shape + (shots,)``, labels in {0, 1} as floats."""
        x = math.sqrt(self.sigma2) * rng.standard_normal(np.shape(a) + (shots,))
        logit = self.sharpness * np.asarray(a)[..., None] * x
        y = (rng.random(x.shape) < special.expit(logit)).astype(float)
        return x, y

    def sample(self, rng, shape, shots, query_shots=None):
        """Sample slopes of ``shape`` and support/query sets: ``(a, (xs, ys), (xq, yq))``."""
        a = self.slope.sample(rng, shape)
        support = self.sample_points(rng, a, shots)
        query = self.sample_points(rng, a, shots if query_shots is None else query_shots)
        return a, support, query
