"""``python -m theory.symbolic``: see ``theory.symbolic.cli``."""

from .. import _cli
from .cli import main

raise SystemExit(_cli.run(main))
