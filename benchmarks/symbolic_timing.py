"""Time ``theory.symbolic.derive`` + the numpy bridge for depth L = 1..4 and K = 0..3 steps.

Usage: ``python benchmarks/symbolic_timing.py``. Caches (ours and sympy's) are cleared before
each case, so every row is a cold derivation. Columns: derive seconds, lambdify
(``bridge.numeric``) seconds, seconds for one meta-gradient on a 100 x 100 grid of (w1, alpha),
distinct subexpressions of the meta-gradient, and its size written out as a tree.
"""

import time

import numpy as np
import sympy.core.cache

from theory.symbolic import bridge, dag, maml

CASES = (("linear", "population", None), ("linear", "empirical", 2),
         ("logistic", "empirical", 2))


def time_case(model, loss, shots, depth, steps):
    """``(derive_s, lambdify_s, grid_eval_s, dag_nodes, tree_nodes)`` of one cold derivation."""
    maml._derive.cache_clear()
    sympy.core.cache.clear_cache()
    bridge.numeric.cache_clear()
    start = time.perf_counter()
    d = maml.derive(model, depth, steps, loss, shots)
    derived = time.perf_counter()
    nd = bridge.numeric(d)
    compiled = time.perf_counter()
    grid = np.linspace(-1, 1, 100)
    values = {name: 0.5 for name in nd.names}
    values["w1"] = grid[:, None]
    values["alpha"] = 0.1 + 0.1 * grid[None, :] ** 2
    nd.meta_grad(**values)
    evaluated = time.perf_counter()
    return (derived - start, compiled - derived, evaluated - compiled,
            len(dag.postorder(list(d.meta_grad))), dag.tree_size(list(d.meta_grad)))


def main():
    print(f"{'model':9} {'loss':10} {'n':>2} {'L':>2} {'K':>2} {'derive s':>9} "
          f"{'lambdify s':>10} {'grid s':>7} {'dag':>6} {'tree':>12}")
    for model, loss, shots in CASES:
        for depth in range(1, 5):
            for steps in range(4):
                row = time_case(model, loss, shots, depth, steps)
                print(f"{model:9} {loss:10} {shots or '-':>2} {depth:>2} {steps:>2} "
                      f"{row[0]:9.3f} {row[1]:10.3f} {row[2]:7.3f} {row[3]:6d} {row[4]:12d}",
                      flush=True)


if __name__ == "__main__":
    main()
