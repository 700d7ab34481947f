"""The numba.cuda kernels under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), against the reference.

The simulator must be switched on before numba.cuda is first imported, so the check runs in a fresh
interpreter and the rest of the session keeps the real CUDA target. It runs every simulated thread in
Python: small arrays only. It evaluates kernels with NumPy scalars, which warn on ``inf - inf``; a real GPU
does not, so RuntimeWarnings are ignored there (results are compared exactly all the same).
"""

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import numpy as np
from numba import cuda
from nn3d import kernels as K
from nn3d.kernels import reference as ref

assert "cuda" in K.available_kernels()
rng = np.random.default_rng(0)
checked = 0
ALL = ({}, {"mode": "global"}, {"symmetric": True}, {"vrange": (-2.0, 3.0)}, {"percentile": 5.0})
CASES = [(0, 1), (1, 1), (2, 2), (9, 3), (300, 5)]
for n, n_layers, dtypes, options in [(n, k, (np.float32, np.float64), ALL) for n, k in CASES] + [
        (5000, 4, (np.float32,), ALL[:1])]:  # more than one block in the range pass (4096 neurons each)
    for dtype in dtypes:
        x = (rng.standard_normal(n) * 10).astype(dtype)
        if n >= 20:
            x[rng.integers(0, n, n // 10)] = np.nan
            x[rng.integers(0, n, n // 20)] = np.inf
            x[rng.integers(0, n, n // 20)] = -np.inf
            x[: n // 8] = 1.5  # a constant layer
        starts = np.zeros(1, np.int64)
        if n_layers > 1:  # the first layer is the constant one; the last layer is empty
            cuts = np.sort(np.r_[n // 8, rng.integers(0, n + 1, n_layers - 2)])
            starts = np.r_[0, cuts, cuts[-1]].astype(np.int64)
        for opts in options:
            want = ref.levels(x, starts, **opts)
            got = K.levels(x, starts, kernel="cuda", **opts)
            assert isinstance(got, np.ndarray) and np.array_equal(got, want), (n, dtype, opts)
            checked += 1
        lo, hi = K.ranges(x, starts, kernel="cuda")
        want_lo, want_hi = ref.layer_ranges(x, starts)
        assert np.array_equal(lo, want_lo, equal_nan=True) and np.array_equal(hi, want_hi, equal_nan=True)
x = (rng.standard_normal(700) * 3).astype(np.float32)
x[::7] = np.nan
d = cuda.to_device(x)
assert K.choose_kernel(d) == "cuda"
got = K.levels(d, np.array([0, 200]))
assert hasattr(got, "copy_to_host") and np.array_equal(got.copy_to_host(), ref.levels(x, np.array([0, 200])))
lut = rng.integers(0, 256, (256, 4)).astype(np.uint8)
assert np.array_equal(K.rgba(x, lut, np.array([0, 200]), kernel="cuda"), ref.rgba(x, lut, np.array([0, 200])))
y = rng.standard_normal(700).astype(np.float32)
for t in (0.0, 0.3, 1.0):
    assert np.array_equal(K.interpolate(x, y, t, kernel="cuda"), ref.interpolate(x, y, t), equal_nan=True)
print("checked", checked)
"""


def test_numba_cuda_kernels_in_the_simulator():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    out = subprocess.run([sys.executable, "-W", "error", "-W", "ignore::RuntimeWarning", "-c", SCRIPT],
                         capture_output=True, text=True, env=env, timeout=300)
    if "No module named 'numba.cuda'" in out.stderr:
        pytest.skip("numba.cuda is not installed (pip install numba-cuda)")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["checked", "51"]
