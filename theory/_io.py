"""Atomic file writes, and reads that only ever open regular files.

A crash never leaves a half-written result or checkpoint (``atomic_open``, ``write_json``); a
write to a symbolic link goes to the file it points to, and a FIFO, device or socket is never
written over. Reads (``open_regular``, ``read_json``) refuse a FIFO, device or socket instead of
waiting on it. ``inside(folder, *parts)`` is the one way a path is built from names read from
a file: it refuses names that would leave ``folder``.
"""

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import tempfile

WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,127}")


@contextlib.contextmanager
def atomic_open(path, mode="w"):
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    The rename is atomic on POSIX, so readers see the old file or the new one, never a mix.
    The temporary name is chosen before the file is created, so a Ctrl-C at any point,
    even between the creation and the return of ``os.open``, leaves no file behind. New files
    get the usual permissions (0o666 minus the umask). ``path`` goes through ``write_target``:
    a symbolic link is written through, a FIFO or device is refused. A full disk (or another
    ``WRITE_ERRNOS`` error) raised without a file name is raised again naming ``path``.
    """
    path = write_target(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if isinstance(err, OSError) and err.filename is None and err.errno in WRITE_ERRNOS:
            raise type(err)(err.errno, err.strerror, path) from None   # say which file
        raise


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_open(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=True)
        handle.write("\n")


def write_target(path, *, what="output"):
    """The absolute file that a write to ``path`` replaces: ``path`` itself, or the file a
    symbolic link there points to (so the link stays a link); ``ValueError`` naming ``path``
    if that is a FIFO, device or socket (renaming over it would replace, say, /dev/stdout)."""
    path = os.path.abspath(os.fspath(path))
    if os.path.islink(path):
        path = os.path.realpath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError:
        return path                     # e.g. a component that is a file: the write says so
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValueError(f"{what} {path} is {_node(mode)}; expected a regular file")
    return path


def open_regular(path, *, what="file"):
    """Open ``path`` for reading in binary mode if it is a regular file (symbolic links
    followed): a FIFO, device or socket is refused at once (``ValueError`` naming it), not
    waited on; a missing file raises ``FileNotFoundError``, a folder ``ValueError``."""
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {path} is a directory; expected a file") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ValueError(f"{what} {path} is a directory; expected a file")
        raise ValueError(f"{what} {path} is {_node(mode)}; expected a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def is_regular(path):
    """True if ``path`` is a regular file (after symbolic links): what readers take from a
    folder listing (a FIFO among images would block the reader forever)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def safe_name(text):
    """True if ``text`` may be a file or folder name built from a file's contents: letters,
    digits and ``. _ + = -``, starting with a letter or digit (never ``..`` nor hidden),
    at most 128 characters."""
    return isinstance(text, str) and SAFE_NAME.fullmatch(text) is not None


def inside(folder, *parts, what="name"):
    """``folder/part/...`` for ``parts`` read from a file (a record's field, a class name),
    after checking that each is a plain name (``safe_name``) and that the
    result, symbolic links resolved, stays inside ``folder``; ``ValueError`` naming the part."""
    for part in parts:
        if not safe_name(part):
            raise ValueError(f"{what} {part!r} cannot be used in a file name under {folder}: "
                             "expected letters, digits and . _ + = - (starting with a letter "
                             "or digit)")
    root = os.path.realpath(os.fspath(folder))
    path = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([root, path]) != root:
        raise ValueError(f"{what} {'/'.join(parts)!r} leads outside {folder} (to {path})")
    return path


def _node(mode):
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_json(path, kind=None, *, what="JSON file"):
    """Read a JSON file; every failure names ``path``.

    A missing file raises ``FileNotFoundError``; a folder, a FIFO or device, a file that is
    not UTF-8 JSON, or
    (with ``kind``, e.g. ``dict``) JSON of another type raises ``ValueError``. ``what`` says
    in the message what the file should have been (e.g. "answers file").
    """
    path = os.fspath(path)
    with open_regular(path, what=what) as handle:
        data = handle.read()
    try:
        obj = json.loads(data.decode("utf-8"))
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
    target = write_target(path, what=what)
    check_writable(os.path.dirname(target), what=f"{what} {path}: folder")
