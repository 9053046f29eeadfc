"""``python -m theory.engine``: see :mod:`theory.engine.cli`."""

from theory import _cli
from theory.engine.cli import main

raise SystemExit(_cli.run(main))
