"""Where a meta-step's time goes: one profiled meta-step per config, by operation group.

    python benchmarks/engine_profile.py [--only TEXT] [--repeats R]

Each config of the performance grid (``--only`` narrows it, as in ``engine_speed.py``) runs one
warm-up meta-step, then ``R`` meta-steps under ``cProfile`` on one worker thread (cProfile sees
only the thread that enables it). The groups add up the
profiler's time of the engine's primitives: own time of the convolution primitives (their
GEMMs, as im2col/col2im are profiled separately), whole time of the other primitives; the rest
is autograd's bookkeeping, the head, the loss and the optimizer glue. cProfile's overhead is
small next to these numpy calls (tens of milliseconds each).
"""

import cProfile
import pstats

from theory import _cli
from theory.engine import bench, chunks, heap

# (group, primitive function names, statistic): "own" excludes profiled callees, "all" includes
GROUPS = (
    ("GEMMs (conv, conv_input_grad, conv_weight_grad)",
     ("conv", "conv_input_grad", "conv_weight_grad", "conv_split", "weight_grad_split",
      "input_grad_split", "tall_product"), "own"),
    ("im2col / col2im copies (stride 2: phases, shifted taps, weight splits)",
     ("im2col", "col2im", "_padded", "_phases_of", "phase_split", "phase_merge",
      "shifted_cols", "add_shifted", "split_weight", "join_weight", "to_split_order",
      "from_split_order", "_border", "_flat",
      "_stride2_taps", "_shifted_taps"), "own"),
    ("max-pool and its adjoints", ("maxpool2", "pool_mask", "unpool2", "pool_gather"), "all"),
    ("batch norm (batch_norm, moments, blend_rows, center, sqmean, scale_rows, rowdot, ...)",
     ("batch_norm", "moments", "blend_rows", "center", "sqmean", "scale_rows", "rowdot",
      "affine_rows", "rowsum"), "all"),
    ("ReLU (relu, masked)", ("relu", "masked"), "all"),
    ("autograd gradient sums (core._add)", ("_add", "_mut_add"), "own"),
)


def profile_groups(cfg, repeats=1):
    """``(total_s, {group: seconds})`` per meta-step of ``cfg`` (one worker) under cProfile."""
    meta_params, batch, kwargs = bench.make_problem(cfg)
    step = lambda: chunks.meta_grad(meta_params, batch, workers=1, **kwargs)  # noqa: E731
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeats):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = sum(cum for (path, _, name), (_, _, _, cum, _) in stats.items()
                if name == "meta_grad" and path.endswith("maml.py"))
    out = {}
    for group, names, which in GROUPS:
        out[group] = sum((own if which == "own" else cum)
                         for (path, _, name), (_, _, own, cum, _) in stats.items()
                         if name in names
                         and path.endswith(("primitives.py", "gemm.py", "pooling.py",
                                            "strided.py", "batchnorm.py", "core.py")))
    out["other (autograd bookkeeping, head, loss, glue)"] = total - sum(out.values())
    return total / repeats, {k: v / repeats for k, v in out.items()}


def format_profile(cfg, total, groups):
    """A markdown table of the groups' seconds and shares for one config."""
    lines = [f"{bench.describe(cfg)}: {total:.3f} s per meta-step (profiled)", "",
             "| operations | s | share |", "|---|---|---|"]
    lines += [f"| {g} | {s:.3f} | {100 * s / total:.0f}% |" for g, s in groups.items()]
    return "\n".join(lines)


def main(argv=None):
    heap.keep_freed_memory()   # as a process that trains has it
    p = _cli.ArgumentParser(prog="engine_profile.py", description=__doc__.splitlines()[0])
    p.add_argument("--only", metavar="TEXT", default="2nd",
                   help="profile the grid's configs whose label contains TEXT (default: '2nd')")
    p.add_argument("--repeats", type=_cli.positive_int, default=1, metavar="R")
    args = p.parse_args(argv)
    configs = [c for c in bench.default_grid() if args.only in bench.describe(c)]
    if not configs:
        raise ValueError(f"--only {args.only!r} matches no config of the grid")
    for cfg in configs:
        print(format_profile(cfg, *profile_groups(cfg, args.repeats)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli.run(main))
