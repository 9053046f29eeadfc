"""Where a run record comes from: the source commit and the machine it ran on."""

import os
import platform
import subprocess

import numpy as np

from theory import _paths


def source_commit():
    """``git rev-parse HEAD`` of the source tree, with ``+dirty`` when a tracked file of the
    ``theory`` package differs from it, or ``"unknown"`` outside a git checkout."""

    def git(*args):
        out = subprocess.run(["git", *args], capture_output=True, text=True,
                             cwd=_paths.PACKAGE,
                             timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None

    try:
        head = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return head + ("+dirty" if changed else "")


def machine():
    """Python, numpy and CPU count of the machine, for the results record."""
    return {"python": platform.python_version(), "numpy": np.__version__,
            "cpu_count": os.cpu_count()}
