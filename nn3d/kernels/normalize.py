"""Normalisation ranges: the small per-layer arrays every kernel shares.

A range pass gives, per layer, the finite minimum and maximum (NaN where a layer has no finite value).
The functions here turn those into the final ``(lo, hi)`` the map pass uses: symmetric around zero,
merged into a :class:`RunningRange`, or replaced by a fixed range. They work on arrays of one value
per layer, never per neuron, so they are plain NumPy and shared by every kernel.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

N_LEVELS = 255  # levels 0..254 for values
NAN_LEVEL = 255
MID_LEVEL = (N_LEVELS - 1) // 2  # 127: a constant layer, and zero in a symmetric range
MODES = ("layer", "global")
ROBUST_PERCENTILE = 1.0  # the renderer's default range: 1st to 99th percentile per layer
# split levels: one 256-texel table holds two maps, the sequential one in levels 0..127 and the diverging one
# in 128..254 (centre 191, where zero lands), so a layer's colour rule is data, not a second texture
SEQ_TOP = 127
DIV_BASE = 128
DIV_MID = DIV_BASE + (N_LEVELS - 1 - DIV_BASE) // 2  # 191
SIGNED_SHARE = 0.1  # a layer is signed when both tails reach this share of its largest |value|


def check_starts(starts: np.ndarray | None, n: int, mode: str = "layer") -> np.ndarray:
    """Validated int64 layer starts: ``[0]`` for one global range, else sorted, from 0, at most ``n``."""
    if mode not in MODES:
        raise ValueError(f"unknown normalisation {mode!r}; choose one of {MODES}")
    if starts is None or mode == "global":
        return np.zeros(1, dtype=np.int64)
    s = np.ascontiguousarray(starts, dtype=np.int64).reshape(-1)
    if s.size == 0 or s[0] != 0 or s[-1] > n or np.any(np.diff(s) < 0):
        raise ValueError(f"layer starts must be non-decreasing from 0 to at most {n}, got {s[:8]}...")
    return s


def symmetric(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(-m, m)`` with ``m = max(|lo|, |hi|)``: zero lands on the middle level of a diverging map."""
    m = np.maximum(np.abs(lo), np.abs(hi))
    return -m, m


def fixed(vrange, n_layers: int) -> tuple[np.ndarray, np.ndarray]:
    """A caller's fixed range, ``(lo, hi)`` scalars or one value per layer, as float64 arrays."""
    lo, hi = (np.broadcast_to(np.asarray(v, dtype=np.float64), (n_layers,)).copy() for v in vrange)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi >= lo)):
        raise ValueError(f"a fixed range needs finite lo <= hi, got {vrange!r}")
    return lo, hi


def signed_layers(lo: np.ndarray, hi: np.ndarray, share: float = SIGNED_SHARE) -> np.ndarray:
    """Per layer, whether its values lie substantially on both sides of zero: ``lo < -share * m`` and
    ``hi > share * m`` with ``m = max(|lo|, |hi|)`` (pre-activations, residual stream, norms). bool array;
    False for a layer without finite values. Decided on the (robust) range, so every kernel agrees."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    m = np.maximum(np.abs(lo), np.abs(hi))
    with np.errstate(invalid="ignore"):
        return (lo < -share * m) & (hi > share * m)


def signed_flags(symmetric, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The per-layer symmetric flags of ``symmetric``: a bool (all layers), ``"auto"`` (from the frame's
    range, :func:`signed_layers`) or one bool per layer."""
    n = len(lo)
    if isinstance(symmetric, str):
        if symmetric != "auto":
            raise ValueError(f"symmetric must be a bool, 'auto' or one bool per layer, got {symmetric!r}")
        return signed_layers(lo, hi)
    flags = np.broadcast_to(np.asarray(symmetric, dtype=bool), (n,)).copy()
    return flags


def split_table(signed: bool) -> np.ndarray:
    """(256,) uint8: a full-range level (0..254, 255 NaN) to its split level, in the sequential half
    (0..127) or the diverging half (128..254, full-range 127, i.e. zero in a symmetric range, to 191)."""
    lev = np.arange(N_LEVELS, dtype=np.float64)
    if signed:
        t = DIV_BASE + np.rint(lev * (N_LEVELS - 1 - DIV_BASE) / (N_LEVELS - 1))
    else:
        t = np.rint(lev * SEQ_TOP / (N_LEVELS - 1))
    return np.r_[t, NAN_LEVEL].astype(np.uint8)


SPLIT_TABLES = np.stack([split_table(False), split_table(True)])  # [signed][level]


class MapRange(NamedTuple):
    """Final per-layer parameters of the map pass, one entry per layer.

    ``lo``, ``hi``: float64 (rounded to float32 values for float32 data); ``scale = 254 / (hi - lo)``
    (float64), 0 for a degenerate range; ``scale32``: float32 ``scale`` where float32 arithmetic is safe
    for this layer (finite width and scale in float32), else 0 and the layer is mapped in float64.
    """

    lo: np.ndarray
    hi: np.ndarray
    scale: np.ndarray
    scale32: np.ndarray
    signed: np.ndarray | None = None  # per layer: symmetric range (a diverging layer), bool


