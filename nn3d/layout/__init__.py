"""Layout: where every neuron sits in 3D, and which connections are drawn.

:func:`layout` places each layer by its kind (a registry of *tilings*: dense layers as near-square grids,
C x H x W feature maps tiled in a plane or stacked in depth, tokens x features as rows x columns, attention
one tile per head) and the model's graph as a DAG (depth from topological order, parallel branches side by
side, gaps that grow with the neighbouring layers' extent). Columns run along +y, rows along -z (row 0 on top,
so an image reads as an image from the default camera), depth along +x. A deep model is folded into rows like
lines of text (:mod:`~nn3d.layout.fold`). The per-layer planning is plain Python
(:mod:`~nn3d.layout.plan`); per-neuron and per-edge passes are Numba kernels with NumPy references beside
them, and small networks take the references (a few ms, no compiler wait); Python only ever loops over layers
and connections.
:func:`select_edges` picks the connections worth drawing (top-k per neuron by |w| or |w*a|, a global
budget) without expanding the weights.
"""

from .edges import EdgeSet, select_edges
from .engine import layout
from .placed import Layout

__all__ = ["EdgeSet", "Layout", "layout", "select_edges"]
