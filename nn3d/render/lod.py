"""Level of detail set by the screen: how many edges a frame of a given size should draw.

Edges are drawn to show where activity flows, over the neurons that show what it is; past a density the
lines form a slab that hides the neurons. The budget is a number of edges per pixel of the frame, so a
bigger frame shows more and a thumbnail fewer, whatever the model's size (the per-layer share is
:func:`nn3d.layout.select_edges`'s job).
"""

from __future__ import annotations

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
