"""``python -m theory.landscape {surface,train,curves,sweep,collapse,effective,precondition}``.

Every command takes ``--seed`` (a seed reproduces the run bit for bit), ``--json`` (print the
result as JSON instead of a summary), ``--out DIR`` (also write the JSON atomically to
``DIR/<command>.json``) and
``--population/--no-population`` (linear models: train on the exact population objective, the
default, or on sampled meta-batches of ``--shots`` points).  ``train`` prints the final
parameters of every restart; a restart that diverges is a result there (it marks the edge of
the basin): it is listed under ``diverged`` with its iteration and starting point, its values
are NaN (``null`` in the JSON) and the other restarts finish.  ``precondition`` (R5, d
dimensions) has its own options and also lists diverged restarts in its result.  Both stop
each restart once its meta-gradient norm is at most ``--tol`` (``--iterations`` is the cap;
``train`` on the exact population objective only) and report per restart ``converged``,
``grad_norm`` and ``stopped_at``; their text says how many restarts did not converge.  Bad input
exits with status 2 and one line; a diverging run of the other commands exits with status 1
and one line naming the iteration and the value.
"""

import argparse
import json
import os
import sys

import numpy as np

from .. import _cli, _io, _limits
from . import analyses, curves, deep, evaluate, precondition
from .closed import DivergenceError
from .optim import OPTIMIZERS
from .report import summary
from .simulate import METHODS, meta_train
from .tasks import ClassificationTasks, SlopeDistribution

__all__ = ["DESCRIPTION", "build_parser", "compute", "summary", "main"]


PROG = _cli.PROG.format("landscape")
TOL = 1e-6  # meta-gradient norm at which a restart of train or precondition has converged
DESCRIPTION = ("Meta-train the paper's 1D models and analyse MAML there: the depth-2 meta-loss "
               "surface, restarts of meta-training, adaptation curves, the alpha sweep, "
               "collapsing a deep model, the learned effective step; and the d-dimensional "
               "preconditioning of R5. A restart of 'train' or 'precondition' that diverges is "
               "reported and the others finish; other commands stop with exit status 1 on "
               "divergence.")


def _shared_io(p):
    """``--seed``, ``--json`` and ``--out`` of every command (CONTRIBUTING.md)."""
    _cli.add_seed(p)
    _cli.add_json(p)
    _cli.add_out(p, "the JSON result as <command>.json (atomically), beside what is printed")


def _common(p, *, alpha=0.5, steps=1, restarts=8, iterations=1500, lr=0.02, optimizer="adam",
            capped=False):
    _shared_io(p)
    p.add_argument("--population", action=argparse.BooleanOptionalAction, default=None,
                   help="linear models: exact population objective (the default) or sampled "
                        "data; the logistic model always samples")
    p.add_argument("--alpha", type=_cli.positive_float, default=alpha, help="inner step > 0")
    p.add_argument("--sigma2", type=_cli.positive_float, default=1.0, help="E[x^2] > 0")
    p.add_argument("--steps", type=_cli.nonnegative_int, default=steps, help="inner steps K")
    p.add_argument("--slope-mean", type=_cli.finite_float, default=1.0, help="E[a]")
    p.add_argument("--slope-std", type=_cli.float_at_least(0), default=None,
                   help="std of a (>= 0; default 0.5, or 2 for the logistic model)")
    p.add_argument("--restarts", type=_cli.positive_int, default=restarts,
                   help="independent meta-training runs from random starts")
    p.add_argument("--iterations", type=_cli.nonnegative_int, default=iterations,
                   help="cap on the meta-iterations per restart (a restart stops earlier once "
                        "its meta-gradient norm is at most --tol)" if capped else
                        "meta-iterations per restart")
    p.add_argument("--lr", type=_cli.positive_float, default=lr,
                   help="outer learning rate" + ("" if lr is not None else
                                                 " (default: 0.3 on the exact population "
                                                 "objective, else 0.03)"))
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=optimizer,
                   help="outer optimizer")
    p.add_argument("--shots", type=_cli.positive_int, default=10,
                   help="support and query points per task when sampling")
    p.add_argument("--meta-batch", type=_cli.positive_int, default=16,
                   help="tasks per meta-iteration when sampling")


