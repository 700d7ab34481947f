"""``Layout``: what :func:`nn3d.layout.layout` returns, every neuron's position and every layer's box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layout:
    """``positions``: float32 (n_neurons, 3). ``boxes``: float32 (n_layers, 2, 3), each layer's min and max
    corner, padded by half a pitch so that neurons drawn as spheres lie inside. ``pitch``: neuron spacing
    in world units, which the renderer uses for the sphere size. ``levels``: int32 (n_layers,) depth of each
    layer in the model's graph (0 for inputs), or None; layers of one level share a depth and sit side by
    side. ``spacing``: float32 (n_layers,) neuron spacing of each layer (>= ``pitch``: small layers are
    spread so that they stay visible next to big ones), or None when every layer uses ``pitch``. ``rows``:
    int32 (n_layers,) the row of each layer when the model is folded into rows (0 on top; see
    :mod:`nn3d.layout.fold`), all 0 when it is not, or None. ``ip`` int64 (n_layers, 8) and ``fp`` float64
    (n_layers, 7): each layer's placement parameters (tiling, origin, spacing; see
    :func:`nn3d.layout.placement.pack`), from which every neuron's position follows, or None."""

    positions: np.ndarray
    boxes: np.ndarray
    pitch: float = 1.0
    levels: np.ndarray | None = None
    spacing: np.ndarray | None = None
    rows: np.ndarray | None = None
    ip: np.ndarray | None = None
    fp: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        """Number of rows the layout is folded into (1 when not folded)."""
        return 1 if self.rows is None or not len(self.rows) else int(self.rows.max()) + 1

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) min and max corner of the whole scene."""
        return np.stack([self.boxes[:, 0].min(0), self.boxes[:, 1].max(0)])
