"""The engine's MAML meta-step written in PyTorch, as the speed reference of the benchmark.

Same maths as ``theory.engine.cnn`` + ``theory.engine.maml`` (functional style, no
learn2learn): L blocks of 3x3 convolution (padding 1), batch norm with per-batch statistics
computed per task (no running statistics), ReLU and 2x2 max-pool (floor) while the map is
larger than 1x1, then a linear head and the mean cross-entropy; or the paper's Omniglot
network (``arch``: each conv at stride 2, no pooling, the mean of the final map). The meta-gradient of the
mean over T tasks of the query loss after K inner SGD steps on each task's support loss:
second order through ``torch.autograd.grad(create_graph=True)``, or first order (inner
gradients treated as constants).

Two ways of going through the tasks:
- ``"loop"``: a Python loop over tasks with one backward per task, as learn2learn users write it;
- ``"vmap"``: ``torch.func.vmap`` over the task axis of ``torch.func.grad`` (per-task weights
  become grouped convolutions inside PyTorch).

PyTorch is not a dependency of ``theory``: ``benchmarks/engine_speed.py`` imports this file and
passes it to ``theory.engine.bench``; ``AVAILABLE`` says whether ``torch`` imported.
"""

import numpy as np

try:
    import torch
    import torch.nn.functional as F
    from torch.func import grad as func_grad
    from torch.func import grad_and_value, vmap
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

AVAILABLE = torch is not None
MODES = ("loop", "vmap")
# PyTorch's own intra-op thread count, read before anything sets it: its default setting
DEFAULT_THREADS = torch.get_num_threads() if AVAILABLE else None


def version():
    """The PyTorch version string, or ``None`` when it does not import."""
    return torch.__version__ if AVAILABLE else None


def set_threads(n):
    """Use ``n`` intra-op threads (matched to the engine's worker threads)."""
    torch.set_num_threads(int(n))


def to_torch(params, batch):
    """Numpy params dict and ``(x_s, y_s, x_q, y_q)`` -> the same as tensors (dtypes kept)."""
    tparams = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in params.items()}
    tbatch = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in batch)
    return tparams, tbatch


def layers_of(params):
    """Number of conv blocks L in a params dict."""
    return sum(1 for k in params if k.startswith("conv") and k.endswith("/w"))


def batch_norm(h, gamma, beta, eps):
    """Batch norm of (n, C, H, W) with this batch's statistics, written out with tensor ops.

    Used under ``torch.func`` transforms: there, gradients of gradients through
    ``F.batch_norm(training=True)`` came out wrong (a non-zero conv-bias meta-gradient, and a
    mismatch with the task loop and with finite differences in float64).
    """
    m = h.mean((0, 2, 3), keepdim=True)
    v = (h - m).square().mean((0, 2, 3), keepdim=True)
    return (h - m) * torch.rsqrt(v + eps) * gamma[:, None, None] + beta[:, None, None]


def forward(params, x, *, eps, native_bn=True, downsample="maxpool", readout="flatten"):
    """Logits (n, ways) of one task's images x (n, C, H, W).

    ``downsample``: ``"maxpool"`` (2x2 max-pool after each block while the map is larger than
    1x1), ``"stride"`` (each conv at stride 2, learn2learn's ``OmniglotCNN``) or ``"none"``;
    ``readout``: ``"flatten"`` the final map, or its ``"mean"`` over the pixels.
    """
    h = x
    stride = 2 if downsample == "stride" else 1
    for i in range(1, layers_of(params) + 1):
        h = F.conv2d(h, params[f"conv{i}/w"], params[f"conv{i}/b"], stride=stride, padding=1)
        gamma, beta = params[f"bn{i}/gamma"], params[f"bn{i}/beta"]
        h = (F.batch_norm(h, None, None, gamma, beta, training=True, eps=eps) if native_bn
             else batch_norm(h, gamma, beta, eps))
        h = F.relu(h)
        if downsample == "maxpool" and h.shape[-1] > 1:
            h = F.max_pool2d(h, 2)
    h = h.mean((2, 3)) if readout == "mean" else h.flatten(1)
    return h @ params["head/w"].T + params["head/b"]


