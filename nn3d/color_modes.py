"""Colour modes: which per-neuron quantity the level kernels turn into colours, in one registry.

``activation`` colours by the recorded activations (the default); ``gradient`` by ∂loss/∂activation and
``grad×act`` by their product (a first-order estimate of each neuron's share of the loss), both recorded in
:attr:`nn3d.activations.Activations.grads`. A gradient mode is signed by nature: its layers use a diverging
colormap with a symmetric, per-layer robust range (zero on the map's middle level, see
:func:`nn3d.kernels.normalize.symmetric`), so that a layer's own gradients read however small they are.

The explorer, shots and videos all go through :func:`color_mode`, :func:`check_color` and
:func:`frame_values`: one owner for what each mode colours and how it is normalised. Plain NumPy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .activations import Activations
from .colormaps import is_diverging
from .kernels import ROBUST_PERCENTILE
from .network import NetworkError

DIVERGING_DEFAULT = "coolwarm"  # a gradient mode's colormap when the one asked for is sequential
GRADS_HOW = ("record them with nn3d.from_torch(model, x, loss_fn=..., target=...) or "
             "TrainingRecorder(..., grads=True)")


def _activation(acts: Activations, frame: int) -> np.ndarray:
    return np.asarray(acts.values[frame], np.float32)


def _gradient(acts: Activations, frame: int) -> np.ndarray:
    return np.asarray(acts.grads[frame], np.float32)


def _grad_x_act(acts: Activations, frame: int) -> np.ndarray:
    return np.asarray(acts.grads[frame], np.float32) * np.asarray(acts.values[frame], np.float32)


@dataclass(frozen=True)
class ColorMode:
    """One colour mode. ``name``: how titles, the HUD and the colour bar write it; ``aliases``: other spellings
    the command line accepts; ``values(acts, frame)``: the float32 (n_neurons,) array coloured; ``grads``: it
    needs recorded gradients; ``diverging``: centred at zero, every layer symmetric (diverging colormap)."""

    name: str
    values: Callable[[Activations, int], np.ndarray]
    grads: bool = False
    diverging: bool = False
    aliases: tuple[str, ...] = ()

    def colormap(self, requested: str) -> str:
        """The colormap this mode draws with when ``requested`` is asked for: a diverging mode keeps a
        diverging ``requested`` map and replaces a sequential one by :data:`DIVERGING_DEFAULT`."""
        return requested if not self.diverging or is_diverging(requested) else DIVERGING_DEFAULT

    @property
    def percentile(self) -> float:
        """The per-layer robust range: ``p``-th to ``(100 - p)``-th percentile, made symmetric when diverging."""
        return ROBUST_PERCENTILE


COLOR_MODES: dict[str, ColorMode] = {m.name: m for m in (
    ColorMode("activation", _activation),
    ColorMode("gradient", _gradient, grads=True, diverging=True, aliases=("grad",)),
    ColorMode("grad×act", _grad_x_act, grads=True, diverging=True, aliases=("gradxact", "grad*act", "gradact")),
)}
"""Every colour mode by its display name, the default first."""


def color_mode(text: str | ColorMode) -> ColorMode:
    """The mode named ``text`` (its name or an alias, any case); ValueError with the choices otherwise."""
    if isinstance(text, ColorMode):
        return text
    key = str(text).strip().lower()
    for mode in COLOR_MODES.values():
        if key == mode.name or key in mode.aliases:
            return mode
    raise ValueError(f"unknown colour mode {text!r}; choose one of activation, gradient, gradxact (grad*act)")


def check_color(mode: str | ColorMode, acts: Activations | None) -> ColorMode:
    """``mode`` resolved, after checking ``acts`` holds what it colours: a gradient mode without recorded
    gradients raises :class:`~nn3d.network.NetworkError` saying how to record them."""
    mode = color_mode(mode)
    if mode.grads and (acts is None or acts.grads is None):
        raise NetworkError(f"--color {mode.name} needs recorded gradients (∂loss/∂activation), and these "
                           f"activations have none: {GRADS_HOW}")
    return mode


def frame_values(acts: Activations, mode: str | ColorMode, frame: int) -> np.ndarray:
    """The float32 (n_neurons,) array that colours frame ``frame`` in ``mode``."""
    return check_color(mode, acts).values(acts, frame)
