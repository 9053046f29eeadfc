"""Bad-input catalogue at the machine's edges: schedulers that are not one, work too big to
start, a full disk, Ctrl-C in a long step.

Each row runs the real command line in a subprocess with a timeout (``badinput``), so code
that hangs fails the test instead of hanging it.
"""

import contextlib
import socket
import threading

import pytest

from badinput import check_rejected

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
