"""Vectorised meta-training of 1D models over the tasks of a meta-batch and many restarts.

Every array carries a restart axis ``R`` and, inside the inner loop, a task axis ``T``; numpy
broadcasting does the work, so there is no Python loop over tasks or restarts (only over
meta-iterations, inner steps and layers).  Methods:

- ``"maml"``: exact second-order MAML meta-gradient of the post-adaptation query loss;
- ``"fomaml"``: first-order MAML (inner gradients treated as constants);
- ``"multitask"``: the query loss at the unadapted parameters (MAML with 0 inner steps);
- ``"metasgd"``: MAML whose inner step size is a learned parameter ``beta`` (initialised at
  ``alpha``; Li et al. 2017), to compare a learned optimiser with what depth learns.

Gradients (``gradients=``): ``"symbolic"`` evaluates the lambdified closed forms of
:mod:`theory.symbolic` (linear, population, methods maml/fomaml/multitask); ``"recurrence"``
the closed-form reverse recurrence of :mod:`theory.landscape.closed` (any linear case,
including Meta-SGD's step-size gradient); ``"autograd"`` differentiates the quadratic task
losses through the inner loop.  ``"auto"`` (default) takes the symbolic closed forms where they
exist and derive in about a second (depth <= 3, K <= 3), else the recurrence; logistic models
always use autograd.  Tests check that the three agree.
"""

import dataclasses
import sys

import numpy as np
from autograd import make_vjp
from tqdm import tqdm

from .. import _check
from . import closed, models, optim
from .closed import DivergenceError
from .tasks import ClassificationTasks, LinearTasks, expected_batch, exact_nodes, linear_batch

__all__ = ["METHODS", "MODELS", "GRADIENTS", "SYMBOLIC_RANGE", "LIMIT", "Run", "diverging",
           "check_divergence", "linear_task_grads", "resolve_gradients", "linear_setup",
           "logistic_task_losses", "meta_train"]

METHODS = ("maml", "fomaml", "multitask", "metasgd")
MODELS = ("linear", "logistic")
GRADIENTS = ("recurrence", "autograd", "symbolic")
SYMBOLIC_RANGE = (3, 3)  # largest (depth, K) that "auto" derives symbolically
LIMIT = 1e6  # a parameter beyond this is a blow-up, not training


@dataclasses.dataclass
class Run:
    """Result of :func:`meta_train`.

    ``names``: parameter names (``w1..wL``, ``b`` for logistic, ``beta`` for Meta-SGD);
    ``params``: final parameters, shape ``(R, P)``; ``iterations``: the recorded iterations
    (``n``); ``meta_loss``: meta-loss at those iterations, ``(n, R)`` (exact expectation when
    ``meta_batch is None``, else the meta-batch estimate); ``trajectory``: parameters there,
    ``(n, R, P)``; ``effective_step``: ``alpha sigma2 sum_l prod_{j != l} w_j^2`` there, ``(n, R)``
    (with ``beta`` in place of ``alpha`` for Meta-SGD); ``diverged``: ``{restart: (iteration,
    starting parameters)}`` of the restarts that diverged under ``on_divergence="drop"`` (their
    values from that iteration on are NaN).
    """

    config: dict
    names: tuple
    params: np.ndarray
    iterations: np.ndarray
    meta_loss: np.ndarray
    trajectory: np.ndarray
    effective_step: np.ndarray
    diverged: dict = dataclasses.field(default_factory=dict)
    stopping: optim.Stopping = None

    def to_dict(self):
        """Plain dict of lists of floats (NaN where a restart diverged), ``"diverged"``:
        ``[{"restart": r, "iteration": i, "start": [parameters]}, ...]``, and per restart
        ``"converged"``, ``"grad_norm"`` and ``"stopped_at"`` (``None`` where ``meta_train``
        had no ``tol``)."""
        stop = self.stopping
        return {"config": dict(self.config), "names": list(self.names),
                "params": self.params.tolist(), "iterations": self.iterations.tolist(),
                "meta_loss": self.meta_loss.tolist(), "trajectory": self.trajectory.tolist(),
                "effective_step": self.effective_step.tolist(),
                "diverged": [{"restart": r, "iteration": i, "start": p} for r, (i, p) in
                             sorted(self.diverged.items())],
                "converged": None if stop is None else stop.converged.tolist(),
                "grad_norm": None if stop is None else stop.grad_norm.tolist(),
                "stopped_at": None if stop is None else stop.iteration.tolist()}


