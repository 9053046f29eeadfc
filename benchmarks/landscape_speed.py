"""Speed of theory.landscape: population surface and vectorised meta-training vs a per-task loop.

Run: ``python benchmarks/landscape_speed.py [--quick]``.  Prints

1. the 512 x 512 exact population meta-loss surface of the depth-2 linear model with K = 5
   inner steps (Gauss rule of ``exact_nodes(2, 5)`` = 163 nodes: the loss is a polynomial of
   degree 324 in the slope), and with K = 1 for scale;
2. 1,000 restarts x 1,000 meta-iterations of the depth-2 simulator (MAML, K = 1, population
   tasks, meta-batch of 16 sampled slopes per restart and iteration, SGD);
3. the same simulator (closed-form recurrence gradients) as a naive per-task Python loop, timed
   on a slice of the work in this run, and the ratio per (restart x iteration).
"""

import argparse
import time

import numpy as np

from theory.landscape import closed, reference, simulate
from theory.landscape.tasks import LinearTasks, exact_nodes


def best_of(repeats, f):
    """Smallest wall time of ``repeats`` calls of ``f`` and its last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller simulator run")
    args = parser.parse_args()
    tasks = LinearTasks()
    axis = np.linspace(-2.0, 2.0, 512)
    axis = (axis - axis[::-1]) / 2
    w = np.meshgrid(axis, axis, indexing="ij")
    for steps in (1, 5):
        t_sym, fast = best_of(3, lambda: closed.depth2_surface(axis, tasks, 0.25, steps))
        t_all, full = best_of(1, lambda: closed.expected_meta_loss(w, tasks, 0.25, steps))
        assert np.allclose(fast, full, rtol=1e-12, atol=0)
        print(f"surface 512x512, K={steps}, {exact_nodes(2, steps)} Gauss nodes (exact): "
              f"{t_sym:.3f} s using the layer-swap and sign symmetries, {t_all:.3f} s without")

    restarts, iterations = (200, 200) if args.quick else (1000, 1000)
    kw = dict(depth=2, method="maml", steps=1, alpha=0.5, population=True, meta_batch=16,
              lr=0.05, init_scale=0.5)
    for gradients in ("auto", "recurrence"):
        t_fast, run = best_of(1, lambda: simulate.meta_train(
            np.random.default_rng(0), restarts=restarts, iterations=iterations,
            record_every=iterations, gradients=gradients, **kw))
        print(f"simulator {restarts} restarts x {iterations} meta-iterations (meta-batch 16, "
              f"K=1, gradients {run.config['gradients']!r}): {t_fast:.2f} s; median final "
              f"meta-loss {np.median(run.meta_loss[-1]):.2e}")

    small_r, small_i = 10, 20
    t_slow, _ = best_of(1, lambda: reference.meta_train_naive(
        np.random.default_rng(0), restarts=small_r, iterations=small_i, **kw))
    t_fast_small, _ = best_of(3, lambda: simulate.meta_train(
        np.random.default_rng(0), restarts=small_r, iterations=small_i,
        gradients="recurrence", **kw))
    per_unit_slow = t_slow / (small_r * (small_i + 1))
    per_unit_fast = t_fast / (restarts * (iterations + 1))
    print(f"naive per-task loop: {t_slow:.2f} s for {small_r} restarts x {small_i} iterations "
          f"= {per_unit_slow * 1e6:.0f} us per restart-iteration "
          f"(vectorised on the same slice: {t_fast_small:.3f} s)")
    print(f"naive loop extrapolated to {restarts} x {iterations}: "
          f"{per_unit_slow * restarts * (iterations + 1):.0f} s; "
          f"vectorised speed-up {per_unit_slow / per_unit_fast:.0f}x (same recurrence per task)")


if __name__ == "__main__":
    main()
