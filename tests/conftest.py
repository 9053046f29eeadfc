"""Test-suite settings shared by every module."""

import os

# Before numpy loads: small GEMMs gain nothing from BLAS threads, and threads fighting over two
# shared cores made the in-process engine tests several times slower.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib
from hypothesis import settings

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

# Derandomised so CI is reproducible; no deadline because CI machines are shared and slow.
settings.register_profile("default", deadline=None, derandomize=True, max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