def loss(params, x, y, *, eps, native_bn=True, **arch):
    """Mean cross-entropy of one task (``arch``: ``forward``'s downsample and readout)."""
    return F.cross_entropy(forward(params, x, eps=eps, native_bn=native_bn, **arch), y)


def _adapt(params, x_s, y_s, *, alpha, steps, first_order, eps, arch):
    """K inner SGD steps on one task's support loss (autograd.grad, graph kept if 2nd order)."""
    keys = list(params)
    for _ in range(steps):
        g = torch.autograd.grad(loss(params, x_s, y_s, eps=eps, **arch),
                                [params[k] for k in keys], create_graph=not first_order)
        params = {k: params[k] - alpha * gk for k, gk in zip(keys, g, strict=True)}
    return params


def _arch(arch):
    """``forward``'s keyword arguments from an object with ``downsample`` and ``readout``."""
    return {} if arch is None else {"downsample": arch.downsample, "readout": arch.readout}


def meta_grad_loop(params, batch, *, alpha, steps, first_order=False, eps=1e-5, arch=None):
    """(mean query loss, grads dict): Python loop over tasks, one backward per task."""
    x_s, y_s, x_q, y_q = batch
    tasks = x_s.shape[0]
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    keys = list(leaves)
    total = 0.0
    grads = [torch.zeros_like(v) for v in leaves.values()]
    for t in range(tasks):
        adapted = _adapt(leaves, x_s[t], y_s[t], alpha=alpha, steps=steps,
                         first_order=first_order, eps=eps, arch=_arch(arch))
        lq = loss(adapted, x_q[t], y_q[t], eps=eps, **_arch(arch)) / tasks
        gt = torch.autograd.grad(lq, [leaves[k] for k in keys])
        for acc, g in zip(grads, gt, strict=True):
            acc += g
        total += float(lq.detach())
    return total, dict(zip(keys, grads, strict=True))


def _task_query_loss(params, x_s, y_s, x_q, y_q, *, alpha, steps, eps, arch):
    """Post-adaptation query loss of one task, differentiable through the inner steps."""
    for _ in range(steps):
        g = func_grad(loss)(params, x_s, y_s, eps=eps, native_bn=False, **arch)
        params = {k: params[k] - alpha * g[k] for k in params}
    return loss(params, x_q, y_q, eps=eps, native_bn=False, **arch)


def meta_grad_vmap(params, batch, *, alpha, steps, first_order=False, eps=1e-5, arch=None):
    """(mean query loss, grads dict): ``torch.func.vmap`` over the task axis."""
    params = {k: v.detach() for k, v in params.items()}
    if first_order:
        with torch.no_grad():
            adapted = {k: v.expand(batch[0].shape[0], *v.shape) for k, v in params.items()}
            inner = vmap(func_grad(lambda p, x, y: loss(p, x, y, eps=eps, **_arch(arch))))
            for _ in range(steps):
                g = inner(adapted, batch[0], batch[1])
                adapted = {k: adapted[k] - alpha * g[k] for k in adapted}
        outer = vmap(grad_and_value(lambda p, x, y: loss(p, x, y, eps=eps, **_arch(arch))))
        g, lq = outer(adapted, batch[2], batch[3])
        return float(lq.mean()), {k: v.mean(0) for k, v in g.items()}

    def mean_query_loss(p):
        per_task = vmap(
            lambda xs, ys, xq, yq: _task_query_loss(p, xs, ys, xq, yq, alpha=alpha,
                                                    steps=steps, eps=eps,
                                                    arch=_arch(arch)))(*batch)
        return per_task.mean()

    g, value = grad_and_value(mean_query_loss)(params)
    return float(value), g


def meta_grad(params, batch, *, alpha, steps, first_order=False, mode="loop", eps=1e-5,
              arch=None):
    """Meta-gradient in the given ``mode`` (see ``MODES``); tensors in, tensors out.

    ``arch``: the engine's ``cnn.Arch`` (downsample, readout); ``None`` is the original network.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    fn = meta_grad_loop if mode == "loop" else meta_grad_vmap
    return fn(params, batch, alpha=alpha, steps=steps, first_order=first_order, eps=eps,
              arch=arch)
