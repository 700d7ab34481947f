"""``layout(net, ...)``: every layer placed by its kind, the model's graph placed as a DAG, one Numba pass.

Python does per-layer work only (tilings, sizes, the DAG: O(layers + connections)); every per-neuron write
happens in :func:`nn3d.layout.placement.place`.
"""

from __future__ import annotations

import math

import numpy as np

from ..network import Network
from . import dag
from .grid import Layout
from .placement import CONV_MODES, PlaceOptions, pack, place, place_numpy, tiling


def layout(
    net: Network,
    spacing: float = 1.0,
    conv: str = "tile",
    *,
    pitch: float = 1.0,
    heads: int | dict | None = None,
    head_dim: int = 64,
    depth_ratio: float = 1.0,
    min_gap: float = 6.0,
    spread_max: float = 3.0,
    stack_gap: float = 2.0,
    backend: str = "numba",
    out: np.ndarray | None = None,
) -> Layout:
    """Place every neuron of ``net`` in 3D.

    Parameters
    ----------
    spacing : float
        Multiplies every gap between layers (along depth and side by side); 1 is the default density.
    conv : "tile" | "stack"
        Feature maps (C x H x W) tiled in the layer's plane (default), or stacked one behind the other in
        depth. Image inputs (1-4 channels) are always drawn as the image: channels side by side.
    pitch : float
        Distance between neighbouring neurons of a layer (world units; the renderer sizes spheres by it).
    heads, head_dim : attention layers (tokens, dim) are drawn one tile per head: ``heads`` (an int for all,
        or ``{layer name: heads}``), else ``dim // head_dim`` when that divides, else one tile.
    depth_ratio, min_gap : the gap between consecutive depths is
        ``spacing * max(min_gap * pitch, depth_ratio * larger size of the two)`` (a layer's size: the square
        root of its face's area), so that gaps scale with layer size; side-by-side layers are
        ``spacing * max(min_gap * pitch, size / 4)`` apart.
    spread_max : small layers get a neuron spacing up to ``spread_max * pitch``
        (``sqrt(largest extent / (8 * own extent))``), so that a 3-neuron layer still reads next to a
        10^6-neuron one.
    stack_gap : distance between stacked feature maps, in neuron spacings.
    backend : "numba" (default) or "numpy" (the reference implementation, for tests and benchmarks).
    out : float32 (n_neurons, 3) C-contiguous array to write the positions into (e.g. a buffer kept between
        calls when the user changes an option: a fresh 10^7-neuron array costs ~40 ms of page faults alone).

    Returns
    -------
    Layout
        Positions (float32, (n_neurons, 3)), tight per-layer boxes, ``levels`` (graph depth per layer) and
        ``spacing`` (neuron spacing per layer); the scene is centred on the origin. Axes: depth along +x (the
        network flows left to right from the default camera), columns along +y, rows along -z (row 0 on top).
    """
    if conv not in CONV_MODES:
        raise ValueError(f"unknown conv placement {conv!r}; choose one of {CONV_MODES}")
    if not (spacing > 0 and pitch > 0):
        raise ValueError(f"spacing and pitch must be positive, got {spacing=} {pitch=}")
    if backend not in ("numba", "numpy"):
        raise ValueError(f"unknown backend {backend!r}")
    opts = PlaceOptions(conv=conv, heads=heads, head_dim=head_dim, stack_gap=stack_gap)
    layers = net.layers
    tilings = [tiling(layer, opts) for layer in layers]

    # Per-layer and per-level sizes are short lists: plain Python floats are faster here than NumPy calls.
    unit = [t.extent(1.0) for t in tilings]  # extents at pitch 1
    own = [max(u[1], u[2]) + 1 for u in unit]
    top, cap = max(own), max(1.0, spread_max)
    s = [pitch * min(max(math.sqrt(top / (8 * o)), 1.0), cap) for o in own]
    ext = [(u[0] * si, u[1] * si, u[2] * si) for u, si in zip(unit, s)]  # extents are linear in the spacing
    size = [(e[0] + si, e[1] + si, e[2] + si) for e, si in zip(ext, s)]  # plus half a spacing on each side

    preds = dag.predecessors(net)
    lv = dag.levels(net, preds)
    level = lv.tolist()
    n_lv = max(level) + 1
    lv_depth, lv_extent = [0.0] * n_lv, [0.0] * n_lv
    for i, (d, w, h) in enumerate(size):
        lv_depth[level[i]] = max(lv_depth[level[i]], d)
        lv_extent[level[i]] = max(lv_extent[level[i]], math.sqrt(w * h))  # a layer's size: sqrt of its area
    lateral_gap = [spacing * max(min_gap * pitch, e / 4) for e in lv_extent]
    jumps, anchor = dag.skips(net, lv, preds)
    y = dag.lateral(lv, preds, [sz[1] for sz in size], lateral_gap, jumps, anchor)
    x_lv = [0.0]
    for a, b, da, db in zip(lv_extent[:-1], lv_extent[1:], lv_depth[:-1], lv_depth[1:]):
        x_lv.append(x_lv[-1] + (da + db) / 2 + spacing * max(min_gap * pitch, depth_ratio * max(a, b)))
    centre = [(x_lv[level[i]], y[i], 0.0) for i in range(len(layers))]
    shift = [(min(c[d] - sz[d] / 2 for c, sz in zip(centre, size)) + max(c[d] + sz[d] / 2 for c, sz in
              zip(centre, size))) / 2 for d in range(3)]  # the scene centred on the origin
    centre = [(c[0] - shift[0], c[1] - shift[1], c[2] - shift[2]) for c in centre]
    boxes = np.array([[[c[d] - sz[d] / 2 for d in range(3)], [c[d] + sz[d] / 2 for d in range(3)]]
                      for c, sz in zip(centre, size)], np.float32).reshape(-1, 2, 3)
    origins = [(c[0] - e[0] / 2, c[1] - e[1] / 2, c[2] + e[2] / 2) for c, e in zip(centre, ext)]  # front left top

    if out is None:
        positions = np.empty((net.n_neurons, 3), np.float32)
    elif out.shape != (net.n_neurons, 3) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 ({net.n_neurons}, 3) array")
    else:
        positions = out
    ip, fp = pack(layers, tilings, origins, s)
    if backend == "numba":
        place(positions, ip, fp, work=net.n_neurons)
    else:
        place_numpy(positions, ip, fp)
    return Layout(positions, boxes, float(pitch), lv, np.array(s, np.float32))
