"""The compiled kernels that read file data, run once with Numba's bounds checks on (``NUMBA_BOUNDSCHECK=1``,
in a fresh cache so no unchecked build is reused): an out-of-bounds read raises IndexError there instead of
reading or writing outside an array, so the hostile inputs of ``test_kernels_file_data.py`` would fail."""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_kernels_on_hostile_inputs_with_numba_bounds_checks(tmp_path):
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly",
                        str(HERE / "test_kernels_file_data.py"), "-W", "error::RuntimeWarning"],
                       env=env, capture_output=True, text=True, timeout=600, cwd=HERE.parent)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout  # test_bounds_checks_are_on ran, and passed