def build_parser():
    """The argument parser of ``python -m theory.landscape``."""
    parser = _cli.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                 formatter_class=_cli.DefaultsHelpFormatter)
    _cli.add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, text):
        return sub.add_parser(name, help=text, description=text,
                              formatter_class=_cli.DefaultsHelpFormatter)

    p = command("surface", "meta-loss surface of the depth-2 model and trajectories")
    _common(p, restarts=12, iterations=2000, lr=None, optimizer="sgd")
    p.add_argument("--extent", type=_cli.positive_float, default=2.5, help="half-width of grid")
    p.add_argument("--grid", type=_cli.positive_int, default=65, help="points per axis (>= 2)")
    p.add_argument("--mc-tasks", type=_cli.positive_int, default=2000,
                   help="tasks of the Monte-Carlo check of the surface")
    p.add_argument("--mc-shots", type=_cli.positive_int, default=200,
                   help="points per task of the Monte-Carlo check")
    p = command("train", "meta-train and print the final parameters of each restart "
                         "(diverged restarts are listed, the others finish)")
    _common(p, lr=None, optimizer="sgd", iterations=20000, capped=True)
    p.add_argument("--model", choices=("linear", "logistic"), default="linear",
                   help="1D model")
    p.add_argument("--depth", type=_cli.positive_int, default=2, help="layers L")
    p.add_argument("--method", choices=METHODS, default="maml", help="meta-learning method")
    p.add_argument("--init-scale", type=_cli.positive_float, default=1.0,
                   help="starting weights ~ N(0, init-scale^2)")
    p.add_argument("--exact", action=argparse.BooleanOptionalAction, default=None,
                   help="with --population: exact expectation over a (the default) instead of "
                        "meta-batches of --meta-batch slopes")
    _cli.add_progress(p)
    _tol(p)
    p = command("curves", "adaptation curves: shallow vs deep, LogR vs LinNet")
    _common(p, steps=2, restarts=4, iterations=1000)
    p.add_argument("--depth", type=_cli.positive_int, default=2, help="layers L of the deep model")
    p.add_argument("--logistic", action=argparse.BooleanOptionalAction, default=True,
                   help="also LogR vs LogR+LinNet")
    p = command("sweep", "best post-adaptation loss vs alpha, shallow vs deep")
    _common(p)
    p.add_argument("--depth", type=_cli.positive_int, default=2, help="layers L of the deep model")
    p.add_argument("--alphas", type=_cli.positive_float, nargs="+",
                   default=[0.05, 0.1, 0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 1.9],
                   help="inner steps to sweep")
    p = command("collapse", "meta-train deep, collapse to its product, adapt again")
    _common(p)
    p.add_argument("--depth", type=_cli.positive_int, default=2, help="layers L of the deep model")
    p.add_argument("--logistic", action="store_true",
                   help="also collapse a meta-trained LogR+LinNet (key 'logistic')")
    p = command("effective", "effective step along training vs Meta-SGD's beta")
    _common(p, alpha=0.2)
    p.add_argument("--depth", type=_cli.positive_int, default=2, help="layers L of the deep model")
    _precondition_parser(sub)
    return parser


