"""Ctrl-C: held over the critical sections of training (``stopping.deferred_interrupt``), and
stopping a meta-step on helper processes within seconds (``parallel.stop_now``)."""

import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, ended
from theory.engine import checkpoint, stopping


def test_ctrl_c_inside_the_block_is_raised_when_it_ends():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with stopping.deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("block")    # the signal did not cut the block short
    assert finished == ["block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_is_raised_at_once():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with stopping.deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            reached.append("after the second")
    assert reached == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_block_without_ctrl_c_returns_normally_and_restores_the_handler():
    with stopping.deferred_interrupt():
        value = 1 + 1
    assert value == 2 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_off_the_main_thread_it_changes_nothing():
    seen = []

    def work():
        with stopping.deferred_interrupt():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


# --- Ctrl-C in a meta-step on helper processes ---------------------------------------------

# A helper's chunk that never ends once the run has a checkpoint: it says so in $STALLED
# and sleeps. A caller that waited for the meta-step to finish would wait for ever.
STALL = """
import multiprocessing, os, time
from theory.engine import chunks
_chunk_grad = chunks._chunk_grad

def stalled_chunk_grad(*args):
    if multiprocessing.parent_process() is not None and os.path.exists(os.environ["STALL_WHEN"]):
        with open(os.environ["STALLED"], "w") as handle:
            handle.write(str(os.getpid()))
        while True:
            time.sleep(1)
    return _chunk_grad(*args)

chunks._chunk_grad = stalled_chunk_grad
"""
TINY = ["--layers", "1", "--hidden", "4", "--ways", "3", "--query", "2", "--meta-batch", "2",
        "--val-every", "2", "--val-episodes", "2", "--test-episodes", "2", "--workers", "2",
        "--checkpoint-every", "1"]


def _train(args, env=None, **popen):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1",
           "PYTHONFAULTHANDLER": "1", **(env or {})}     # for ``conftest.ended``
    return subprocess.Popen([sys.executable, "-m", "theory.engine", "train", *map(str, args)],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **popen)


def _interrupted(proc, ready):
    """Send SIGINT to ``proc`` once ``ready()``; its ``(exit status, stderr)``. The waits are
    hang guards (120 s for ``ready``, 60 s to end after the signal), not timings."""
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "not ready within 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = ended(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode()


def _resume_message(ckpt, done):
    return (f"interrupted: the last checkpoint, {ckpt}, holds iteration {done}; the same "
            "command with --resume continues from it\n")


def test_ctrl_c_abandons_a_step_stalled_on_a_helper_and_keeps_the_checkpoint(tmp_path):
    """A helper stalls in the meta-step after the first checkpoint: the Ctrl-C stops the run
    anyway (it does not wait for the step), exit status 130 with the one interrupted line;
    the checkpoint is whole and the run resumes from it."""
    hook, out = tmp_path / "hook", tmp_path / "run"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(STALL)
    ckpt, stalled = out / "checkpoint.npz", tmp_path / "stalled"
    proc = _train([*TINY, "--iterations", "1000", "--no-progress", "--out", out],
                  env={"PYTHONPATH": f"{ROOT}{os.pathsep}{hook}", "STALL_WHEN": str(ckpt),
                       "STALLED": str(stalled)})
    code, err = _interrupted(proc, stalled.exists)
    done = checkpoint.load(ckpt)["iteration"]
    assert code == 130 and err == _resume_message(ckpt, done), err
    assert done >= 1 and os.listdir(out) == ["checkpoint.npz"]   # no temporary file left
    finish = _train([*TINY, "--iterations", done + 1, "--no-progress", "--out", out,
                     "--resume"])
    _, err = finish.communicate(timeout=600)
    assert finish.returncode == 0, err.decode()
    assert checkpoint.load(ckpt)["iteration"] == done + 1


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_a_long_step_and_keeps_the_checkpoint(workers, tmp_path):
    """One process, or two sharing it, in a meta-step of 300 second-order inner steps of the
    default network (about 15 s of CPU on the reference machine): a Ctrl-C while it runs ends
    the run with exit status 130, and the checkpoint written before it (iteration 0) is
    unchanged."""
    out = tmp_path / "run"
    args = ["--meta-batch", "2", "--workers", workers, "--steps", "300", "--out", out]
    first = _train([*args, "--iterations", "0", "--test-episodes", "1", "--no-progress"])
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err.decode()
    ckpt = out / "checkpoint.npz"
    before = ckpt.read_bytes()
    proc = _train([*args, "--iterations", "1", "--resume"])
    seen = []

    def step_begun():               # the progress bar: the loop has begun
        if select.select([proc.stderr], [], [], 0.1)[0]:
            seen.append(os.read(proc.stderr.fileno(), 4096))
        return b"meta-train" in b"".join(seen)

    code, rest = _interrupted(proc, step_begun)
    err = b"".join(seen).decode() + rest
    assert code == 130 and "Traceback" not in err, err
    assert err.endswith(_resume_message(ckpt, 0)), err
    assert ckpt.read_bytes() == before and checkpoint.load(ckpt)["iteration"] == 0


def test_the_hang_guard_fails_with_the_tracebacks_of_a_process_that_does_not_stop():
    sleeper = ("import signal, time\n"
               "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
               "def stuck_here():\n"
               "    time.sleep(100)\n"
               "print('ready', flush=True)\n"
               "stuck_here()\n")
    proc = subprocess.Popen([sys.executable, "-c", sleeper], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    try:
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGINT)
        with pytest.raises(AssertionError, match="(?s)still running 1 s.*in stuck_here"):
            ended(proc, 1)
    finally:
        proc.kill()
        proc.wait()