def diverging(loss, grads, params):
    """Per restart: is anything non-finite or a parameter beyond ``LIMIT`` in magnitude?"""
    bad = ~np.isfinite(loss)
    for g in grads:
        bad |= ~np.isfinite(g)
    for p in params:
        bad |= ~(np.abs(p) <= LIMIT)
    return bad


def check_divergence(i, loss, grads, params):
    """Raise :class:`DivergenceError` naming iteration ``i`` if a restart is ``diverging``."""
    bad = diverging(loss, grads, params)
    if bad.any():
        r = int(np.argmax(bad))
        values = ", ".join(f"{float(p[r]):.6g}" for p in params)
        raise DivergenceError(f"meta-training diverged at iteration {i}: restart {r} has "
                              f"meta-loss {float(loss[r]):.6g} at parameters ({values}); "
                              "lower the learning rate or alpha")


def linear_task_grads(w, step, batch, steps, method, gradients="recurrence"):
    """Per-task post-adaptation losses ``(R, T)`` and gradients (tuple over ``w`` [+ step])."""
    k = 0 if method == "multitask" else steps
    first_order = method == "fomaml"
    if gradients == "recurrence":
        loss, gw, g_step = closed.meta_value_and_grad(w, batch.support, batch.query, step, k,
                                                      first_order=first_order)
        return loss, gw + ((g_step,) if method == "metasgd" else ())
    if gradients == "symbolic":
        return _symbolic_task_grads(w, step, batch, k, first_order, method)

    def per_task(w, step):
        path = models.adapt(lambda th, *q: closed.task_loss(th, q), w, batch.support, step, k,
                            first_order)
        return closed.task_loss(path[-1], batch.query)

    loss_shape = np.broadcast(*w, *batch.support).shape
    args = (tuple(np.broadcast_to(wi, loss_shape) * 1.0 for wi in w),
            np.broadcast_to(step, loss_shape) * 1.0)
    vjp, loss = make_vjp(per_task, argnum=(0, 1) if method == "metasgd" else 0)(*args)
    g = vjp(np.ones(loss_shape))
    return loss, (g[0] + (g[1],)) if method == "metasgd" else g


def resolve_gradients(gradients, *, model, population, method, depth, steps):
    """The gradient backend that ``gradients`` (one of ``GRADIENTS`` or ``"auto"``) means here."""
    _check.choice("gradients", gradients, GRADIENTS + ("auto",))
    if model == "logistic":
        return "autograd"
    exists = population and method != "metasgd"
    if gradients == "symbolic" and not exists:
        raise ValueError("gradients='symbolic' needs population=True and a method among "
                         f"['maml', 'fomaml', 'multitask'], got population={population}, "
                         f"method={method!r}")
    if gradients != "auto":
        return gradients
    small = depth <= SYMBOLIC_RANGE[0] and steps <= SYMBOLIC_RANGE[1]
    return "symbolic" if exists and small else "recurrence"


def _symbolic_task_grads(w, step, batch, steps, first_order, method):
    """Per-task meta-gradients from the lambdified closed forms of :mod:`theory.symbolic`."""
    if method == "metasgd":
        raise ValueError("gradients='symbolic' supports methods maml, fomaml and multitask")
    from theory.symbolic import bridge, derive  # sympy loads only when symbolic is asked for

    fn = bridge.numeric(derive(model="linear", depth=len(w), steps=steps, loss="population",
                               first_order=first_order))
    s, c, k = batch.support
    values = {f"w{j + 1}": wj for j, wj in enumerate(w)}
    values.update(alpha=step, sigma2=s, a=c)
    values = {name: values[name] for name in fn.names}
    shape = np.broadcast(*w, s, c).shape
    loss = np.broadcast_to(fn.meta_loss(**values), shape) + k
    return loss, tuple(np.broadcast_to(g, shape) for g in fn.meta_grad(**values))


def linear_setup(rng, depth, init, init_scale, restarts):
    """``(names, theta)`` of a depth-``depth`` linear model: ``w1..wL`` and a tuple of ``(R,)``
    starting values, ``init`` (``(R, depth)``) or ``init_scale`` times standard normals."""
    names = tuple(f"w{j + 1}" for j in range(depth))
    if init is None:
        return names, tuple(init_scale * rng.standard_normal((depth, restarts)))
    init = np.asarray(init, dtype=float)
    if init.shape != (restarts, depth):
        raise ValueError(f"init must have shape (restarts, depth) = {(restarts, depth)}, "
                         f"got {init.shape}")
    return names, tuple(init.T.copy())