def _precondition_parser(sub):
    """R5 (:mod:`.precondition`): d-dimensional MAML, Meta-SGD and KFO, exact population loss.

    ``--steps`` is the number K of inner steps; meta-training runs ``--iterations`` steps of
    Adam (``--lr``) on all ``--restarts`` at once. Tasks a ~ N(task_mean 1, task_var I).
    """
    text = "R5: d-dimensional MAML/Meta-SGD/KFO learn P vs the target (alpha Sigma)^-1"
    p = sub.add_parser("precondition", help=text, description=text,
                       formatter_class=_cli.DefaultsHelpFormatter)
    p.add_argument("--dim", type=_cli.positive_int, default=4, help="input dimension d >= 1")
    p.add_argument("--width", type=_cli.positive_int, default=None,
                   help="width h >= 1 of every hidden layer of deep maml (default: d; ignored "
                        "at depth 1)")
    p.add_argument("--cond", type=_cli.float_at_least(1), default=10.0,
                   help="condition number kappa >= 1 of Sigma (eigenvalues 1 .. 1/kappa)")
    p.add_argument("--rotate", action="store_true", help="Sigma with random eigenvectors")
    p.add_argument("--method", choices=precondition.METHODS, default="maml",
                   help="meta-learning method")
    p.add_argument("--depth", type=_cli.positive_int, default=1,
                   help="layers L >= 1 (L >= 2: deep linear maml)")
    p.add_argument("--alpha", type=_cli.positive_float, default=0.5, help="inner step > 0")
    p.add_argument("--steps", type=_cli.positive_int, default=1, help="inner steps K >= 1")
    p.add_argument("--restarts", type=_cli.positive_int, default=8,
                   help="independent meta-training runs from random starts")
    p.add_argument("--iterations", type=_cli.nonnegative_int, default=20000,
                   help="cap on the meta-training iterations (Adam); a restart stops earlier "
                        "once its gradient norm is at most --tol")
    p.add_argument("--lr", type=_cli.positive_float, default=0.02, help="Adam step size")
    p.add_argument("--task-mean", type=_cli.finite_float, default=0.0, help="every entry of E[a]")
    p.add_argument("--task-var", type=_cli.positive_float, default=1.0, help="Cov(a) = v I")
    p.add_argument("--tasks", type=_cli.positive_int, default=32,
                   help="deep model, where no exact Gauss-Hermite rule of at most "
                        f"{deep.MAX_NODES} nodes exists: Monte-Carlo tasks per iteration "
                        "(antithetic pairs; the final loss is re-estimated on 16x as many)")
    _tol(p)
    _shared_io(p)


def _tol(p):
    p.add_argument("--tol", type=_cli.positive_float, default=TOL,
                   help="a restart has converged, and stops, when the norm of its "
                        "meta-gradient is at most tol or its loss moved by at most tol x its "
                        "starting loss over the last tenth of --iterations, the cap (train: "
                        "on the exact population objective only)")


def _slope_std(args):
    if args.slope_std is not None:
        return args.slope_std
    return 2.0 if getattr(args, "model", "linear") == "logistic" else 0.5


def _population(args):
    """``--population`` resolved (default on); refused where it would be silently ignored."""
    if getattr(args, "model", "linear") == "logistic":
        for flag in ("population", "exact"):
            if getattr(args, flag, None) is not None:
                raise ValueError(f"--{flag}/--no-{flag} applies to the linear model only; "
                                 "the logistic model always trains on sampled meta-batches of "
                                 "--shots points")
        return False
    if args.population is False and getattr(args, "exact", None) is not None:
        raise ValueError("--exact/--no-exact goes with --population (the exact population "
                         "objective); with --no-population the run samples data")
    return args.population is not False


def _shared(args):
    return dict(alpha=args.alpha, sigma2=args.sigma2, slope_mean=args.slope_mean,
                slope_std=_slope_std(args), steps=args.steps, restarts=args.restarts,
                iterations=args.iterations, lr=args.lr, optimizer=args.optimizer,
                population=_population(args), shots=args.shots, meta_batch=args.meta_batch)


