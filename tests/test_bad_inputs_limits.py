"""Bad-input catalogue at the machine's edges: schedulers that are not one, work too big or too
long to start, a full disk (Ctrl-C in a long step: ``test_engine_interrupt``).

Each row runs the real command line in a subprocess with a timeout (``conftest.check_rejected``), so code
that hangs fails the test instead of hanging it.
"""

import contextlib
import os
import socket
import threading

import pytest

from conftest import ROOT, check_rejected, run_cli

PAPER_RUN = ["theory.paper", "run", "--budget", "tiny", "--datasets", "synthetic", "--only",
             "table-a", "--methods", "maml", "--layers", "2", "--seeds", "1", "--no-progress"]


@contextlib.contextmanager
def listener(reply):
    """A TCP server on a free local port that accepts connections and sends ``reply`` (bytes,
    or ``None``: stays silent; ``b""``: closes at once); yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop, held = threading.Event(), []

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            if reply is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(reply)
                if reply == b"" or reply.startswith(b"HTTP"):
                    conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SCHEDULERS = [
    ("silent", None, ["said nothing within 5 s", "not a Dask scheduler"]),
    ("http", b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
     ["answered b'HTTP/1.1 400", "not a Dask scheduler"]),
    ("garbage", b"\x00\x01garbage", ["answered", "not a Dask scheduler"]),
    ("closes", b"", ["closed the connection at once"]),
]


@pytest.mark.parametrize("reply, names", [pytest.param(r, n, id=i) for i, r, n in SCHEDULERS])
def test_a_scheduler_that_is_not_dask_is_refused_within_seconds(reply, names, tmp_path):
    with listener(reply) as port:
        address = f"tcp://127.0.0.1:{port}"
        check_rejected([*PAPER_RUN, "--results", tmp_path / "results", "--runs",
                        tmp_path / "runs", "--scheduler", address], watch=[tmp_path],
                       names=[address, *names], cwd=tmp_path, timeout=60)


@pytest.mark.parametrize("address, names", [
    ("tls://127.0.0.1:8786", ["tls://", "not supported"]),
    ("ws://127.0.0.1:8786", ["ws://", "not supported"]),
    ("ucx://127.0.0.1:8786", ["ucx://", "not supported"]),
    ("tcp://127.0.0.1", ["tcp://127.0.0.1", "PORT"]),
    ("tcp://127.0.0.1:99999", ["99999", "PORT in 1..65535"]),
])
def test_unsupported_scheduler_addresses_are_refused_up_front(address, names, tmp_path):
    check_rejected([*PAPER_RUN, "--results", tmp_path / "results", "--runs", tmp_path / "runs",
                    "--scheduler", address], watch=[tmp_path], names=names, cwd=tmp_path,
                   timeout=60)


def test_a_port_where_nothing_listens_is_one_line(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    check_rejected([*PAPER_RUN, "--results", tmp_path / "results", "--runs", tmp_path / "runs",
                    "--scheduler", address], watch=[tmp_path],
                   names=[address, "nothing listens"], cwd=tmp_path, timeout=60)


# --- work bounded before it starts ---------------------------------------------------------

TOO_BIG = [
    (["theory.engine", "train", "--steps", "100000", "--out", "{tmp}/run"],
     ["--steps 100000", "GiB", "THEORY_MEMORY_LIMIT"]),
    (["theory.engine", "train", "--hidden", "100000", "--out", "{tmp}/run"],
     ["--hidden 100000", "GiB"]),
    (["theory.engine", "bench", "--ways", "100000"], ["--ways 100000", "GiB"]),
    (["theory.engine", "bench", "--query", "100000"], ["--query 100000", "GiB"]),
    (["theory.engine", "bench", "--meta-batch", "100000"], ["--meta-batch 100000", "GiB"]),
    (["theory.landscape", "precondition", "--dim", "100000"], ["--dim 100000", "GiB"]),
    (["theory.landscape", "precondition", "--restarts", str(10 ** 8)],
     [f"--restarts {10 ** 8}", "GiB"]),
    (["theory.landscape", "train", "--restarts", str(10 ** 8)], [f"--restarts {10 ** 8}"]),
    (["theory.landscape", "surface", "--grid", "100000"], ["--grid 100000"]),
    (["theory.symbolic", "derive", "--depth", "1000000"],
     ["--depth 1000000", "by estimate", "--max-seconds 600"]),
    (["theory.symbolic", "derive", "--steps", "1000000000"],
     ["--steps 1000000000", "--max-seconds"]),
    (["theory.symbolic", "derive", "--model", "logistic", "--depth", "50", "--steps", "50"],
     ["--depth 50 --steps 50 --shots 2", "--max-seconds"]),
]


@pytest.mark.parametrize("argv, names", TOO_BIG, ids=[" ".join(a[:3]) for a, _ in TOO_BIG])
def test_work_beyond_the_machine_is_refused_before_it_starts(argv, names, tmp_path):
    argv = [a.format(tmp=tmp_path) for a in argv]
    check_rejected(argv, watch=[tmp_path], names=names, cwd=tmp_path, timeout=120)


# refused for time, not memory: a limit of 1 TiB keeps the memory check out of the way
TOO_SLOW = [
    (["bench", "--linnet", "10000"], ["--linnet 10000", "by estimate", "--max-seconds 600"]),
    (["bench", "--hidden", "2000"], ["--hidden 2000", "--max-seconds 600"]),
    (["bench", "--meta-batch", "10000"], ["--meta-batch 10000", "--max-seconds 600"]),
    (["bench", "--first-order", "--steps", "10000"], ["--steps 10000", "--max-seconds 600"]),
    (["bench", "--layers", "1", "--hidden", "4", "--max-seconds", "1e-6"],
     ["--hidden 4", "--max-seconds 1e-06"]),
    (["train", "--iterations", str(10 ** 9), "--out", "{tmp}/run"],
     [f"--iterations {10 ** 9}", "--max-seconds 86400"]),
    (["train", "--layers", "1", "--hidden", "4", "--max-seconds", "1e-6", "--out", "{tmp}/run"],
     ["--iterations 200", "--max-seconds 1e-06"]),
]


@pytest.mark.parametrize("argv, names", TOO_SLOW, ids=[" ".join(a[:2]) for a, _ in TOO_SLOW])
def test_work_beyond_the_time_limit_is_refused_before_it_starts(argv, names, tmp_path):
    argv = ["theory.engine", *(a.format(tmp=tmp_path) for a in argv)]
    check_rejected(argv, watch=[tmp_path], names=["takes at least", *names], cwd=tmp_path,
                   env={"THEORY_MEMORY_LIMIT": "1T"}, timeout=120)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint from a 2-iteration run, and an episode's folders to adapt to."""
    root = tmp_path_factory.mktemp("trained")
    for argv in (["train", "--layers", "1", "--hidden", "4", "--iterations", "2",
                  "--test-episodes", "2", "--no-progress", "--out", root / "run"],
                 ["episode", "--out", root / "task"]):
        proc = run_cli(["theory.engine", *argv], cwd=root, timeout=300)
        assert proc.returncode == 0, proc.stderr
    return root