def _logistic_setup(rng, depth, init, init_scale, restarts):
    names = tuple(f"w{j + 1}" for j in range(depth)) + ("b",)
    if init is None:
        return names, linear_setup(rng, depth, None, init_scale, restarts)[1] + (
            np.zeros(restarts),)
    return names, linear_setup(rng, depth + 1, init, init_scale, restarts)[1]


def logistic_task_losses(theta, step, batch, steps, first_order):
    """Per-task post-adaptation cross-entropy ``(R, T)`` of LogR(+LinNet) with autograd."""
    a, support, (xq, yq) = batch
    per_task = tuple(p[:, None] + np.zeros(a.shape) for p in theta)
    path = models.adapt(models.cross_entropy, per_task, support, step, steps, first_order)
    return models.cross_entropy(path[-1], xq, yq)


def meta_train(rng, *, model="linear", depth=2, method="maml", steps=1, alpha=0.5, tasks=None,
               population=True, shots=10, meta_batch=16, restarts=32, iterations=500,
               optimizer="sgd", lr=0.3, init=None, init_scale=1.0, record_every=10,
               gradients="auto", nodes=None, progress=False, on_divergence="raise", tol=None):
    """Meta-train ``restarts`` independent runs; returns a :class:`Run`.

    ``tasks``: :class:`LinearTasks` / :class:`ClassificationTasks` (defaults per model);
    ``population``: linear tasks with infinite data (else ``shots`` support and query points);
    ``meta_batch``: tasks sampled per iteration and restart, or ``None`` for the exact
    expectation over the slope distribution by Gauss quadrature (population linear only,
    ``nodes`` defaulting to the exact rule); ``init``: ``(R, P)`` starting parameters (default
    ``init_scale`` times standard normals, bias 0; Meta-SGD's ``beta`` starts at ``alpha``);
    ``optimizer``: ``"sgd"`` or ``"adam"`` with step ``lr``; ``record_every``: iterations
    between records (the last iteration is always recorded); ``gradients``: see the module
    docstring; ``progress``: tqdm bar on stderr.  Divergence raises :class:`DivergenceError`
    naming the iteration; with ``on_divergence="drop"`` a diverging restart is instead frozen
    (NaN from then on, listed in ``Run.diverged``) and the others go on. ``tol``: stop each
    restart at the first iteration where its meta-gradient norm is at most ``tol`` or its
    meta-loss has gone flat (:class:`.optim.Stopping`, ``iterations`` being the cap; ``Run.stopping`` says which
    converged); only for the exact expectation (``meta_batch=None``), where the gradient is
    not a sample.
    """
    _check.choice("model", model, MODELS)
    _check.choice("on_divergence", on_divergence, ("raise", "drop"))
    _check.choice("method", method, METHODS)
    depth = _check.integer("depth", depth, 1)
    steps = _check.integer("steps", steps, 0)
    alpha = _check.positive("alpha", alpha)
    shots = _check.integer("shots", shots, 1)
    restarts = _check.integer("restarts", restarts, 1)
    iterations = _check.integer("iterations", iterations, 0)
    record_every = _check.integer("record_every", record_every, 1)
    init_opt, update, get_params = optim.make(optimizer, lr)
    kind = LinearTasks if model == "linear" else ClassificationTasks
    tasks = kind() if tasks is None else tasks
    if not isinstance(tasks, kind):
        raise ValueError(f"model {model!r} needs tasks of type {kind.__name__}, got "
                         f"{type(tasks).__name__}")
    if meta_batch is None and not (model == "linear" and population):
        raise ValueError("meta_batch=None (exact expectation) needs model='linear' with "
                         "population=True; give an integer >= 1")
    if meta_batch is not None:
        meta_batch = _check.integer("meta_batch", meta_batch, 1)
    gradients = resolve_gradients(gradients, model=model, population=population, method=method,
                                  depth=depth, steps=steps)
    setup = linear_setup if model == "linear" else _logistic_setup
    names, theta = setup(rng, depth, init, init_scale, restarts)
    n_model = len(theta)
    if method == "metasgd":
        names, theta = names + ("beta",), theta + (np.full(restarts, alpha),)
    exact = expected_batch(tasks, exact_nodes(depth, steps) if nodes is None else nodes) \
        if meta_batch is None else None
    weight = exact.weight if exact is not None else np.full(meta_batch, 1.0 / meta_batch)
    if tol is not None and exact is None:
        raise ValueError(f"tol={tol!r} needs the exact expectation (meta_batch=None): a "
                         "sampled meta-gradient does not go to zero")
    stop = None if tol is None else optim.Stopping(tol, restarts, iterations)
    state = init_opt(theta)
    record, diverged, alive, start = [], {}, np.ones(restarts, dtype=bool), theta
    for i in tqdm(range(iterations + 1), disable=not progress, file=sys.stderr, desc=method):
        theta = get_params(state)
        step = theta[-1][:, None] if method == "metasgd" else alpha
        with np.errstate(over="ignore", invalid="ignore"):
            batch = exact if exact is not None else _sample(
                rng, model, tasks, (restarts, meta_batch), population=population, shots=shots)
            loss, grads = _meta_step(theta[:n_model], step, batch, model=model, method=method,
                                     steps=steps, gradients=gradients, weight=weight)
        if on_divergence == "raise":
            check_divergence(i, loss, grads, theta)
        else:
            new = diverging(loss, grads, theta) & alive
            diverged.update((int(r), (i, [float(p[r]) for p in start]))
                            for r in np.flatnonzero(new))
            alive &= ~new
            if not alive.all():  # frozen: no step moves them, and they show as NaN
                loss = np.where(alive, loss, np.nan)
                grads = tuple(np.where(alive, g, 0.0) for g in grads)
                theta = tuple(np.where(alive, p, np.nan) for p in theta)
        last = i == iterations or (stop is not None and stop.check(i, loss, grads, alive))
        if i % record_every == 0 or last:
            step_now = theta[-1] if method == "metasgd" else alpha
            eff = closed.effective_step(theta[:depth], step_now, tasks.sigma2)
            record.append((i, loss, np.stack(theta, axis=-1), eff))
        if last:
            break
        with np.errstate(over="ignore", invalid="ignore"):  # only frozen restarts overflow
            new_state = update(i, grads, state)
        state = new_state if stop is None else optim.freeze(stop.stopped, new_state, state)
    its, losses, traj, effs = zip(*record, strict=True)
    config = dict(model=model, depth=depth, method=method, steps=steps, alpha=alpha,
                  population=population, shots=shots, meta_batch=meta_batch,
                  restarts=restarts, iterations=iterations, optimizer=optimizer, lr=lr,
                  sigma2=tasks.sigma2, slope_mean=tasks.slope.mean, slope_std=tasks.slope.std,
                  slope_kind=tasks.slope.kind, gradients=gradients, tol=tol)
    return Run(config, names, traj[-1], np.array(its), np.array(losses), np.array(traj),
               np.array(effs), diverged, stop)


