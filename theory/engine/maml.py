"""MAML (second order), FO-MAML and ANIL as functions over a meta-batch with a task axis.

Inner loop (Finn et al. 2017, Eq. 1), for every task t at once:
``theta_t <- theta_t - alpha * U(g_t)``, with ``g_t`` the gradient of task t's own support loss
and ``U`` the identity or a meta-optimizer's ``update(phi, grads, params, step)``.
Per-task gradients come from one backward pass: the adapted params carry a leading task axis
(shared params are broadcast first), and the gradient of the *sum* over tasks of the support
losses w.r.t. ``theta_t`` is task t's own gradient, since task t's loss depends only on
``theta_t``. The meta-loss is the mean over tasks of the post-adaptation query loss; its gradient
w.r.t. the shared ``theta`` flows back through the broadcast (a sum over tasks).

- ``maml``: differentiate through the inner gradients (Hessian-vector products).
- ``fomaml``: inner gradients are constants (computed on unboxed values, so not traced).
- ``anil`` (Raghu et al. 2020): only the head adapts (``lin*/w``, ``head/w``, ``head/b``:
  ``cnn.is_head_key``); the body features are computed once per support/query set, second
  order through the head's inner loop.

Public: ``ALGOS``, ``adapt_keys``, ``checked_keys``, ``check_batch``, ``adapt``,
``adapted_logits``, ``meta_loss``, ``meta_grad``, ``evaluate_batch``, ``cross_entropy``,
``accuracy``. Each checks its arguments once; the inner loop trusts them. The meta-gradient in
task chunks on several processes: ``theory.engine.chunks``.
"""

import autograd.numpy as anp
import numpy as np
from autograd import grad, value_and_grad
from autograd.tracer import getval

from theory import _check
from theory.engine import cnn

ALGOS = ("maml", "fomaml", "anil")


def cross_entropy(logits, y):
    """Mean softmax cross-entropy per task: ``logits (T, n, ways)``, ``y (T, n)`` -> ``(T,)``.

    Labels are assumed in ``0..ways-1`` (``adapt`` and ``meta_loss`` check them once).
    """
    v = getval(logits)
    # a constant shift leaves log-softmax and its derivatives unchanged and avoids overflow
    z = logits - v.max(axis=-1, keepdims=True)
    logp = z - anp.log(anp.sum(anp.exp(z), axis=-1, keepdims=True))
    onehot = (np.asarray(y)[..., None] == np.arange(anp.shape(logits)[2])).astype(v.dtype)
    return -cnn.mean(anp.sum(onehot * logp, axis=-1), axis=-1)[..., 0]


def accuracy(logits, y):
    """Fraction of correct argmax predictions per task: ``(T, n, ways), (T, n) -> (T,)``."""
    return np.mean(np.argmax(getval(logits), axis=-1) == np.asarray(y), axis=-1)


def adapt_keys(params, algo="maml"):
    """Keys adapted in the inner loop: every key but the T-Nets ``T`` (MAML, FO-MAML), or the
    LinNet weights and the classifier (ANIL, ``cnn.is_head_key``)."""
    _check.choice("algo", algo, ALGOS)
    if algo == "anil":
        return tuple(k for k in params if cnn.is_head_key(k))
    return tuple(k for k in params if not cnn.is_transform_key(k))


def _check_labels(name, y, ways):
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() >= ways):
        raise ValueError(f"{name} labels must lie in 0..{ways - 1}, got range "
                         f"{y.min()}..{y.max()}")


def checked_keys(params, keys=None):
    """``keys`` as a tuple, each a key of ``params`` and none a T-Nets transform (ValueError);
    ``None``: ``adapt_keys(params)``."""
    if keys is None:
        return adapt_keys(params)
    for k in keys:
        if k not in params:
            raise ValueError(f"adapt key {k!r} is not a param; params are {list(params)}")
        if cnn.is_transform_key(k):
            raise ValueError(f"adapt key {k!r} is a T-Nets transform and never adapts")
    return tuple(keys)


