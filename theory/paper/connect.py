"""Reaching a Dask scheduler given by ``--scheduler``: the address checked, the peer probed.

``address(text)`` accepts ``tcp://HOST:PORT`` (or ``HOST:PORT``, which Dask reads as TCP) and
refuses other schemes (``tls://``, ``ws://``, ``ucx://``, ...: the sweep sets up no
certificates or transports for them) before anything starts. ``probe(address)`` then opens
one TCP connection: a Dask scheduler greets a new connection at once with its handshake,
so within ``TIMEOUT_S`` seconds to connect and ``TIMEOUT_S`` more for the greeting it either
has answered or the peer is reported in one line: nothing listening, nothing reachable, a
service that waits for its client to speak first (an HTTP server, say), or what it sent
instead. The whole check therefore ends within 2 x ``TIMEOUT_S`` = 10 s; ``Client`` itself
is then given ``CLIENT_TIMEOUT_S``.
"""

import socket

TIMEOUT_S = 5.0
CLIENT_TIMEOUT_S = 10.0
GREETING = b"pickle-protocol"       # a key of the handshake every Dask comm sends first


def address(text):
    """``text`` as ``tcp://HOST:PORT``; ``ValueError`` naming it for any other scheme or
    a malformed host or port."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme != "tcp":
        raise ValueError(f"--scheduler {text}: scheme {scheme}:// is not supported; give "
                         "tcp://HOST:PORT or 'serial'")
    host, _, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535 or "/" in host:
        raise ValueError(f"--scheduler {text} is not tcp://HOST:PORT with PORT in 1..65535")
    return f"tcp://{rest}"


def probe(text, timeout=TIMEOUT_S):
    """``None`` if a Dask scheduler answers at ``text`` (``address``'s form) within
    ``timeout`` seconds to connect plus ``timeout`` for its greeting, else ``ValueError``
    saying what answered, or that nothing did."""
    rest = address(text).removeprefix("tcp://")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    where = f"--scheduler {text}"
    try:
        conn = socket.create_connection((host, int(port)), timeout=timeout)
    except ConnectionRefusedError:
        raise ValueError(f"{where}: nothing listens there (connection refused)") from None
    except TimeoutError:
        raise ValueError(f"{where}: no answer within {timeout:g} s (nothing reachable "
                         "there)") from None
    except OSError as err:
        raise ValueError(f"{where}: cannot connect ({err.strerror or err})") from None
    with conn:
        conn.settimeout(timeout)
        data = b""
        try:
            while GREETING not in data and len(data) < 4096:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            if not data:
                raise ValueError(f"{where}: something accepted the connection but said "
                                 f"nothing within {timeout:g} s; not a Dask scheduler (an "
                                 "HTTP server, say, waits for its client)") from None
        except OSError as err:
            raise ValueError(f"{where}: the connection failed ({err.strerror or err})") \
                from None
    if GREETING not in data:
        said = f"answered {data[:40]!r}" if data else "closed the connection at once"
        raise ValueError(f"{where}: {said}; not a Dask scheduler")
