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

from theory import _cli, _io
from theory.figures import REGISTRY, style
from theory.paper import cells


def figure_rng(seed, name):
    """The generator of figure ``name`` under ``seed``."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def build(name, *, seed=0, quick=False, results_dir=cells.DEFAULT_DIR):
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
    p = _cli.ArgumentParser(prog="python -m theory.figures",
                            description="Regenerate the project's figures (PNG and PDF).")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="figures to draw (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.add_argument("--out", default="figures", help="directory for PNG/PDF (default: figures)")
    p.add_argument("--data", default=os.path.join("results", "figures"),
                   help="directory for each figure's data as JSON (default: results/figures)")
    p.add_argument("--results", default=cells.DEFAULT_DIR,
                   help="engine results read by the table figures (default: results)")
    p.add_argument("--quick", action="store_true", help="small budgets (seconds per figure)")
    p.add_argument("--seed", type=_cli.nonnegative_int, default=0, help="random seed (default 0)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.list:
        width = max(map(len, REGISTRY))
        for name, entry in REGISTRY.items():
            print(f"{name:<{width}}  {entry.description}")
        return 0
    names = args.names or list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown figure(s) {', '.join(map(repr, unknown))}; "
                         f"valid names: {', '.join(REGISTRY)}")
    bar = tqdm(names, desc="figures", unit="fig", file=sys.stderr)
    for name in bar:
        bar.set_postfix_str(name)
        start = time.perf_counter()
        data, fig = build(name, seed=args.seed, quick=args.quick, results_dir=args.results)
        save(fig, args.out, name)
        write_data(os.path.join(args.data, f"{name}.json"),
                   {"kind": "figure-data", "figure": name, "seed": args.seed,
                    "quick": args.quick, "command": command(name, args), "data": data})
        bar.write(f"{name}: {os.path.join(args.out, name)}.png/.pdf "
                  f"({time.perf_counter() - start:.1f} s)")
    return 0


main.prog = "python -m theory.figures"
