"""Block frames: each block of the model (``Network.structure``) outlined by a faint rectangle on the ground.

A block of two or more layers gets one rectangle per row it occupies (a fold may split a block only when the
user asks for more rows than the blocks allow), lying just below its layers' boxes (``Layout.boxes``) and
padded around them: from the home camera it reads as a thin band under the block, so the frame never
crosses the layers themselves. All rectangles are one line visual (one draw call), drawn after the neurons
and the edges with the depth test (neurons in front hide it), so it never hides a neuron. Hidden in the
picking pass like every overlay.
"""

from __future__ import annotations

import numpy as np

from ..layout import Layout
from ..network import Network

COLOUR = (0.62, 0.70, 0.98, 0.55)
"""RGBA of the frames: a pale blue, half transparent (faint against the dark background, apart from the
colormaps' neurons)."""
PAD = 0.6
"""Space kept between a block's layers' boxes and its frame, in neuron pitches (boxes already include half a
pitch around the neurons)."""


def frame_boxes(net: Network, layout: Layout) -> np.ndarray:
    """float32 (n, 2, 3): min and max corner of each framed extent: one per block of >= 2 layers and row."""
    rows = layout.rows if layout.rows is not None else np.zeros(len(net.layers), np.int64)
    out = []
    for block in net.structure:
        idx = np.asarray(block.layers, np.int64)
        if len(idx) < 2:
            continue  # a single layer is its own frame
        for r in np.unique(rows[idx]):
            part = idx[rows[idx] == r]
            out.append((layout.boxes[part, 0].min(axis=0), layout.boxes[part, 1].max(axis=0)))
    return np.asarray(out, np.float32).reshape(-1, 2, 3)


def ground_rectangles(boxes: np.ndarray, pad: float) -> np.ndarray:
    """float32 (n * 8, 3): line-segment end points of one rectangle per box, ``pad`` around it in x and y, at
    ``pad`` below its bottom (z)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 2, 3)
    lo, hi = boxes[:, 0] - pad, boxes[:, 1] + pad
    z = lo[:, 2]
    corners = np.stack([np.c_[lo[:, 0], lo[:, 1], z], np.c_[hi[:, 0], lo[:, 1], z],
                        np.c_[hi[:, 0], hi[:, 1], z], np.c_[lo[:, 0], hi[:, 1], z]], axis=1)  # (n, 4, 3)
    segments = np.stack([corners, np.roll(corners, -1, axis=1)], axis=2)  # (n, 4 sides, 2 ends, 3)
    return segments.reshape(-1, 3).astype(np.float32)


class BlockFrames:
    """The frames of ``net``'s blocks in ``view``'s scene: ``node`` (None when no block has two layers),
    ``boxes`` the framed extents (see :func:`frame_boxes`), ``segments`` their drawn line ends."""

    def __init__(self, view, net: Network, layout: Layout, colour=COLOUR):
        self.boxes = frame_boxes(net, layout)
        self.segments = ground_rectangles(self.boxes, PAD * layout.pitch)
        self.node = None
        if len(self.boxes):
            from vispy import scene

            self.node = scene.visuals.Line(self.segments, color=colour, connect="segments", method="gl",
                                           antialias=False, parent=view.scene)
            # depth writes stay on: GL state outlives the draw, and a depth mask left off would keep the next
            # frame's clear from clearing the depth buffer (a 1-px line drawn last hides nothing)
            self.node.set_gl_state(depth_test=True, depth_mask=True, blend=True,
                                   blend_func=("src_alpha", "one_minus_src_alpha"))
            self.node.order = 2  # after the neurons (0) and the edges' layer (1)

    @property
    def nodes(self) -> list:
        """The nodes to hide in the picking pass."""
        return [] if self.node is None else [self.node]
