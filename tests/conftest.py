"""Test-suite settings and helpers shared by every module."""

import hashlib
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

# Before numpy loads: small GEMMs gain nothing from BLAS threads, and threads fighting over two
# shared cores made the in-process engine tests several times slower.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# A suite started in the background by a non-interactive shell (``pytest &``) inherits SIGINT
# ignored, and Python then installs no KeyboardInterrupt handler, here or in the processes the
# tests start (an ignored signal stays ignored across exec). The Ctrl-C tests need the handler.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import matplotlib
from hypothesis import settings

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

# Derandomised so CI is reproducible; no deadline because CI machines are shared and slow.
settings.register_profile("default", deadline=None, derandomize=True, max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# Helpers shared by several test modules (imported as ``from conftest import ...``)

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


def run_main(argv, capsys):
    """``theory.engine.cli.main`` as ``__main__`` runs it -> (exit status, stdout, stderr)."""
    from theory import _cli
    from theory.engine import cli

    try:
        code = _cli.run(cli.main, [str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


def ended(proc, timeout):
    """``proc.communicate(timeout=timeout)`` for a process told to stop (a Ctrl-C). One still
    running after ``timeout`` s (a hang guard, not a timing) is sent SIGABRT, on which a
    process started with ``PYTHONFAULTHANDLER=1`` prints every thread's Python traceback, and
    the test fails showing them: where it hung."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=60)
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
        raise AssertionError(f"still running {timeout} s after it was told to stop; "
                             f"its threads then:\n{err}") from None


def assert_one_line_error(code, err, *fragments):
    """Exit status 2 and one line on stderr holding every fragment, no traceback."""
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def untrained_checkpoint(path, **config):
    """A checkpoint (3-way, 1-layer CNN unless ``config`` says otherwise) straight from its
    initialisation: everything ``eval`` and ``adapt`` read, without a meta-training run."""
    import numpy as np

    from theory.engine import checkpoint, cnn
    from theory.engine import config as run_config
    from theory.engine import train as training

    config = training.make_config(**{"layers": 1, "hidden": 4, "ways": 3, **config})
    rng = np.random.default_rng(0)
    meta = run_config.init_meta_params(config, (1, 28, 28), rng)
    checkpoint.save(path, model=meta["model"], metaopt=meta["metaopt"], adam={}, config=config,
                    iteration=0, rng_state=rng.bit_generator.state,
                    architecture=cnn.architecture(meta["model"]),
                    extra={"in_shape": [1, 28, 28], "wall_time_s": 0.0,
                           "optimizer_state": "dropped"})


def save_without(path, *keys):
    """Re-save the checkpoint at ``path`` with ``keys`` dropped from its stored config: a
    checkpoint as written before those config fields existed."""
    from theory.engine import checkpoint

    ck = checkpoint.load(path)
    old = {k: v for k, v in ck["config"].items() if k not in keys}
    checkpoint.save(path, model=ck["model"], metaopt=ck["metaopt"], adam=ck["adam"],
                    config=old, iteration=ck["iteration"], rng_state=ck["rng_state"],
                    validation=ck["validation"], architecture=ck["architecture"],
                    extra=ck["extra"])


class Stop(KeyboardInterrupt):
    """Stands for Ctrl-C arriving after a given iteration."""


def stop_after(iteration):
    """A ``train`` callback that raises ``Stop`` once ``iteration`` is done."""
    import numpy as np

    def callback(done, info):
        assert np.isfinite(info["loss"])
        if done == iteration:
            raise Stop
    return callback


def comparable(result):
    """A results record without the fields that legitimately differ between two runs.

    ``commit`` is that of the code finishing the run, which may move between two runs.
    """
    return {k: v for k, v in result.items() if k not in ("wall_time_s", "checkpoint", "commit")}


def png(seed, ink_rows):
    """A 105x105 1-bit PNG, black ink on white: random blobs plus full ink rows."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    paper = np.full((105, 105), 255, np.uint8)
    paper[rng.random((105, 105)) < 0.05] = 0
    paper[ink_rows:ink_rows + 8] = 0
    buffer = io.BytesIO()
    Image.fromarray(paper).convert("1").save(buffer, format="PNG")
    return buffer.getvalue()


def write_zip(file, top, alphabets, seed=0, corrupt=None):
    """An Omniglot-layout zip: ``{alphabet: characters}``, 3 drawings each (``png``)."""
    with zipfile.ZipFile(file, "w") as archive:
        for a, (alphabet, n_chars) in enumerate(sorted(alphabets.items())):
            for c in range(1, n_chars + 1):
                for d in range(1, 4):
                    name = f"{top}/{alphabet}/character{c:02d}/{1000 + c}_{d:02d}.png"
                    body = b"not a png" if name == corrupt else png((seed, a, c, d), 8 * c)
                    archive.writestr(name, body)


SCRIPTS = {f"Script{a}": 1 + a % 3 for a in range(8)}   # alphabet -> characters
