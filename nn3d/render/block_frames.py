"""Block frames: each block of the model (``Network.structure``) outlined by a faint band on the ground.

A block of two or more layers gets one band per row it occupies (a fold may split a block only when the user
asks for more rows than the blocks allow): a rectangle just below its layers' boxes (``Layout.boxes``),
spanning their extent along the flow (x) with a little padding, and a narrow strip in depth along their
front side (-y, the side the home camera looks from). From the camera it reads as an underline of the block;
a rectangle under the whole depth of a block would be sheared across its neighbours' by the oblique view.
The frame never crosses the layers themselves. The same visual draws a folded layout's row breaks
(:mod:`nn3d.render.row_breaks`): one routed path per break instead of the edges between rows
(:meth:`BlockFrames.drawn_edges` leaves those out). All of it is one line visual (one draw call), drawn
after the neurons and the edges with the depth test (neurons in front hide it), so it never hides a neuron.
Hidden in the picking pass like every overlay.
"""

from __future__ import annotations

import numpy as np

from ..layout import EdgeSet, Layout
from ..network import Network
from . import row_breaks

COLOUR = (0.62, 0.70, 0.98, 0.55)
"""RGBA of the frames: a pale blue, half transparent (faint against the dark background, apart from the
colormaps' neurons)."""
BREAK_COLOUR = (0.85, 0.87, 0.92, 0.45)
"""RGBA of the row-break paths: a faint grey, like an edge bundle."""
PAD = 0.6
"""Space kept between a block's layers' boxes and its frame, in neuron pitches (boxes already include half a
pitch around the neurons)."""
BAND = 0.3
"""Depth of the band (along y) as a fraction of the block's height (z); at least 2 pitches."""


def frame_boxes(net: Network, layout: Layout) -> np.ndarray:
    """float32 (n, 2, 3): min and max corner of each framed extent: one per block, row and run of consecutive
    levels holding >= 2 of the block's layers."""
    rows = layout.rows if layout.rows is not None else np.zeros(len(net.layers), np.int64)
    levels = layout.levels if layout.levels is not None else np.arange(len(net.layers))
    out = []
    for block in net.structure:
        idx = np.asarray(block.layers, np.int64)
        for r in np.unique(rows[idx]):
            part = idx[rows[idx] == r]
            # runs of consecutive levels: a catch-all block (GPT-2's "transformer": its embeddings and its
            # final norm) is framed where its layers are, not across the blocks between them
            lv = np.unique(levels[part])
            for run in np.split(lv, np.flatnonzero(np.diff(lv) > 1) + 1):
                members = part[np.isin(levels[part], run)]
                if len(members) >= 2:  # a single layer is its own frame
                    out.append((layout.boxes[members, 0].min(axis=0), layout.boxes[members, 1].max(axis=0)))
    return np.asarray(out, np.float32).reshape(-1, 2, 3)


def ground_rectangles(boxes: np.ndarray, pitch: float) -> np.ndarray:
    """float32 (n * 8, 3): line-segment end points of one rectangle per box, for neurons ``pitch`` apart: at
    ``pad`` (:data:`PAD` pitches) below its bottom (z) and beyond its ends along x, in y from ``pad`` in front
    of its front side (min y) back by :data:`BAND` of its height (at least 2 pitches)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 2, 3)
    pad = PAD * pitch
    lo, hi = boxes[:, 0] - pad, boxes[:, 1] + pad
    z = lo[:, 2]
    band = np.maximum(BAND * (boxes[:, 1, 2] - boxes[:, 0, 2]), 2 * pitch)
    front, back = lo[:, 1], lo[:, 1] + band
    corners = np.stack([np.c_[lo[:, 0], front, z], np.c_[hi[:, 0], front, z],
                        np.c_[hi[:, 0], back, z], np.c_[lo[:, 0], back, z]], axis=1)  # (n, 4, 3)
    segments = np.stack([corners, np.roll(corners, -1, axis=1)], axis=2)  # (n, 4 sides, 2 ends, 3)
    return segments.reshape(-1, 3).astype(np.float32)


class BlockFrames:
    """The frames of ``net``'s blocks and the row-break paths in ``view``'s scene: ``node`` (None when there
    is neither), ``boxes`` the framed extents (see :func:`frame_boxes`), ``segments`` their drawn line ends,
    ``breaks`` the row-break paths' line ends (:func:`row_breaks.break_paths`)."""

    def __init__(self, view, net: Network, layout: Layout, colour=COLOUR, break_colour=BREAK_COLOUR):
        self.net, self.layout = net, layout
        self.boxes = frame_boxes(net, layout)
        self.segments = ground_rectangles(self.boxes, layout.pitch)
        self.breaks = row_breaks.break_paths(net, layout)
        self.node = None
        if len(self.segments) or len(self.breaks):
            from vispy import scene

            colours = np.r_[np.tile(np.asarray(colour, np.float32), (len(self.segments), 1)),
                            np.tile(np.asarray(break_colour, np.float32), (len(self.breaks), 1))]
            self.node = scene.visuals.Line(np.r_[self.segments, self.breaks], color=colours, connect="segments",
                                           method="gl", antialias=False, parent=view.scene)
            # depth writes stay on: GL state outlives the draw, and a depth mask left off would keep the next
            # frame's clear from clearing the depth buffer (a 1-px line drawn last hides nothing)
            self.node.set_gl_state(depth_test=True, depth_mask=True, blend=True,
                                   blend_func=("src_alpha", "one_minus_src_alpha"))
            self.node.order = 2  # after the neurons (0) and the edges' layer (1)

    def drawn_edges(self, edges: EdgeSet) -> EdgeSet:
        """The edges to draw: those between rows are left to the row-break paths."""
        return row_breaks.within_rows(self.net, self.layout, edges)

    @property
    def nodes(self) -> list:
        """The nodes to hide in the picking pass."""
        return [] if self.node is None else [self.node]
