"""Analysis: the classic 2-D views of a network (weight heatmaps and histograms over training, loss and metric
curves, conv filters, attention maps, activation functions) as plain NumPy data.

Design: this subpackage imports no VisPy. :mod:`.data` turns arrays into arrays (pooled heatmaps, histogram
stacks over steps, curves, filter mosaics, attention probabilities, function samples); :mod:`.source` says
where they come from (a training recording, or a model spec); :mod:`nn3d.render.panels` draws them beside
the 3D view and :mod:`nn3d.cli.plot` exports one panel to a PNG (``nn3d plot``). Tests check the data against NumPy
and the drawn pixels against the data.
"""

from .data import (
    Curves,
    Heatmap,
    HistogramStack,
    activation_curve,
    as_matrix,
    attention_from_qkv,
    curves,
    filter_mosaic,
    heatmap,
    histogram_stack,
)
from .source import Source

__all__ = ["Curves", "Heatmap", "HistogramStack", "Source", "activation_curve", "as_matrix",
           "attention_from_qkv", "curves", "filter_mosaic", "heatmap", "histogram_stack"]