def _eval_adapt(root, *extra):
    ckpt = root / "run" / "checkpoint.npz"
    return {"eval": ["theory.engine", "eval", "--checkpoint", ckpt, "--no-progress", *extra],
            "adapt": ["theory.engine", "adapt", "--checkpoint", ckpt, "--support",
                      root / "task" / "support", "--query", root / "task" / "query", *extra]}


@pytest.mark.parametrize("command, extra, limit, names", [
    ("eval", ["--steps", "100000"], "1T", ["--episodes 600 --steps 100000", "--max-seconds 3600"]),
    ("eval", ["--episodes", str(10 ** 7)], "1T", [f"--episodes {10 ** 7}", "--max-seconds"]),
    ("eval", ["--curve", "100000"], "1G", ["--curve 100000", "GiB of memory", "1 GiB"]),
    ("eval", ["--max-seconds", "1e-6"], "1T", ["--steps 1", "--max-seconds 1e-06"]),
    ("adapt", ["--steps", str(10 ** 7)], "1T",
     ["5 support and 5 query images", f"--steps {10 ** 7}", "--max-seconds 600"]),
    ("adapt", [], "100K", ["5 support and 5 query images", "MiB of memory", "0.0977 MiB"]),
])
def test_eval_and_adapt_beyond_the_limits_are_refused_before_they_start(
        trained, command, extra, limit, names):
    check_rejected(_eval_adapt(trained, *extra)[command], watch=[trained], names=names,
                   cwd=trained, env={"THEORY_MEMORY_LIMIT": limit}, timeout=120)


