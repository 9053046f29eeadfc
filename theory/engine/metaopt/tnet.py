"""T-Nets: meta-learned square transforms in the forward pass, never adapted.

Reference: Lee & Choi (2018), "Gradient-Based Meta-Learning with Learned Layerwise Metric
and Subspace", sec. 3 (the T-net part of MT-nets): each layer's output is followed by a
meta-learned square matrix T; the inner loop adapts only W. With y = T W x the inner step
W' = W - alpha T^T dL/d(TW) changes the product by
    T W' - T W = -alpha (T T^T) dL/d(TW),
so T shapes the adaptation as the preconditioner T T^T on the effective weight TW.

Here T is ``"conv{i}/T"`` (O x O, a 1 x 1 convolution right after conv i, before batch
norm), ``"lin{j}/T"`` after each LinNet layer and ``"head/T"`` (ways x ways) on the logits,
all identity-initialised, applied by ``cnn.apply``. The gradient transform itself is the
identity and phi is empty: T lives in the model params and is meta-learned with them.
After adaptation each T folds exactly into the layer before it (conv: T W and T b), so the
deployed model is the base CNN.
"""

import re

import numpy

from ._common import MetaOpt, frozen, identity, no_phi

__all__ = ["extra_model_params", "make"]


def extra_model_params(rng, params, keys=None):
    """Identity T (key ``".../T"``) for every conv, LinNet and head layer of ``params`` whose
    weight is in ``keys``, the keys that adapt (default: all). Under ANIL only the head and
    LinNet adapt, and a T on a layer that never adapts would shape no inner step."""
    extra = {}
    for k, p in params.items():
        m = re.fullmatch(r"(conv\d+|lin\d+|head)/w", k)
        if m and (keys is None or k in keys):
            extra[f"{m.group(1)}/T"] = numpy.eye(p.shape[-4 if k.startswith("conv") else -2],
                                                 dtype=p.dtype)
    return extra


def make():
    """The T-Nets ``MetaOpt`` (no options)."""
    return MetaOpt("tnet", no_phi, identity, frozen({}))
