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
from numba import get_num_threads, njit, prange

from ..network import Layer
from .topk import Kernel, threads

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


def n_heads(layer: Layer, opts: PlaceOptions) -> int:
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
    heads = n_heads(layer, opts)
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


CHUNK = 1 << 15
"""Neurons per task of :func:`place` (a band of rows of one tile): big enough to amortise the task's set-up,
small enough to share a 10^7-neuron layer among the threads."""


@njit(cache=True)
def _first_at_least(a, v):  # pragma: no cover - compiled
    """The first index i of the sorted ``a`` with ``a[i] >= v`` (np.searchsorted, a fraction of its compile
    time)."""
    lo, hi = 0, a.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _place(positions, ip, fp, parts):  # pragma: no cover - compiled
    """Write every neuron's position into ``positions`` (float32 (N, 3), C-contiguous).

    The work is cut into tasks, each a band of up to :data:`CHUNK` neurons' rows of one tile, and the tasks
    into ``parts`` runs of about equal neuron counts, one per thread, all layers in one parallel region (one
    region per layer would wait for the threads once per layer). A run walks its tasks in order, stepping the
    tile's coordinates instead of dividing for them. Every neuron of a row shares its x and its z and every
    row of a tile shares the y's, so a task fills a float32 template of its row, (x, y + c * s, 0) for each
    column c (kept while the tile column stays the same), then writes each row r as ``template + z_r * [0, 0,
    1, 0, 0, 1, ...]``: one loop over the row's floats that the compiler vectorises (writing x, y, z per
    neuron is three scalar stores, three times slower). Each value is the one the reference
    (:func:`place_numpy`) computes: the same float64 sum, rounded once to float32 (adding a float32 0 or
    multiplying by 1 changes nothing).
    """
    flat = positions.reshape(-1)
    n_layers = ip.shape[0]
    task_start = np.zeros(n_layers + 1, np.int64)
    chunk = np.empty(n_layers, np.int64)
    max_band = 1
    for li in range(n_layers):
        n, rows, cols, band, n_bands = ip[li, 1], ip[li, 2], ip[li, 3], ip[li, 4], ip[li, 5]
        chunk[li] = max(1, min(rows, CHUNK // band))
        task_start[li + 1] = task_start[li] + -(-n // (rows * cols)) * n_bands * -(-rows // chunk[li])
        max_band = max(max_band, band)
    n_tasks = task_start[n_layers]
    work = np.empty(n_tasks + 1, np.int64)  # neurons before each task (about: ragged ends count as full)
    work[0] = 0
    for li in range(n_layers):
        n_ch = -(-ip[li, 2] // chunk[li])
        for q in range(task_start[li + 1] - task_start[li]):
            rows = min(chunk[li], ip[li, 2] - (q % n_ch) * chunk[li])
            work[task_start[li] + q + 1] = work[task_start[li] + q] + rows * ip[li, 4]
    z_only = np.zeros(3 * max_band, np.float32)
    for j in range(2, 3 * max_band, 3):
        z_only[j] = 1
    for p in prange(parts):
        tmpl = np.zeros(3 * max_band, np.float32)
        g = _first_at_least(work, p * work[n_tasks] // parts)
        g_end = min(_first_at_least(work, (p + 1) * work[n_tasks] // parts), n_tasks)
        li = 0
        while g < g_end:  # one run of tasks of layer li
            while task_start[li + 1] <= g:
                li += 1
            start, n, rows, cols, band, n_bands, tile_cols, stack = ip[li]
            x0, y0, z0, s, dy, dz, dx = fp[li]
            ch_rows = chunk[li]
            n_ch = -(-rows // ch_rows)
            q = g - task_start[li]
            t = q // n_ch  # tile
            ch = q - t * n_ch  # chunk of rows in the tile
            a = t // n_bands
            b = t - a * n_bands
            ty = t // tile_cols
            tx = t - ty * tile_cols
            built = -1  # the tile column the template holds
            for _ in range(min(g_end, task_start[li + 1]) - g):
                c0 = b * band
                m = min(band, cols - c0)
                if stack:
                    x, y, z = x0 + t * dx, y0, z0
                else:
                    x, y, z = x0, y0 + tx * dy, z0 - ty * dz
                key = t if stack else tx * max_band + m
                if key != built:
                    for c in range(m):
                        tmpl[3 * c] = x
                        tmpl[3 * c + 1] = y + c * s
                    built = key
                r0 = ch * ch_rows
                r1 = min(r0 + ch_rows, rows)
                off = (a * rows + r0) * cols + c0
                r_full = min(r1, r0 + max(0, (n - off) // cols))  # rows before the ragged end
                k = 3 * (start + off)
                L = 3 * m
                for r in range(r0, r_full):
                    zr = np.float32(z - r * s)
                    out = flat[k:k + L]
                    for j in range(L):
                        out[j] = tmpl[j] + zr * z_only[j]
                    k += 3 * cols
                if r_full < r1:
                    off = (a * rows + r_full) * cols + c0
                    count = min(m, n - off)
                    if count > 0:
                        zr = np.float32(z - r_full * s)
                        out = flat[3 * (start + off): 3 * (start + off + count)]
                        for j in range(3 * count):
                            out[j] = tmpl[j] + zr * z_only[j]
                ch += 1  # the next task: next chunk, or the first chunk of the next tile
                if ch == n_ch:
                    ch = 0
                    t += 1
                    b += 1
                    if b == n_bands:
                        b = 0
                        a += 1
                    tx += 1
                    if tx == tile_cols:
                        tx = 0
                        ty += 1
                g += 1


_place_kernel = Kernel(_place)


NUMPY_BELOW = 1 << 17
"""Work (neurons plus :data:`LAYER_WORK` per layer) under which :func:`layout <nn3d.layout.layout>` places
with :func:`place_numpy` by default: ~4 ms at 2^17 neurons on this 2-core machine, against ~2 s of compiling
:func:`place` on a fresh install (``cache=True`` makes that once per install)."""
LAYER_WORK = 1024
""":func:`place_numpy` loops over layers in Python: one layer costs about as much as this many neurons."""


def choose_backend(n_neurons: int, n_layers: int) -> str:
    """The placement backend for a network of this size: ``"numpy"`` when small (:data:`NUMPY_BELOW`), so
    that a small network's picture never waits for Numba to compile, else ``"numba"``."""
    return "numpy" if n_neurons + LAYER_WORK * n_layers < NUMPY_BELOW else "numba"


def place(positions: np.ndarray, ip: np.ndarray, fp: np.ndarray, work: int | None = None) -> None:
    """Write every neuron's position (see :func:`_place`); serially when ``work`` (the neuron count) is below
    :data:`nn3d.layout.topk.SERIAL_BELOW`."""
    _place_kernel(positions, ip, fp, threads(work) if work is not None else get_num_threads(), work=work)


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
