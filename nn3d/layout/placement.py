"""Placement of one layer's neurons in its own plane: a registry from layer kind to a *tiling*.

Every placement nn3d draws is one pattern, a grid of tiles: the layer's neurons in C order are read as
``(outer, rows, cols)``; the columns may be cut into bands of ``band`` columns (attention heads, very wide
token rows); tile ``outer * n_bands + band`` sits in a grid of tiles ``tile_cols`` wide (or, stacked, one
behind the other along depth). A dense layer is one near-square tile; a C x H x W feature map is C tiles of
H x W, so a picture looks like a picture; tokens x features is one rows x columns tile; attention is one tile
per head. The tiling is a handful of integers per layer, so placing 10^7 neurons is one Numba pass
(:func:`place`) with no per-neuron Python, and :func:`place_numpy` is its plain NumPy reference.

Local coordinates: columns along +y, rows along -z (row 0 on top), stacked tiles along +x; the origin is the
centre of the first neuron; extents say how far the last neuron is from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import prange

from ..network import Layer
from .kernels import Kernel

CONV_MODES = ("tile", "stack")
IMAGE_KINDS = ("input",)


class Tiling(NamedTuple):
    """How one layer is cut into tiles (all counts in neurons; ``gap`` and ``stack_gap`` in pitches).

    ``outer`` x ``rows`` x ``cols`` covers the layer in C order (``rows`` may be ragged: a dense layer of
    10 neurons is 3 x 4 with 2 empty slots); ``band`` splits the columns into ``ceil(cols / band)`` tiles.
    """

    outer: int
    rows: int
    cols: int
    band: int
    tile_cols: int
    gap: int = 0
    stack: bool = False
    stack_gap: float = 2.0

    @property
    def n_bands(self) -> int:
        return -(-self.cols // self.band)

    @property
    def n_tiles(self) -> int:
        return self.outer * self.n_bands

    def extent(self, s: float) -> tuple[float, float, float]:
        """(x, y, z) distance from the first neuron's centre to the farthest one's, for neuron pitch ``s``."""
        if self.stack:
            return (self.n_tiles - 1) * self.stack_gap * s, (self.band - 1) * s, (self.rows - 1) * s
        tc = min(self.tile_cols, self.n_tiles)
        tr = -(-self.n_tiles // tc)
        y = ((tc - 1) * (self.band + self.gap) + self.band - 1) * s
        z = ((tr - 1) * (self.rows + self.gap) + self.rows - 1) * s
        return 0.0, y, z


@dataclass(frozen=True)
class PlaceOptions:
    """Options of the per-layer placement (see :func:`nn3d.layout.layout` for what they mean)."""

    conv: str = "tile"
    heads: int | dict | None = None
    head_dim: int = 64
    max_aspect: float = 16.0
    stack_gap: float = 2.0


def square(n: int) -> tuple[int, int]:
    """Rows and columns of the near-square grid for ``n`` neurons: ``cols = ceil(sqrt(n))``."""
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def _grid(n: int) -> Tiling:
    rows, cols = square(n)
    return Tiling(1, rows, cols, cols, 1)


def _tile_gap(rows: int, cols: int) -> int:
    return max(1, math.ceil(0.08 * max(rows, cols)))


def _rows_cols(rows: int, cols: int, opts: PlaceOptions) -> Tiling:
    """A (rows, cols) table: as it is, or with its columns wrapped into bands when it is very wide."""
    if rows == 1 or cols == 1:
        return _grid(rows * cols)
    if cols <= opts.max_aspect * rows:
        return Tiling(1, rows, cols, cols, 1)
    gap = 1
    bands = max(1, round(math.sqrt(cols / (rows + gap))))
    band = -(-cols // bands)
    return Tiling(1, rows, cols, band, 1, gap)


def _maps(channels: int, h: int, w: int, opts: PlaceOptions, image: bool = False) -> Tiling:
    """``channels`` feature maps of h x w: tiled in a near-square grid of tiles (an image's 1-4 channels in
    one row), or stacked in depth when ``opts.conv == "stack"``."""
    if h * w == 1:  # 1x1 maps: a vector of channels, kept as one visible grid
        return _grid(channels)
    if channels == 1:
        return Tiling(1, h, w, w, 1)
    gap = _tile_gap(h, w)
    if opts.conv == "stack" and not image:
        return Tiling(channels, h, w, w, 1, gap, True, opts.stack_gap)
    tile_cols = channels if image and channels <= 4 else math.ceil(math.sqrt(channels * (h + gap) / (w + gap)))
    return Tiling(channels, h, w, w, max(1, min(tile_cols, channels)), gap)


def auto(layer: Layer, opts: PlaceOptions) -> Tiling:
    """Placement by shape: vectors as near-square grids, (rows, cols) tables as they are, (C, H, W) and
    higher as feature maps (leading axes flattened into channels)."""
    shape = tuple(layer.shape) or (1,)
    if len(shape) == 1:
        return _grid(shape[0])
    if len(shape) == 2:
        return _rows_cols(shape[0], shape[1], opts)
    return _maps(math.prod(shape[:-2]), shape[-2], shape[-1], opts, image=layer.kind in IMAGE_KINDS)


def _n_heads(layer: Layer, opts: PlaceOptions) -> int:
    h = opts.heads.get(layer.name) if isinstance(opts.heads, dict) else opts.heads
    d = layer.shape[-1]
    if h is None:
        h = d // opts.head_dim if d % opts.head_dim == 0 and d >= 2 * opts.head_dim else 1
    return int(h) if h and d % int(h) == 0 else 1


def attention(layer: Layer, opts: PlaceOptions) -> Tiling:
    """(tokens, dim) attention output: one tokens x head_dim tile per head, heads in a near-square group."""
    if len(layer.shape) != 2:
        return auto(layer, opts)
    tokens, dim = layer.shape
    heads = _n_heads(layer, opts)
    if heads == 1:
        return _rows_cols(tokens, dim, opts)
    hd = dim // heads
    gap = _tile_gap(tokens, hd)
    tile_cols = max(1, min(heads, math.ceil(math.sqrt(heads * (tokens + gap) / (hd + gap)))))
    return Tiling(1, tokens, dim, hd, tile_cols, gap)


PLACERS: dict[str, Callable[[Layer, PlaceOptions], Tiling]] = {"attention": attention}
"""Layer kind -> placement; kinds not listed (dense, conv, pool, norm, add, generic, unknown ...) use
:func:`auto`, which places by shape and so handles any kind."""


def tiling(layer: Layer, opts: PlaceOptions) -> Tiling:
    """The tiling of one layer (registered placer for its kind, else :func:`auto`)."""
    return PLACERS.get(layer.kind, auto)(layer, opts)


def pack(layers: list[Layer], tilings: list[Tiling], origins, pitches):
    """Per-layer kernel parameters: int64 (L, 8) and float64 (L, 7) arrays for :func:`place`, from each
    layer's first-neuron origin (x, y, z) and neuron spacing (sequences of floats)."""
    ip, fp = [], []
    for layer, t, o, s in zip(layers, tilings, origins, pitches):
        ip.append((layer.start, layer.size, t.rows, t.cols, t.band, -(-t.cols // t.band), t.tile_cols, t.stack))
        fp.append((*o, s, (t.band + t.gap) * s, (t.rows + t.gap) * s, t.stack_gap * s if t.stack else 0.0))
    return np.array(ip, np.int64).reshape(-1, 8), np.array(fp, np.float64).reshape(-1, 7)


def _place(positions, ip, fp):  # pragma: no cover - compiled
    """Write every neuron's position into ``positions`` (float32 (N, 3)). One task per row of a tile, all
    layers in one parallel region (one region per layer would wait for the threads once per layer)."""
    n_layers = ip.shape[0]
    row_start = np.zeros(n_layers + 1, np.int64)
    for li in range(n_layers):
        row_start[li + 1] = row_start[li] + (ip[li, 1] + ip[li, 3] - 1) // ip[li, 3]
    for g in prange(row_start[n_layers]):
        li = np.searchsorted(row_start, g, side="right") - 1
        start, n, rows, cols, band, n_bands, tile_cols, stack = ip[li]
        x0, y0, z0, s, dy, dz, dx = fp[li]
        q = g - row_start[li]
        a = q // rows
        r = q - a * rows
        base = start + q * cols
        count = min(cols, n - q * cols)
        for b in range(n_bands):
            t = a * n_bands + b
            if stack:
                x, ty, tx = x0 + t * dx, 0, 0
            else:
                ty = t // tile_cols
                tx = t - ty * tile_cols
                x = x0
            y = y0 + tx * dy
            z = z0 - ty * dz - r * s
            c0 = b * band
            c1 = min(c0 + band, count)
            for c in range(c0, c1):
                positions[base + c, 0] = x
                positions[base + c, 1] = y + (c - c0) * s
                positions[base + c, 2] = z


place = Kernel(_place)


def place_numpy(positions: np.ndarray, ip: np.ndarray, fp: np.ndarray) -> None:
    """The plain NumPy reference of :func:`place` (per-layer vectorised index arithmetic)."""
    for (start, n, rows, cols, band, n_bands, tile_cols, stack), (x0, y0, z0, s, dy, dz, dx) in zip(ip, fp):
        i = np.arange(n)
        q, c = np.divmod(i, cols)
        a, r = np.divmod(q, rows)
        b, cc = np.divmod(c, band)
        t = a * n_bands + b
        p = positions[start : start + n]
        if stack:
            p[:, 0] = x0 + t * dx
            p[:, 1] = y0 + cc * s
            p[:, 2] = z0 - r * s
        else:
            ty, tx = np.divmod(t, tile_cols)
            p[:, 0] = x0
            p[:, 1] = y0 + tx * dy + cc * s
            p[:, 2] = z0 - ty * dz - r * s
