"""Time the engine's MAML meta-step over the grid of the performance table, against PyTorch.

    python benchmarks/engine_speed.py [--tiny] [--json] [--repeats R] [--no-torch]

The engine side is ``theory.engine.bench`` (also behind ``python -m theory.engine bench``, which
times the engine alone); the reference is ``torch_reference.py`` beside this script, used when
PyTorch imports (it is not a dependency of ``theory``).
"""

from theory import _cli
from theory.engine import bench, heap


def build_parser():
    """Options of this script."""
    p = _cli.ArgumentParser(prog="engine_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="two tiny configs (seconds)")
    p.add_argument("--json", action="store_true", help="one JSON object per config")
    p.add_argument("--repeats", type=_cli.positive_int, default=5, metavar="R")
    p.add_argument("--warmup", type=_cli.nonnegative_int, default=1, metavar="W")
    p.add_argument("--no-torch", action="store_true", help="time the engine only")
    p.add_argument("--torch-mode", choices=bench.TORCH_MODES + ("both",), default="both",
                   help="PyTorch task loop, vmap, or both (the faster is the reference)")
    p.add_argument("--only", metavar="TEXT", default=None,
                   help="run the grid's configs whose label contains TEXT (e.g. 'L4 5w1s')")
    return p


def torch_reference():
    """The PyTorch reference module beside this script, or ``None`` if PyTorch does not import."""
    import torch_reference as ref  # imported here: only a run with PyTorch pays for it

    return ref if ref.AVAILABLE else None


def main(argv=None):
    """Time the grid (or ``--tiny``), print a table or JSON lines."""
    args = build_parser().parse_args(argv)
    heap.keep_freed_memory()   # as a process that trains has it
    configs = bench.tiny_grid() if args.tiny else bench.default_grid()
    if args.only is not None:
        configs = [c for c in configs if args.only in bench.describe(c)]
        if not configs:
            raise ValueError(f"--only {args.only!r} matches no config of the grid")
    modes = bench.TORCH_MODES if args.torch_mode == "both" else (args.torch_mode,)
    rows = bench.run_benchmark(configs, repeats=args.repeats, warmup=args.warmup,
                               ref=None if args.no_torch else torch_reference(), progress=True,
                               torch_modes=modes)
    bench.print_rows(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli.run(main))
