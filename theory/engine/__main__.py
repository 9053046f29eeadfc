"""``python -m theory.engine``: see :mod:`theory.engine.cli`."""

import os

# Before numpy loads. The engine's GEMMs are small and its elementwise work is single-threaded,
# so a second BLAS thread buys little, and on a 2-core machine shared with other work (or with
# a second sweep job) competing BLAS threads made meta-steps several times slower. Users who
# want more threads set the variable themselves.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from theory import _cli  # noqa: E402
from theory.engine.cli import main  # noqa: E402

raise SystemExit(_cli.run(main))
