"""Time the engine's MAML meta-step over the grid of the performance table (PyTorch if present).

    python benchmarks/engine_speed.py [--tiny] [--json] [--repeats R] [--no-torch]

The code lives in ``theory.engine.bench`` (also behind ``python -m theory.engine bench``).
"""

from theory import _cli
from theory.engine.bench import main

if __name__ == "__main__":
    raise SystemExit(_cli.run(main))
