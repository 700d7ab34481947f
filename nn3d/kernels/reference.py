"""NumPy reference of the activation-to-level pass: slow, obvious, and the truth for the other kernels."""

from __future__ import annotations

import numpy as np

N_LEVELS = 255  # levels 0..254 for values
NAN_LEVEL = 255
MODES = ("layer", "global")


def value_range(values: np.ndarray) -> tuple[float, float]:
    """Min and max of the finite values; (0, 0) when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def _levels_in_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    out = np.empty(values.shape, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        if hi > lo:
            t = (np.clip(values, lo, hi).astype(np.float64) - lo) / (hi - lo)
            out[...] = np.rint(t * (N_LEVELS - 1)).clip(0, N_LEVELS - 1).astype(np.uint8)
        else:  # constant (or no finite value): the middle of the map, ±inf at its ends
            out[...] = (N_LEVELS - 1) // 2
            out[values == np.inf] = N_LEVELS - 1
            out[values == -np.inf] = 0
    out[np.isnan(values)] = NAN_LEVEL
    return out


def levels(values: np.ndarray, starts: np.ndarray | None = None, mode: str = "layer") -> np.ndarray:
    """Map one frame of activations (float, (n_neurons,)) to uint8 levels.

    ``mode="layer"`` normalises each layer (neurons ``starts[i] .. starts[i+1]-1``) to its own finite
    min..max, so that small and large layers both use the whole colormap; ``"global"`` uses one range.
    """
    if mode not in MODES:
        raise ValueError(f"unknown normalisation {mode!r}; choose one of {MODES}")
    values = np.asarray(values)
    if mode == "global" or starts is None:
        return _levels_in_range(values, *value_range(values))
    out = np.empty(values.shape, dtype=np.uint8)
    bounds = np.r_[np.asarray(starts, dtype=np.int64), values.shape[0]]
    for a, b in zip(bounds[:-1], bounds[1:]):
        out[a:b] = _levels_in_range(values[a:b], *value_range(values[a:b]))
    return out
