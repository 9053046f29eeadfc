"""The only code that writes figure files: compute, draw, save PNG + PDF (+ the data as JSON).

Each figure gets its own generator ``default_rng([seed, crc32(name)])``, so a figure drawn
alone is bit-for-bit the one drawn in the full run with the same seed.
"""

import json
import os
import sys
import time
import zlib

import numpy as np
from tqdm import tqdm

from theory import _cli, _io, _paths
from theory.figures import REGISTRY, style
from theory.paper import cells

__all__ = ["figure_rng", "build", "save", "write_data", "command", "parser", "destinations",
           "check", "main"]


PROG = _cli.PROG.format("figures")


def figure_rng(seed, name):
    """The generator of figure ``name`` under ``seed``."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def build(name, *, seed=0, quick=False, results_dir=_paths.RESULTS):
    """Compute and draw figure ``name``: returns ``(data, Figure)``; writes nothing."""
    if name not in REGISTRY:
        raise ValueError(f"unknown figure {name!r}; valid names: {', '.join(REGISTRY)}")
    entry = REGISTRY[name]
    options = {"results_dir": results_dir} if entry.reads_results else {}
    data = entry.compute(figure_rng(seed, name), quick=quick, **options)
    with style.context():
        fig = entry.fig(data)
    return data, fig


def save(fig, out, name, formats=("png", "pdf")):
    """Save ``fig`` as ``out/name.<fmt>`` atomically; returns the paths."""
    paths = []
    with style.context():
        for fmt in formats:
            path = os.path.join(out, f"{name}.{fmt}")
            # no creation date in the PDF: the same data gives the same file
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            with _io.atomic_open(path, "wb") as handle:
                fig.savefig(handle, format=fmt, metadata=metadata)
            _readable(path)
            paths.append(path)
    return paths


def write_data(path, record):
    """Write a figure's data atomically as compact JSON (surfaces hold ~10^4 numbers)."""
    with _io.atomic_open(path) as handle:
        json.dump(record, handle, separators=(",", ":"), allow_nan=False)
        handle.write("\n")
    _readable(path)


def _readable(path):
    # the atomic temporary file is created 0600; give the result the user's usual permissions
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def command(name, args):
    """The command line that reproduces figure ``name``'s data."""
    extra = (["--quick"] if args.quick else []) + ([f"--seed {args.seed}"] if args.seed else [])
    return " ".join(["python -m theory.figures", name, *extra])


def parser():
    p = _cli.ArgumentParser(
        prog=PROG,
        description="Regenerate the project's figures (PNG and PDF) and each figure's data "
                    "(JSON). Without --out, a full-budget run writes the committed files "
                    f"({os.path.join('figures', '')} and {os.path.join('results', 'figures', '')} "
                    "of the checkout) and a --quick run writes to "
                    f"{os.path.join('figures', 'quick', '')}; with --out, every output goes "
                    "there.")
    _cli.add_version(p)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="figures to draw (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.add_argument("--out", metavar="DIR", help="folder for the PNG/PDF files and, unless --data is given, "
                                 "the JSON data (default: figures/ of the checkout, or "
                                 "figures/quick/ with --quick)")
    p.add_argument("--data", metavar="DIR", help="folder for each figure's data as JSON (default: "
                                  "results/figures/ of the checkout, or the --out directory)")
    p.add_argument("--results", metavar="DIR", help="engine results read by the table figures (default: "
                                     "results/ of the checkout)")
    p.add_argument("--quick", action="store_true", help="small budgets (seconds per figure)")
    _cli.add_seed(p)
    _cli.add_progress(p)
    return p


build_parser = parser


def destinations(args):
    """``(image_dir, data_dir)`` of parsed ``args``: see the parser's description.

    A quick run never lands on the committed full-budget files by default.
    """
    if args.out is not None:
        return args.out, args.data if args.data is not None else args.out
    if args.quick:
        quick = os.path.join(_paths.ROOT, "figures", "quick")
        return quick, args.data if args.data is not None else quick
    return (os.path.join(_paths.ROOT, "figures"),
            args.data if args.data is not None else os.path.join(_paths.ROOT, "results",
                                                                  "figures"))


def check(args, names):
    """Refuse, before anything is computed, what the run could not write or read."""
    out, data = destinations(args)
    _io.check_writable(out, what="--out" if args.out is not None else "output directory")
    _io.check_writable(data, what="--data" if args.data is not None else "data directory")
    if args.quick:
        for name in names:
            path = os.path.join(data, f"{name}.json")
            if _full_budget(path):
                raise ValueError(f"--quick would overwrite the full-budget data {path}; "
                                 "give --out DIR (or --data DIR) for a scratch run")
    if args.results is not None:
        if not os.path.isdir(args.results):
            what = "is not a directory" if os.path.exists(args.results) else "does not exist"
            raise ValueError(f"--results {args.results} {what}")
    elif any(REGISTRY[n].reads_results for n in names) and not os.path.isdir(_paths.RESULTS):
        raise ValueError(f"no results directory at {_paths.RESULTS}; give --results DIR")
    if any(REGISTRY[n].reads_results for n in names):
        cells.load(args.results or _paths.RESULTS)  # a damaged record: stop now


def _full_budget(path):
    try:
        with open(path) as handle:
            return json.load(handle).get("quick") is False
    except (OSError, ValueError, AttributeError):
        return False


def main(argv=None):
    args = parser().parse_args(argv)
    if args.list:
        if args.names:
            raise ValueError(f"--list takes no figure names (got {' '.join(args.names)}): it "
                             "lists them all and draws none")
        width = max(map(len, REGISTRY))
        for name, entry in REGISTRY.items():
            print(f"{name:<{width}}  {entry.description}")
        return 0
    names = args.names or list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown figure(s) {', '.join(map(repr, unknown))}; "
                         f"valid names: {', '.join(REGISTRY)}")
    check(args, names)
    out, data_dir = destinations(args)
    results_dir = args.results if args.results is not None else _paths.RESULTS
    bar = tqdm(names, desc="figures", unit="fig", file=sys.stderr, disable=not args.progress)
    for name in bar:
        bar.set_postfix_str(name)
        start = time.perf_counter()
        data, fig = build(name, seed=args.seed, quick=args.quick, results_dir=results_dir)
        save(fig, out, name)
        write_data(os.path.join(data_dir, f"{name}.json"),
                   {"kind": "figure-data", "figure": name, "seed": args.seed,
                    "quick": args.quick, "command": command(name, args), "data": data})
        bar.write(f"{name}: {os.path.join(out, name)}.png/.pdf "
                  f"({time.perf_counter() - start:.1f} s)")
    return 0


main.prog = PROG
