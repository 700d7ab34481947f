"""Layout: where every neuron sits in 3D, and which connections are drawn.

A layer is placed in a plane (columns along +y, rows along -z, so row 0 is on top and an image reads as an
image when seen from the default camera); planes follow each other along the depth axis +x, with gaps that
grow with the neighbouring layers' extent so that a 3-neuron layer and a 10^6-neuron layer both read well.
Everything is vectorised: one NumPy pass per layer, no Python object per neuron.
"""

from .edges import EdgeSet, select_edges
from .grid import Layout, grid_layout, grid_shape

__all__ = ["EdgeSet", "Layout", "grid_layout", "grid_shape", "select_edges"]
