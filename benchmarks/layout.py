"""Layout benchmark: `python benchmarks/layout.py [--json PATH] [--sizes 1e4,1e5] [--edges 1e6,1e7]`.

Placement of 10^4..10^7 neurons and edge selection from up to 10^8 candidates, each against a NumPy
baseline timed in the same run (see :mod:`nn3d.bench.layout`).
"""

import sys

from nn3d.bench.layout import main

if __name__ == "__main__":
    sys.exit(main())
