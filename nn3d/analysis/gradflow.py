"""Gradient flow over training: each layer's gradient norm at each recorded step. Plain NumPy.

The norm is the L2 norm of ∂loss/∂activation over a layer's neurons (:attr:`nn3d.activations.Activations.grads`),
one value per layer and frame. Vanishing gradients show as layers whose norm falls by orders of magnitude
towards the input, exploding ones the other way: the panel (:mod:`nn3d.render.panels`) draws the
layers x steps grid in a log colour scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..activations import Activations
from ..network import Network, NetworkError
from .units import CHUNK

NO_GRADS = ("no recorded gradients: record them with TrainingRecorder(..., grads=True) or "
            "nn3d.from_torch(model, x, loss_fn=..., target=...)")


@dataclass(frozen=True)
class GradFlow:
    """``norms``: float64 (n_layers, n_frames), the L2 norm of each layer's ∂loss/∂a at each frame (NaN where a
    gradient is not finite); ``steps``: (n_frames,) the training step (or frame number) of each column;
    ``layers``: the layers' names, one per row."""

    norms: np.ndarray
    steps: np.ndarray
    layers: tuple[str, ...]

    def log_norms(self, floor: float | None = None) -> np.ndarray:
        """log10 of :attr:`norms`, a zero norm at ``floor`` (default: a decade under the smallest non-zero)."""
        v = np.asarray(self.norms, np.float64)
        positive = v[np.isfinite(v) & (v > 0)]
        if floor is None:
            floor = float(positive.min()) / 10 if positive.size else 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.isfinite(v), np.log10(np.maximum(v, floor)), np.nan)


def layer_grad_norms(net: Network, grads: np.ndarray) -> np.ndarray:
    """float64 (n_layers, n_frames): the L2 norm over each layer's neurons of ``grads`` (frames, n_neurons),
    read a chunk of frames at a time (a memory-mapped recording is streamed)."""
    n_frames = grads.shape[0]
    starts = np.asarray([la.start for la in net.layers], np.int64)
    out = np.zeros((len(net.layers), n_frames))
    step = max(1, CHUNK // max(grads.shape[1], 1))
    for f0 in range(0, n_frames, step):
        g = np.asarray(grads[f0:f0 + step], np.float64)
        out[:, f0:f0 + step] = np.sqrt(np.add.reduceat(g * g, starts, axis=1)).T
    return out


def gradflow(net: Network, acts: Activations | None, steps: np.ndarray | None = None) -> GradFlow:
    """The :class:`GradFlow` of ``acts.grads``; ``steps`` label the frames (default 0..n_frames-1).
    :class:`~nn3d.network.NetworkError` when no gradients were recorded."""
    if acts is None or acts.grads is None:
        raise NetworkError(f"{net.name} has {NO_GRADS}")
    steps = np.arange(acts.n_frames) if steps is None else np.asarray(steps)[: acts.n_frames]
    return GradFlow(layer_grad_norms(net, acts.grads), steps, tuple(la.name for la in net.layers))
