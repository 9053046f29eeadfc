"""Time the engine's data path against the meta-step of the default quick run, same process.

    OPENBLAS_NUM_THREADS=1 python benchmarks/engine_data_speed.py [--repeats R]

Prints the wall time of generating each synthetic split (the first thing ``python -m
theory.engine train`` does) and of sampling one meta-batch (``data.sample_tasks``, 16 tasks,
5-way 5-shot, 15 queries: the sweep's largest), each also as a multiple of one meta-step of
the default ``train`` config (``train.DEFAULTS``: 4 layers of width 16, 5-way 1-shot, 15
queries, one inner step, meta-batch 4; ``bench.engine_step``), measured in the same run so
that machine load cancels in the ratio. Medians of ``--repeats`` calls after one warm-up.
"""

import argparse
import time

import numpy as np

from theory.engine import bench, data
from theory.engine import train as training
from theory.engine.data import synthetic


def median_seconds(fn, repeats):
    fn()                                       # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    d = training.DEFAULTS
    step, *_ = bench.engine_step(bench.config(
        layers=d["layers"], hidden=d["hidden"], ways=d["ways"], shots=d["shots"],
        query=d["query"], steps=d["steps"], meta_batch=d["meta_batch"]))
    reference = median_seconds(step, args.repeats)
    print(f"reference: one meta-step of the default train config: {reference:.3f} s")

    def generate(split):
        synthetic._generate.cache_clear()     # time the generation, not the cache
        return data.load("synthetic", split=split)

    for split in ("train", "val", "test"):
        seconds = median_seconds(lambda: generate(split), args.repeats)
        print(f"synthetic {split} split: {seconds:.2f} s = {seconds / reference:.1f} "
              "meta-steps")
    val = data.load("synthetic", split="val")
    rng = np.random.default_rng(0)
    seconds = median_seconds(lambda: data.sample_tasks(val, rng, tasks=16, ways=5, shots=5,
                                                       query=15), args.repeats)
    print(f"sample_tasks 16 tasks 5-way 5-shot 15 queries: {1e3 * seconds:.2f} ms = "
          f"{seconds / reference:.3f} meta-steps")


if __name__ == "__main__":
    main()
