"""Level of detail set by the screen: how many edges a frame of a given size draws, and how.

Edges are drawn to show where activity flows, over the neurons that show what it is; past a density the
lines form a slab that hides the neurons. The budget is a number of edges per pixel of the frame, so a
bigger frame shows more and a thumbnail fewer, whatever the model's size (the per-layer share is
:func:`nn3d.layout.select_edges`'s job). Per frame, :func:`plan` draws each connection between two layers small
on screen as one bundle (:mod:`nn3d.render.edge_bundles`) and the others as lines, at most
:func:`segment_budget` of them, each connection keeping its strongest edges in proportion. Pure NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EDGES_PER_PIXEL = 1 / 500
"""Default edge density: at 1280x720 about 1,800 edges, which leave >= 90 % of the neuron pixels of the
gallery models visible (benchmarks/legibility.py) while still covering a few per cent of the frame."""
MIN_EDGES = 500
"""Small frames still draw this many: a small model's every edge (the digits MLP has ~500)."""


def edge_budget(size, per_pixel: float = EDGES_PER_PIXEL) -> int:
    """The default number of edges for a frame of ``size`` (width, height) pixels: ``per_pixel`` edges per
    pixel, at least :data:`MIN_EDGES`."""
    w, h = (int(v) for v in size)
    if w <= 0 or h <= 0:
        raise ValueError(f"frame size must be positive, not {w}x{h}")
    return max(MIN_EDGES, int(w * h * per_pixel))


FEW_EDGES_ALPHA, MANY_EDGES_ALPHA = 0.6, 0.15
"""Opacity of the strongest edge when a few hundred edges are drawn (each line reads on its own) and when
thousands are (they overlap: low alpha builds up density instead of an opaque slab)."""


def edge_alpha(n_edges: int) -> float:
    """The strongest edge's opacity for ``n_edges`` drawn: :data:`FEW_EDGES_ALPHA` up to :data:`MIN_EDGES`,
    then falling as n^-0.75 down to :data:`MANY_EDGES_ALPHA`: the total ink of the edges grows slowly with
    their number (as 1/n it stayed even, and once the fold's row breaks stopped drawing long lines across the
    picture, the default shots of GPT-2 and ViT showed edges on under 2 % of the frame)."""
    n = max(int(n_edges), 1)
    return float(min(FEW_EDGES_ALPHA, max(MANY_EDGES_ALPHA, FEW_EDGES_ALPHA * (MIN_EDGES / n) ** ALPHA_FALL)))


ALPHA_FALL = 0.75
"""How fast :func:`edge_alpha` falls with the number of edges (1: the total ink stays even)."""


LINES_MIN_SCREEN = 0.2
"""A connection is drawn as lines when one of its layers projects at least this share of the canvas's smaller
side (its box's larger projected side, :func:`nn3d.render.edge_bundles.projected_extent`); between two layers
smaller than that, as one bundle (a digit classifier's 10 outputs still get lines from the large layer before
them: they read). A share, not pixels: the same view gives the same split in a thumbnail, a window and a 4K shot."""


def segment_budget(size, per_pixel: float = EDGES_PER_PIXEL) -> int:
    """The most line segments a frame of ``size`` (width, height) canvas pixels draws: the edge density of
    :func:`edge_budget`, whatever the edge set holds (a larger ``budget`` asked of the selection is cut to it)."""
    return edge_budget(size, per_pixel)


@dataclass(frozen=True)
class EdgePlan:
    """How one frame draws an edge set's C connections. ``lines`` bool (C,): drawn as lines (else as one
    bundle); ``count`` int64 (C,): how many of its strongest edges a line connection draws (0 for bundles)."""

    lines: np.ndarray
    count: np.ndarray

    @property
    def segments(self) -> int:
        """Line segments drawn."""
        return int(self.count.sum())

    @property
    def bundles(self) -> int:
        """Bundles drawn."""
        return int((~self.lines).sum())


def plan(extent: np.ndarray, pairs: np.ndarray, count: np.ndarray, total: np.ndarray, size,
         budget: int | None = None, min_screen: float = LINES_MIN_SCREEN) -> EdgePlan:
    """The frame's :class:`EdgePlan` for connections between layers ``pairs`` (int64 (C, 2); -1: not in a
    layer, always lines) holding ``count`` edges of summed strength ``total`` each, when the layers project
    ``extent`` canvas pixels (float (L,)) on a canvas of ``size``.

    Connections with a layer large on screen are lines, those between two small layers bundles. When the lines would
    exceed ``budget`` segments (default :func:`segment_budget` of ``size``), each line connection keeps its
    strongest edges in proportion to its count, at least one; if even one each is too many, the weakest
    connections (by ``total``) become bundles: no connection is ever dropped.
    """
    pairs, count = np.asarray(pairs, np.int64).reshape(-1, 2), np.asarray(count, np.int64)
    budget = segment_budget(size) if budget is None else max(int(budget), 0)
    extent = np.asarray(extent, np.float64)
    placed = (pairs >= 0).all(axis=1)
    ends = np.where(placed[:, None], extent[np.where(pairs >= 0, pairs, 0)] if len(extent) else np.inf, np.inf)
    lines = ends.max(axis=1, initial=0.0) >= min_screen * min(float(v) for v in size)
    lines |= ~placed
    idx = np.flatnonzero(lines & (count > 0))
    if len(idx) > budget:  # not even one edge each: the strongest connections stay lines
        keep = idx[np.argsort(-np.asarray(total, np.float64)[idx], kind="stable")[:budget]]
        lines[np.setdiff1d(idx, keep)] = False
        lines |= ~placed  # connections outside layers have no bundle (there are none in a scene's edge sets)
        idx = np.sort(keep)
    out = np.zeros(len(count), np.int64)
    n = count[idx]
    if n.sum() <= budget:
        out[idx] = n
    else:
        m = np.maximum(1, np.floor(n * (budget / n.sum())).astype(np.int64))
        for j in np.argsort(-m, kind="stable"):  # trim the largest shares back within the budget
            excess = int(m.sum()) - budget
            if excess <= 0:
                break
            m[j] -= min(excess, m[j] - 1)
        out[idx] = m
    return EdgePlan(lines, out)
