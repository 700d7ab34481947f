"""Numba CPU kernels (``prange``): the fast path for NumPy arrays.

The flat array is cut into *segments*: pieces of one layer that never cross a 64 Ki-neuron chunk boundary,
so that threads get balanced work whether there is one layer of 10⁷ neurons or 10⁵ layers of 100. Each
pass is one ``prange`` over segments with an inner loop the compiler vectorises:

- range pass (read 4 B/neuron): per-layer finite min/max. For float32 it works on order-preserving int32
  keys of the bit patterns (``k = b ^ ((b >> 31) & 0x7fffffff)``), because LLVM vectorises integer min/max
  reductions but not float ones that must skip NaN; finiteness is a test of the exponent bits.
- map pass (read 4 B, write 1 B, or 4 B for RGBA): level per neuron from the shared per-layer
  :class:`~nn3d.kernels.normalize.MapRange`, in float32 for float32 data (float64 where that would
  overflow), with the same operations in the same order as the NumPy reference: bit-identical levels.

A computed range costs both passes; a fixed range only the map pass. No temporaries the size of the data.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .normalize import MID_LEVEL, N_LEVELS, NAN_LEVEL, MapRange, percentile_ranges_by, percentile_sample

CHUNK = 1 << 16
_KMAX = np.int32(2**31 - 1)
_KMIN = np.int32(-(2**31))
_MAG = np.int32(0x7FFFFFFF)
_EXP = np.int32(0x7F800000)
_S31 = np.int32(31)
_TOP = np.uint8(N_LEVELS - 1)
_MID = np.uint8(MID_LEVEL)
_NAN = np.uint8(NAN_LEVEL)


@njit(cache=True)
def _segments(n, starts, chunk):
    """Boundaries ``seg[s] .. seg[s+1]`` and layer of each segment; empty layers have none."""
    n_layers = starts.shape[0]
    seg = np.empty(n // chunk + n_layers + 2, dtype=np.int64)
    layer = np.empty(n // chunk + n_layers + 1, dtype=np.int64)
    ns = 0
    for i in range(n_layers):
        a = starts[i]
        b = starts[i + 1] if i + 1 < n_layers else n
        while a < b:
            seg[ns] = a
            layer[ns] = i
            ns += 1
            a = min(b, (a // chunk + 1) * chunk)
    seg[ns] = n
    return seg[: ns + 1], layer[:ns]


@njit(cache=True)
def _minmax_keys(bits):
    lo = _KMAX
    hi = _KMIN
    for j in range(bits.shape[0]):
        b = bits[j]
        k = np.int32(b ^ np.int32(np.int32(b >> _S31) & _MAG))
        finite = np.int32(b & _EXP) != _EXP
        lo = min(lo, k if finite else _KMAX)
        hi = max(hi, k if finite else _KMIN)
    return lo, hi


@njit(parallel=True, cache=True)
def _ranges_f32(bits, starts, chunk):
    seg, layer = _segments(bits.shape[0], starts, chunk)
    ns = layer.shape[0]
    seg_lo = np.empty(ns, dtype=np.int32)
    seg_hi = np.empty(ns, dtype=np.int32)
    for s in prange(ns):
        lo, hi = _minmax_keys(bits[seg[s] : seg[s + 1]])
        seg_lo[s] = lo
        seg_hi[s] = hi
    lo = np.empty(starts.shape[0], dtype=np.int32)
    hi = np.empty(starts.shape[0], dtype=np.int32)
    for i in range(starts.shape[0]):  # a loop, not np.full: that would be one more parallel region
        lo[i] = _KMAX
        hi[i] = _KMIN
    for s in range(ns):
        lo[layer[s]] = min(lo[layer[s]], seg_lo[s])
        hi[layer[s]] = max(hi[layer[s]], seg_hi[s])
    return lo, hi


@njit(cache=True)
def _minmax_float(v):
    lo = np.inf
    hi = -np.inf
    for j in range(v.shape[0]):
        x = np.float64(v[j])
        if abs(x) < np.inf:
            lo = min(lo, x)
            hi = max(hi, x)
    return lo, hi


@njit(parallel=True, cache=True)
def _ranges_float(values, starts, chunk):
    seg, layer = _segments(values.shape[0], starts, chunk)
    ns = layer.shape[0]
    seg_lo = np.empty(ns)
    seg_hi = np.empty(ns)
    for s in prange(ns):
        lo, hi = _minmax_float(values[seg[s] : seg[s + 1]])
        seg_lo[s] = lo
        seg_hi[s] = hi
    lo = np.empty(starts.shape[0])
    hi = np.empty(starts.shape[0])
    for i in range(starts.shape[0]):
        lo[i] = np.inf
        hi[i] = -np.inf
    for s in range(ns):
        lo[layer[s]] = min(lo[layer[s]], seg_lo[s])
        hi[layer[s]] = max(hi[layer[s]], seg_hi[s])
    return lo, hi


def _keys_to_float(keys: np.ndarray) -> np.ndarray:
    bits = keys ^ ((keys >> 31) & 0x7FFFFFFF)
    return bits.astype(np.int32).view(np.float32).astype(np.float64)


def ranges(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer finite (min, max) as float64; NaN for a layer with no finite value. One pass."""
    if values.dtype == np.float32:
        klo, khi = _ranges_f32(values.view(np.int32), starts, CHUNK)
        lo, hi = _keys_to_float(klo), _keys_to_float(khi)
        none = klo > khi
    else:
        lo, hi = _ranges_float(values, starts, CHUNK)
        none = lo > hi
    lo[none] = np.nan
    hi[none] = np.nan
    return lo, hi


