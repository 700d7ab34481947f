"""Plain NumPy references of the edge-selection kernels: the straightforward way, for tests and benchmarks.

They return what the kernels return, as ``(idx, val)`` with shape (rows, k), idx = -1 where a row has fewer
than k nonzero candidates (same tie rule: among equal |score|, the lower index first). They materialise the
whole score matrix and sort or partition it, which is what the Numba kernels avoid.
"""

from __future__ import annotations

import numpy as np


def _finish(order: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(len(order))[:, None]
    top = order[:, :k]
    val = scores[rows, top].astype(np.float32)
    keep = val != 0
    idx = np.where(keep, top, -1).astype(np.int64)
    pad = k - idx.shape[1]
    if pad > 0:
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        val = np.pad(val, ((0, 0), (0, pad)))
    return idx, np.where(idx >= 0, val, 0).astype(np.float32)


def topk_rows(w: np.ndarray, a: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row t * n_out + o: top-k of ``w[o] * a[t]`` (exact ties: stable sort of each row)."""
    scores = (w[None, :, :] * a[:, None, :]).reshape(-1, w.shape[1])
    abs_s = np.abs(scores)
    abs_s[~np.isfinite(abs_s)] = 0
    order = np.argsort(-abs_s, axis=1, kind="stable")[:, :k]
    return _finish(order, scores, k)


def topk_groups(dst: np.ndarray, src: np.ndarray, w: np.ndarray, a: np.ndarray, n_dst: int, k: int):
    """Row d: the top-k edges e with ``dst[e] == d`` by |w[e] * a[src[e]]| (``idx`` holds e)."""
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
        nz = scores[e] != 0
        rows = np.flatnonzero(has)[nz]
        idx[rows, j], val[rows, j] = e[nz], scores[e[nz]]
    return idx, val
