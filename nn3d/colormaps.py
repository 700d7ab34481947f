"""Colormaps as lookup tables for the shader: 256 RGBA8 texels, levels 0..254 from VisPy's colormap,
texel 255 the NaN colour. Kept out of the core because ``vispy.color`` imports VisPy's GL module.

The tables come from VisPy's colormaps (``viridis``, ``coolwarm``, ``RdBu``, ``diverging``, ...) and, when
matplotlib is installed, from matplotlib's through VisPy (``magma``, ``inferno``, ``plasma``, ``cividis``,
``RdYlBu``, ...): no table is written by hand. A ``_r`` suffix reverses a map. Diverging maps pair with
``levels(..., symmetric=True)``, which puts zero on the middle level; :func:`is_diverging` says which.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import numpy as np

from .kernels import N_LEVELS, NAN_LEVEL, ROBUST_PERCENTILE
from .kernels.normalize import DIV_BASE, SEQ_TOP

NAN_COLOR = (128, 128, 128, 255)
PERCEPTUAL = ("viridis", "magma", "inferno", "plasma", "cividis")
DIVERGING = ("coolwarm", "RdBu", "diverging", "PuGr", "GrBu", "GrBu_d", "RdYlBu", "RdYlGn", "BrBG", "PiYG",
             "PRGn", "PuOr", "RdGy", "Spectral", "bwr", "seismic")
_MATPLOTLIB = ("magma", "inferno", "plasma", "cividis", "RdYlBu", "RdYlGn", "BrBG", "PiYG", "PRGn", "PuOr",
               "RdGy", "Spectral", "bwr", "seismic")


def available() -> list[str]:
    """Names :func:`lut` accepts here (each also with ``_r``): VisPy's, plus matplotlib's when installed."""
    from vispy.color import get_colormaps

    names = set(get_colormaps())
    if importlib.util.find_spec("matplotlib") is not None:
        names.update(_MATPLOTLIB)
    return sorted(names)


def is_diverging(name: str) -> bool:
    """Whether ``name`` (or its ``_r`` reverse) is a diverging map, best used with a symmetric range."""
    return name.removesuffix("_r") in DIVERGING


@lru_cache(maxsize=32)
def _lut(name: str, nan_color: tuple[int, int, int, int]) -> np.ndarray:
    from vispy.color import get_colormap

    base = name.removesuffix("_r")
    if base not in available():
        raise ValueError(f"unknown colormap {name!r}; choose one of {available()}")
    rgba = np.asarray(get_colormap(base).map(np.linspace(0.0, 1.0, N_LEVELS)[:, None]))
    if base != name:
        rgba = rgba[::-1]
    lut = np.empty((N_LEVELS + 1, 4), dtype=np.uint8)
    lut[:N_LEVELS] = np.rint(np.clip(rgba, 0, 1) * 255)
    lut[NAN_LEVEL] = nan_color
    lut.setflags(write=False)
    return lut


def lut(name: str = "viridis", nan_color: tuple[int, int, int, int] = NAN_COLOR) -> np.ndarray:
    """(256, 4) uint8 RGBA table: ``lut[level]`` is the colour the shader draws for that level.

    Read-only and cached; pass it to :func:`nn3d.kernels.rgba` for colours on the CPU.
    """
    return _lut(name, tuple(int(c) for c in nan_color))


@lru_cache(maxsize=16)
def _split_lut(sequential: str, diverging: str, nan_color: tuple[int, int, int, int]) -> np.ndarray:
    out = np.empty((N_LEVELS + 1, 4), dtype=np.uint8)
    seq, div = _lut(sequential, nan_color), _lut(diverging, nan_color)
    # resample each 255-level map to its half: 128 sequential texels, 127 diverging (centre texel 191 = 0.5)
    out[: SEQ_TOP + 1] = seq[np.rint(np.linspace(0, N_LEVELS - 1, SEQ_TOP + 1)).astype(int)]
    out[DIV_BASE:N_LEVELS] = div[np.rint(np.linspace(0, N_LEVELS - 1, N_LEVELS - DIV_BASE)).astype(int)]
    out[NAN_LEVEL] = nan_color
    out.setflags(write=False)
    return out


def split_lut(sequential: str = "viridis", diverging: str = "coolwarm",
              nan_color: tuple[int, int, int, int] = NAN_COLOR) -> np.ndarray:
    """(256, 4) uint8 table holding two maps: ``sequential`` in levels 0..127, ``diverging`` in 128..254
    (its centre at 191), NaN at 255. Pairs with ``levels(..., split=True)``: each layer's rule is data (its
    levels' half), so the shader still looks up one byte per neuron in one texture."""
    return _split_lut(sequential, diverging, tuple(int(c) for c in nan_color))


def colour_rule(signed: bool, percentile: float | None = ROBUST_PERCENTILE) -> str:
    """The colour bar's words for a layer's rule: diverging (centred at 0) or sequential, and its range."""
    rng = "min–max" if not percentile else f"{percentile:g}–{100 - percentile:g}th pct"
    return f"diverging, centred at 0, {rng}" if signed else f"sequential, {rng}"


def half(lut_table: np.ndarray, signed: bool) -> np.ndarray:
    """The part of a split table a layer uses (for its colour bar): (n, 4) uint8."""
    return lut_table[DIV_BASE:N_LEVELS] if signed else lut_table[: SEQ_TOP + 1]
