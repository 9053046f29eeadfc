"""Shared harness of the bad-input catalogue tests: run a CLI, expect one line and exit 2.

``check_rejected(argv, watch=..., names=...)`` runs ``python -m <argv>`` in a subprocess and
asserts what every sub-command owes a user who typed something wrong: exit status 2, exactly
one line on stderr that names the offending input, no traceback, and no file under the watched
folders created, changed or removed.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def snapshot(*folders):
    """``{path: sha256}`` of every file below ``folders`` (missing folders count as empty)."""
    state = {}
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            state[str(folder)] = hashlib.sha256(folder.read_bytes()).hexdigest()
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".hypothesis")]
            state[dirpath] = "dir"
            for name in filenames:
                path = Path(dirpath) / name
                if not path.is_file():      # a FIFO or device: reading it would block
                    state[str(path)] = f"node {path.lstat().st_mode:o}"
                    continue
                try:
                    state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError:            # unreadable on purpose (a permissions case)
                    state[str(path)] = "unreadable"
    return state


def run_cli(argv, *, cwd=None, timeout=300, env=None):
    """Run ``python -m argv...`` with the checkout on the path; returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                    OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", *map(str, argv)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def check_rejected(argv, *, watch=(), names=(), cwd=None, env=None, timeout=300):
    """Assert ``python -m argv`` is refused cleanly; returns its one-line message.

    watch: folders or files that must be byte-identical afterwards (nothing created, changed
    or removed); names: strings the message must contain (the offending value or path);
    timeout: seconds before the command counts as hung (``subprocess.TimeoutExpired``).
    """
    before = snapshot(*watch)
    proc = run_cli(argv, cwd=cwd, env=env, timeout=timeout)
    err = proc.stderr
    assert "Traceback" not in err, f"{argv}: traceback\n{err}"
    assert proc.returncode == 2, f"{argv}: exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"{argv}: expected one line on stderr, got\n{err}"
    for name in names:
        assert str(name) in lines[0], f"{argv}: message does not name {name!r}: {lines[0]}"
    assert snapshot(*watch) == before, f"{argv}: files changed under {watch}"
    return lines[0]
