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

from .kernels import N_LEVELS, NAN_LEVEL

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
