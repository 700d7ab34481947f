"""``python -m nn3d.cli``: the ``nn3d`` command."""

import sys

from . import main

sys.exit(main())