def test_a_resumed_run_is_estimated_from_where_it_stands(trained):
    check_rejected(["theory.engine", "train", "--layers", "1", "--hidden", "4", "--iterations",
                    "1000", "--max-seconds", "1e-6", "--out", trained / "run", "--resume"],
                   watch=[trained], names=["--iterations 1000 from iteration 2"], cwd=trained,
                   timeout=120)


def test_the_memory_limit_can_be_set_and_is_checked(tmp_path):
    """``THEORY_MEMORY_LIMIT`` lowers the limit (a default meta-step of ~34 MiB is refused
    under 1 MiB) and a malformed value is itself one line."""
    argv = ["theory.engine", "bench", "--repeats", "1"]
    check_rejected(argv, watch=[tmp_path], cwd=tmp_path, env={"THEORY_MEMORY_LIMIT": "1M"},
                   names=["1 MiB", "--hidden 32"])
    check_rejected(argv, watch=[tmp_path], cwd=tmp_path, env={"THEORY_MEMORY_LIMIT": "lots"},
                   names=["THEORY_MEMORY_LIMIT='lots'"])


# --- a full disk ---------------------------------------------------------------------------

FULL_DISK = '''
import errno, os
_fsync = os.fsync

def fsync(fd):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

os.fsync = fsync
'''


@pytest.fixture
def full_disk(tmp_path):
    """The environment of a process whose every ``fsync`` fails as on a full disk (a
    ``sitecustomize`` module on its path): each atomic write fails before its rename."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FULL_DISK)
    return {"PYTHONPATH": f"{ROOT}{os.pathsep}{hook}"}


def test_a_full_disk_under_train_is_one_line_and_leaves_no_partial_file(full_disk, tmp_path):
    out = tmp_path / "run"
    msg = check_rejected(["theory.engine", "train", "--layers", "1", "--hidden", "4",
                          "--iterations", "2", "--val-every", "1", "--checkpoint-every", "1",
                          "--no-progress", "--out", out], env=full_disk, cwd=tmp_path,
                         names=[out / "checkpoint.npz", "no space left on device"],
                         timeout=300)
    assert msg.startswith("python -m theory.engine: error:")
    assert not any(p.name.endswith(".tmp") for p in out.rglob("*"))


def test_a_full_disk_keeps_the_finished_result_in_place(full_disk, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "surface.json").write_text('{"finished": "earlier"}\n')
    check_rejected(["theory.landscape", "surface", "--grid", "3", "--restarts", "1",
                    "--iterations", "2", "--mc-tasks", "5", "--mc-shots", "5", "--out", out],
                   env=full_disk, cwd=tmp_path, watch=[out],
                   names=[out / "surface.json", "no space left on device"], timeout=300)


def test_a_full_disk_under_paper_run_is_one_line(full_disk, tmp_path):
    results = tmp_path / "results"
    (results / "lr-search").mkdir(parents=True)
    kept = results / "lr-search" / "other.json"
    kept.write_text('{"kind": "lr-search"}\n')
    check_rejected([*PAPER_RUN, "--scheduler", "serial", "--results", results, "--runs",
                    tmp_path / "runs"], env=full_disk, cwd=tmp_path, watch=[kept],
                   names=[results, "no space left on device"], timeout=300)


def test_a_step_size_that_overflows_every_restart_is_reported_not_a_traceback(tmp_path):
    """``precondition --alpha 1e300`` diverges in every restart: the summary says so and
    prints the overflowed floor as n/a."""
    proc = run_cli(["theory.landscape", "precondition", "--alpha", "1e300", "--iterations",
                    "10"], cwd=tmp_path, timeout=300)
    assert "Traceback" not in proc.stderr and proc.returncode == 0, proc.stderr
    assert "diverged restarts [0, 1, 2, 3, 4, 5, 6, 7]" in proc.stdout
    assert "shallow floor (R5a) n/a (not finite)" in proc.stdout
