"""Logistic derivations: ``dag.substitute`` against the plain memoised substitution it replaced.

Usage: ``python benchmarks/symbolic_logistic_speed.py [L K n ...]`` (default cases below).
Each case derives the logistic MAML problem twice from cold caches, once with the current
``dag.substitute`` (functions swapped for opaque stand-ins while sympy evaluates, one
``dag.Interner`` per derivation) and once with the reference: the same DAG walk evaluating
Add/Mul/Pow on the real functions, no interning (the implementation before). It prints both
times and their ratio, and checks that the two meta-gradients agree at a random point.
"""

import sys
import time
from unittest import mock

import numpy as np
import sympy.core.cache

from theory.symbolic import bridge, dag, maml

CASES = ((2, 2, 10), (3, 3, 10), (4, 3, 10))


def reference_substitute(exprs, mapping, interner=None):
    """The substitution before: memoised over the DAG, Add/Mul/Pow evaluated on exp/log."""
    return dag._map([sympy.sympify(e) for e in exprs], mapping, dag._evaluated(lambda n: n))


def cold_derive(depth, steps, shots):
    maml._derive.cache_clear()
    sympy.core.cache.clear_cache()
    start = time.perf_counter()
    d = maml.derive("logistic", depth, steps, "empirical", shots)
    return time.perf_counter() - start, d


def main(cases):
    print(f"{'L':>2} {'K':>2} {'n':>3} {'reference s':>12} {'current s':>10} {'ratio':>7} "
          f"{'max |diff|':>11}")
    rng = np.random.default_rng(0)
    for depth, steps, shots in cases:
        with mock.patch.object(dag, "substitute", reference_substitute):
            slow, d_ref = cold_derive(depth, steps, shots)
        fast, d_new = cold_derive(depth, steps, shots)
        names = [s.name for s in d_new.symbols]
        point = [rng.uniform(-1, 1) for _ in names]
        point[names.index("alpha")] = 0.3
        diff = np.max(np.abs(np.subtract(bridge.lambdify(d_new.meta_grad, names)(*point),
                                         bridge.lambdify(d_ref.meta_grad, names)(*point))))
        print(f"{depth:>2} {steps:>2} {shots:>3} {slow:12.2f} {fast:10.2f} {slow / fast:7.1f} "
              f"{diff:11.1e}", flush=True)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main([tuple(args[i:i + 3]) for i in range(0, len(args), 3)] if args else CASES)
