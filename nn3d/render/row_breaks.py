"""Row breaks of a folded layout: the flow from the end of one row to the start of the next as one routed path.

A folded model (:mod:`nn3d.layout.fold`) continues, like a line of text, from the right end of row j to the
left end of row j + 1. Drawn as edges, that connection is a band of long lines across the whole picture,
over the rows' activations. Instead the edges between layers of different rows are left out
(:func:`within_rows`) and each break is drawn as one path (:func:`break_paths`): out of the row's last
layer down into the gap between the rows, back left under the row, and down into the next row's first layer,
all outside the layers' boxes, so it never crosses a row's neurons. Pure NumPy;
:mod:`nn3d.render.block_frames` draws the paths with the block frames.
"""

from __future__ import annotations

import numpy as np

from ..layout import EdgeSet, Layout
from ..network import Network


def layer_rows(net: Network, layout: Layout) -> np.ndarray:
    """int64 (n_layers,): each layer's row (all 0 when the layout is not folded)."""
    if layout.rows is None or len(layout.rows) != len(net.layers):
        return np.zeros(len(net.layers), np.int64)
    return np.asarray(layout.rows, np.int64)


def within_rows(net: Network, layout: Layout, edges: EdgeSet) -> EdgeSet:
    """The edges whose two ends lie in layers of one row (all of them when the layout is not folded)."""
    rows = layer_rows(net, layout)
    if len(edges) == 0 or rows.max(initial=0) == 0:
        return edges
    starts = np.asarray(net.starts)
    src_row = rows[np.searchsorted(starts, edges.src, side="right") - 1]
    dst_row = rows[np.searchsorted(starts, edges.dst, side="right") - 1]
    keep = src_row == dst_row
    if keep.all():
        return edges
    return EdgeSet(edges.src[keep], edges.dst[keep], edges.weight[keep], edges.strength[keep], edges.note)


def break_paths(net: Network, layout: Layout) -> np.ndarray:
    """float32 (n_breaks * 6, 3): line-segment end points (3 segments) of one path per break between rows j
    and j + 1: from the bottom of row j's last layer (largest x) down to mid-height of the gap between the two
    rows, along it to above row j + 1's first layer (smallest x), and down to that layer's top."""
    rows = layer_rows(net, layout)
    boxes = np.asarray(layout.boxes, np.float64)
    centre = boxes.mean(axis=1)
    out = []
    for j in range(int(rows.max(initial=0))):
        here, there = np.flatnonzero(rows == j), np.flatnonzero(rows == j + 1)
        if len(here) == 0 or len(there) == 0:
            continue
        a = here[np.argmax(boxes[here, 1, 0])]
        b = there[np.argmin(boxes[there, 0, 0])]
        z = (boxes[here, 0, 2].min() + boxes[there, 1, 2].max()) / 2
        (xa, ya, _), (xb, yb, _) = centre[a], centre[b]
        points = np.array([(xa, ya, boxes[a, 0, 2]), (xa, ya, z), (xb, yb, z), (xb, yb, boxes[b, 1, 2])])
        out.append(np.stack([points[:-1], points[1:]], axis=1).reshape(-1, 3))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 3), np.float32)
