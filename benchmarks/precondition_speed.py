"""Speed of theory.landscape.precondition (R5): all restarts in one array vs a loop over them.

Run: ``python benchmarks/precondition_speed.py [--quick]``.  For each method (shallow MAML,
Meta-SGD, KFO, deep linear MAML at h = d) it times d = 32, 64 restarts, 2,000 Adam iterations
on the exact population objective (K = 1), then the same work as a Python loop over restarts
(one restart per call, timed on a slice of the iterations in this run), and prints the ratio.
Then the deep model beyond the closed form: d = 16, L = 3, h = 16, K = 2, 64 restarts, 2,000
iterations (a fixed budget: tol 0), E over a by Monte Carlo (32 antithetic tasks; no exact
rule of at most 4,096 nodes exists there), with the CPU time, the loss on the training tasks
and on fresh ones with its standard error.
``--only deep`` runs that part alone.
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
    parser.add_argument("--only", choices=("closed", "deep"), help="one part of the benchmark")
    args = parser.parse_args()
    if args.only != "deep":
        closed_forms(args.quick)
    if args.only != "closed":
        deep_any_k(args.quick)


def closed_forms(quick):
    """All restarts at once vs a loop over restarts, K = 1, the closed-form objectives."""
    dim, restarts, iterations = (8, 64, 200) if quick else (32, 64, 2000)
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


def deep_any_k(quick):
    """d = 16, L = 3, K = 2 (Monte Carlo): wall and CPU time of 64 restarts x 2,000 iterations."""
    dim, iterations = 16, (200 if quick else 2000)
    rng = np.random.default_rng(0)
    start_cpu = time.process_time()
    seconds, out = timed(lambda: pc.experiment(
        rng, dim=dim, width=dim, cond=4.0, rotate=True, depth=3, steps=2, alpha=0.3,
        restarts=64, iterations=iterations, lr=0.02, tasks=32, tol=0.0))
    cpu = time.process_time() - start_cpu
    loss = np.array(out["final_loss"], dtype=float)
    train = np.array(out["train_loss"], dtype=float)
    best = out["best_restart"]
    print(f"maml    depth 3: d={dim}, h={dim}, K=2, 64 restarts x {iterations} iterations "
          f"({out['expectation']['kind']}, {out['expectation']['nodes']} tasks) in {seconds:.1f} s "
          f"wall, {cpu:.1f} s CPU; median loss on the training tasks {np.nanmedian(train):.2e}, "
          f"on fresh tasks {np.nanmedian(loss):.2e}; best restart {loss[best]:.2e} +- "
          f"{out['final_loss_stderr'][best]:.1e}, ||P - target|| / ||target|| "
          f"{out['relative_error']:.2e}")


if __name__ == "__main__":
    main()
