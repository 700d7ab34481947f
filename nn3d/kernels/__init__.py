"""Activation kernels: per frame, activations become one byte per neuron, a level the shader looks up in
the colormap texture (or RGBA8 when the caller wants colours on the CPU).

Levels ``0 .. 254`` span the normalisation range linearly; ``255`` (:data:`NAN_LEVEL`) marks NaN, which the
colormap texture shows in its own colour. ±inf clamp to the ends of the range. Each frame is two passes at
most: a range pass (per-layer finite min/max, a reduction) and a map pass (one read, one write); a fixed
range skips the first. The small per-layer arithmetic between them (symmetric, running, fixed ranges) is
shared NumPy in ``normalize.py``, so every kernel maps with the very same parameters.

``reference.py`` (NumPy) is the truth; ``cpu.py`` (Numba ``prange``), ``torch.py`` (CUDA and CPU) and
``cuda.py`` (numba.cuda) are tested against it bit for bit. :func:`levels`, :func:`rgba` and
:func:`interpolate` pick the fastest kernel for the array they are given (the NumPy reference for a small host
frame: no compiler wait); ``kernel=`` forces one.
Nothing here imports VisPy or OpenGL; colormap tables live in :mod:`nn3d.colormaps`.
"""

from .dispatch import KERNELS, available_kernels, choose_kernel, interpolate, levels, ranges, rgba
from .normalize import (
    DIV_MID,
    MID_LEVEL,
    MODES,
    N_LEVELS,
    NAN_LEVEL,
    ROBUST_PERCENTILE,
    MapRange,
    RunningRange,
    signed_layers,
)
from .reference import value_range

__all__ = [
    "DIV_MID", "KERNELS", "MID_LEVEL", "ROBUST_PERCENTILE", "MODES",
    "N_LEVELS", "NAN_LEVEL", "MapRange", "RunningRange",
    "available_kernels", "choose_kernel", "interpolate", "levels", "ranges", "rgba", "signed_layers", "value_range",
]
