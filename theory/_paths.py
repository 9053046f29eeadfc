"""Where the checkout's files are, found from this package wherever Python was started."""

import os

PACKAGE = os.path.dirname(os.path.abspath(__file__))     # theory/
ROOT = os.path.dirname(PACKAGE)                          # README.md, results/, figures/
RESULTS = os.path.join(ROOT, "results")


def shown(path):
    """``path`` relative to the checkout when it lies inside it, else absolute."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if os.path.commonpath([path, ROOT]) == ROOT else path
