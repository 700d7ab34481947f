"""Plain NumPy references of the edge-selection kernels: the straightforward way, for tests and benchmarks.

They return what the kernels return, as ``(idx, val)`` with shape (rows, k), idx = -1 where a row has fewer
than k nonzero candidates (same tie rule: among equal |score|, the lower index first; zero and NaN scores are
never kept, infinite ones rank first). They materialise the whole score matrix and sort or partition it,
which is what the Numba kernels avoid; the kernels' dispatch (:class:`nn3d.layout.topk.Kernel`) runs them
for small work, where that takes a few milliseconds and no compiler. Each row comes sorted by rank (the
kernels leave a row in heap order: the same edges).
"""

from __future__ import annotations

import numpy as np


def _finish(order: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(len(order))[:, None]
    top = order[:, :k]
    val = scores[rows, top].astype(np.float32)
    keep = np.abs(val) > 0  # neither zero nor NaN
    idx = np.where(keep, top, -1).astype(np.int64)
    pad = k - idx.shape[1]
    if pad > 0:
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        val = np.pad(val, ((0, 0), (0, pad)))
    return idx, np.where(idx >= 0, val, 0).astype(np.float32)


def _top_order(abs_s: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns of a stable sort of each row by decreasing ``abs_s`` (no NaN): the same as
    ``np.argsort(-abs_s, axis=1, kind="stable")[:, :k]``, through a partition and a sort of k per row."""
    if k >= abs_s.shape[1]:
        return np.argsort(-abs_s, axis=1, kind="stable")
    kth = -np.partition(-abs_s, k - 1, axis=1)[:, k - 1 : k]  # each row's k-th largest
    above, tie = abs_s > kth, abs_s == kth  # fewer than k above; enough ties to make up k
    take = above | (tie & (np.cumsum(tie, axis=1) <= k - above.sum(1, keepdims=True)))  # lower index first
    cols = np.nonzero(take)[1].reshape(-1, k)  # k per row, in column order
    rank = np.argsort(-np.take_along_axis(abs_s, cols, 1), axis=1, kind="stable")
    return np.take_along_axis(cols, rank, 1)


def topk_rows(w: np.ndarray, a: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row t * n_out + o: top-k of ``w[o] * a[t]`` (exact ties: stable sort of each row)."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 is NaN (never kept), overflow is inf
        scores = (w[None, :, :] * a[:, None, :]).reshape(-1, w.shape[1])
    abs_s = np.abs(scores)
    abs_s[np.isnan(abs_s)] = 0
    return _finish(_top_order(abs_s, k), scores, k)


def topk_groups(dst: np.ndarray, src: np.ndarray, w: np.ndarray, a: np.ndarray, n_dst: int, k: int):
    """Row d: the top-k edges e with ``dst[e] == d`` by |w[e] * a[src[e]]| (``idx`` holds e)."""
    with np.errstate(invalid="ignore", over="ignore"):
        scores = (w * a[src]).astype(np.float32)
    order = np.lexsort((np.arange(len(dst)), -np.abs(scores), dst))
    g = dst[order]
    first = np.searchsorted(g, np.arange(n_dst))
    count = np.diff(np.r_[first, len(g)])
    idx = np.full((n_dst, k), -1, np.int64)
    val = np.zeros((n_dst, k), np.float32)
    for j in range(k):
        has = count > j
        e = order[first[has] + j]
        nz = np.abs(scores[e]) > 0  # neither zero nor NaN
        rows = np.flatnonzero(has)[nz]
        idx[rows, j], val[rows, j] = e[nz], scores[e[nz]]
    return idx, val


def topk_conv(w, a, src_shape, dst_shape, geom, rows, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row r: the top-k of ``w[co, ci, ky, kx] * a[ci, y, x]`` over the receptive field of the destination
    neuron ``rows[r]`` (local index into (C_out, H_out, W_out)); ``idx`` holds the local source index.
    Arguments as :func:`nn3d.layout.topk.topk_conv` takes them (2-D; ``geom``: stride y, x, padding y, x,
    dilation y, x, groups)."""
    h, wd = int(src_shape[1]), int(src_shape[2])
    h_out, w_out = int(dst_shape[1]), int(dst_shape[2])
    sy, sx, py, px, dy, dx, groups = (int(g) for g in geom)
    c_out, cig, kh, kw = w.shape
    rows = np.asarray(rows, np.int64)
    co, rem = np.divmod(rows, h_out * w_out)
    oy, ox = np.divmod(rem, w_out)
    cl, ky, kx = (g.reshape(1, -1) for g in np.meshgrid(np.arange(cig), np.arange(kh), np.arange(kw),
                                                         indexing="ij"))  # scan order: j increases
    ci = (co // (c_out // groups))[:, None] * cig + cl
    y = oy[:, None] * sy - py + ky * dy
    x = ox[:, None] * sx - px + kx * dx
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < wd)
    j = np.where(inside, (ci * h + y) * wd + x, 0)
    with np.errstate(invalid="ignore", over="ignore"):
        scores = np.where(inside, w[co[:, None], cl, ky, kx] * a[j], np.float32(0)).astype(np.float32)
    abs_s = np.abs(scores)
    abs_s[np.isnan(abs_s)] = 0
    idx, val = _finish(_top_order(abs_s, k), scores, k)
    return np.where(idx >= 0, np.take_along_axis(j, np.maximum(idx, 0), axis=1), -1), val
