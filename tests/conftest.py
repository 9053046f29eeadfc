"""Test-suite settings shared by every module."""

import os

import matplotlib
from hypothesis import settings

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

# Derandomised so CI is reproducible; no deadline because CI machines are shared and slow.
settings.register_profile("default", deadline=None, derandomize=True, max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
