"""The sweep on Dask: a LocalCluster, an external scheduler, a killed worker, Ctrl-C.

Every scheduler and worker here is started by the test on 127.0.0.1 and stopped by it.
"Equal records" means equal ``kind``, ``config``, ``seed``, ``test`` (accuracy, interval,
episodes), ``validation`` and ``sweep`` entries; wall time, machine, commit and the checkpoint
path (where the worker trained) may differ between executors.
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from theory.engine import train as training
from theory.paper import execute, records
from theory.paper import plan as planning

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
           MKL_NUM_THREADS="1")
SAME = ("kind", "config", "seed", "test", "validation", "sweep")
pytestmark = pytest.mark.slow   # about a minute on 2 idle cores: worker processes start


def _essence(rec):
    return {k: rec.get(k) for k in SAME}


def _records(results, runs):
    """``{name: essence}`` of every record of a smoke sweep: table records under ``results``,
    search points' records under ``runs``, and the recorded search."""
    out = {}
    for path in sorted(pathlib.Path(results).rglob("*.json")):
        rec = json.loads(path.read_text())
        out[str(path.relative_to(results))] = rec if rec.get("kind") == "lr-search" \
            else _essence(rec)
    for path in sorted(pathlib.Path(runs, "smoke", "lr-search").rglob(training.RESULTS)):
        out[str(path.relative_to(runs))] = _essence(json.loads(path.read_text()))
    return out


