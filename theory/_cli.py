"""Shared command-line plumbing: bad input is one line on stderr and exit status 2.

The options every program shares are made here, once, so that they read the same in
``theory.symbolic``, ``landscape``, ``engine``, ``paper`` and ``figures`` (the grammar of
CONTRIBUTING.md): ``add_version``, ``add_json``, ``add_progress``, ``add_seed``, ``add_out``.
"""

import argparse
import math
import os
import sys


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose errors are one line and exit status 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


# Errors of a path the user named (an output under a file, a folder given as a file, a
# read-only location): input errors, reported in one line like ``ValueError``.
PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
               FileExistsError)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that states each option's default, unless the help text already says it or
    there is none to state (``None``, a ``store_true`` flag's ``False``)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (default is None or default is False or default == argparse.SUPPRESS
                or "default" in text or not action.option_strings):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})" if text else f"default: {shown}"


PROG = "python -m theory.{}"     # every program's name: ``PROG.format(package)``


def add_version(parser):
    """``--version``: print ``theory <version>`` and exit."""
    from theory import __version__
    parser.add_argument("--version", action="version", version=f"theory {__version__}",
                        help="print the version and exit")


def add_json(p, what="the result", formats=None):
    """``--json``: print ``what`` as one JSON document on stdout instead of text. With
    ``formats`` (e.g. ``("text", "latex", "json")``) also ``--format``, of which ``json`` is
    the same as ``--json``; read the choice with ``output_format(args)``."""
    if formats is not None:
        p.add_argument("--format", choices=formats, default=None,
                       help=f"output format ({', '.join(formats)}; default: {formats[0]}); "
                            "--format json is --json")
    p.add_argument("--json", action="store_true",
                   help=f"print {what} as one JSON document instead of text")


def output_format(args, default="text"):
    """The output format of parsed ``args`` (``add_json``): ``--json`` or ``--format``."""
    fmt = getattr(args, "format", None)
    if args.json and fmt not in (None, "json"):
        raise ValueError(f"--json and --format {fmt} contradict each other; give one of them")
    return "json" if args.json else fmt or default


def add_progress(p):
    """``--progress/--no-progress``: progress bars on stderr, shown by default."""
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress bars on stderr (default: shown; --no-progress hides them)")


def add_seed(p, default=0, what="random seed: the same seed reproduces the run bit for bit"):
    """``--seed``: an integer >= 0 (``default`` ``None``: the caller's own default)."""
    p.add_argument("--seed", type=nonnegative_int, default=default, metavar="S",
                   help=what + ("" if default is None else f" (default: {default})"))


def add_out(p, what, required=False):
    """``--out DIR``: the folder the command writes ``what`` into (created if missing)."""
    p.add_argument("--out", required=required, default=None, metavar="DIR",
                   help=f"folder to write {what} into (created if missing)")


def run(main, argv=None):
    """Call ``main(argv)``; turn ``ValueError`` and path errors into one line and exit 2.

    Path errors (``PATH_ERRORS``) and other OS errors (a full disk, an I/O error) are reported
    as their message and the path, and so is a ``MemoryError`` (exit status 2: the sizes asked
    for are checked before work starts, ``theory._limits``, so this is a last resort). A
    ``KeyboardInterrupt`` is "interrupted" and exit status 130; one raised with a message
    (``KeyboardInterrupt("last checkpoint ...")``) adds it after a colon. Any other exception
    is a bug and keeps its traceback.
    """
    prog = getattr(main, "prog", None) or "theory"
    try:
        return main(argv)
    except ValueError as err:
        sys.stderr.write(f"{prog}: error: {_one_line(err)}\n")
        raise SystemExit(2) from None
    except PATH_ERRORS as err:
        sys.stderr.write(f"{prog}: error: {_one_line(describe_os_error(err))}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt as err:
        note = f": {_one_line(err)}" if err.args else ""
        sys.stderr.write(f"interrupted{note}\n")
        raise SystemExit(130) from None
    except BrokenPipeError:
        # the reader (e.g. ``| head``) left early: silence the flush at exit, as the docs of
        # the ``signal`` module recommend, and report it the way they do (status 1)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    except OSError as err:          # a full disk, an I/O error: the machine's, not a bug
        sys.stderr.write(f"{prog}: error: {_one_line(describe_os_error(err))}\n")
        raise SystemExit(2) from None
    except MemoryError:
        sys.stderr.write(f"{prog}: error: out of memory; ask for less (smaller sizes or "
                         "counts) or free memory\n")
        raise SystemExit(2) from None


def describe_os_error(err):
    """``"<path>: <reason>"`` for an ``OSError`` with a file name, else its own message."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror.lower()}"
    return str(err)


def printable(text):
    """``text`` with control characters escaped (``\\n``, ``\\t``, ``\\x1b``, ...): a name read
    from disk (a folder, a file) printed in text output cannot start a line or a column of
    its own, nor move the cursor."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape")
                   .decode("ascii") for ch in str(text))


def _one_line(err):
    return " ".join(str(err).splitlines())


def one_of(choices):
    """``"a"``, ``"a or b"``, ``"a, b or c"``: the distinct ``choices`` in order, for messages."""
    distinct = [str(c) for c in dict.fromkeys(choices)]
    if len(distinct) <= 1:
        return "".join(distinct)
    return ", ".join(distinct[:-1]) + " or " + distinct[-1]


def emit(text):
    """Print ``text`` and return 0; a reader that stops early (``| head``) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would report the broken pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def positive_int(text):
    """argparse type: an integer >= 1."""
    return _bounded(text, int, 1, "an integer >= 1")


def nonnegative_int(text):
    """argparse type: an integer >= 0."""
    return _bounded(text, int, 0, "an integer >= 0")


def int_at_least(low):
    """argparse type factory: an integer >= ``low`` (``int_at_least(1)`` is ``positive_int``)."""
    def parse(text):
        return _bounded(text, int, low, f"an integer >= {low}")

    parse.__name__ = f"int_at_least_{low}"
    return parse


def positive_float(text):
    """argparse type: a finite float > 0."""
    value = _number(text, float, "a finite number > 0")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number > 0")
    return value


def finite_float(text):
    """argparse type: a finite float."""
    value = _number(text, float, "a finite number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def float_at_least(low):
    """argparse type factory: a finite float >= ``low``."""
    def parse(text):
        value = finite_float(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number >= {low:g}")
        return value

    parse.__name__ = f"float_at_least_{low:g}"
    return parse


def _number(text, kind, what):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _bounded(text, kind, low, what):
    value = _number(text, kind, what)
    if value < low:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value
