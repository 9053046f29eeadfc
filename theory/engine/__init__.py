"""A numpy CNN engine with ``autograd`` as its differentiation core.

MAML, FO-MAML, ANIL, LinNet heads and meta-optimizers on few-shot image benchmarks.
"""