def _inner_loop(loss, params, keys, T, alpha, steps, first_order, metaopt, phi, const_loss=None):
    """``steps`` per-task steps on ``keys``; ``loss(params) -> (T,)`` support losses.

    ``const_loss`` is ``loss`` with any traced closure values replaced by constants, so that
    first-order inner gradients are computed without tracing. With a meta-optimizer that
    adapts its transform (``metaopt.adapt_phi``), the loop carries phi as well: from step 1 on,
    ``phi <- adapt_phi(phi, g_{s-1}, g_s, alpha, first_order)`` (per task) before the step's
    direction ``update(phi, g_s, theta_s, s)``.
    """
    theta = dict(params)
    for k in keys:
        if not cnn.is_per_task(k, theta[k]):
            theta[k] = anp.broadcast_to(theta[k][None], (T,) + anp.shape(theta[k]))
    adapt_phi = getattr(metaopt, "adapt_phi", None)
    g_prev = None
    for step in range(steps):
        sub = {k: theta[k] for k in keys}
        if first_order:
            rest = {k: getval(v) for k, v in theta.items()}
            g = grad(lambda s: anp.sum((const_loss or loss)({**rest, **s})))(
                {k: getval(v) for k, v in sub.items()})
            g = {k: getval(v) for k, v in g.items()}
        else:
            g = grad(lambda s: anp.sum(loss({**theta, **s})))(sub)
        if adapt_phi is not None and step >= 1:
            phi = adapt_phi(phi, g_prev, g, alpha, first_order)
        d = g if metaopt is None else metaopt.update(phi, g, theta, step)
        theta = {**theta, **{k: theta[k] - alpha * d[k] for k in keys}}
        g_prev = g
    return theta


def adapt(params, x_s, y_s, *, alpha, steps, first_order=False, adapt_keys=None,
          metaopt=None, phi=None, units=None, arch=cnn.ARCH):
    """Per-task params after ``steps`` inner steps on the support set ``x_s (T, n, C, H, W)``.

    Adapted keys get a leading task axis; other keys are returned as given. ``steps=0`` returns
    ``params`` unchanged. If only head keys adapt, the body features are computed once.
    ``adapt_keys`` defaults to every key but the T-Nets ``*/T`` ones (which never adapt). A
    meta-optimizer's ``update(phi, grads, params, step)`` gets the per-task gradients of the
    adapted keys (leading task axis), the current per-task params and the 0-based inner step,
    and returns the direction (``theta <- theta - alpha * direction``). If it has an ``adapt_phi``, phi
    is adapted per task from the second step on (``_inner_loop``); ``phi`` itself is never
    modified, and the adapted transform is dropped with the inner loop. ``units=n`` restricts
    the support loss to the head's first ``n`` output units (a task with fewer classes than
    the head: labels ``0..n-1``, softmax over those units only). ``arch``: the network
    (``cnn.Arch``) the params belong to.
    """
    alpha = _check.positive("alpha", alpha)
    steps = _check.integer("steps", steps, 0)
    keys = checked_keys(params, adapt_keys)
    if steps == 0 or not keys:
        return params
    T = anp.shape(x_s)[0]
    if np.shape(y_s) != tuple(anp.shape(x_s)[:2]):
        raise ValueError(f"y_s must have shape (T, n) = {tuple(anp.shape(x_s)[:2])}, "
                         f"got {np.shape(y_s)}")
    _check_labels("support", y_s, np.shape(params["head/w"])[-2] if units is None else units)

    def cut(logits):
        return logits if units is None else logits[..., :units]

    if all(cnn.is_head_key(k) for k in keys):
        feats = cnn.features(params, x_s, arch)
        loss = lambda p: cross_entropy(cut(cnn.head(p, feats)), y_s)  # noqa: E731
        const_loss = lambda p: cross_entropy(cut(cnn.head(p, getval(feats))), y_s)  # noqa: E731
    else:
        loss = const_loss = lambda p: cross_entropy(cut(cnn.apply(p, x_s, arch)), y_s)  # noqa: E731
    return _inner_loop(loss, params, keys, T, alpha, steps, first_order, metaopt, phi, const_loss)


