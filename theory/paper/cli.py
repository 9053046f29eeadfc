"""``python -m theory.paper {plan,run,status,summary,repro,ship}``: the paper's tables.

    python -m theory.paper plan --budget cpu --checkpoints      # the runs, done or not, and cost
    python -m theory.paper run --budget cpu --checkpoints       # LocalCluster of this machine
    python -m theory.paper run --budget cpu --scheduler tcp://HOST:8786   # an existing cluster
    python -m theory.paper status --budget smoke --results DIR  # one line per run (and how far)
    python -m theory.paper summary                              # both tables + verdicts
    python -m theory.paper repro        # rewrite paper_repro.md's cells and the README tables
    python -m theory.paper repro --check                        # exit 1 if they are stale
    python -m theory.paper ship --budget authors  # its checkpoints over the shipped, if better

``run`` resumes: finished runs are skipped, interrupted ones continue from their checkpoint.
Restrict the plan with ``--only``, ``--datasets``, ``--methods``, ``--layers``, ``--seeds``;
``--data NAME=PATH`` locates CIFAR-FS or mini-ImageNet. Plan, budgets, records:
results/README.md.
"""

import argparse
import json
import os
import sys

from theory import _cli, _io, _paths
from theory.paper import (budgets, connect, cost, execute, records, render, repro, ship,
                          vocabulary)
from theory.paper import plan as planning

PROG = "python -m theory.paper"


def _words(text):
    return tuple(w for w in text.split(",") if w)


def _ints(text):
    try:
        return tuple(int(w) for w in _words(text))
    except ValueError:
        raise ValueError(f"--layers {text!r} must be a comma-separated list of "
                         f"integers from {list(vocabulary.TABLE1_LAYERS)}") from None


def _floats(text):
    try:
        return tuple(float(w) for w in _words(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be a comma-separated list of "
                                              "positive numbers") from None


def _data(text):
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=PATH (NAME one of "
                                              f"{', '.join(vocabulary.NEEDS_PATH)})")
    return name, path


def _plan_options(p, budget_default="cpu"):
    p.add_argument("--budget", choices=sorted(budgets.BUDGETS), default=budget_default,
                   help="run lengths, model width, seeds and search grid "
                        "(results/README.md; default: %(default)s)")
    p.add_argument("--only", type=_words, default=None, metavar="TABLES",
                   help=f"comma list of {','.join(vocabulary.TABLES)} (default: the budget's "
                        "plan, else all)")
    p.add_argument("--datasets", type=_words, default=None, metavar="NAMES",
                   help=f"comma list of {','.join(vocabulary.DATASETS)} (default: the budget's, "
                        f"else {','.join(vocabulary.ON_THIS_MACHINE)})")
    p.add_argument("--data", type=_data, action="append", default=[], metavar="NAME=PATH",
                   help="where a dataset's files are (needed for "
                        f"{', '.join(vocabulary.NEEDS_PATH)}; repeatable)")
    p.add_argument("--methods", type=_words, default=None, metavar="NAMES",
                   help=f"comma list of {','.join(vocabulary.METHODS)} (default: all)")
    p.add_argument("--layers", type=str, default=None, metavar="LIST",
                   help=f"comma list of {','.join(map(str, vocabulary.TABLE1_LAYERS))} "
                        "(default: the budget's, else all)")
    p.add_argument("--seeds", type=_cli.positive_int, default=None,
                   help="seeds per 2-layer row (default: the budget's)")
    p.add_argument("--lr-inner", type=_floats, default=None, metavar="LIST",
                   help="inner lrs of the search (default: the budget's grid)")
    p.add_argument("--lr-meta", type=_floats, default=None, metavar="LIST",
                   help="meta lrs of the search (default: the budget's grid)")
    p.add_argument("--checkpoints", action="store_true",
                   help="also run 20-way 1-shot MAML and copy the best checkpoints")
    p.add_argument("--results", default=None, metavar="DIR",
                   help="where records are read and written (default: results/, or "
                        "RUNS/results-BUDGET for the scratch budgets smoke, tiny and "
                        "smoke-converged)")
    p.add_argument("--runs", default="runs", metavar="DIR",
                   help="run directories with checkpoints (default: %(default)s)")


def build_parser():
    """The argument parser of every sub-command."""
    parser = _cli.ArgumentParser(prog=PROG, description="The paper's Tables 1 and 2: plan, run "
                                 "(on Dask), status, summary and repro of the sweep.")
    _cli.add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="print the plan: every run, its state, the estimated "
                          "time of what is left")
    _plan_options(plan)
    _cli.add_json(plan, "every run (state, length, width, lrs, estimated minutes) and the tally")
    run = sub.add_parser("run", help="run the plan (resumes)")
    _plan_options(run)
    _cli.add_json(run, "each run's outcome and the failures with their reasons, at the end")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="a Dask scheduler (tcp://HOST:PORT; refused within "
                          f"{2 * connect.TIMEOUT_S:g} s if none answers there) to run on, or "
                          "'serial' (this "
                          "process, one run at a time); default: a LocalCluster of this "
                          "machine")
    run.add_argument("--jobs", type=_cli.positive_int, default=None,
                     help="workers of the LocalCluster (default: one per core)")
    _cli.add_progress(run)
    run.add_argument("--commit", action="store_true",
                     help="commit every record to git as it is written (only those files), "
                          "so that a long sweep loses nothing if the machine goes away")
    status = sub.add_parser("status", help="one line per run: done, failed or pending (with how "
                            "far an unfinished run has got)")
    _plan_options(status, budget_default="cpu")
    _cli.add_json(status, "every run's state and progress, and the tally")
    summary = sub.add_parser("summary", help="print both tables and the claim verdicts")
    summary.add_argument("--results", default="results", metavar="DIR",
                         help="records to read (default: %(default)s)")
    summary.add_argument("--datasets", type=_words, default=vocabulary.DATASETS, metavar="NAMES",
                         help=f"comma list of {','.join(vocabulary.DATASETS)} (default: all)")
    summary.add_argument("--budget", choices=sorted(budgets.BUDGETS), default=None,
                         help="state this budget's preset in the header (default: none)")
    rep = sub.add_parser("repro", help="rewrite the generated rows of paper_repro.md and the "
                         "README's generated blocks from the committed records; with other "
                         "--results, write only the files named by --repro/--readme")
    rep.add_argument("--results", default=None, metavar="DIR",
                     help="records to read (default: results/ of the checkout)")
    rep.add_argument("--repro", default=None, metavar="FILE",
                     help="the paper_repro.md to rewrite (default: the checkout's, and only "
                          "with the checkout's results)")
    rep.add_argument("--readme", default=None, metavar="FILE",
                     help="the README to rewrite (default: the checkout's, and only with the "
                          "checkout's results)")
    rep.add_argument("--check", action="store_true",
                     help="change nothing; exit 1 if a file is not what repro would write")
    _add_ship(sub)
    return parser


