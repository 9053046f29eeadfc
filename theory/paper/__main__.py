"""``python -m theory.paper``: see :mod:`theory.paper.cli`."""

import os
import signal

# Before numpy loads: one BLAS thread per run (the serial executor trains here; Dask's nanny
# sets the same in its workers). Users who want more threads set the variables themselves.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from theory import _cli  # noqa: E402
from theory.paper.cli import main  # noqa: E402

signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill PID` acts as Ctrl-C
raise SystemExit(_cli.run(main))
