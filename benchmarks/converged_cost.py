"""Cost of training to convergence: one Omniglot meta-iteration and one validation round.

    OPENBLAS_NUM_THREADS=1 python benchmarks/converged_cost.py [--grid 2x32 4x64 ...]
        [--episodes 300] [--repeats 3]

For each ``LAYERSxHIDDEN`` of ``--grid``: the wall and CPU seconds of one second-order MAML
meta-iteration in the sweep's 5-way 5-shot setting (meta-batch 16, 5 inner steps, 15 queries
per class; task sampling included; the minimum over ``--repeats``) and of one validation round
of ``--episodes`` episodes (``evaluate.evaluate``, first-order adaptation, one run), on the
real Omniglot, and the round's cost in meta-iterations (CPU over CPU, which a loaded machine
distorts less than wall time). A run with ``val_every`` V and patience P costs about
``iterations + (iterations / V) * that ratio`` meta-iterations. The 1-minute load average is
printed with each line: on a shared machine wall time grows with it.
"""

import argparse
import os
import time

import numpy as np

from theory.engine import chunks, data, heap
from theory.engine import config as run_config
from theory.engine import evaluate as evaluation
from theory.engine import train as training


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(layers, hidden, episodes, repeats):
    config = training.make_config(dataset="omniglot", layers=layers, hidden=hidden, ways=5,
                                  shots=5, query=15, steps=5, meta_batch=16)
    train_set, val_set, _ = run_config.load_splits(config)
    meta_params = run_config.init_meta_params(config, train_set.in_shape,
                                            np.random.default_rng(0))
    kwargs = evaluation.algorithm_kwargs(config, None)
    rng = np.random.default_rng(1)

    def step():
        batch = data.sample_tasks(train_set, rng, tasks=16, ways=5, shots=5, query=15)
        chunks.meta_grad(meta_params, batch, **kwargs)

    steps = [timed(step) for _ in range(repeats)]
    val = timed(lambda: evaluation.evaluate(meta_params, val_set, np.random.default_rng(2),
                                            config=config, episodes=episodes))
    wall, cpu = min(w for w, _ in steps), min(c for _, c in steps)
    print(f"layers={layers} hidden={hidden}: meta-iteration wall {wall:.2f} s cpu {cpu:.2f} s "
          f"| {episodes}-episode validation wall {val[0]:.1f} s cpu {val[1]:.1f} s "
          f"= {val[1] / cpu:.1f} meta-iterations | load {os.getloadavg()[0]:.1f}", flush=True)


def main():
    heap.keep_freed_memory()   # as a process that trains has it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", nargs="+", default=["2x32", "2x64", "4x32", "4x64"],
                        metavar="LxH")
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for spec in args.grid:
        layers, hidden = (int(v) for v in spec.split("x"))
        measure(layers, hidden, args.episodes, args.repeats)


if __name__ == "__main__":
    main()
