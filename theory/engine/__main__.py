"""``python -m theory.engine``: see :mod:`theory.engine.cli`."""

import os

# Before numpy loads. The engine's GEMMs are small: a meta-step uses the cores through task
# chunks in helper processes (theory.engine.parallel), not through BLAS threads, and on a 2-core
# machine shared with other work competing BLAS threads made meta-steps several times slower.
# Users who want BLAS threads (e.g. for evaluation, which runs on one thread) set the variable.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from theory import _cli  # noqa: E402
from theory.engine import heap  # noqa: E402
from theory.engine.cli import main  # noqa: E402

heap.keep_freed_memory()
raise SystemExit(_cli.run(main))
