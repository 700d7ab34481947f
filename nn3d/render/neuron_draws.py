"""The neuron visual's draws: per-layer placement rows and per-chunk parameters for ``shaders/neurons.vert``.

The GPU holds no neuron positions: the vertex shader computes each neuron's from its index and its layer's
placement row (the tiling of :mod:`nn3d.layout.placement`, the same arithmetic as
:func:`~nn3d.layout.placement.place_numpy`). Neurons are drawn in *chunks* of at most ``chunk`` neurons of
one layer, one draw each: a shared constant buffer numbers a chunk's neurons ``0 .. chunk - 1`` and the draw's
uniforms say where the chunk starts (tile row-block, row and column in its layer; level texel; picking id),
so every number the shader handles is below ``2^24`` and exact in float, at any neuron count, and no vertex
searches for its layer. Plain NumPy, no GL: :func:`shader_positions` evaluates the shader's arithmetic on the
CPU for tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_CHUNK, MAX_CHUNK = 1 << 16, 1 << 20
"""Bounds of the chunk size (neurons per draw): the shared index buffer is ``chunk`` float32s."""
CHUNK_SHARE = 16
"""The chunk is the largest power of two <= 1/16 of the neurons: the index buffer (4 B per entry) costs <= 0.25 B
per neuron past 2^20 neurons (0.26 B at 10^6), and a scene is 16-32 draws plus one per layer, until
:data:`MAX_CHUNK` (10^8 neurons: ~100 draws)."""


def chunk_size(n: int) -> int:
    """Neurons per draw for a scene of ``n`` neurons (a power of two, no more than ``n`` needs)."""
    want = max(MIN_CHUNK, 1 << max(0, int(np.floor(np.log2(max(n, 1) / CHUNK_SHARE)))))
    return int(min(want, MAX_CHUNK, 1 << int(np.ceil(np.log2(max(n, 1))))))


def layer_rows(ip: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """float32 (L, 4, 4): each layer's ``u_layer`` (see ``neurons.vert``) from the placement kernel's ``ip``
    (int64 (L, 8)) and ``fp`` (float64 (L, 7)) rows (:func:`nn3d.layout.placement.pack`)."""
    rows = np.zeros((len(ip), 4, 4), np.float64)
    rows[:, 0] = ip[:, 2:6]  # rows, cols, band, n_bands
    rows[:, 1, :2] = ip[:, 6:8]  # tile_cols, stack
    rows[:, 1, 2] = fp[:, 3]  # pitch
    rows[:, 2, :3] = fp[:, :3]  # first neuron's centre
    rows[:, 3, :3] = fp[:, 4:7]  # dy, dz, dx
    return rows.astype(np.float32)


@dataclass(frozen=True)
class Draws:
    """The draws of one frame, in order. ``layer``: int64 (D,), each draw's layer; ``params``: float32 (D, 4, 4),
    each draw's ``u_draw``; ``count``: int64 (D,), its neurons; ``start``: int64 (D,), its first neuron's global
    index."""

    layer: np.ndarray
    params: np.ndarray
    count: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.count)


def _merged(ranges) -> list[tuple[int, int]]:
    """(start, count) ranges as sorted, disjoint [first, end) spans (overlapping ranges draw once)."""
    spans = sorted((int(s), int(s) + int(c)) for s, c in ranges if c > 0)
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def _segments(starts: np.ndarray, sizes: np.ndarray, ranges) -> list[tuple[int, int, int]]:
    """(layer, first, end) global neuron spans to draw: each layer cut by ``ranges`` ((start, count) pairs, or
    None for everything)."""
    if ranges is None:
        return [(li, int(s), int(s + n)) for li, (s, n) in enumerate(zip(starts, sizes)) if n > 0]
    out = []
    for s, e in _merged(ranges):
        for li in range(int(np.searchsorted(starts + sizes, s, side="right")), len(starts)):
            if int(starts[li]) >= e:
                break
            lo, hi = max(s, int(starts[li])), min(e, int(starts[li] + sizes[li]))
            if lo < hi:
                out.append((li, lo, hi))
    return out


def draws(ip: np.ndarray, chunk: int, width: int, ranges=None) -> Draws:
    """The chunks to draw for placement rows ``ip`` (int64 (L, 8)), ``chunk`` neurons per draw at most, level
    texture ``width`` texels wide; ``ranges``: (start, count) global neuron ranges, or None for all."""
    segments = _segments(ip[:, 0], ip[:, 1], ranges)
    firsts = [np.arange(lo, hi, chunk, dtype=np.int64) for _, lo, hi in segments]
    layer = np.repeat(np.array([li for li, _, _ in segments], np.int64), [len(f) for f in firsts])
    end = np.repeat(np.array([hi for _, _, hi in segments], np.int64), [len(f) for f in firsts])
    start = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    count = np.minimum(start + chunk, end) - start
    q, c = np.divmod(start - ip[layer, 0], ip[layer, 3])
    a, r = np.divmod(q, ip[layer, 2])
    params = np.zeros((len(layer), 4, 4), np.float64)
    params[:, 0, :3] = np.stack([a, r, c], axis=-1)
    row, col = np.divmod(start, width)
    params[:, 1, :2] = np.stack([col, row], axis=-1)
    params[:, 1, 2:] = np.stack(np.divmod(start + 1, 1 << 16), axis=-1)  # picking id = index + 1
    return Draws(layer, params.astype(np.float32), count, start)


def bounds(ip: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """float64 (2, 3): min and max corner of every neuron centre the placement rows describe (of whole tiles:
    a ragged last row counts as full)."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for (_, n, rows, cols, band, n_bands, tile_cols, stack), (x0, y0, z0, s, dy, dz, dx) in zip(ip, fp):
        if n <= 0:
            continue
        n_tiles = -(-n // (rows * cols)) * n_bands
        if stack:
            far = ((n_tiles - 1) * dx, (band - 1) * s, -(rows - 1) * s)
        else:
            tc = min(tile_cols, n_tiles)
            tr = -(-n_tiles // tc)
            far = (0.0, (tc - 1) * dy + (band - 1) * s, -((tr - 1) * dz + (rows - 1) * s))
        corners = np.array([(x0, y0, z0), (x0 + far[0], y0 + far[1], z0 + far[2])])
        lo, hi = np.minimum(lo, corners.min(0)), np.maximum(hi, corners.max(0))
    return np.stack([lo, hi])


def _whole_div(x, d):
    q = np.floor((x + 0.5) / d)
    m = x - q * d
    return q + (m >= d) - (m < -0.5)


def shader_positions(ip: np.ndarray, fp: np.ndarray, chunk: int, ranges=None) -> tuple[np.ndarray, np.ndarray]:
    """(global indices int64 (M,), positions float32 (M, 3)) that ``neurons.vert`` computes for the draws of
    :func:`draws`, evaluated on the CPU in float32 like the shader (for tests against
    :func:`~nn3d.layout.placement.place_numpy`)."""
    d = draws(ip, chunk, 4096, ranges)
    rows32, f = layer_rows(ip, fp), np.float32
    out_i, out_p = [], []
    for li, p, n, g in zip(d.layer, d.params, d.count, d.start):
        lr = rows32[li]
        local = np.arange(n, dtype=f)
        c = p[0, 2] + local
        q = _whole_div(c, lr[0, 1])
        c = c - q * lr[0, 1]
        r = p[0, 1] + q
        a = _whole_div(r, lr[0, 0])
        r = r - a * lr[0, 0]
        a = a + p[0, 0]
        b = _whole_div(c, lr[0, 2])
        cc = c - b * lr[0, 2]
        t = a * lr[0, 3] + b
        s = lr[1, 2]
        if lr[1, 1] > 0.5:
            pos = np.stack([lr[2, 0] + t * lr[3, 2], lr[2, 1] + cc * s, lr[2, 2] - r * s], -1)
        else:
            ty = _whole_div(t, lr[1, 0])
            tx = t - ty * lr[1, 0]
            pos = np.stack([np.full_like(cc, lr[2, 0]), lr[2, 1] + (tx * lr[3, 0] + cc * s),
                            lr[2, 2] - (ty * lr[3, 1] + r * s)], -1)
        out_i.append(g + np.arange(n))
        out_p.append(pos.astype(f))
    if not out_i:
        return np.zeros(0, np.int64), np.zeros((0, 3), f)
    return np.concatenate(out_i), np.concatenate(out_p)
