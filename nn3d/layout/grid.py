"""First placement: each layer a near-square grid in a plane, planes along the depth axis, centred."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..network import Network


@dataclass(frozen=True)
class Layout:
    """``positions``: float32 (n_neurons, 3). ``boxes``: float32 (n_layers, 2, 3), each layer's min and max
    corner, padded by half a pitch so that neurons drawn as spheres lie inside. ``pitch``: neuron spacing
    in world units, which the renderer uses for the sphere size. ``levels``: int32 (n_layers,) depth of each
    layer in the model's graph (0 for inputs), or None; layers of one level share a depth and sit side by
    side. ``spacing``: float32 (n_layers,) neuron spacing of each layer (>= ``pitch``: small layers are
    spread so that they stay visible next to big ones), or None when every layer uses ``pitch``. ``rows``:
    int32 (n_layers,) the row of each layer when the model is folded into rows (0 on top; see
    :mod:`nn3d.layout.fold`), all 0 when it is not, or None."""

    positions: np.ndarray
    boxes: np.ndarray
    pitch: float = 1.0
    levels: np.ndarray | None = None
    spacing: np.ndarray | None = None
    rows: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        """Number of rows the layout is folded into (1 when not folded)."""
        return 1 if self.rows is None or not len(self.rows) else int(self.rows.max()) + 1

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) min and max corner of the whole scene."""
        return np.stack([self.boxes[:, 0].min(0), self.boxes[:, 1].max(0)])


def grid_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows and columns of a layer's grid: 2-D shapes keep theirs (an image stays an image); anything else
    becomes the nearest square grid, ``cols = ceil(sqrt(n))``."""
    if len(shape) == 2:
        return shape[0], shape[1]
    n = math.prod(shape)
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def grid_layout(net: Network, pitch: float = 1.0, depth_ratio: float = 1.5, min_gap: float = 6.0) -> Layout:
    """Place each layer as a grid in the (y, z) plane at its own depth x, the whole scene centred.

    The gap between consecutive planes is ``max(min_gap, depth_ratio * larger extent)`` pitches.
    """
    grids = [grid_shape(layer.shape) for layer in net.layers]
    extents = np.array([max(r, c) for r, c in grids], dtype=np.float64)
    gaps = np.maximum(min_gap, depth_ratio * np.maximum(extents[:-1], extents[1:]))
    depth = np.r_[0.0, np.cumsum(gaps)] * pitch
    depth -= depth[-1] / 2

    positions = np.empty((net.n_neurons, 3), dtype=np.float32)
    boxes = np.empty((len(net.layers), 2, 3), dtype=np.float32)
    half = pitch / 2
    for i, (layer, (rows, cols)) in enumerate(zip(net.layers, grids)):
        k = np.arange(layer.size)
        row, col = np.divmod(k, cols)
        p = positions[layer.neurons]
        p[:, 0] = depth[i]
        p[:, 1] = (col - (cols - 1) / 2) * pitch
        p[:, 2] = ((rows - 1) / 2 - row) * pitch
        ext = np.array([0.0, (cols - 1) / 2 * pitch, (rows - 1) / 2 * pitch])
        centre = np.array([depth[i], 0.0, 0.0])
        boxes[i, 0] = centre - ext - half
        boxes[i, 1] = centre + ext + half
    return Layout(positions, boxes, pitch)
