"""``python -m theory.figures [NAMES...] [--list] [--out DIR] [--quick] [--seed s]``."""

from theory import _cli
from theory.figures.cli import main

if __name__ == "__main__":
    raise SystemExit(_cli.run(main))
