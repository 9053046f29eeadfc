"""Meta-optimizers: gradient transforms U_phi meta-learned with the initialisation.

The inner loop of ``maml.adapt`` takes theta <- theta - alpha * U_phi(g); every transform is
the identity at init, so the first inner step is plain MAML exactly.

NAMES              -- registry names: none, metasgd, mc, tnet, kfo, kfo-mlp
get(name, **opts)  -- the ``MetaOpt`` of that name (ValueError for unknown names/options)
resolve_options(name, **opts) -> dict -- every option of ``get(name, **opts)``, defaults filled
MetaOpt            -- namedtuple (name, init, update, options, adapt_phi)
extra_model_params(opt, rng, params, keys=None) -- forward-pass params the model gains (T-Nets'
                      identity ``T`` per adapted layer; ``{}`` for the others)
is_transform_key(key)    -- True for a T-Nets forward-pass transform ``".../T"`` (``cnn``)
count_parameters(meta_params) -> {"meta": int, "deployed": int}

Methods: ``metasgd`` (Li et al. 2017), ``mc`` Meta-Curvature (Park & Oliva 2019), ``tnet``
T-Nets (Lee & Choi 2018), ``kfo``/``kfo-mlp`` Kronecker-factored (Arnold et al. 2021).
"""

import re

from theory import _check
from theory.engine.cnn import is_transform_key

from . import kfo, mc, metasgd, tnet
from ._common import MetaOpt, frozen, identity, no_phi, size

NAMES = ("none", "metasgd", "mc", "tnet", "kfo", "kfo-mlp")


# every option value is checked once, here (``get``): (test, what a valid value is)
_CHECKS = {
    "psd": (lambda v: isinstance(v, bool), "must be True or False"),
    "bias": (lambda v: isinstance(v, bool), "must be True or False"),
    "adapt_transform": (lambda v: isinstance(v, bool), "must be True or False"),
    "max_dim": (lambda v: _check.is_integer(v, 1), "must be an integer >= 1"),
    "hidden": (lambda v: _check.is_integer(v, 0, 8), "must be an integer in 0..8"),
    "conv": (lambda v: v in kfo.CONV_LAYOUTS, f"is not one of {kfo.CONV_LAYOUTS}"),
    "vectors": (lambda v: v in kfo.VECTOR_FACTORS, f"is not one of {kfo.VECTOR_FACTORS}"),
}
_MAKERS = {
    "none": (lambda: MetaOpt("none", no_phi, identity, frozen({})), ()),
    "metasgd": (metasgd.make, ()),
    "mc": (mc.make, ("max_dim",)),
    "tnet": (tnet.make, ()),
    "kfo": (kfo.make, ("psd", "bias", "max_dim", "adapt_transform", "conv", "vectors")),
    "kfo-mlp": (lambda **o: kfo.make(hidden=o.pop("hidden", 2), **o),
                ("psd", "bias", "hidden", "max_dim", "adapt_transform", "conv", "vectors")),
}


def get(name, **options):
    """The meta-optimizer ``name`` (one of ``NAMES``) with its options.

    Options: mc(max_dim=1024); kfo(psd=False, bias=False, max_dim=1024,
    adapt_transform=False, conv="in", vectors="diagonal"); kfo-mlp(the same, hidden=2).
    ``conv="in"`` shares one L, R over the output channels of a conv weight (the light layout,
    see ``kfo``), ``"out"`` factors the whole O x I k^2 matrix; ``vectors="full"`` gives
    vectors a full left factor. ``kfo.AUTHORS`` is the option set of the paper's code. ValueError for an unknown name or option, naming the
    valid ones.
    """
    if name not in _MAKERS:
        raise ValueError(f"unknown meta-optimizer {name!r}; valid names: {', '.join(NAMES)}")
    make, valid = _MAKERS[name]
    for key in options:
        if key not in valid:
            takes = f"valid options: {', '.join(valid)}" if valid else \
                f"{name!r} takes no options"
            raise ValueError(f"unknown option {key!r} for meta-optimizer {name!r}; {takes}")
        valid_value, want = _CHECKS[key]
        if not valid_value(options[key]):
            raise ValueError(f"{key}={options[key]!r} {want}")
    return make(**options)


def _rebuild(name, options):
    """``get(name, ...)`` with the options of ``_MAKERS[name]`` among ``options``: how a
    ``MetaOpt`` unpickles (``MetaOpt.__reduce__``)."""
    return get(name, **{key: options[key] for key in _MAKERS[name][1] if key in options})


def extra_model_params(opt, rng, params, keys=None):
    """Forward-pass params that meta-optimizer ``opt`` adds to the model: T-Nets' identity
    ``T`` for the layers whose weight is in ``keys`` (default: all), ``{}`` for the others."""
    return tnet.extra_model_params(rng, params, keys) if opt.name == "tnet" else {}


def resolve_options(name, **options):
    """Every option of ``get(name, **options)`` with its value, defaults filled in (a dict).

    A run config stores this, so that a checkpoint rebuilds the same meta-optimizer even if
    a default changes later. ValueError as for ``get``.
    """
    made = get(name, **options)
    return {key: made.options[key] for key in _MAKERS[name][1]}


def count_parameters(meta_params):
    """Scalars meta-learned ("meta") and scalars of the deployed, adapted model ("deployed").

    meta_params = {"model": params, "metaopt": phi}. "meta" counts everything meta-learned:
    the model initialisation (with any T-Nets ``T``) plus phi. "deployed" is the model a
    user keeps after adaptation: phi is dropped, each T folds into the layer before it and
    the bias-free LinNet layers collapse into the head weight (exact, as all are linear), so
    it is the base CNN: convolutions, batch norm and a head of shape (ways, d_features).
    """
    params = meta_params["model"]
    phi = meta_params.get("metaopt", {})
    meta = sum(size(p) for p in params.values()) + sum(size(p) for p in phi.values())
    deployed = sum(size(p) for k, p in params.items()
                   if not is_transform_key(k) and not re.fullmatch(r"lin\d+/w", k))
    lins = sorted((int(k[3:-2]), p) for k, p in params.items() if re.fullmatch(r"lin\d+/w", k))
    if lins and "head/w" in params:
        ways, d_last = params["head/w"].shape[-2:]
        d_features = lins[0][1].shape[-1]
        deployed += ways * d_features - ways * d_last
    return {"meta": int(meta), "deployed": int(deployed)}


__all__ = ["NAMES", "MetaOpt", "count_parameters", "extra_model_params", "get",
           "is_transform_key", "kfo", "mc", "metasgd", "resolve_options", "tnet"]
