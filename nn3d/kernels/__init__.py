"""Activation kernels: per frame, activations become one byte per neuron, a level the shader looks up in
the colormap texture.

Levels ``0 .. 254`` span the normalisation range linearly; ``255`` (:data:`NAN_LEVEL`) marks NaN, which the
colormap texture shows in its own colour. ±inf clamp to the ends of the range. ``reference.py`` in NumPy is
the truth that faster kernels are tested against.
"""

from .reference import MODES, N_LEVELS, NAN_LEVEL, levels, value_range

__all__ = ["MODES", "N_LEVELS", "NAN_LEVEL", "levels", "value_range"]
