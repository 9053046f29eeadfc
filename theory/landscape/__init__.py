"""Numeric meta-training of 1D models: surfaces, trajectories, adaptation curves, collapse."""