def _add_ship(sub):
    keeps = sorted(b for b, spec in budgets.BUDGETS.items() if not spec.get("ships", True))
    p = sub.add_parser("ship", help="score a budget's checkpoints and the shipped ones on the "
                       "same validation episodes; copy the better-validated ones over them")
    p.add_argument("--budget", choices=keeps, default=vocabulary.AUTHORS,
                   help="the budget whose checkpoints are candidates (default: %(default)s)")
    p.add_argument("--results", default="results", metavar="DIR",
                   help="records and shipped checkpoints (default: %(default)s)")
    p.add_argument("--episodes", type=_cli.positive_int, default=ship.EPISODES, metavar="E",
                   help="validation episodes, the same for both (default: %(default)s)")
    p.add_argument("--query", type=_cli.positive_int, default=ship.QUERY, metavar="Q",
                   help="query images per class, the same for both (default: %(default)s)")
    _cli.add_seed(p, ship.SEED, what="seed of the validation episodes")
    p.add_argument("--check", action="store_true",
                   help="change nothing; print what would ship and exit 1 if anything would")
    _cli.add_progress(p)
    _cli.add_json(p, "each checkpoint's comparison and whether it ships")


def _restrict(args):
    return {"tables": args.only, "datasets": args.datasets, "methods": args.methods,
            "layers": None if args.layers is None else _ints(args.layers),
            "seeds": args.seeds, "checkpoints": args.checkpoints, "lr_inner": args.lr_inner,
            "lr_meta": args.lr_meta, "data": dict(args.data)}


