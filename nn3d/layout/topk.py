"""Numba kernels of edge selection: top-k incoming edges per destination neuron, never expanding weights.

Each destination row keeps a min-heap of its k best candidates in the output arrays themselves (``idx``:
int64 source / edge index, -1 when empty; ``val``: float32 signed score w*a), ordered by |score| and, among
equal scores, by lower index first, so that the result equals a stable sort of every row (what the NumPy
references and the tests' brute force compute). Candidates are scanned in increasing index order and a
candidate equal to the heap's minimum is never taken, which gives exactly that tie rule. Zero (and NaN)
scores are never kept: an edge that carries nothing is not drawn.

* :func:`topk_rows`: dense (n_dst, n_src) weights, or a Linear shared over T tokens, times activations.
* :func:`topk_groups`: sparse COO edges, grouped by destination without sorting them (each thread owns a
  range of destinations and scans the edge list once).
* :func:`topk_conv`: conv / pooling receptive fields of chosen destination neurons only, straight from the
  kernel tensor (2-D; 1-D convs are 2-D with height 1).
"""

from __future__ import annotations

import types

import numpy as np
from numba import get_num_threads, njit, prange

SERIAL_BELOW = 1 << 21
"""Work (neurons or candidate edges) under which a kernel runs its serial twin on the calling thread: waking
the other threads costs more than it saves, and on a loaded machine a woken thread may wait for a core for
tens of milliseconds."""


class Kernel:
    """A Numba kernel compiled twice from one Python function: ``parallel`` (prange over threads) and
    ``serial`` (the same loops on the calling thread; a distinct name, so that each has its own cache)."""

    def __init__(self, fn):
        twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__,
                                  fn.__closure__)
        twin.__qualname__ = fn.__qualname__ + "_serial"
        self.parallel = njit(parallel=True, cache=True)(fn)
        self.serial = njit(cache=True)(twin)
        self.__doc__ = fn.__doc__

    def __call__(self, *args, work: int | None = None):
        """Run on all threads, or serially when ``work`` is given and below :data:`SERIAL_BELOW`."""
        small = work is not None and work < SERIAL_BELOW
        return (self.serial if small else self.parallel)(*args)


def threads(work: int) -> int:
    """How many threads a kernel given ``work`` runs on (for kernels that split work by thread)."""
    return 1 if work < SERIAL_BELOW else get_num_threads()


@njit(inline="always")
def _below(va, ia, vb, ib):  # pragma: no cover - compiled
    """Whether candidate a ranks below candidate b (smaller |score|, or equal and a later index)."""
    sa, sb = abs(va), abs(vb)
    return sa < sb or (sa == sb and ia > ib)


@njit(inline="always")
def _cleared(idx, val, r):  # pragma: no cover - compiled
    """Row ``r`` of a top-k result, emptied (index -1, value 0): a heap of size 0."""
    ri, rv = idx[r], val[r]
    ri[:] = -1
    rv[:] = 0
    return ri, rv


@njit(cache=True)
def _push(idx, val, size, k, i, v):  # pragma: no cover - compiled
    """Offer candidate (i, v) to the heap ``idx[:size], val[:size]``; returns the new size."""
    if size < k:
        j = size
        while j > 0:
            parent = (j - 1) >> 1
            if _below(v, i, val[parent], idx[parent]):
                idx[j], val[j] = idx[parent], val[parent]
                j = parent
            else:
                break
        idx[j], val[j] = i, v
        return size + 1
    if not _below(val[0], idx[0], v, i):
        return size
    j = 0
    while True:
        c = 2 * j + 1
        if c >= k:
            break
        if c + 1 < k and _below(val[c + 1], idx[c + 1], val[c], idx[c]):
            c += 1
        if _below(val[c], idx[c], v, i):
            idx[j], val[j] = idx[c], val[c]
            j = c
        else:
            break
    idx[j], val[j] = i, v
    return size


