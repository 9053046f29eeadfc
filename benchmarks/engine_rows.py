"""Batch norm's elementwise passes a block of rows at a time against whole-array passes.

    python benchmarks/engine_rows.py [--hidden C] [--tasks T] [--repeats R]

``batchnorm.batch_norm`` (the forward map) and ``batchnorm.blend_rows`` (its input gradient)
make several passes over a ``(T, C, M)`` map; they run them over blocks of rows of about
``batchnorm._BLOCK`` values, so that every pass after a block's first reads it from cache. For
the maps of the authors' Omniglot network at width ``C`` (the four stride-2 layers' outputs
over 100 images per task: M = 100 x 14 x 14, 7 x 7, 4 x 4, 2 x 2), one thread, this times both
ops with the blocks as shipped and with one block of all rows (whole-array passes), in turns,
and prints the best of ``R`` repeats and the ratio blocked / whole.
"""

import numpy as np
from threadpoolctl import threadpool_limits

from theory import _cli
from theory.engine import batchnorm, heap

from engine_layers import best_in_turns     # the sibling script's timing in turns

SIDES = (14, 7, 4, 2)   # output sides of the authors' network's stride-2 layers
IMAGES = 100            # images per task (5-way 5-shot with 15 queries: 25 + 75)


def build_parser():
    """Options of this script."""
    p = _cli.ArgumentParser(prog="engine_rows.py", description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=_cli.positive_int, default=64, metavar="C")
    p.add_argument("--tasks", type=_cli.positive_int, default=8, metavar="T",
                   help="tasks per chunk of a meta-step (8 for the 16-task meta-batch)")
    p.add_argument("--repeats", type=_cli.positive_int, default=15, metavar="R")
    return p


def with_block(block, fn):
    """``fn`` run with ``batchnorm._BLOCK = block``, the shipped value restored after it."""
    def run():
        shipped, batchnorm._BLOCK = batchnorm._BLOCK, block
        try:
            fn()
        finally:
            batchnorm._BLOCK = shipped
    return run


def main(argv=None):
    """Print one row per map size: milliseconds blocked and whole, and their ratio."""
    args = build_parser().parse_args(argv)
    heap.keep_freed_memory()
    rng = np.random.default_rng(0)
    whole = 2 ** 62
    print(f"batch norm's passes on (T={args.tasks}, C={args.hidden}, M) float32 maps, one thread, "
          f"best of {args.repeats}; blocks of {batchnorm._BLOCK} values")
    print("| map | op | blocked ms | whole ms | blocked / whole |\n|---|---|---|---|---|")
    with threadpool_limits(1):
        for side in SIDES:
            shape = (args.tasks, args.hidden, IMAGES * side * side)
            z, g = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
            rows = [rng.standard_normal((args.tasks, args.hidden, 1)).astype(np.float32)
                    for _ in range(3)]
            ops = {"batch_norm": lambda: batchnorm.batch_norm.fun(z, rows[0], rows[1], 1e-5),
                   "blend_rows": lambda: batchnorm.blend_rows.fun(g, rows[0], z, rows[1], rows[2])}
            for name, fn in ops.items():
                blocked, full = best_in_turns([with_block(batchnorm._BLOCK, fn),
                                               with_block(whole, fn)], args.repeats)
                print(f"| {side}x{side} x {IMAGES} | {name} | {1e3 * blocked:.2f} | "
                      f"{1e3 * full:.2f} | {blocked / full:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli.run(main))
