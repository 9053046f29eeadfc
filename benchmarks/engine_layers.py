"""Where the authors' network is slow: its stride-2 conv layers one by one, engine vs PyTorch.

    python benchmarks/engine_layers.py [--hidden C] [--tasks T] [--images N] [--repeats R]

For each stride-2 layer of the authors' Omniglot network after the first (input maps 14x14,
7x7, 4x4 and 2x2 at width ``C``), one thread each, times the three conv ops a second-order
meta-step runs per layer and task: the conv, its input gradient and its weight gradient,
with one weight per task (as after adaptation), ``T`` tasks of ``N`` images. The engine runs
``primitives.conv``, ``conv_input_grad`` and ``conv_weight_grad``; PyTorch runs ``conv2d`` and
``torch.nn.grad.conv2d_input``/``conv2d_weight`` in a loop over the tasks. The engine reads
every input in block order, as in the network: the 14x14 map as the first conv emits it, the
others as ``primitives.phase_blocks`` leaves them (once per forward pass, so outside the timed
ops; the 7x7 map's phases are zero-filled to 4x4). The two alternate,
repeat by repeat, so that both see the same load; the best of ``R`` repeats is reported,
with the engine/PyTorch ratio. Needs PyTorch (not a dependency of ``theory``).
"""

import numpy as np
from threadpoolctl import threadpool_limits

from theory import _cli
from theory.engine import primitives as P
from theory.engine import timing

SIDES = (14, 7, 4, 2)   # input sides of the stride-2 layers after the first


def build_parser():
    """Options of this script."""
    p = _cli.ArgumentParser(prog="engine_layers.py", description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=_cli.positive_int, default=64, metavar="C")
    p.add_argument("--tasks", type=_cli.positive_int, default=16, metavar="T")
    p.add_argument("--images", type=_cli.positive_int, default=100, metavar="N",
                   help="images per task (5-way 5-shot with 15 queries: 25 + 75)")
    p.add_argument("--repeats", type=_cli.positive_int, default=5, metavar="R")
    return p


def best_in_turns(fns, repeats):
    """Best seconds of each function of ``fns`` over ``repeats`` rounds of ``timing.rounds``
    after one warm-up round (``engine_rows.py`` times with it too)."""
    times = timing.rounds(dict(enumerate(fns)), repeats, warmup=1)
    return [min(wall for wall, _ in times[i]) for i in range(len(fns))]


def layer_times(torch, side, C, T, n, repeats, rng):
    """``(engine_s, torch_s)`` of one layer's three conv ops over ``T`` tasks."""
    out = P.out_size(side, 2)
    a = rng.standard_normal((T, C, n, side, side)).astype(np.float32)
    w = rng.standard_normal((T, C, C * 9)).astype(np.float32)
    g = rng.standard_normal((T, C, n * out * out)).astype(np.float32)
    a_blocks = P.phase_blocks.fun(a) if side % 2 else a     # random pixels: any order will do

    def engine():
        P.conv.fun(a_blocks, w, P.IN_BLOCKS, 2)
        P.conv_input_grad.fun(g, w, a_blocks.shape, P.IN_BLOCKS, 2)
        P.conv_weight_grad.fun(g, a_blocks, P.IN_BLOCKS, 2)

    x = [torch.from_numpy(np.ascontiguousarray(a[t].transpose(1, 0, 2, 3))) for t in range(T)]
    wt = [torch.from_numpy(w[t].reshape(C, C, 3, 3).copy()) for t in range(T)]
    gt = [torch.from_numpy(np.ascontiguousarray(g[t].reshape(C, n, out, out)
                                                .transpose(1, 0, 2, 3))) for t in range(T)]

    def reference():
        for t in range(T):
            torch.nn.functional.conv2d(x[t], wt[t], stride=2, padding=1)
            torch.nn.grad.conv2d_input(x[t].shape, wt[t], gt[t], stride=2, padding=1)
            torch.nn.grad.conv2d_weight(x[t], wt[t].shape, gt[t], stride=2, padding=1)

    with torch.no_grad():
        return best_in_turns([engine, reference], repeats)


def main(argv=None):
    """Print one row per layer: seconds of each library and their ratio."""
    args = build_parser().parse_args(argv)
    import torch    # noqa: PLC0415 -- only this benchmark needs it

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"stride-2 conv ops per layer (conv, input and weight gradients), width {args.hidden}, "
          f"{args.tasks} tasks x {args.images} images, one thread each, best of {args.repeats}")
    print("| input map | engine ms | torch ms | engine / torch |\n|---|---|---|---|")
    with threadpool_limits(1):
        for side in SIDES:
            e, t = layer_times(torch, side, args.hidden, args.tasks, args.images,
                               args.repeats, rng)
            print(f"| {side}x{side} | {1e3 * e:.1f} | {1e3 * t:.1f} | {e / t:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli.run(main))