def scales(lo: np.ndarray, hi: np.ndarray, dtype=np.float32) -> MapRange:
    """Final :class:`MapRange` for data of ``dtype`` (float32 or float64) from per-layer ranges.

    Layers without a finite value (NaN range) get ``(0, 0)``. A degenerate range (``hi <= lo``, or too
    narrow for float64) has ``scale == 0``: values below ``lo`` map to 0, above to 254, equal to 127.
    For float32 data ``lo``, ``hi`` are rounded to float32 and the map runs in float32 (half the work of
    float64, and fast on every GPU) unless the width or scale overflows float32. Every kernel receives
    these same arrays, so all compute bit-identical levels.
    """
    lo = np.where(np.isnan(lo), 0.0, lo).astype(np.float64)
    hi = np.where(np.isnan(hi), 0.0, hi).astype(np.float64)
    if dtype == np.float32:
        fmax = float(np.finfo(np.float32).max)
        lo = np.clip(lo, -fmax, fmax).astype(np.float32).astype(np.float64)
        hi = np.clip(hi, -fmax, fmax).astype(np.float32).astype(np.float64)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        scale = np.where(hi > lo, (N_LEVELS - 1) / (hi - lo), 0.0)
        scale[~np.isfinite(scale)] = 0.0
        scale32 = np.zeros(lo.shape, dtype=np.float32)
        if dtype == np.float32:
            s32 = scale.astype(np.float32)
            width32 = hi.astype(np.float32) - lo.astype(np.float32)
            safe = np.isfinite(s32) & np.isfinite(width32)
            scale32[safe] = s32[safe]
    return MapRange(lo, hi, scale, scale32)


def lerp_order_stats(a: np.ndarray, b: np.ndarray, frac: float) -> np.ndarray:
    """``a + (b - a) * frac`` in float64: the linear percentile between two neighbouring order statistics."""
    a = np.asarray(a, dtype=np.float64)
    return a + (np.asarray(b, dtype=np.float64) - a) * frac


def percentile_ranks(m: int, percentile: float) -> tuple[int, int, float]:
    """For ``m`` sorted finite values, the ranks ``k, k + 1`` and fraction giving the ``percentile``-th one
    (NumPy's default "linear" definition: position ``p / 100 * (m - 1)``). ``percentile`` is in [0, 50)."""
    pos = percentile / 100.0 * (m - 1)
    k = int(np.floor(pos))
    return k, min(k + 1, m - 1), pos - k


PERCENTILE_SAMPLE = 8192
"""A layer's percentile range is estimated from at most about this many of its values, evenly strided: exact
order statistics over a 10^7-neuron frame took 10x the rest of the colouring, and a 1st-99th percentile from
8,192 values is within about 0.2 percentile of the exact one (its standard error at p = 1 %)."""


def percentile_sample(segment):
    """Every ``step``-th value of one layer's flat values (all of them when the layer is small); ``step`` is odd
    so that it does not fall in step with power-of-two rows or channels. Works on NumPy arrays and tensors."""
    step = len(segment) // PERCENTILE_SAMPLE
    return segment if step < 2 else segment[:: step | 1]


def percentile_ranges_by(layers, percentile: float, order_stats) -> tuple[np.ndarray, np.ndarray]:
    """Per layer, the ``percentile``-th and ``(100 - percentile)``-th values (NumPy's "linear"), NaN for an
    empty layer. ``layers``: each layer's finite values, or those of its :func:`percentile_sample` (a list of
    1-D arrays or tensors); ``order_stats(values, ranks)`` returns ``{rank: value}`` for a set of ranks, as
    the backend selects them best."""
    lo = np.full(len(layers), np.nan)
    hi = np.full(len(layers), np.nan)
    for i, finite in enumerate(layers):
        m = len(finite)
        if m:
            k, k1, frac = percentile_ranks(m, percentile)
            kth = order_stats(finite, {k, k1, m - 1 - k1, m - 1 - k})
            lo[i] = lerp_order_stats(kth[k], kth[k1], frac)
            hi[i] = lerp_order_stats(kth[m - 1 - k], kth[m - 1 - k1], frac)
    return lo, hi


