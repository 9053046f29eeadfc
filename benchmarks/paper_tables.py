"""Reproduce the paper's CNN tables (LinNet vs depth; meta-optimizers) under a CPU budget.

    python benchmarks/paper_tables.py run --budget cpu --checkpoints [--dry-run] [--jobs 2]
    python benchmarks/paper_tables.py summary [--budget cpu]
    python benchmarks/paper_tables.py repro     # rewrite paper_repro.md's cells, README tables

The plan, budgets, resume and record layout: ``theory.engine.sweep``; results/README.md.
Restrict the plan with ``--only``, ``--datasets``, ``--methods``, ``--layers``, ``--seeds``.
"""

import argparse
import os
import signal
import sys

if __name__ == "__main__":
    # measured: single-thread BLAS per run is faster on 2 cores (results/README.md); it must
    # be set before numpy loads, here and (by the sweep) in every child run
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

from theory import _cli  # noqa: E402
from theory.engine import sweep, sweep_repro, sweep_run, sweep_summary  # noqa: E402

PROG = "paper_tables"


def _words(text):
    return tuple(w for w in text.split(",") if w)


def _ints(text):
    try:
        return tuple(int(w) for w in _words(text))
    except ValueError:
        raise ValueError(f"--layers {text!r} must be a comma-separated list of "
                         f"integers from {list(sweep.TABLE_A_LAYERS)}") from None


def _floats(text):
    try:
        return tuple(float(w) for w in _words(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be a comma-separated list of "
                                         "positive numbers") from None


def build_parser():
    """``run`` and ``summary`` sub-commands."""
    parser = _cli.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or --dry-run: print) the plan; resumes")
    run.add_argument("--budget", choices=sorted(sweep.BUDGETS), default="cpu")
    run.add_argument("--only", type=_words, default=sweep.TABLES, metavar="TABLES",
                     help=f"comma list of {','.join(sweep.TABLES)} (default: all)")
    run.add_argument("--datasets", type=_words, default=sweep.DATASETS, metavar="NAMES")
    run.add_argument("--methods", type=_words, default=None, metavar="NAMES",
                     help=f"comma list of {','.join(sweep.METHODS)} (default: all)")
    run.add_argument("--layers", type=str, default=None, metavar="LIST")
    run.add_argument("--seeds", type=_cli.positive_int, default=None,
                     help="seeds per 2-layer row (default: the budget's)")
    run.add_argument("--lr-inner", type=_floats, default=None, metavar="LIST",
                     help="inner lrs of the search (default: the budget's grid)")
    run.add_argument("--lr-meta", type=_floats, default=None, metavar="LIST",
                     help="meta lrs of the search (default: the budget's grid)")
    run.add_argument("--checkpoints", action="store_true",
                     help="also run 20-way 1-shot MAML and copy the best checkpoints")
    run.add_argument("--jobs", type=_cli.positive_int, default=2,
                     help="runs at once, each a process with single-threaded BLAS; 1 trains "
                          "in this process (default: %(default)s)")
    run.add_argument("--results", default="results", metavar="DIR")
    run.add_argument("--runs", default="runs", metavar="DIR")
    run.add_argument("--dry-run", action="store_true", help="print the plan and estimate")
    run.add_argument("--no-progress", action="store_true")
    summary = sub.add_parser("summary", help="print both tables and the claim verdicts")
    summary.add_argument("--results", default="results", metavar="DIR")
    summary.add_argument("--datasets", type=_words, default=sweep.DATASETS, metavar="NAMES")
    summary.add_argument("--budget", choices=sorted(sweep.BUDGETS), default=None)
    repro = sub.add_parser("repro", help="rewrite the table rows and claims C7, C8 of "
                           "paper_repro.md and the README's tables block from results/")
    repro.add_argument("--results", default="results", metavar="DIR")
    repro.add_argument("--repro", default="paper_repro.md", metavar="FILE")
    repro.add_argument("--readme", default="README.md", metavar="FILE")
    return parser


def main(argv=None):
    """Parse ``argv`` and run the sub-command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "summary":
        return _cli.emit(sweep_summary.render(args.results, args.datasets, args.budget))
    if args.command == "repro":
        for path in (args.repro, args.readme):
            if not os.path.isfile(path):
                raise ValueError(f"{path!r} is not a file")
        changed = sweep_repro.update(args.repro, args.readme, args.results)
        return _cli.emit("updated: " + (", ".join(changed) or "nothing (already current)"))
    outcome = sweep_run.run_sweep(
        args.budget, results_dir=args.results, runs_dir=args.runs, jobs=args.jobs,
        dry_run=args.dry_run, progress=not args.no_progress, echo=_cli.emit, tables=args.only,
        datasets=args.datasets, methods=args.methods,
        layers=None if args.layers is None else _ints(args.layers), seeds=args.seeds,
        checkpoints=args.checkpoints, lr_inner=args.lr_inner, lr_meta=args.lr_meta)
    bad = {name: s for name, s in outcome.items() if s not in ("done", "skipped")}
    for name, state in sorted(bad.items()):
        print(f"{name}: {state} (recorded)")
    return 0


main.prog = PROG

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill PID` acts as Ctrl-C
    raise SystemExit(_cli.run(main, sys.argv[1:]))
