"""Whole meta-steps with batch norm as one node against the composed ops, paired.

    python benchmarks/engine_batchnorm.py [--only TEXT] [--repeats R]

On the networks without max-pool ``cnn.features`` normalises each conv's output and applies
the ReLU with one primitive, ``batchnorm.batch_norm(..., relu=True)``, which makes its passes
a block of rows at a time. This
times the engine's meta-step of a grid config (default: the authors' network, L4 h64 K1) in
four variants, one thread, in turns so that all see the same load:

- ``composed``: ``center``, ``sqmean``, ``affine_rows`` and ``relu``, as before ``batch_norm``
  existed;
- ``one node, whole rows``: ``batch_norm`` making each pass over the whole map;
- ``one node, separate ReLU``: ``batch_norm`` as shipped, the ReLU a node of its own;
- ``one node, row blocks``: ``batch_norm`` as shipped.

Each round runs the variants in turn, in the order of ``timing.call_order`` (every variant follows
every other equally often); the ratio of a variant to the shipped one is
taken within each round and its median printed (the machine's speed drifts between rounds,
rarely within one), with the median seconds of each variant.
"""

import autograd.numpy as anp
import numpy as np
from threadpoolctl import threadpool_limits

from theory import _cli
from theory.engine import batchnorm, bench, chunks, heap, timing
from theory.engine import primitives as P

DEFAULT = "L4 5w5s K1 2nd T16 stride/mean h64"


def composed(z, gamma, beta, eps, relu=False):
    """Batch norm (and the ReLU) from the separate primitives (the max-pool network's form)."""
    zc = P.center(z)
    out = P.affine_rows(zc, gamma / anp.sqrt(P.sqmean(zc) + eps), beta)
    return P.relu(out) if relu else out


def separate_relu(z, gamma, beta, eps, relu=False):
    """``batch_norm`` as shipped, with the ReLU as a node of its own."""
    out = batchnorm.batch_norm(z, gamma, beta, eps)
    return P.relu(out) if relu else out


VARIANTS = {"composed": (composed, batchnorm._BLOCK),
            "one node, whole rows": (batchnorm.batch_norm, 2 ** 62),
            "one node, separate ReLU": (separate_relu, batchnorm._BLOCK),
            "one node, row blocks": (batchnorm.batch_norm, batchnorm._BLOCK)}


def build_parser():
    """Options of this script."""
    p = _cli.ArgumentParser(prog="engine_batchnorm.py", description=__doc__.splitlines()[0])
    p.add_argument("--only", default=DEFAULT, metavar="TEXT",
                   help=f"the grid config whose label contains TEXT (default: {DEFAULT!r})")
    p.add_argument("--repeats", type=_cli.positive_int, default=12, metavar="R")
    return p


def paired_times(step, repeats):
    """``{variant: [seconds per round]}``: ``timing.rounds`` of the variants (``VARIANTS``), one
    warm-up round first."""
    shipped = (P.batch_norm, batchnorm._BLOCK)

    def variant(name):
        def call():
            P.batch_norm, batchnorm._BLOCK = VARIANTS[name]
            step()
        return call
    try:
        times = timing.rounds({name: variant(name) for name in VARIANTS}, repeats, warmup=1)
    finally:
        P.batch_norm, batchnorm._BLOCK = shipped
    return {name: [wall for wall, _ in t] for name, t in times.items()}


def main(argv=None):
    """Print each variant's median seconds and its median ratio to the shipped one."""
    args = build_parser().parse_args(argv)
    configs = [c for c in bench.default_grid() if args.only in bench.describe(c)]
    if not configs:
        raise ValueError(f"--only {args.only!r}: no config of the grid has it in its label")
    cfg = configs[0]
    heap.keep_freed_memory()
    meta_params, batch, kwargs = bench.make_problem(cfg)
    with threadpool_limits(1):
        times = paired_times(lambda: chunks.meta_grad(meta_params, batch, workers=1, **kwargs),
                             args.repeats)
    shipped = times["one node, row blocks"]
    print(f"{bench.describe(cfg)}: meta-step, one thread, {args.repeats} rounds")
    print("| batch norm | median s | median ratio to shipped |\n|---|---|---|")
    for name, seconds in times.items():
        ratio = timing.paired_ratio(seconds, shipped)[1]
        print(f"| {name} | {np.median(seconds):.3f} | {ratio:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli.run(main))
