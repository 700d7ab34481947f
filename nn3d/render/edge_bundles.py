"""Edge bundles: one translucent ribbon per connection whose layers are small on screen, instead of its lines.

Between layers a few dozen pixels tall, a connection's selected edges are a tangle of 1-px lines that shows
neither which neurons they join nor how strong the flow is. A *bundle* shows what is left to see: that the two
layers are connected, and how strongly. It is one quad (two triangles) from a band across the source layer's
box to a band across the destination's, both centred on the layers' centres and as tall as a share of the
layer that grows with the connection's summed strength (sum of |score| of its selected edges, normalised
by the strongest connection of the edge set); its opacity grows with it too, and its colour mixes the
edges' two colours by the positive share of that sum.

The edges of one connection are what a bundle stands for: :func:`group` sorts an edge set so that each
connection (a (source layer, destination layer) pair) is one contiguous run, strongest edge first. Per frame,
:func:`nn3d.render.lod.plan` decides from the layers' projected sizes (:func:`projected_extent`) which
connections are bundles and how many of the others' strongest edges fit the screen's segment budget; the
edge visual then draws its lines through an index buffer of those runs' prefixes and every bundle in one
draw call (:class:`BundleDraw`). Pure NumPy up to :class:`BundleDraw`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WIDTH = (0.15, 0.42)
"""Half-height of a bundle's end, as a share of its layer's half-height: for the weakest and the strongest
connection (a bundle never covers a whole layer: the activations stay visible behind it)."""
ALPHA = (0.12, 0.34)
"""Opacity of the weakest and of the strongest bundle."""
EXPONENT = 0.5
"""Width and opacity follow ``(summed strength / strongest) ** EXPONENT``: summed scores span orders of
magnitude between connections, and a square root keeps weak connections readable."""


@dataclass(frozen=True)
class Grouping:
    """An edge set grouped by connection (C connections, E edges).

    ``order`` int64 (E,): the permutation putting the edges in drawing order (each connection one run,
    strongest |score| first); ``start``, ``count`` int64 (C,): each run in that order; ``pairs`` int64 (C, 2):
    each connection's (source, destination) layer, -1 for edges not placed in layers (always lines);
    ``total`` float64 (C,): summed |score| of the run; ``positive`` float64 (C,) in [0, 1]: the share of it
    from positive scores; ``boxes`` float64 (L, 2, 3): min and max corners of the layers' boxes.
    """

    order: np.ndarray
    start: np.ndarray
    count: np.ndarray
    pairs: np.ndarray
    total: np.ndarray
    positive: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @property
    def norm(self) -> np.ndarray:
        """float64 (C,): each connection's summed strength over the strongest one's, in [0, 1]."""
        peak = float(self.total.max(initial=0.0))
        return self.total / peak if peak > 0 else np.zeros(len(self.total))


def group(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, starts=None, boxes=None) -> Grouping:
    """Group edges (global neuron indices ``src``, ``dst``; signed scores ``weight``) by connection.

    ``starts`` (each layer's first neuron) and ``boxes`` ((L, 2, 3) layer boxes) place the edges in layers;
    without them every edge belongs to one connection that is never a bundle.
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    w = np.nan_to_num(np.asarray(weight, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    mag = np.abs(w)
    if starts is None or boxes is None:
        key = np.zeros(len(src), np.int64)
        ls = ld = np.full(len(src), -1, np.int64)
        boxes = np.zeros((0, 2, 3))
    else:
        starts = np.asarray(starts, np.int64)
        ls = np.searchsorted(starts, src, side="right") - 1
        ld = np.searchsorted(starts, dst, side="right") - 1
        key = ls * len(starts) + ld
    order = np.lexsort((-mag, key))
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    count = np.diff(np.r_[first, len(key)])
    total = np.add.reduceat(mag[order], first) if len(first) else np.zeros(0)
    pos = np.add.reduceat(np.where(w > 0, mag, 0.0)[order], first) if len(first) else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        positive = np.where(total > 0, pos / np.where(total > 0, total, 1.0), 0.5)
    pairs = np.stack([ls[order][first], ld[order][first]], axis=1) if len(first) else np.zeros((0, 2), np.int64)
    return Grouping(order, first.astype(np.int64), count.astype(np.int64), pairs.astype(np.int64), total,
                    positive, np.asarray(boxes, np.float64).reshape(-1, 2, 3))


def projected_extent(boxes: np.ndarray, to_canvas: np.ndarray) -> np.ndarray:
    """float64 (L,): the larger side, in canvas pixels, of each box's projected bounding rectangle; ``inf``
    for a box reaching behind the camera (it is large on screen). ``to_canvas`` is the 4x4 visual-to-canvas
    matrix in VisPy's row-vector convention (``p_canvas = p @ M``, homogeneous)."""
    box = np.asarray(boxes, np.float64).reshape(-1, 2, 3)
    sel = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    corners = box[:, sel, [0, 1, 2]]  # (L, 8, 3)
    h = np.concatenate([corners, np.ones(corners.shape[:-1] + (1,))], axis=-1) @ np.asarray(to_canvas, np.float64)
    w = h[..., 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = h[..., :2] / w[..., None]
        extent = (xy.max(axis=1) - xy.min(axis=1)).max(axis=1)
    extent[(w <= 0).any(axis=1)] = np.inf
    return extent


VERTEX = np.dtype([("a_position", np.float32, 3), ("a_positive", np.float32), ("a_alpha", np.float32)])
"""One vertex of a bundle's quad: world position, positive share of the connection's summed score (mixes
the negative and positive edge colours), opacity."""


def ribbon_ends(g: Grouping, which: np.ndarray) -> np.ndarray:
    """float64 (B, 2, 2, 3): for each chosen connection (``which``: indices), its source and destination end,
    each as (bottom, top) points: the layer box's centre, up and down by the bundle's half-height (a share
    :data:`WIDTH` of the box's half-height, growing with the summed strength) along z."""
    idx = np.asarray(which, np.int64)
    t = g.norm[idx] ** EXPONENT
    share = WIDTH[0] + (WIDTH[1] - WIDTH[0]) * t
    out = np.empty((len(idx), 2, 2, 3))
    for end in (0, 1):
        box = g.boxes[g.pairs[idx, end]]  # (B, 2, 3)
        centre = box.mean(axis=1)
        half = (box[:, 1, 2] - box[:, 0, 2]) / 2 * share
        out[:, end, 0], out[:, end, 1] = centre, centre
        out[:, end, 0, 2] -= half
        out[:, end, 1, 2] += half
    return out


def bundle_alpha(g: Grouping, which: np.ndarray) -> np.ndarray:
    """float64 (B,): the opacity of each chosen connection's bundle (:data:`ALPHA`, growing with strength)."""
    return ALPHA[0] + (ALPHA[1] - ALPHA[0]) * g.norm[np.asarray(which, np.int64)] ** EXPONENT


def ribbon_vertices(g: Grouping, which: np.ndarray) -> np.ndarray:
    """Two triangles per chosen connection, as a :data:`VERTEX` array (6 per bundle)."""
    idx = np.asarray(which, np.int64)
    ends = ribbon_ends(g, idx)
    corners = ends.reshape(len(idx), 4, 3)  # src bottom, src top, dst bottom, dst top
    tri = np.array([0, 1, 2, 2, 1, 3])
    out = np.empty((len(idx), 6), VERTEX)
    out["a_position"] = corners[:, tri]
    out["a_positive"] = g.positive[idx, None]
    out["a_alpha"] = bundle_alpha(g, idx)[:, None]
    return out.reshape(-1)


class BundleDraw:
    """The bundles of one edge visual: a program (``shaders/edge_bundle.*``) and one vertex buffer, rebuilt
    only when the set of bundles changes; :meth:`draw` is one draw call for all of them, in the GL state the
    caller set (the edges': depth test, no depth writes, blended)."""

    def __init__(self, pos_color, neg_color):
        from vispy import gloo

        from .shaders import load

        self.program = gloo.Program(load("edge_bundle.vert"), load("edge_bundle.frag"))
        self.buffer = gloo.VertexBuffer(np.zeros(6, VERTEX))
        self.program.bind(self.buffer)
        self.program["u_pos_color"] = pos_color
        self.program["u_neg_color"] = neg_color
        self.n_vertices = 0
        self._key = None

    def set_bundles(self, g: Grouping, which: np.ndarray, key) -> None:
        """Draw the connections ``which`` (indices into ``g``) as bundles; ``key`` names the set (nothing is
        uploaded when it is the last one's)."""
        if key == self._key:
            return
        self._key = key
        verts = ribbon_vertices(g, which)
        self.n_vertices = len(verts)
        if len(verts):
            self.buffer.set_data(verts)
            self.program.bind(self.buffer)

    def draw(self, to_render: np.ndarray) -> None:
        """Draw every bundle; ``to_render``: the 4x4 visual-to-render matrix (row-vector convention)."""
        if self.n_vertices == 0:
            return
        self.program["u_transform"] = np.asarray(to_render, np.float32)
        self.program.draw("triangles")
