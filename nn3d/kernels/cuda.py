"""``numba.cuda`` kernels: the Numba path on an NVIDIA GPU, for data already on the device as Numba device
arrays or anything with ``__cuda_array_interface__`` (CuPy arrays, torch CUDA tensors).

Range pass: each block owns a contiguous chunk and its threads stride through it (coalesced reads),
keeping a running min/max of order-preserving int32 keys (as in ``cpu.py``) and flushing them with one
atomic per layer they touched. Map pass: one thread per neuron (grid-stride), which finds its layer by a
binary search over the (few, cached) layer starts. Same arithmetic as the NumPy reference, rounding with
``round`` (``llrint``: ties to even). Tested under ``NUMBA_ENABLE_CUDASIM=1`` on small arrays.
Results come back as the input came: device arrays stay on the device, NumPy arrays are copied back.
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import cuda, float64, int32
from numba.core.errors import NumbaPerformanceWarning

from . import cpu
from .normalize import MID_LEVEL, N_LEVELS, NAN_LEVEL, MapRange

THREADS = 256
CHUNK = 4096  # neurons per block in the range pass
_KMAX = 2**31 - 1
_KMIN = -(2**31)


def available() -> bool:
    return cuda.is_available()


@cuda.jit(device=True)
def _layer_of(starts, i):
    a = 0
    b = starts.shape[0] - 1
    while a < b:  # the last layer whose start is <= i (empty layers are skipped)
        m = (a + b + 1) // 2
        if starts[m] <= i:
            a = m
        else:
            b = m - 1
    return a


@cuda.jit
def _range_kernel(bits, starts, lo_keys, hi_keys, chunk):
    n = bits.shape[0]
    n_layers = starts.shape[0]
    i = cuda.blockIdx.x * chunk + cuda.threadIdx.x
    end = min(n, (cuda.blockIdx.x + 1) * chunk)
    if i >= end:
        return
    layer = _layer_of(starts, i)
    nxt = starts[layer + 1] if layer + 1 < n_layers else n
    kmin = int32(_KMAX)
    kmax = int32(_KMIN)
    while i < end:
        while i >= nxt:  # crossed into a later layer: flush this one
            if kmin <= kmax:
                cuda.atomic.min(lo_keys, layer, kmin)
                cuda.atomic.max(hi_keys, layer, kmax)
            kmin = int32(_KMAX)
            kmax = int32(_KMIN)
            layer += 1
            nxt = starts[layer + 1] if layer + 1 < n_layers else n
        b = bits[i]
        if (b & 0x7F800000) != 0x7F800000:
            k = int32(b ^ ((b >> 31) & 0x7FFFFFFF))
            kmin = min(kmin, k)
            kmax = max(kmax, k)
        i += cuda.blockDim.x
    if kmin <= kmax:
        cuda.atomic.min(lo_keys, layer, kmin)
        cuda.atomic.max(hi_keys, layer, kmax)


@cuda.jit(device=True)
def _level(x, layer, lo32, hi32, scale32, lo, hi, scale):
    if x != x:
        return NAN_LEVEL
    if scale32[layer] > 0:
        return round((min(max(x, lo32[layer]), hi32[layer]) - lo32[layer]) * scale32[layer])
    if scale[layer] > 0:
        xd = float64(x)
        return round((min(max(xd, lo[layer]), hi[layer]) - lo[layer]) * scale[layer])
    if x < lo[layer]:
        return 0
    return N_LEVELS - 1 if x > lo[layer] else MID_LEVEL


@cuda.jit
def _map_kernel(x, starts, lo32, hi32, scale32, lo, hi, scale, out):
    i = cuda.grid(1)
    while i < x.shape[0]:
        out[i] = _level(x[i], _layer_of(starts, i), lo32, hi32, scale32, lo, hi, scale)
        i += cuda.gridsize(1)


@cuda.jit
def _rgba_kernel(x, starts, lo32, hi32, scale32, lo, hi, scale, lut, out):
    i = cuda.grid(1)
    while i < x.shape[0]:
        level = _level(x[i], _layer_of(starts, i), lo32, hi32, scale32, lo, hi, scale)
        for c in range(4):
            out[i, c] = lut[level, c]
        i += cuda.gridsize(1)


@cuda.jit
def _lerp_kernel(a, b, t, out):
    i = cuda.grid(1)
    while i < a.shape[0]:
        out[i] = a[i] + (b[i] - a[i]) * t
        i += cuda.gridsize(1)


def _blocks(n: int) -> int:
    return max(1, min((n + THREADS - 1) // THREADS, 4096))


def _launch(kernel, blocks: int, *args) -> None:
    """Launch with THREADS per block. Small frames make small grids, which Numba flags as low occupancy:
    true, and harmless for a frame that takes microseconds, so that warning is silenced here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        kernel[blocks, THREADS](*args)


