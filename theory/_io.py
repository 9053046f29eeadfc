"""Atomic file writes: a crash never leaves a half-written result or checkpoint."""

import contextlib
import json
import os
import secrets
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode="w"):
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    The rename is atomic on POSIX, so readers see the old file or the new one, never a mix.
    The temporary name is chosen before the file is created, so a Ctrl-C at any point,
    even between the creation and the return of ``os.open``, leaves no file behind. New files
    get the usual permissions (0o666 minus the umask).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_open(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=True)
        handle.write("\n")


def read_json(path, kind=None, *, what="JSON file"):
    """Read a JSON file; every failure names ``path``.

    A missing file raises ``FileNotFoundError``; a folder, a file that is not UTF-8 JSON, or
    (with ``kind``, e.g. ``dict``) JSON of another type raises ``ValueError``. ``what`` says
    in the message what the file should have been (e.g. "answers file").
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{what} {path} is a directory; expected a file")
    try:
        with open(path, encoding="utf-8") as handle:
            obj = json.load(handle)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except (ValueError, RecursionError) as err:        # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{what} {path} is not valid JSON ({err})") from None
    if kind is not None and not isinstance(obj, kind):
        raise ValueError(f"{what} {path} holds a JSON {_json_type(obj)}; expected a JSON "
                         f"{_json_type(kind())}")
    return obj


def _json_type(obj):
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
             float: "number", type(None): "null"}
    return names.get(type(obj), type(obj).__name__)


def check_writable(path, *, what="--out"):
    """Raise ``ValueError`` naming ``path`` unless files can be created at directory ``path``.

    ``path`` need not exist: its nearest existing ancestor must be a directory that accepts a
    new file. The check writes one temporary file there and removes it, so nothing is left
    behind, and a run learns at its start, not at its first write, that its output cannot be
    saved.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{what} {path} is a file; expected a directory")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{what} {path} cannot be created: {parent} is a file")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".write-test-")
    except OSError as err:
        raise ValueError(f"{what} {path} is not writable ({err.strerror or err} in "
                         f"{parent})") from None
    os.close(fd)
    os.remove(probe)


def check_writable_file(path, *, what="--out"):
    """Raise ``ValueError`` naming ``path`` unless a file can be written at ``path``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{what} {path} is a directory; expected a file")
    check_writable(os.path.dirname(os.path.abspath(path)), what=f"{what} {path}: folder")
