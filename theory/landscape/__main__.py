"""``python -m theory.landscape``: see :mod:`theory.landscape.cli`."""

from .. import _cli
from .cli import main

raise SystemExit(_cli.run(main))
