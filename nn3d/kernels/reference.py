"""NumPy reference of the activation kernels: slow, obvious, and the truth the fast kernels are tested against.

A level is ``rint((clip(x, lo, hi) - lo) * scale)`` with ``scale = 254 / (hi - lo)`` (ties to even), in
float32 for float32 data (float64 for float64 data, or where a float32 range would overflow: see
:func:`~nn3d.kernels.normalize.scales`); NaN is :data:`NAN_LEVEL`, ±inf clamp to the ends. A degenerate
range (``hi == lo``: a constant layer, no finite value, a collapsed percentile range) is a step: below
``lo`` → 0, equal → 127, above → 254.
"""

from __future__ import annotations

import numpy as np

from .normalize import (
    MID_LEVEL,
    MODES,
    N_LEVELS,
    NAN_LEVEL,
    SPLIT_TABLES,
    MapRange,
    RunningRange,
    check_starts,
    frame,
    lerp_order_stats,
    percentile_ranks,
    percentile_sample,
)

__all__ = ["MODES", "N_LEVELS", "NAN_LEVEL", "interpolate", "layer_ranges", "levels", "map_levels",
           "percentile_ranges", "rgba", "split_levels", "value_range"]


def value_range(values: np.ndarray) -> tuple[float, float]:
    """Min and max of the finite values; (0, 0) when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def _bounds(starts: np.ndarray, n: int):
    b = np.r_[starts, n]
    return zip(b[:-1], b[1:], strict=True)


def layer_ranges(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per layer, the finite min and max as float64; NaN for a layer with no finite value."""
    lo = np.full(len(starts), np.nan)
    hi = np.full(len(starts), np.nan)
    for i, (a, b) in enumerate(_bounds(starts, values.size)):
        finite = values[a:b][np.isfinite(values[a:b])]
        if finite.size:
            lo[i], hi[i] = finite.min(), finite.max()
    return lo, hi


def percentile_ranges(values: np.ndarray, starts: np.ndarray, percentile: float):
    """Per layer, the ``percentile``-th and ``(100 - percentile)``-th finite values (NumPy's "linear")."""
    lo = np.full(len(starts), np.nan)
    hi = np.full(len(starts), np.nan)
    for i, (a, b) in enumerate(_bounds(starts, values.size)):
        part = percentile_sample(values[a:b])
        s = np.sort(part[np.isfinite(part)])
        if s.size:
            k, k1, frac = percentile_ranks(s.size, percentile)
            lo[i] = lerp_order_stats(s[k], s[k1], frac)
            hi[i] = lerp_order_stats(s[s.size - 1 - k], s[s.size - 1 - k1], frac)
    return lo, hi


def map_levels(values: np.ndarray, starts: np.ndarray, r: MapRange, out=None) -> np.ndarray:
    """The map pass: flat ``values`` to uint8 levels with the final per-layer :class:`MapRange`."""
    out = np.empty(values.size, dtype=np.uint8) if out is None else out
    for i, (a, b) in enumerate(_bounds(starts, values.size)):
        x = values[a:b]
        with np.errstate(invalid="ignore"):
            if r.scale32[i] > 0:  # float32 data, float32 arithmetic
                lo, hi = np.float32(r.lo[i]), np.float32(r.hi[i])
                lev = np.rint((np.clip(x.astype(np.float32), lo, hi) - lo) * r.scale32[i])
            elif r.scale[i] > 0:
                x = x.astype(np.float64)
                lev = np.rint((np.clip(x, r.lo[i], r.hi[i]) - r.lo[i]) * r.scale[i])
            else:  # degenerate range: a step at lo
                lev = np.where(x < r.lo[i], 0, np.where(x > r.lo[i], N_LEVELS - 1, MID_LEVEL))
        lev[np.isnan(x)] = NAN_LEVEL
        out[a:b] = lev.astype(np.uint8)
    return out


def split_levels(lev: np.ndarray, starts: np.ndarray, signed: np.ndarray) -> np.ndarray:
    """In place, each layer's full-range levels to its half of the split table: sequential layers to
    0..127, signed (diverging) layers to 128..254, NaN kept at 255. ``lev`` flat uint8."""
    for i, (a, b) in enumerate(_bounds(starts, lev.size)):
        np.take(SPLIT_TABLES[int(bool(signed[i]))], lev[a:b], out=lev[a:b])
    return lev


def work_dtype(values: np.ndarray):
    """float64 for float64 and integer data, float32 otherwise: the precision levels are computed in."""
    return np.float64 if values.dtype == np.float64 or values.dtype.kind in "iub" else np.float32


def levels(values: np.ndarray, starts: np.ndarray | None = None, mode: str = "layer", *,
           symmetric=False, percentile: float | None = None, vrange=None,
           running: RunningRange | None = None, out: np.ndarray | None = None, split: bool = False,
           signed_out: np.ndarray | None = None) -> np.ndarray:
    """Map one frame of activations (any float array, read flat) to uint8 levels of the same shape.

    ``mode="layer"`` normalises each layer (flat neurons ``starts[i] .. starts[i+1]-1``) to its own range,
    so that small and large layers both use the whole colormap; ``"global"`` uses one range.
    ``symmetric`` centres the range on zero (diverging maps): a bool, one bool per layer, or ``"auto"``
    (layers with values substantially on both sides of zero); ``split`` puts sequential layers in levels
    0..127 and symmetric ones in 128..254 (a split colormap table); ``signed_out`` receives the per-layer
    flags. ``percentile=p`` clips to the p-th and
    (100-p)-th percentiles of the finite values; ``vrange=(lo, hi)`` (scalars or per layer) fixes the range;
    ``running`` merges each frame's range into a :class:`RunningRange`.
    """
    values = np.asarray(values)
    flat = values.reshape(-1)
    s = check_starts(starts, flat.size, mode)
    flat_out = None if out is None else out.reshape(-1)
    res = frame(flat, s, work_dtype(flat), layer_ranges, percentile_ranges,
                lambda r: map_levels(flat, s, r, flat_out), symmetric_range=symmetric,
                percentile=percentile, vrange=vrange, running=running, signed_out=signed_out,
                split_fn=(lambda lev, signed: split_levels(lev, s, signed)) if split else None)
    return res.reshape(values.shape) if out is None else out


def rgba(values: np.ndarray, lut: np.ndarray, starts: np.ndarray | None = None, mode: str = "layer",
         **options) -> np.ndarray:
    """RGBA8 colours, shape ``values.shape + (4,)``: ``lut[levels(values, ...)]``; ``lut`` is (256, 4) uint8."""
    return np.asarray(lut, dtype=np.uint8)[levels(values, starts, mode, **options)]


def interpolate(a: np.ndarray, b: np.ndarray, t: float, out: np.ndarray | None = None) -> np.ndarray:
    """The frame ``t`` of the way from ``a`` to ``b`` (float32): ``a + (b - a) * t``; exactly ``a`` at
    ``t <= 0`` and ``b`` at ``t >= 1``."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} and {b.shape}")
    out = np.empty(a.shape, dtype=np.float32) if out is None else out
    if t <= 0 or t >= 1:
        out[...] = a if t <= 0 else b
        return out
    with np.errstate(invalid="ignore", over="ignore"):
        out[...] = a + (b - a) * np.float32(t)
    return out
