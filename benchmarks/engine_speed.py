"""Time the engine's MAML meta-step over the grid of the performance table, against PyTorch.

    python benchmarks/engine_speed.py [--tiny] [--json] [--repeats R] [--no-torch]
                                      [--reference {torch,engine}]

The engine side is ``theory.engine.bench`` (also behind ``python -m theory.engine bench``, which
times the engine alone); the reference is ``torch_reference.py`` beside this script, used when
PyTorch imports (it is not a dependency of ``theory``). ``--reference engine`` times the engine
against itself (``EngineAsReference``): an A/A comparison whose ratios should be 1.0, which shows
the bias and spread of the timing itself on the machine at hand.
"""

from theory import _cli
from theory.engine import bench, chunks, heap, parallel


class EngineAsReference:
    """The engine in the reference's place (the interface ``bench`` calls on
    ``torch_reference.py``): "threads" are the engine's worker processes, the arrays stay numpy."""

    AVAILABLE = True
    DEFAULT_THREADS = parallel.check_workers(None)
    _workers = 1

    @classmethod
    def set_threads(cls, n):
        cls._workers = int(n)

    @staticmethod
    def to_torch(params, batch):
        return params, batch

    @classmethod
    def meta_grad(cls, params, batch, *, alpha, steps, first_order=False, mode="loop", eps=None,
                  arch=None):
        """``(loss, grads)`` of the engine's meta-step (``mode`` and ``eps`` are the engine's own:
        it has one task loop and ``cnn.BN_EPS``)."""
        loss, grads, _ = chunks.meta_grad({"model": params}, batch, alpha=alpha, steps=steps,
                                          algo="fomaml" if first_order else "maml", arch=arch,
                                          workers=cls._workers)
        return loss, grads["model"]


def build_parser():
    """Options of this script."""
    p = _cli.ArgumentParser(prog="engine_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="two tiny configs (seconds)")
    p.add_argument("--json", action="store_true", help="one JSON object per config")
    p.add_argument("--repeats", type=_cli.positive_int, default=5, metavar="R")
    p.add_argument("--warmup", type=_cli.nonnegative_int, default=1, metavar="W")
    p.add_argument("--no-torch", action="store_true", help="time the engine only")
    p.add_argument("--reference", choices=("torch", "engine"), default="torch",
                   help="what the engine is timed against: PyTorch (default), or itself (an A/A "
                        "check of the timing, whose ratios should be 1.0)")
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
    ref = EngineAsReference if args.reference == "engine" else torch_reference()
    rows = bench.run_benchmark(configs, repeats=args.repeats, warmup=args.warmup,
                               ref=None if args.no_torch else ref, progress=True,
                               torch_modes=modes)
    bench.print_rows(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli.run(main))