def _smoke(tmp, scheduler, jobs=None):
    return execute.run_sweep("smoke", results_dir=tmp / "results", runs_dir=tmp / "runs",
                             scheduler=scheduler, jobs=jobs, progress=False,
                             echo=lambda text: None)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The smoke sweep run in this process, one run at a time: the reference."""
    tmp = tmp_path_factory.mktemp("serial")
    outcome = _smoke(tmp, execute.SERIAL)
    assert set(outcome.values()) == {"done"}
    return _records(tmp / "results", tmp / "runs")


def test_smoke_on_a_local_cluster_equals_the_serial_run(tmp_path, serial):
    outcome = _smoke(tmp_path, None, jobs=2)
    plan = planning.make_plan("smoke")
    assert sorted(outcome) == sorted(planning.run_id(r) for r in plan)
    assert set(outcome.values()) == {"done"}
    got = _records(tmp_path / "results", tmp_path / "runs")
    assert len(got) == len(plan) + 1 and got == serial   # 9 runs and the search summary


def test_one_worker_starts_the_runs_in_the_plan_order(tmp_path):
    """Runs go out to Dask one per free worker thread, in the plan's (the issue's) order, so
    with one worker they finish in that order."""
    outcome = _smoke(tmp_path, None, jobs=1)
    assert list(outcome) == [planning.run_id(r) for r in planning.make_plan("smoke")]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dask():
    found = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
    assert found, "the dask command (dask[distributed]) is needed"
    return found


@contextlib.contextmanager
def _scheduler():
    port = _free_port()
    proc = subprocess.Popen([_dask(), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                             "--no-dashboard"], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        address = f"tcp://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert proc.poll() is None and time.monotonic() < deadline, "scheduler did not start"
            time.sleep(0.2)
        yield address
    finally:
        _stop(proc)


def _worker(address):
    """One single-threaded worker process (no nanny: its pid is the worker's)."""
    return subprocess.Popen([_dask(), "worker", address, "--nthreads", "1", "--no-nanny",
                             "--host", "127.0.0.1", "--no-dashboard"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "theory.paper", *args], env=ENV, cwd=ROOT,
                          capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and one worker process on 127.0.0.1, started here and stopped at the end
    of the module: ``(address, [worker processes])`` (the last test kills the first)."""
    with _scheduler() as address:
        workers = [_worker(address)]
        try:
            yield address, workers
        finally:
            for proc in workers:
                _stop(proc)


def test_smoke_through_an_external_scheduler_from_the_command_line(tmp_path, serial, cluster):
    address, _ = cluster
    run = _cli("run", "--budget", "smoke", "--results", str(tmp_path / "results"), "--runs",
               str(tmp_path / "runs"), "--scheduler", address, "--no-progress")
    assert run.returncode == 0, run.stderr
    status = _cli("status", "--budget", "smoke", "--results", str(tmp_path / "results"),
                  "--runs", str(tmp_path / "runs"))
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert lines.pop().endswith("complete: nothing left to run")
    assert [line.split()[0] for line in lines] == [planning.run_id(r) for r in
                                                   execute.prepare("smoke", tmp_path,
                                                                   tmp_path)[0]]
    assert {line.split()[1] for line in lines} == {"done"}
    assert _records(tmp_path / "results", tmp_path / "runs") == serial


def test_ctrl_c_on_the_client_keeps_finished_records_and_a_rerun_continues(tmp_path, serial,
                                                                            cluster):
    args = ["--budget", "smoke", "--results", str(tmp_path / "results"), "--runs",
            str(tmp_path / "runs")]
    client = subprocess.Popen([sys.executable, "-m", "theory.paper", "run", *args,
                               "--scheduler", cluster[0], "--no-progress"], env=ENV, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        while not (lines and lines[-1].endswith(": done")):   # the first run finished
            lines.append(client.stdout.readline().rstrip("\n"))
            assert lines[-1] or client.poll() is None, "the client stopped before any run"
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=120)
    finally:
        _stop(client)
    assert client.returncode == 130, err
    finished = [line.split(":")[0] for line in lines + out.splitlines()
                if line.endswith(": done")]
    plan = execute.prepare("smoke", tmp_path / "results", tmp_path / "runs")[0]
    files = {planning.run_id(r): pathlib.Path(
        records.run_dir(tmp_path / "runs", "smoke", r), training.RESULTS)
        if r.kind == "point" else pathlib.Path(records.record_path(tmp_path / "results", r))
        for r in plan}
    assert finished and all(files[name].exists() for name in finished)
    assert len(finished) < len(plan), "interrupted after the sweep had finished"
    stamps = {name: files[name].stat().st_mtime_ns for name in finished}
    assert not list(tmp_path.rglob("*.tmp"))
    status = _cli("status", *args)
    states = dict(line.split() for line in status.stdout.splitlines()[:-1])
    assert all(states[name] == "done" for name in finished)
    # the re-run trains only what is left (a run the worker finished after the client had
    # gone is done too: Dask does not stop a running task)
    rerun = _smoke(tmp_path, execute.SERIAL)
    assert sorted(rerun) == sorted(files) and set(rerun.values()) == {"done", "skipped"}
    assert all(rerun[name] == "skipped" for name in finished)
    assert {name: files[name].stat().st_mtime_ns for name in finished} == stamps
    assert _records(tmp_path / "results", tmp_path / "runs") == serial


def _long_run():
    """One smoke table run made long enough to be killed in the middle (checkpoint every
    iteration)."""
    run = planning.make_plan("smoke", tables=("table-a",), methods=("maml",))[0]
    return dataclasses.replace(run, config=dict(run.config, iterations=60, val_every=30,
                                                checkpoint_every=1, inner_lr=0.4,
                                                meta_lr=0.003))


def test_a_worker_killed_mid_run_loses_nothing(tmp_path, cluster):
    address, workers = cluster
    first, run = workers[0], _long_run()
    ckpt = pathlib.Path(records.run_dir(tmp_path / "runs", "smoke", run), training.CHECKPOINT)

    def kill_when_training():
        deadline = time.monotonic() + 300
        while not ckpt.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        workers.append(_worker(address))       # somewhere for the run to go
        first.send_signal(signal.SIGKILL)      # mid-run: its checkpoint exists
        first.wait()
        # the engine writes its record last: none yet means the kill interrupted training
        mid_run.append(not pathlib.Path(ckpt.parent, training.RESULTS).exists())

    mid_run = []
    killer = threading.Thread(target=kill_when_training)
    try:
        with execute.executor(address) as submit:
            killer.start()
            outcome = execute.execute_all([run], tmp_path / "results", tmp_path / "runs",
                                          "smoke", submit, progress=False,
                                          echo=lambda text: None)
    finally:
        killer.join()
    assert first.returncode == -signal.SIGKILL and mid_run == [True]
    assert outcome == {planning.run_id(run): "done"}
    rec = json.loads(pathlib.Path(records.record_path(tmp_path / "results", run)).read_text())
    assert rec["kind"] == "engine-run" and rec["iterations_done"] == 60
    assert [it for it, _ in rec["validation"]] == [30, 60]
    assert 0 <= rec["test"]["accuracy"] <= 1 and rec["test"]["episodes"] == 10
    # rescheduled on this machine, it resumed from the checkpoint: the same record as a run
    # that was never interrupted
    with execute.executor(execute.SERIAL) as submit:
        execute.execute_all([run], tmp_path / "ref", tmp_path / "ref-runs", "smoke", submit,
                            progress=False, echo=lambda text: None)
    ref = json.loads(pathlib.Path(records.record_path(tmp_path / "ref", run)).read_text())
    assert _essence(rec) == _essence(ref)
