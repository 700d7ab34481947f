"""The home view's azimuth for a layout: turned from face-on just enough that consecutive layers stand apart.

The home camera (:data:`nn3d.camera_pose.VIEWS` "home") looks at the layers nearly face-on, so that an image layer
reads as an image. For a model whose layers are about as wide as the gaps between them (an MLP of equal
widths, the digits demo), consecutive layers then overlap on screen, one hiding part of the other. A smaller
azimuth looks more along the layers' planes: in orthographic projection level ``k + 1`` stands clear of
level ``k`` when ``tan a <= gap_x / overlap_y`` (the gap between them along the flow, the overlap of their
extents across it). :func:`separating_azimuth` turns the view to the largest such azimuth, with a margin for
the neurons' sprites and perspective (measured on the demo's MLP), but not below :data:`FLOOR`: models
whose layers are much wider than their gaps (ResNets, transformers) cannot be separated at a face-on angle
and keep the home azimuth. Pure NumPy.
"""

from __future__ import annotations

import math

import numpy as np

FLOOR = 33.0
"""Degrees: the home view turns no further from face-on than this; past it, it keeps its own azimuth."""
MARGIN = 1.4
"""The overlap counted this much larger: sprites reach past the neurons' centres and perspective draws the
nearer layer of two larger (with 1.4 the digits demo's first two layers' sprites stand ~20 px apart at
1600x1000)."""


def separating_azimuth(layout, azimuth: float, floor: float = FLOOR) -> float:
    """The azimuth (degrees) at most ``azimuth`` at which no two consecutive levels of a row of ``layout``
    overlap on screen; ``azimuth`` itself when that needs less than ``floor``."""
    boxes = np.asarray(layout.boxes, float)
    if layout.levels is None or len(boxes) < 2:
        return azimuth
    levels = np.asarray(layout.levels)
    rows = np.zeros(len(boxes), int) if layout.rows is None else np.asarray(layout.rows)
    limit = 90.0
    for r in np.unique(rows):
        here = rows == r
        lv = np.unique(levels[here])
        lo = np.array([boxes[here & (levels == v), 0].min(axis=0) for v in lv])
        hi = np.array([boxes[here & (levels == v), 1].max(axis=0) for v in lv])
        order = np.argsort(lo[:, 0])
        lo, hi = lo[order], hi[order]
        gap = lo[1:, 0] - hi[:-1, 0]
        over = MARGIN * (hi[:-1, 1] - lo[1:, 1])
        for g, o in zip(gap, over):
            if o > 0:
                limit = min(limit, math.degrees(math.atan2(max(g, 0.0), o)))
    if limit < floor:
        return azimuth
    return min(azimuth, limit)
