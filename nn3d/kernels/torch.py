"""torch kernels: the same code on CUDA and CPU tensors.

Written as whole-tensor operations, so each step is one launch on a GPU (where the data already live when
activations come from a model on CUDA). Per-layer ranges are one ``scatter_reduce`` over a per-neuron layer
index (cached per layer layout and device); the map gathers each neuron's layer parameters. This makes
several passes and per-neuron temporaries, which a GPU's bandwidth absorbs; on the CPU the Numba kernel is
the fast path and this one runs there for tests. Arithmetic matches the NumPy reference operation for
operation (float32 for float32 data, separate launches so nothing is fused into an FMA): levels are
bit-identical.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from .normalize import MID_LEVEL, N_LEVELS, NAN_LEVEL, SPLIT_TABLES, MapRange, percentile_ranges_by, percentile_sample

_IDS: OrderedDict = OrderedDict()  # (device, n, starts bytes) -> int64 layer index per neuron


def _layer_ids(starts: np.ndarray, n: int, device) -> torch.Tensor:
    key = (str(device), n, starts.tobytes())
    ids = _IDS.get(key)
    if ids is None:
        lengths = np.diff(np.r_[starts, n])
        ids = torch.repeat_interleave(torch.arange(len(starts), device=device),
                                      torch.as_tensor(lengths, device=device))
        _IDS[key] = ids
        if len(_IDS) > 4:
            _IDS.popitem(last=False)
    return ids


def prepare(values) -> torch.Tensor:
    """Flat contiguous float32 tensor (float64 stays float64, integers become float64), same device."""
    if isinstance(values, torch.Tensor):
        x = values.detach()
    else:
        v = np.asarray(values)
        x = torch.as_tensor(v if v.flags.writeable else v.copy())  # torch refuses read-only memory
    dtype = torch.float64 if x.dtype == torch.float64 or not x.dtype.is_floating_point else torch.float32
    return x.to(dtype).contiguous().reshape(-1)


def ranges(x: torch.Tensor, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer finite (min, max) as float64 NumPy arrays; NaN for a layer with no finite value."""
    finite = torch.isfinite(x)
    inf = torch.tensor(float("inf"), dtype=x.dtype, device=x.device)
    low, high = torch.where(finite, x, inf), torch.where(finite, x, -inf)
    if len(starts) == 1:
        lo = low.amin().reshape(1) if x.numel() else inf.reshape(1)
        hi = high.amax().reshape(1) if x.numel() else -inf.reshape(1)
    else:
        ids = _layer_ids(starts, x.numel(), x.device)
        lo = inf.repeat(len(starts)).scatter_reduce(0, ids, low, "amin")
        hi = (-inf).repeat(len(starts)).scatter_reduce(0, ids, high, "amax")
    lo, hi = lo.double().cpu().numpy(), hi.double().cpu().numpy()
    none = lo > hi
    lo[none] = np.nan
    hi[none] = np.nan
    return lo, hi


def percentile_ranges(x: torch.Tensor, starts: np.ndarray, percentile: float):
    """Per-layer percentile range from exact order statistics (``torch.kthvalue``), layer by layer."""
    bounds = np.r_[starts, x.numel()]
    layers = [seg[torch.isfinite(seg)] for seg in
              (percentile_sample(x[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))]
    return percentile_ranges_by(layers, percentile,
                                lambda finite, ranks: {j: torch.kthvalue(finite, j + 1).values.item() for j in ranks})


def _per_neuron(a: np.ndarray, dtype, ids, device) -> torch.Tensor:
    t = torch.as_tensor(a, device=device).to(dtype)
    return t[0] if ids is None else t[ids]


def _level_values(x: torch.Tensor, starts: np.ndarray, r: MapRange) -> torch.Tensor:
    """Levels as floats 0..255 (exact integers), one per neuron. Each case runs only if a layer needs it."""
    ids = None if len(starts) == 1 else _layer_ids(starts, x.numel(), x.device)
    f32, f64 = torch.float32, torch.float64
    lev = torch.full_like(x, float(NAN_LEVEL))
    in32 = r.scale32 > 0 if x.dtype == f32 else np.zeros(len(starts), dtype=bool)
    if in32.any():  # float32 data: float32 arithmetic
        lo, hi, s32 = (_per_neuron(a, f32, ids, x.device) for a in (r.lo, r.hi, r.scale32))
        y = torch.round((torch.minimum(torch.maximum(x, lo), hi) - lo) * s32)
        lev = y if in32.all() else torch.where(s32 > 0, y, lev)
    in64 = (r.scale > 0) & ~in32
    if in64.any():  # float64 data, or a float32 range that would overflow
        x64 = x.to(f64)
        lo, hi, s64 = (_per_neuron(a, f64, ids, x.device) for a in (r.lo, r.hi, r.scale))
        y = torch.round((torch.minimum(torch.maximum(x64, lo), hi) - lo) * s64).to(lev.dtype)
        mask = _per_neuron(in64, torch.bool, ids, x.device)
        lev = torch.where(mask, y, lev)
    if (r.scale == 0).any():  # degenerate ranges: a step at lo
        x64, lo = x.to(f64), _per_neuron(r.lo, f64, ids, x.device)
        step = torch.where(x64 < lo, 0.0, torch.where(x64 > lo, float(N_LEVELS - 1), float(MID_LEVEL)))
        mask = _per_neuron(r.scale == 0, torch.bool, ids, x.device)
        lev = torch.where(mask, step.to(lev.dtype), lev)
    return torch.where(torch.isnan(x), float(NAN_LEVEL), lev)


def map_levels(x: torch.Tensor, starts: np.ndarray, r: MapRange, out=None) -> torch.Tensor:
    """Map pass: flat uint8 levels on the tensor's device."""
    lev = _level_values(x, starts, r).to(torch.uint8)
    return lev if out is None else out.copy_(lev)


def map_rgba(x: torch.Tensor, starts: np.ndarray, r: MapRange, lut: np.ndarray, out=None) -> torch.Tensor:
    """Map pass to RGBA8, (n, 4) uint8, through a (256, 4) uint8 ``lut``."""
    table = torch.tensor(np.array(lut, dtype=np.uint8), device=x.device)  # copy: LUTs are read-only
    rgba = table[_level_values(x, starts, r).to(torch.int64)]
    return rgba if out is None else out.copy_(rgba)


def split_levels(lev: torch.Tensor, starts: np.ndarray, signed: np.ndarray) -> torch.Tensor:
    """Each layer's levels to its half of the split table, on the tensor's device (see the reference)."""
    tables = torch.as_tensor(np.array(SPLIT_TABLES), device=lev.device)
    ids = _layer_ids(starts, lev.numel(), lev.device) if len(starts) > 1 else torch.zeros(
        lev.numel(), dtype=torch.int64, device=lev.device)
    which = torch.as_tensor(np.asarray(signed, dtype=np.int64), device=lev.device)[ids]
    return lev.copy_(tables[which, lev.to(torch.int64)])


def interpolate(a, b, t: float, out=None) -> torch.Tensor:
    """``a + (b - a) * t`` in float32; exactly ``a`` at ``t <= 0`` and ``b`` at ``t >= 1``."""
    a = torch.as_tensor(a).to(torch.float32)
    b = torch.as_tensor(b).to(a.device, torch.float32)
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {tuple(a.shape)} and {tuple(b.shape)}")
    if t <= 0 or t >= 1:
        res = (a if t <= 0 else b).clone()
    else:
        res = a + (b - a) * torch.tensor(t, dtype=torch.float32, device=a.device)
    return res if out is None else out.copy_(res)
