"""Meta-SGD: a meta-learned step size for every parameter entry.

Reference: Li, Zhou, Chen & Li (2017), "Meta-SGD: Learning to Learn Quickly for Few-Shot
Learning", eq. (1): theta' = theta - a o grad L(theta), with ``a`` of theta's shape, learned.

Choice made here: ``a = alpha * phi`` with the global inner step size alpha kept as a fixed
scale and phi initialised to ones, so the first inner step is plain MAML exactly and phi is
dimensionless (alpha keeps its meaning across meta-optimizers). Li et al. instead learn ``a``
directly from a random initialisation in [0.005, 0.1]; both parametrise the same family.
"""

from autograd import numpy as np

from theory.engine.maml import checked_keys

from ._common import MetaOpt, frozen, require_phi

__all__ = ["init", "update", "make"]


def init(rng, params, keys=None):
    """phi[k] = ones like params[k] for each adapting key k (direction = g at init)."""
    return {k: np.ones_like(params[k]) for k in checked_keys(params, keys)}


def update(phi, grads, params, step):
    """direction[k] = phi[k] * g[k] (elementwise; broadcasts over leading task axes)."""
    require_phi(grads, lambda k: k in phi)
    return {k: phi[k] * g for k, g in grads.items()}


def make():
    """The Meta-SGD ``MetaOpt`` (no options)."""
    return MetaOpt("metasgd", init, update, frozen({}))
