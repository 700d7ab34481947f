"""``layout(net, ...)``: every layer placed by its kind, the model's graph placed as a DAG, one Numba pass.

The planner (:mod:`nn3d.layout.plan`: tilings, sizes, the DAG, folding; plain Python over layers and
connections, ~0.2 ms for 16 layers) and one Numba pass, the placement (:func:`nn3d.layout.placement.place`),
which does every per-neuron write; a small network takes its NumPy reference instead (no compiler wait,
:func:`~nn3d.layout.placement.choose_backend`).
"""

from __future__ import annotations

import numpy as np

from ..network import Network
from .fold import fold_mode
from .placed import Layout
from .placement import CONV_MODES, PlaceOptions, choose_backend, place, place_numpy
from .plan import plan

BACKENDS = ("auto", "numba", "numpy")
"""Placement backends: by size (:func:`~nn3d.layout.placement.choose_backend`), the compiled pass, or its
NumPy reference."""


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
    fold: int | str | None = "auto",
    backend: str = "auto",
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
    fold : "auto" (default), an int, or None / "none"
        Wrap the levels (graph depths) into rows like lines of text: each row flows along +x from the left
        edge, rows are stacked along -z (see :mod:`nn3d.layout.fold`). An int is the number of rows (at most
        one per level); "auto" folds only a scene much longer than it is tall and wide, into the number of
        rows that is nearest a 16:9 screen from the home camera; None / "none" never folds.
    backend : "auto" (default), "numba" or "numpy": the per-neuron placement pass, compiled
        (:func:`~nn3d.layout.placement.place`) or its reference (:func:`~nn3d.layout.placement.place_numpy`,
        bit-identical); "auto" takes the reference for a small network, where it needs a few ms and no
        compiler. Both use the one planner, :mod:`nn3d.layout.plan`.
    out : float32 (n_neurons, 3) C-contiguous array to write the positions into (e.g. a buffer kept between
        calls when the user changes an option: a fresh 10^7-neuron array costs ~5 ms of page faults with
        NumPy's transparent huge pages, ~40 ms without).

    Returns
    -------
    Layout
        Positions (float32, (n_neurons, 3)), tight per-layer boxes, ``levels`` (graph depth per layer),
        ``spacing`` (neuron spacing per layer) and ``rows`` (fold row per layer, 0 on top); the scene is
        centred on the origin. Axes: depth along +x (the network flows left to right from the default
        camera), columns along +y, rows along -z (row 0 on top).
    """
    if conv not in CONV_MODES:
        raise ValueError(f"unknown conv placement {conv!r}; choose one of {CONV_MODES}")
    if not (spacing > 0 and pitch > 0):
        raise ValueError(f"spacing and pitch must be positive, got {spacing=} {pitch=}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}")
    mode = fold_mode(fold)
    if out is None:
        positions = np.empty((net.n_neurons, 3), np.float32)
    elif out.shape != (net.n_neurons, 3) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 ({net.n_neurons}, 3) array")
    else:
        positions = out
    opts = PlaceOptions(conv, heads, head_dim, stack_gap=stack_gap)
    ip, fp, boxes, levels, pitches, rows = plan(net, opts, spacing, pitch, depth_ratio, min_gap, spread_max, mode)
    if backend == "auto":
        backend = choose_backend(net.n_neurons, len(net.layers))
    if backend == "numba":
        place(positions, ip, fp, work=net.n_neurons)
    else:
        place_numpy(positions, ip, fp)
    return Layout(positions, boxes, float(pitch), levels, pitches, rows, (ip, fp))