class RunningRange:
    """A per-layer range carried across frames, so that playback does not flicker.

    Each frame's range widens the running range at once (nothing clips); with ``relax > 0`` the running
    range also narrows each frame by that fraction of the gap to the frame's range, so that one outlier
    frame does not compress the colours for ever. ``relax=0`` (default) keeps the union of all frames.

    Use it through ``levels(values, starts, running=rr)``. By default the kernel computes the frame's range,
    this object merges it, and the map pass uses the result: two passes. With ``lag=True`` a frame is
    mapped with the range of the frames before it while its own range is measured in the same pass (one
    pass over memory in the Numba kernel), and merged for the next frame; values beyond the running range
    clamp to the ends for that one frame. The first frame, or one with a new layer count, takes two passes.
    """

    def __init__(self, relax: float = 0.0, lag: bool = False):
        if not 0.0 <= relax <= 1.0:
            raise ValueError(f"relax must be in [0, 1], got {relax}")
        self.relax = float(relax)
        self.lag = bool(lag)
        self.lo: np.ndarray | None = None
        self.hi: np.ndarray | None = None

    def ready(self, n_layers: int) -> bool:
        """Whether a lagging range can map a frame of ``n_layers`` layers without measuring it first."""
        return self.lag and self.lo is not None and self.lo.shape == (n_layers,)

    def reset(self) -> None:
        """Forget the frames seen so far."""
        self.lo = self.hi = None

    def update(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Merge one frame's per-layer range (NaN: no finite value) and return the running ``(lo, hi)``."""
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        if self.lo is None or self.lo.shape != lo.shape:
            self.lo, self.hi = lo.copy(), hi.copy()
            return self.lo.copy(), self.hi.copy()
        r = self.relax
        with np.errstate(invalid="ignore"):
            new_lo = np.minimum(lo, self.lo + r * (lo - self.lo))
            new_hi = np.maximum(hi, self.hi + r * (hi - self.hi))
        # a layer with no finite value this frame keeps its range; one seen for the first time takes it
        self.lo = np.where(np.isnan(lo), self.lo, np.where(np.isnan(self.lo), lo, new_lo))
        self.hi = np.where(np.isnan(hi), self.hi, np.where(np.isnan(self.hi), hi, new_hi))
        return self.lo.copy(), self.hi.copy()


def _symmetric_where(flags: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    slo, shi = symmetric(lo, hi)
    return np.where(flags, slo, lo), np.where(flags, shi, hi)


def resolve(values, starts, ranges_fn, percentile_fn, *, symmetric_range=False,
            percentile: float | None = None, vrange=None, running: RunningRange | None = None,
            dtype=np.float32) -> MapRange:
    """The :class:`MapRange` of one frame of ``dtype`` data, from the normalisation options.

    ``ranges_fn(values, starts)`` and ``percentile_fn(values, starts, p)`` are a kernel's range passes
    (per-layer float64 ``lo, hi``; NaN where a layer has no finite value). A fixed ``vrange`` needs none.
    """
    if vrange is not None:
        if _any(symmetric_range) or percentile is not None or running is not None:
            raise ValueError("a fixed vrange excludes symmetric, percentile and running")
        return scales(*fixed(vrange, len(starts)), dtype)._replace(signed=np.zeros(len(starts), bool))
    if percentile is not None:
        if not 0.0 <= percentile < 50.0:
            raise ValueError(f"percentile must be in [0, 50), got {percentile}")
        lo, hi = percentile_fn(values, starts, percentile)
    else:
        lo, hi = ranges_fn(values, starts)
    flags = signed_flags(symmetric_range, lo, hi)
    lo, hi = _symmetric_where(flags, lo, hi)
    if running is not None:
        lo, hi = running.update(lo, hi)
    return scales(lo, hi, dtype)._replace(signed=flags)


def _any(symmetric_range) -> bool:
    return isinstance(symmetric_range, str) or bool(np.any(symmetric_range))


def frame(values, starts, dtype, ranges_fn, percentile_fn, map_fn, map_ranges_fn=None, *,
          symmetric_range=False, percentile: float | None = None, vrange=None,
          running: RunningRange | None = None, split_fn=None, signed_out=None):
    """One frame through a kernel: ranges, normalisation, map. Returns what ``map_fn(r)`` returns.

    ``map_fn(r)`` maps the frame with a :class:`MapRange`; ``map_ranges_fn(r)``, if the kernel has one,
    also returns the frame's per-layer ``(lo, hi)`` measured in the same pass, for a lagging
    :class:`RunningRange`. Shared by the reference and the dispatcher so both follow the same steps.
    ``split_fn(levels, signed)``, if given, moves each layer's levels into its half of a split table
    (:data:`SPLIT_TABLES`); ``signed_out`` (bool, one per layer) receives the per-layer symmetric flags.
    """
    if running is not None and running.ready(len(starts)) and vrange is None:
        flags = signed_flags(symmetric_range, running.lo, running.hi)
        r = scales(running.lo, running.hi, dtype)._replace(signed=flags)
        if percentile is None and map_ranges_fn is not None:
            res, (lo, hi) = map_ranges_fn(r)
        else:
            res = map_fn(r)
            lo, hi = percentile_fn(values, starts, percentile) if percentile is not None else \
                ranges_fn(values, starts)
        running.update(*_symmetric_where(signed_flags(symmetric_range, lo, hi), lo, hi))
    else:
        r = resolve(values, starts, ranges_fn, percentile_fn, symmetric_range=symmetric_range,
                    percentile=percentile, vrange=vrange, running=running, dtype=dtype)
        res = map_fn(r)
    if signed_out is not None:
        signed_out[...] = r.signed
    return res if split_fn is None else split_fn(res, r.signed)