def _sample(rng, model, tasks, shape, *, population, shots):
    """A meta-batch of ``shape`` = (restarts, meta_batch) tasks drawn from ``tasks``."""
    if model == "logistic":
        return tasks.sample(rng, shape, shots)
    return linear_batch(tasks, rng, shape, population=population, shots=shots)


def _meta_step(theta, step, batch, *, model, method, steps, gradients, weight):
    """Meta-loss per restart ``(R,)`` and its gradient (tuple of ``(R,)``) on one meta-batch,
    its tasks weighted by ``weight``."""
    k = 0 if method == "multitask" else steps
    if model == "logistic":
        if method == "metasgd":
            def f(th, beta):
                return logistic_task_losses(th, beta[:, None], batch, k, False) @ weight
            vjp, loss = make_vjp(f, argnum=(0, 1))(theta, step[:, 0])
            g_theta, g_beta = vjp(np.ones(np.shape(loss)))
            return loss, g_theta + (g_beta,)

        def f(th):
            return logistic_task_losses(th, step, batch, k, method == "fomaml") @ weight
        vjp, loss = make_vjp(f)(theta)
        return loss, vjp(np.ones(np.shape(loss)))
    w = tuple(wj[:, None] for wj in theta)
    loss, grads = linear_task_grads(w, step, batch, steps, method, gradients)
    return loss @ weight, tuple(g @ weight for g in grads)
