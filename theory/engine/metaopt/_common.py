"""What every meta-optimizer shares: the ``MetaOpt`` record and the parameter-key helpers.

Keys follow ``cnn.init``: ``"conv{i}/w"`` (O, I, k, k), ``"conv{i}/b"``, ``"bn{i}/gamma"``,
``"bn{i}/beta"`` (O,), ``"lin{j}/w"`` (h, d), ``"head/w"`` (ways, d), ``"head/b"`` (ways,),
and the T-Nets keys ``".../T"`` (square); ``cnn.base_ndim`` gives each key's base rank.
A gradient (or an adapted parameter) may carry leading task axes in front of its base shape;
every transform here acts on the trailing base axes and broadcasts over the leading ones.
"""

import types
from collections import namedtuple

import numpy

from theory.engine import cnn
from theory.engine.maml import checked_keys


class MetaOpt(namedtuple("MetaOpt", ["name", "init", "update", "options", "adapt_phi"],
                         defaults=(None,))):
    """A meta-optimizer: a gradient transform U_phi with its own meta-parameters phi.

    name        -- registry name (``metaopt.NAMES``)
    init(rng, params, keys=None) -> phi
                -- identity transform; phi only for ``keys`` (default: every adaptable key)
    update(phi, grads, params, step) -> direction
                -- inner step theta <- theta - alpha * direction
    options     -- read-only mapping of every option of this instance (for run configs)
    adapt_phi(phi, grads_prev, grads, alpha, first_order=False) -> per-task phi, or None
                -- the transform's own inner step (KFO's ``adapt_transform``): ``maml.adapt``
                   calls it at every inner step s >= 1 with g_{s-1}, g_s and the phi of step
                   s-1, then takes the step's direction with the phi it returns

    Every field is immutable and every function pure: the object carries no state between calls,
    so one instance serves any number of inner loops, in any order, and under differentiation.
    Which keys adapt is the algorithm's choice (``maml.adapt_keys``; ``init`` checks ``keys``
    with ``maml.checked_keys``), the same for every meta-optimizer; T-Nets' forward-pass
    matrices come from ``tnet.extra_model_params``. It pickles as its registry name and options
    (its functions are closures), so a registry meta-optimizer travels to helper processes.
    """

    __slots__ = ()

    def __reduce__(self):
        from theory.engine.metaopt import _rebuild  # the registry imports this module
        return _rebuild, (self.name, dict(self.options))


def base_shape(key, array):
    """The base shape of ``array`` (a parameter or gradient of ``key``), leading task axes cut."""
    nd = cnn.base_ndim(key)
    if array.ndim < nd:
        raise ValueError(f"{key!r} has shape {array.shape}; expected at least {nd} axes")
    return tuple(array.shape[array.ndim - nd:])


def no_phi(rng, params, keys=None):
    """No meta-parameters (plain MAML, T-Nets); ``keys`` checked as every ``init`` does."""
    checked_keys(params, keys)
    return {}


def identity(phi, grads, params, step):
    """The identity transform: the direction is the gradient (plain MAML, T-Nets)."""
    return dict(grads)


def require_phi(grads, has_phi):
    """Every gradient key must have meta-parameters; ``has_phi(key) -> bool``."""
    for k in grads:
        if not has_phi(k):
            raise ValueError(f"gradient key {k!r} has no meta-optimizer parameters; "
                             "initialise phi with init(rng, params, keys=...) covering it")


def frozen(options):
    """A read-only copy of an options dict (``MetaOpt.options``)."""
    return types.MappingProxyType(dict(options))


def size(array):
    """Number of scalars in an array-like."""
    return int(numpy.size(array))
