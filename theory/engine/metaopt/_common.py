"""Parameter-key conventions shared by the meta-optimizers.

Keys follow the engine's naming (``engine_interfaces``): ``"conv{i}/w"`` (O, I, k, k),
``"conv{i}/b"``, ``"bn{i}/gamma"``, ``"bn{i}/beta"`` (O,), ``"lin{j}/w"`` (h, d),
``"head/w"`` (ways, d), ``"head/b"`` (ways,), and the T-Nets keys ``".../T"`` (square).
A gradient (or an adapted parameter) may carry leading task axes in front of its base shape;
every transform here acts on the trailing base axes and broadcasts over the leading ones.
"""

import re
import types
from collections import namedtuple

import numpy

MetaOpt = namedtuple(
    "MetaOpt",
    ["name", "init", "update", "adapt_keys", "extra_model_params", "adapt_transform", "options",
     "adapt_phi"],
    defaults=(False, None, None),
)
MetaOpt.__doc__ = """A meta-optimizer: a gradient transform U_phi with its own meta-parameters phi.

name                    -- registry name (``metaopt.NAMES``)
init(rng, params, keys=None) -> phi
                        -- identity transform; phi only for ``keys`` (default: every adaptable key)
update(phi, grads, params, step) -> direction
                        -- inner step theta <- theta - alpha * direction
adapt_keys(params, algo="maml") -> tuple of keys that adapt in the inner loop (never T keys)
extra_model_params(rng, params, keys=None) -> dict of forward-pass params merged into the model
    (T-Nets: one T per adapted layer of ``keys``)
adapt_transform         -- True if phi itself takes inner-loop steps (KFO option)
options                 -- read-only mapping of every option of this instance (for run configs)
adapt_phi(phi, grads_prev, grads, alpha, first_order=False) -> per-task phi
                        -- the transform's own inner step (None unless adapt_transform):
                           ``maml.adapt`` calls it at every inner step s >= 1 with
                           g_{s-1}, g_s and the phi of step s-1, then takes the step's
                           direction with the phi it returns

Every field is immutable and every function pure: the object carries no state between calls,
so one instance serves any number of inner loops, in any order, and under differentiation.
"""

ALGOS = ("maml", "fomaml", "anil")

_CONV_W = re.compile(r"conv\d+/w")
_DENSE_W = re.compile(r"(lin\d+|head)/w")


def is_transform_key(key):
    """True for a T-Nets forward-pass transform ``".../T"`` (meta-learned, never adapted)."""
    return key.endswith("/T")


def adapt_keys(params, algo="maml"):
    """Keys adapted in the inner loop: every base key (MAML, FO-MAML); head and LinNet (ANIL)."""
    if algo not in ALGOS:
        raise ValueError(f"algo={algo!r} is not one of {ALGOS}")
    keys = [k for k in params if not is_transform_key(k)]
    if algo == "anil":
        keys = [k for k in keys if k.startswith("head/") or re.fullmatch(r"lin\d+/w", k)]
    return tuple(keys)


def base_ndim(key):
    """Number of trailing axes that form the base shape of parameter ``key``."""
    if _CONV_W.fullmatch(key):
        return 4
    if _DENSE_W.fullmatch(key) or is_transform_key(key):
        return 2
    return 1


def base_shape(key, array):
    """The base shape of ``array`` (a parameter or gradient of ``key``), leading task axes cut."""
    nd = base_ndim(key)
    if array.ndim < nd:
        raise ValueError(f"{key!r} has shape {array.shape}; expected at least {nd} axes")
    return tuple(array.shape[array.ndim - nd:])


def select_keys(params, keys):
    """Validate ``keys`` against ``params`` (default: every adaptable key) and return a tuple."""
    if keys is None:
        return adapt_keys(params)
    keys = tuple(keys)
    for k in keys:
        if k not in params:
            raise ValueError(f"key {k!r} is not a parameter; valid keys: {sorted(params)}")
        if is_transform_key(k):
            raise ValueError(f"key {k!r} is a T-Nets transform and never adapts")
    return keys


def require_phi(grads, has_phi):
    """Every gradient key must have meta-parameters; ``has_phi(key) -> bool``."""
    for k in grads:
        if not has_phi(k):
            raise ValueError(f"gradient key {k!r} has no meta-optimizer parameters; "
                             "initialise phi with init(rng, params, keys=...) covering it")


def no_extra_params(rng, params, keys=None):
    """No forward-pass parameters (every meta-optimizer except T-Nets)."""
    return {}


def frozen(options):
    """A read-only copy of an options dict (``MetaOpt.options``)."""
    return types.MappingProxyType(dict(options))


def size(array):
    """Number of scalars in an array-like."""
    return int(numpy.size(array))
