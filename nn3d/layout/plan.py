"""The layout planner: tilings, sizes, the DAG, lateral slots, gaps, folding and boxes, per layer.

Per-layer and per-level Python over the tilings of :mod:`~nn3d.layout.placement` and the DAG functions of
:mod:`~nn3d.layout.dag` (O(layers + connections), ~0.2 ms for 16 layers); its output, kernel parameters per
layer, drives the one per-neuron pass (:func:`~nn3d.layout.placement.place` or its NumPy reference). Folding
(:mod:`~nn3d.layout.fold`) is per-level planning called from here.
"""

from __future__ import annotations

import math

import numpy as np

from ..network import Network
from . import dag, fold
from .interpreted import interpreted
from .placement import PlaceOptions, pack, tiling

FOLD_PYTHON_MAX = 128
"""Levels up to which folding is planned by the Python twins of :mod:`~nn3d.layout.fold`'s compiled functions
(:mod:`~nn3d.layout.interpreted`): ~20 ms at 100 levels, against ~3 s of compiling them on a fresh install."""


def plan(net: Network, opts: PlaceOptions, spacing: float, pitch: float, depth_ratio: float, min_gap: float,
         spread_max: float, fold_mode: int):
    """Kernel parameters and per-layer results of :func:`nn3d.layout.layout`.

    Returns ``ip`` int64 (L, 8), ``fp`` float64 (L, 7) (see :func:`nn3d.layout.placement.place`), ``boxes``
    float32 (L, 2, 3), ``levels`` int32 (L,), ``spacing`` float32 (L,) and ``rows`` int32 (L,).
    """
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
    row = [0] * len(layers)
    if fold_mode:
        z_half = [0.0] * n_lv
        for i, sz in enumerate(size):
            z_half[level[i]] = max(z_half[level[i]], sz[2] / 2)
        width_y = max(c[1] + sz[1] / 2 for c, sz in zip(centre, size)) - min(
            c[1] - sz[1] / 2 for c, sz in zip(centre, size))
        x, half_depth = np.array(x_lv), np.array(lv_depth) / 2
        lv_table = np.stack([x - half_depth, x + half_depth, z_half, lv_extent])
        if fold.folds(fold_mode, n_lv, lv_table[1, -1] - lv_table[0, 0], max(width_y, 2 * max(z_half))):
            links = [(p, i) for i, ps in enumerate(preds) for p in ps]
            src, dst = (np.array([link[k] for link in links], np.int64) for k in (0, 1))
            compiled = n_lv > FOLD_PYTHON_MAX
            clean_cuts, rows = ((fold.clean_cuts, fold.rows) if compiled else
                                (interpreted(fold, "clean_cuts"), interpreted(fold, "rows")))
            clean = clean_cuts(lv.astype(np.int64), src, dst, n_lv)
            allowed = fold.block_cuts(net, lv, n_lv)  # rows are cut only between the model's blocks
            lv_row, dx, dz = rows(*lv_table, width_y, clean, allowed, fold_mode, spacing, min_gap * pitch,
                                  depth_ratio)
            row = [int(lv_row[lvl]) for lvl in level]
            centre = [(c[0] + dx[r], c[1], c[2] + dz[r]) for c, r in zip(centre, row)]
    shift = [(min(c[d] - sz[d] / 2 for c, sz in zip(centre, size)) + max(c[d] + sz[d] / 2 for c, sz in
              zip(centre, size))) / 2 for d in range(3)]  # the scene centred on the origin
    centre = [(c[0] - shift[0], c[1] - shift[1], c[2] - shift[2]) for c in centre]
    boxes = np.array([[[c[d] - sz[d] / 2 for d in range(3)], [c[d] + sz[d] / 2 for d in range(3)]]
                      for c, sz in zip(centre, size)], np.float32).reshape(-1, 2, 3)
    origins = [(c[0] - e[0] / 2, c[1] - e[1] / 2, c[2] + e[2] / 2) for c, e in zip(centre, ext)]  # front left top
    ip, fp = pack(layers, tilings, origins, s)
    return ip, fp, boxes, lv, np.array(s, np.float32), np.array(row, np.int32)