def main(argv=None):
    """Parse ``argv`` and run the sub-command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "summary":
        bad = [d for d in args.datasets if d not in vocabulary.DATASETS]
        if bad:
            raise ValueError(f"unknown datasets {bad}; valid: {list(vocabulary.DATASETS)}")
        return _cli.emit(render.render(args.results, args.datasets, args.budget))
    if args.command == "repro":
        return _repro(args)
    if args.command == "ship":
        return _ship(args)
    if args.results is None:
        args.results = budgets.default_results(args.budget, args.runs)
    if os.path.exists(args.results) and not os.path.isdir(args.results):
        raise ValueError(f"--results {args.results!r} is a file; expected a directory")
    if args.command == "run":
        if args.scheduler not in (None, execute.SERIAL):
            connect.address(args.scheduler)         # another scheme: refused up front
        if args.jobs is not None and args.scheduler is not None:
            raise ValueError(f"--jobs {args.jobs} sets the workers of the LocalCluster; with "
                             f"--scheduler {args.scheduler} the cluster's workers run (drop "
                             "one of them)")
        _io.check_writable(args.results, what="--results")
        _io.check_writable(args.runs, what="--runs")
    if args.command in ("plan", "status"):
        plan, states = execute.prepare(args.budget, args.results, args.runs, **_restrict(args))
        if args.json:
            return _cli.emit(json.dumps(_states_document(plan, states, args), indent=1))
        if args.command == "plan":
            return _cli.emit(cost.describe(plan, states, os.cpu_count() or 1)[0])
        return _cli.emit("\n".join([*(_status_line(run, states, args) for run in plan),
                                    cost.tally(plan, states)]))
    outcome = execute.run_sweep(
        args.budget, results_dir=args.results, runs_dir=args.runs, scheduler=args.scheduler,
        jobs=args.jobs, progress=args.progress, commit=args.commit,
        echo=(lambda text: print(text, file=sys.stderr)) if args.json else _cli.emit,
        **_restrict(args))
    plan = execute.prepare(args.budget, args.results, args.runs, **_restrict(args))[0]
    failed = execute.failures(outcome, plan, args.results, args.runs, args.budget)
    if args.json:
        _cli.emit(json.dumps({"outcome": outcome, "failures": [
            {"run": n, "status": s, "reason": r} for n, s, r in failed]}, indent=1))
    for name, state, reason in failed:
        print(f"{name}: {state}: {reason}", file=sys.stderr)
    busy = sum(state == records.BUSY for _, state, _ in failed)
    if len(failed) > busy:
        print(f"{len(failed) - busy} of {len(outcome)} runs failed (recorded; `run` again "
              "retries the errors, a divergence is final)", file=sys.stderr)
    if busy:
        print(f"{busy} of {len(outcome)} runs were being trained by another process and left "
              "to it", file=sys.stderr)
    if failed:
        return 1
    return 0


def _ship(args):
    """``ship``: compare, copy the winners (not with ``--check``) and say what was done."""
    outcome = ship.ship(args.results, args.budget, episodes=args.episodes, query=args.query,
                        seed=args.seed, write=not args.check, progress=args.progress)
    if args.json:
        _cli.emit(json.dumps([{"checkpoint": name, "comparison": result, "ships": wins}
                              for name, result, wins in outcome], indent=1))
    else:
        _cli.emit(ship.describe(outcome, args.budget, write=not args.check))
    return 1 if args.check and any(wins for _, _, wins in outcome) else 0


def _repro(args):
    """``repro``: rewrite (or ``--check``) the generated parts of the files it is given.

    The checkout's ``README.md`` and ``paper_repro.md`` are written only from the checkout's
    own records: with any other ``--results``, only the files named by ``--repro`` and
    ``--readme`` are touched, and with neither the command refuses.
    """
    results = args.results if args.results is not None else _paths.RESULTS
    if not os.path.isdir(results):
        raise ValueError(f"--results {results!r} is not a directory")
    ours = os.path.realpath(results) == os.path.realpath(_paths.RESULTS)
    targets = {"repro": args.repro, "readme": args.readme}
    if not ours and not args.check and all(v is None for v in targets.values()):
        raise ValueError(f"--results {results} is not the checkout's results/, so repro will "
                         "not rewrite the committed README.md and paper_repro.md from it; "
                         "give --readme FILE and/or --repro FILE to write copies (or --check)")
    defaults = {"repro": os.path.join(_paths.ROOT, "paper_repro.md"),
                "readme": os.path.join(_paths.ROOT, "README.md")}
    if ours or args.check:
        targets = {k: v if v is not None else defaults[k] for k, v in targets.items()}
    for key, path in targets.items():
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"--{key} {path!r} is not a file")
    changed = repro.update(targets["repro"], targets["readme"], results, write=not args.check)
    if args.check:
        if changed:
            print("not current: " + ", ".join(changed) + " (python -m theory.paper repro "
                  "rewrites them)", file=sys.stderr)
            return 1
        return _cli.emit("current: " + ", ".join(p for p in targets.values() if p))
    return _cli.emit("updated: " + (", ".join(changed) or "nothing (already current)"))


def _states_document(plan, states, args):
    """The JSON of ``plan`` and ``status``: every run with its state (``status``: and how far
    it has got), length, width, lrs and estimated minutes, and the tally line."""
    runs = []
    for run in plan:
        name, cfg = planning.run_id(run), run.config
        item = {"run": name, "kind": run.kind, "state": records.STATE[states[name]],
                "iterations": cfg["iterations"], "hidden": cfg["hidden"],
                "inner_lr": cfg.get("inner_lr"), "meta_lr": cfg.get("meta_lr"),
                "lr_source": run.lr_source, "minutes": cost.estimate_seconds(run) / 60}
        if args.command == "status" and item["state"] == "pending":
            item["progress"] = records.progress(args.runs, args.budget, run)
        runs.append(item)
    return {"budget": args.budget, "runs": runs, "tally": cost.tally(plan, states)}


def _status_line(run, states, args):
    """A run's line of ``status``: its state, and how far it has got when unfinished."""
    name = planning.run_id(run)
    state = records.STATE[states[name]]
    where = records.progress(args.runs, args.budget, run) if state == "pending" else \
        records.damage(records.budget_dir(args.results, args.budget), args.runs, args.budget,
                       run) if state == "damaged" else None
    return f"{name:<44} {state}" + (f" ({where})" if where else "")


main.prog = PROG
