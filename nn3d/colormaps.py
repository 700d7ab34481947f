"""Colormaps as lookup tables for the shader: 256 RGBA8 texels, levels 0..254 from VisPy's colormap,
texel 255 the NaN colour. Kept out of the core because ``vispy.color`` imports VisPy's GL module."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .kernels import N_LEVELS, NAN_LEVEL

NAN_COLOR = (128, 128, 128, 255)


@lru_cache(maxsize=16)
def _lut(name: str, nan_color: tuple[int, int, int, int]) -> np.ndarray:
    from vispy.color import get_colormap, get_colormaps

    if name not in get_colormaps():
        raise ValueError(f"unknown colormap {name!r}; choose one of {sorted(get_colormaps())}")
    rgba = get_colormap(name).map(np.linspace(0.0, 1.0, N_LEVELS))
    lut = np.empty((N_LEVELS + 1, 4), dtype=np.uint8)
    lut[:N_LEVELS] = np.rint(np.clip(rgba, 0, 1) * 255)
    lut[NAN_LEVEL] = nan_color
    lut.setflags(write=False)
    return lut


def lut(name: str = "viridis", nan_color: tuple[int, int, int, int] = NAN_COLOR) -> np.ndarray:
    """(256, 4) uint8 RGBA table: ``lut[level]`` is the colour the shader draws for that level."""
    return _lut(name, tuple(nan_color))