def _train(rng, args):
    linear = args.model == "linear"
    std = _slope_std(args)
    tasks = (analyses.linear_tasks(args.sigma2, args.slope_mean, std) if linear else
             ClassificationTasks(args.sigma2, SlopeDistribution(args.slope_mean, std)))
    population = _population(args)
    exact = linear and population and args.exact is not False
    lr = args.lr if args.lr is not None else (0.3 if exact else 0.03)
    run = meta_train(rng, model=args.model, depth=args.depth, method=args.method,
                     steps=args.steps, alpha=args.alpha, tasks=tasks, population=population,
                     shots=args.shots, meta_batch=None if exact else args.meta_batch,
                     restarts=args.restarts, iterations=args.iterations,
                     optimizer=args.optimizer, lr=lr, record_every=max(1, args.iterations // 20),
                     init_scale=args.init_scale, progress=args.progress, on_divergence="drop",
                     tol=args.tol if exact else None)
    result = dict(run.to_dict(), tol=args.tol if exact else None)
    finished = np.array([r not in run.diverged for r in range(args.restarts)])
    if not finished.any():
        curves_ = {}
    elif linear:
        curves_ = {"final_loss": evaluate.linear_curve(
            rng, run.params[finished], tasks, depth=args.depth, alpha=args.alpha,
            steps=args.steps)}
    else:
        loss, acc = evaluate.logistic_curve(rng, run.params[finished], tasks, depth=args.depth,
                                            alpha=args.alpha, steps=args.steps,
                                            shots=args.shots)
        curves_ = {"final_loss": loss, "final_accuracy": acc}
    for key in ("final_loss",) + (() if linear else ("final_accuracy",)):
        values = np.full(args.restarts, np.nan)
        if key in curves_:
            values[finished] = curves_[key][:, -1]
        result[key] = values.tolist()
    return result


def compute(args):
    """Run the analysis selected by parsed ``args``; returns its JSON-serialisable result."""
    rng = np.random.default_rng(args.seed)
    if args.command == "precondition":
        return precondition.experiment(
            rng, **{k: getattr(args, k) for k in (
                "dim", "width", "cond", "rotate", "method", "depth", "alpha", "steps",
                "restarts", "iterations", "lr", "task_mean", "task_var", "tasks", "tol")})
    kw = _shared(args)
    if args.command == "surface":
        return analyses.surface(rng, extent=args.extent, grid=args.grid,
                                mc_tasks=args.mc_tasks, mc_shots=args.mc_shots, **kw)
    if args.command == "train":
        return _train(rng, args)
    if args.command == "curves":
        return curves.adaptation_curves(rng, depth=args.depth, logistic=args.logistic,
                                        linear_shots=kw.pop("shots"),
                                        linear_meta_batch=kw.pop("meta_batch"), **kw)
    if args.command == "sweep":
        kw.pop("alpha")
        return analyses.alpha_sweep(rng, alphas=args.alphas, depth=args.depth, **kw)
    if args.command == "collapse":
        out = analyses.collapse(rng, depth=args.depth, **kw)
        if args.logistic:
            out["logistic"] = curves.logistic_collapse(rng, alpha=args.alpha, steps=args.steps,
                                                       depth=args.depth, shots=args.shots)
        return out
    return analyses.effective_steps(rng, depth=args.depth, **kw)


def memory_bytes(args):
    """Estimated least peak bytes of the analysis parsed ``args`` asks for, in float64:
    ``precondition`` holds d x d matrices (``--dim``, ``--width``) per restart with Adam's
    moments and gradients; the others hold per restart the parameters' path over a
    meta-batch of points and inner steps, plus ``surface``'s grid and Monte-Carlo samples."""
    if args.command == "precondition":
        width = args.width or args.dim
        per_restart = args.dim * args.dim + args.dim * width
        return 8 * 16 * (args.restarts + 4) * per_restart
    points = getattr(args, "meta_batch", 1) * getattr(args, "shots", 1)
    depth = getattr(args, "depth", 2)
    total = args.restarts * points * (depth + 2) * (args.steps + 1) * 16
    if args.command == "surface":
        total += 16 * args.grid ** 2 + 4 * args.mc_tasks * args.mc_shots
    if args.command == "sweep":
        total *= len(args.alphas)
    return 8 * total


def main(argv=None):
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.out is not None:
        _io.check_writable(args.out)
    sizes = " ".join(f"--{k} {getattr(args, k)}" for k in ("dim", "width", "restarts", "grid")
                     if getattr(args, k, None) is not None)
    _limits.check_memory(memory_bytes(args), f"{args.command} with {sizes}")
    try:
        result = compute(args)
    except DivergenceError as err:
        sys.stderr.write(f"{PROG}: diverged: {err}\n")
        return 1
    result = precondition.finite_or_null(result)
    if args.out is not None:
        _io.write_json(os.path.join(args.out, f"{args.command}.json"), result)
    print(json.dumps(result, allow_nan=False) if args.json else summary(args.command, result))
    return 0


main.prog = PROG