def percentile_ranges(values: np.ndarray, starts: np.ndarray, percentile: float):
    """Per-layer percentile range with exact order statistics from ``np.partition`` (several passes)."""
    bounds = np.r_[starts, values.size]
    layers = [seg[np.isfinite(seg)] for seg in
              (percentile_sample(values[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))]
    return percentile_ranges_by(layers, percentile, _partitioned)


def _partitioned(finite: np.ndarray, ranks: set) -> dict:
    part = np.partition(finite, sorted(ranks))
    return {j: part[j] for j in ranks}


@njit(cache=True, inline="always")
def _step(x, lo):
    if x < lo:
        return np.uint8(0)
    return _TOP if x > lo else (_MID if x == lo else _NAN)


@njit(cache=True)
def _map_segment(v, lo, hi, scale, scale32, o):
    # one loop per case, so that the hot one has nothing but arithmetic and a select inside
    if scale32 > 0:
        lo32, hi32 = np.float32(lo), np.float32(hi)
        for j in range(v.shape[0]):
            x = v[j]
            y = np.rint((min(max(x, lo32), hi32) - lo32) * scale32)
            o[j] = _NAN if x != x else np.uint8(np.int32(y))
    elif scale > 0:
        for j in range(v.shape[0]):
            x = np.float64(v[j])
            y = np.rint((min(max(x, lo), hi) - lo) * scale)
            o[j] = _NAN if x != x else np.uint8(np.int32(y))
    else:
        for j in range(v.shape[0]):
            o[j] = _step(v[j], lo)


@njit(parallel=True, cache=True)
def _map(values, starts, lo, hi, scale, scale32, out, chunk):
    seg, layer = _segments(values.shape[0], starts, chunk)
    for s in prange(layer.shape[0]):
        i, a, b = layer[s], seg[s], seg[s + 1]
        _map_segment(values[a:b], lo[i], hi[i], scale[i], scale32[i], out[a:b])


@njit(parallel=True, cache=True)
def _map_ranges_f32(values, bits, starts, lo, hi, scale, scale32, out, chunk):
    # map each segment, then take its min/max keys while it is still in this core's L2 (a segment is at
    # most 256 KiB): one pass over memory for a lagging running range
    seg, layer = _segments(values.shape[0], starts, chunk)
    ns = layer.shape[0]
    seg_lo = np.empty(ns, dtype=np.int32)
    seg_hi = np.empty(ns, dtype=np.int32)
    for s in prange(ns):
        i, a, b = layer[s], seg[s], seg[s + 1]
        _map_segment(values[a:b], lo[i], hi[i], scale[i], scale32[i], out[a:b])
        klo, khi = _minmax_keys(bits[a:b])
        seg_lo[s] = klo
        seg_hi[s] = khi
    return seg_lo, seg_hi, layer


@njit(cache=True)
def _rgba_segment(v, lo, hi, scale, scale32, lut, o):
    # levels first (the vectorised map loop, into a buffer that stays in L1/L2), then the table look-up:
    # a gather inside the map loop would keep the compiler from vectorising it
    levels = np.empty(v.shape[0], dtype=np.uint8)
    _map_segment(v, lo, hi, scale, scale32, levels)
    for j in range(v.shape[0]):
        o[j] = lut[levels[j]]


@njit(parallel=True, cache=True)
def _map_rgba(values, starts, lo, hi, scale, scale32, lut, out, chunk):
    seg, layer = _segments(values.shape[0], starts, chunk)
    for s in prange(layer.shape[0]):
        i, a, b = layer[s], seg[s], seg[s + 1]
        _rgba_segment(values[a:b], lo[i], hi[i], scale[i], scale32[i], lut, out[a:b])


@njit(parallel=True, cache=True)
def _lerp(a, b, t, out):
    for i in prange(a.shape[0]):
        out[i] = a[i] + (b[i] - a[i]) * t


def prepare(values) -> np.ndarray:
    """Flat contiguous float32 (float32, float16, ...) or float64 (float64, integers) view or copy."""
    v = np.asarray(values)
    dtype = np.float64 if v.dtype == np.float64 or v.dtype.kind in "iub" else np.float32
    return np.ascontiguousarray(v, dtype=dtype).reshape(-1)


def map_levels(values: np.ndarray, starts: np.ndarray, r: MapRange, out=None) -> np.ndarray:
    """Map pass: flat uint8 levels with the final per-layer :class:`MapRange`. One pass."""
    out = np.empty(values.size, dtype=np.uint8) if out is None else out
    _map(values, starts, r.lo, r.hi, r.scale, r.scale32, out, CHUNK)
    return out


def map_levels_ranges(values: np.ndarray, starts: np.ndarray, r: MapRange, out=None):
    """Map pass that also measures the frame's per-layer finite (min, max), NaN where none: one pass over
    memory for float32 data (each 256 KiB segment is re-read from cache); two passes otherwise."""
    if values.dtype != np.float32:
        return map_levels(values, starts, r, out), ranges(values, starts)
    out = np.empty(values.size, dtype=np.uint8) if out is None else out
    seg_lo, seg_hi, layer = _map_ranges_f32(values, values.view(np.int32), starts, r.lo, r.hi, r.scale,
                                            r.scale32, out, CHUNK)
    klo = np.full(len(starts), _KMAX, dtype=np.int32)
    khi = np.full(len(starts), _KMIN, dtype=np.int32)
    np.minimum.at(klo, layer, seg_lo)
    np.maximum.at(khi, layer, seg_hi)
    lo, hi = _keys_to_float(klo), _keys_to_float(khi)
    lo[klo > khi] = np.nan
    hi[klo > khi] = np.nan
    return out, (lo, hi)


def map_rgba(values: np.ndarray, starts: np.ndarray, r: MapRange, lut: np.ndarray, out=None) -> np.ndarray:
    """Map pass to RGBA8, (n, 4) uint8, through a (256, 4) uint8 ``lut``; one 4-byte store per neuron."""
    out = np.empty((values.size, 4), dtype=np.uint8) if out is None else out
    lut32 = np.ascontiguousarray(lut, dtype=np.uint8).view(np.uint32).reshape(-1)
    _map_rgba(values, starts, r.lo, r.hi, r.scale, r.scale32, lut32, out.reshape(-1).view(np.uint32), CHUNK)
    return out


def interpolate(a, b, t: float, out=None) -> np.ndarray:
    """``a + (b - a) * t`` in float32, one fused pass over both frames; exactly ``a`` at ``t <= 0`` and
    ``b`` at ``t >= 1``."""
    a, b = np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32)
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} and {b.shape}")
    out = np.empty(a.shape, dtype=np.float32) if out is None else out
    if t <= 0 or t >= 1:
        np.copyto(out, a if t <= 0 else b)
    else:
        _lerp(a.reshape(-1), b.reshape(-1), np.float32(t), out.reshape(-1))
    return out