def prepare(values):
    """Flat contiguous float32 (or float64) device array; host arrays are copied to the device."""
    if hasattr(values, "copy_to_host"):  # a numba device array (real or simulated)
        d = values
    elif hasattr(values, "__cuda_array_interface__"):
        d = cuda.as_cuda_array(values)
    else:
        return cuda.to_device(cpu.prepare(values))
    if d.dtype not in (np.float32, np.float64) or not d.is_c_contiguous():
        raise TypeError("the cuda kernel takes contiguous float32 or float64 device arrays")
    return d.reshape(d.size)


def ranges(x, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer finite (min, max) as float64; NaN for a layer with no finite value."""
    if x.dtype == np.float64:  # rare on a GPU: reduce on the host
        return cpu.ranges(x.copy_to_host(), starts)
    lo_keys = cuda.to_device(np.full(len(starts), _KMAX, dtype=np.int32))
    hi_keys = cuda.to_device(np.full(len(starts), _KMIN, dtype=np.int32))
    if x.size:
        blocks = (x.size + CHUNK - 1) // CHUNK
        _launch(_range_kernel, blocks, x.view(np.int32), cuda.to_device(starts), lo_keys, hi_keys, CHUNK)
    klo, khi = lo_keys.copy_to_host(), hi_keys.copy_to_host()
    lo, hi = cpu._keys_to_float(klo), cpu._keys_to_float(khi)
    lo[klo > khi] = np.nan
    hi[klo > khi] = np.nan
    return lo, hi


def percentile_ranges(x, starts: np.ndarray, percentile: float):
    """Percentile ranges on the host (exact order statistics): a copy and several passes."""
    return cpu.percentile_ranges(x.copy_to_host(), starts, percentile)


def _params(starts: np.ndarray, r: MapRange):
    host = (starts, r.lo.astype(np.float32), r.hi.astype(np.float32), r.scale32, r.lo, r.hi, r.scale)
    return [cuda.to_device(np.ascontiguousarray(a)) for a in host]


def map_levels(x, starts: np.ndarray, r: MapRange, out=None):
    """Map pass: flat uint8 levels, a device array."""
    out = cuda.device_array(x.size, dtype=np.uint8) if out is None else out
    if x.size:
        _launch(_map_kernel, _blocks(x.size), x, *_params(starts, r), out)
    return out


def map_rgba(x, starts: np.ndarray, r: MapRange, lut: np.ndarray, out=None):
    """Map pass to RGBA8: (n, 4) uint8 device array through a (256, 4) uint8 ``lut``."""
    out = cuda.device_array((x.size, 4), dtype=np.uint8) if out is None else out
    if x.size:
        table = cuda.to_device(np.ascontiguousarray(lut, dtype=np.uint8))
        _launch(_rgba_kernel, _blocks(x.size), x, *_params(starts, r), table, out)
    return out


def interpolate(a, b, t: float, out=None):
    """``a + (b - a) * t`` in float32 on the device (a real GPU may fuse it into an FMA: last-bit
    differences from the reference are possible there); exactly ``a`` at ``t <= 0``, ``b`` at ``t >= 1``."""
    a, b = prepare(a), prepare(b)
    if a.size != b.size:
        raise ValueError(f"frames differ in size: {a.size} and {b.size}")
    out = cuda.device_array(a.size, dtype=np.float32) if out is None else out
    if t <= 0 or t >= 1:
        out.copy_to_device(a if t <= 0 else b)
    elif a.size:
        _launch(_lerp_kernel, _blocks(a.size), a, b, np.float32(t), out)
    return out
