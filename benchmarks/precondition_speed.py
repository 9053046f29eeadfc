"""Speed of theory.landscape.precondition (R5): all restarts in one array vs a loop over them.

Run: ``python benchmarks/precondition_speed.py [--quick]``.  For each method (shallow MAML,
Meta-SGD, KFO, deep linear MAML at h = d) it times d = 32, 64 restarts, 2,000 Adam iterations
on the exact population objective (K = 1), then the same work as a Python loop over restarts
(one restart per call, timed on a slice of the iterations in this run), and prints the ratio.
"""

import argparse
import time

import numpy as np

from theory.landscape import precondition as pc


def timed(f):
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 8, 200 iterations")
    args = parser.parse_args()
    dim, restarts, iterations = (8, 64, 200) if args.quick else (32, 64, 2000)
    sigma = pc.covariance(np.random.default_rng(0), dim, 100.0, rotate=True)
    slice_iterations = max(1, iterations // 20)
    for method, depth in (("maml", 1), ("metasgd", 1), ("kfo", 1), ("maml", 2)):
        kw = dict(sigma=sigma, method=method, depth=depth, width=dim, alpha=0.5, steps=1)
        t_all, out = timed(lambda: pc.meta_train(np.random.default_rng(1), restarts=restarts,
                                                 iterations=iterations, **kw))
        t_loop, _ = timed(lambda: [pc.meta_train(np.random.default_rng(r), restarts=1,
                                                 iterations=slice_iterations, **kw)
                                   for r in range(restarts)])
        t_loop *= iterations / slice_iterations
        print(f"{method:7s} depth {depth}: d={dim}, {restarts} restarts x {iterations} "
              f"iterations in {t_all:.2f} s (median final loss {np.median(out['loss']):.2e}); "
              f"loop over restarts ~{t_loop:.1f} s, ratio {t_loop / t_all:.1f}x")


if __name__ == "__main__":
    main()