def check_batch(batch):
    """``batch`` if it is ``(x_s, y_s, x_q, y_q)`` of one meta-batch (``ValueError`` otherwise)."""
    if len(batch) != 4:
        raise ValueError(f"batch must be (x_s, y_s, x_q, y_q), got {len(batch)} items")
    x_s, y_s, x_q, y_q = batch
    for name, x, y in (("support", x_s, y_s), ("query", x_q, y_q)):
        if anp.ndim(x) != 5 or np.shape(y) != tuple(anp.shape(x)[:2]):
            raise ValueError(f"{name} images must be (T, n, C, H, W) with labels (T, n); "
                             f"got {anp.shape(x)} and {np.shape(y)}")
    if anp.shape(x_s)[0] != anp.shape(x_q)[0] or anp.shape(x_s)[2:] != anp.shape(x_q)[2:]:
        raise ValueError(f"support {anp.shape(x_s)} and query {anp.shape(x_q)} must share "
                         "T, C, H, W")
    return batch


def adapted_logits(params, x_s, y_s, x_q, *, alpha, steps, algo="maml", metaopt=None, phi=None,
                   first_order=None, units=None, arch=cnn.ARCH):
    """Query logits ``(T, n_q, ways)`` after ``adapt`` on the support set ``(x_s, y_s)``.

    ``algo`` picks the adapted keys (``adapt_keys``); under ANIL the body features of ``x_q``
    come from the unadapted params. ``first_order`` defaults to ``algo == "fomaml"``;
    ``units`` as for ``adapt`` (the logits keep every output unit).
    """
    _check.choice("algo", algo, ALGOS)
    adapted = adapt(params, x_s, y_s, alpha=alpha, steps=steps,
                    first_order=algo == "fomaml" if first_order is None else first_order,
                    adapt_keys=adapt_keys(params, algo), metaopt=metaopt,
                    phi={} if phi is None else phi, units=units, arch=arch)
    if algo == "anil":
        return cnn.head(adapted, cnn.features(params, x_q, arch))
    return cnn.apply(adapted, x_q, arch)


def meta_loss(meta_params, batch, *, alpha, steps, algo="maml", metaopt=None, arch=cnn.ARCH):
    """Mean over tasks of the query loss after adaptation -> ``(loss, aux)``.

    ``meta_params = {"model": params, "metaopt": phi}``; ``batch = (x_s, y_s, x_q, y_q)``;
    ``aux = {"accuracy": (T,), "loss": (T,)}`` (query, after adaptation; plain arrays).
    """
    params = meta_params["model"]
    x_s, y_s, x_q, y_q = check_batch(batch)
    _check_labels("query", y_q, np.shape(params["head/w"])[-2])
    logits = adapted_logits(params, x_s, y_s, x_q, alpha=alpha, steps=steps, algo=algo,
                            metaopt=metaopt, phi=meta_params.get("metaopt", {}), arch=arch)
    losses = cross_entropy(logits, y_q)
    aux = {"accuracy": accuracy(logits, y_q), "loss": getval(losses)}
    return cnn.mean(losses, axis=0)[0], aux


def meta_grad(meta_params, batch, **kwargs):
    """``(loss, grads, aux)``: ``meta_loss`` and its gradient w.r.t. ``meta_params`` (same keys),
    over every task of ``batch`` at once (``chunks.meta_grad``: in task chunks, on several
    processes)."""
    aux = {}

    def objective(mp):
        loss, extra = meta_loss(mp, batch, **kwargs)
        aux.update(extra)
        return loss

    loss, grads = value_and_grad(objective)(meta_params)
    return loss, grads, aux


def evaluate_batch(params, batch, *, alpha, steps, algo, metaopt=None, phi=None, arch=cnn.ARCH):
    """Query accuracy per task ``(T,)`` after adapting (first order) on each support set."""
    x_s, y_s, x_q, y_q = check_batch(batch)
    logits = adapted_logits(params, x_s, y_s, x_q, alpha=alpha, steps=steps, algo=algo,
                            metaopt=metaopt, phi=phi, first_order=True, arch=arch)
    return accuracy(logits, y_q)