def _topk_rows(w, a, k, idx, val):  # pragma: no cover - compiled
    """Row r = t * n_out + o keeps the top-k of ``w[o, j] * a[t, j]`` over j (dense: T = 1)."""
    n_out, n_in = w.shape
    for r in prange(a.shape[0] * n_out):
        t = r // n_out
        o = r - t * n_out
        ri, rv = _cleared(idx, val, r)
        size, thr = 0, np.float32(0)  # thr stays 0 until the heap is full: then its smallest |score|
        wo, at = w[o], a[t]
        j = 0
        while j < n_in:
            while j < n_in and not abs(wo[j] * at[j]) > thr:  # the tight loop: most candidates stop here
                j += 1
            if j == n_in:
                break
            size = _push(ri, rv, size, k, j, wo[j] * at[j])
            if size == k:
                thr = abs(rv[0])
            j += 1


def _topk_groups(dst, src, w, a, n_dst, k, idx, val, parts):  # pragma: no cover - compiled
    """Row d keeps the top-k of ``w[e] * a[src[e]]`` over edges e with ``dst[e] == d``; ``idx`` holds e.
    ``parts`` destination ranges (one per thread) each scan the edge list once."""
    sizes = np.zeros(n_dst, np.int32)
    for p in prange(parts):
        lo, hi = p * n_dst // parts, (p + 1) * n_dst // parts
        for d in range(lo, hi):
            idx[d, :] = -1
            val[d, :] = 0
        for e in range(dst.shape[0]):
            d = dst[e]
            if d < lo or d >= hi:
                continue
            v = w[e] * a[src[e]]
            s = abs(v)
            size = sizes[d]
            if s > 0 and (size < k or s > abs(val[d, 0])):
                sizes[d] = _push(idx[d], val[d], size, k, e, v)


def _count_groups(dst, n_dst, parts):  # pragma: no cover - compiled
    """In-degree of every destination (int64), without NumPy's int64 copy of ``dst``."""
    counts = np.zeros((parts, n_dst), np.int64)
    m = dst.shape[0]
    for p in prange(parts):
        for e in range(p * m // parts, (p + 1) * m // parts):
            counts[p, dst[e]] += 1
    return counts.sum(0)


def _topk_conv(w, a, src_shape, dst_shape, geom, rows, k, idx, val):  # pragma: no cover - compiled
    """For each chosen destination ``rows[r]`` (local index into (C_out, H_out, W_out)), the top-k of
    ``w[co, ci, ky, kx] * a[ci, y, x]`` over its receptive field; ``idx`` holds the local source index.

    ``w``: (C_out, C_in / groups, KH, KW); ``a``: the source layer's values, flat (ones for the weight
    rule); ``geom``: int64 (stride_y, stride_x, pad_y, pad_x, dil_y, dil_x, groups).
    """
    h, wd = src_shape[1], src_shape[2]
    h_out, w_out = dst_shape[1], dst_shape[2]
    sy, sx, py, px, dy, dx, groups = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5], geom[6]
    c_out, cig, kh, kw = w.shape
    cog = c_out // groups
    for r in prange(rows.shape[0]):
        q = rows[r]
        co = q // (h_out * w_out)
        rem = q - co * h_out * w_out
        oy = rem // w_out
        ox = rem - oy * w_out
        ri, rv = _cleared(idx, val, r)
        size, thr = 0, np.float32(0)
        g = co // cog
        for cl in range(cig):
            ci = g * cig + cl
            for ky in range(kh):
                y = oy * sy - py + ky * dy
                if y < 0 or y >= h:
                    continue
                for kx in range(kw):
                    x = ox * sx - px + kx * dx
                    if x < 0 or x >= wd:
                        continue
                    j = (ci * h + y) * wd + x
                    v = w[co, cl, ky, kx] * a[j]
                    if abs(v) > thr:
                        size = _push(ri, rv, size, k, j, v)
                        if size == k:
                            thr = abs(rv[0])


topk_rows = Kernel(_topk_rows)
topk_groups = Kernel(_topk_groups)
count_groups = Kernel(_count_groups)
topk_conv = Kernel(_topk_conv)
