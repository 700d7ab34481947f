"""Edge level of detail: which connections to draw, selected from the weights, never all expanded.

Rule ``"weight"`` scores an edge by |w|; rule ``"contribution"`` by |w * a_src| for one frame, so that what
lights up is what matters. Each destination neuron keeps its top-k incoming edges; when k per neuron would
exceed the global budget, k is lowered for all layers alike (no layer silently loses its edges), and only
when even one edge per neuron is too many does each connection get a share of the budget in proportion to
its destination layer's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network import Connection, Network

RULES = ("weight", "contribution")
EXPANDABLE = ("dense", "sparse")  # other kinds (conv, identity, ...) are not drawn as edges yet


@dataclass(frozen=True)
class EdgeSet:
    """Selected edges. ``src``, ``dst``: int32 global neuron indices; ``weight``: float32 signed score
    (w, or w*a); ``strength``: float32 in [0, 1], |score| over the largest |score| kept in the same
    connection (what the renderer maps to alpha). ``note`` says what level of detail did, if anything."""

    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    strength: np.ndarray
    note: str = ""

    def __len__(self) -> int:
        return len(self.src)

    @classmethod
    def empty(cls, note: str = "") -> EdgeSet:
        i, f = np.empty(0, np.int32), np.empty(0, np.float32)
        return cls(i, i, f, f, note)


def _rows_top_k(score: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of the k largest entries of each row of a dense score matrix."""
    n_rows, n_cols = score.shape
    k = min(k, n_cols)
    if k == n_cols:
        cols = np.broadcast_to(np.arange(n_cols), score.shape)
    else:
        cols = np.argpartition(score, n_cols - k, axis=1)[:, n_cols - k :]
    rows = np.broadcast_to(np.arange(n_rows)[:, None], cols.shape)
    return rows.ravel(), cols.ravel()


def _groups_top_k(score: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores within each group (sparse connections, grouped by destination)."""
    order = np.lexsort((-score, group))
    g = group[order]
    first = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    rank = np.arange(len(g)) - np.repeat(first, np.diff(np.r_[first, len(g)]))
    return order[rank < k]


def _scores(c: Connection, a_src: np.ndarray | None) -> np.ndarray:
    """Signed score of every candidate edge (dense: (dst, src) matrix; sparse: per edge)."""
    if a_src is None:
        return c.weight
    if c.kind == "dense":
        return c.weight * a_src[None, :]
    return c.weight * a_src[c.src_index]


def _max_in_rows(c: Connection, net: Network) -> int:
    if c.kind == "dense":
        return c.weight.shape[1]
    counts = np.bincount(c.dst_index, minlength=net.layers[c.dst].size)
    return int(counts.max()) if counts.size else 0


def _shares(budget: int, n_dst: np.ndarray) -> np.ndarray:
    """Split ``budget`` edges between connections in proportion to their destination sizes, at least one
    each while the budget allows, never more than ``budget`` in all."""
    shares = np.floor(budget * n_dst / n_dst.sum()).astype(np.int64)
    if budget >= len(n_dst):
        shares = np.maximum(shares, 1)
    while shares.sum() > budget:
        shares[np.argmax(shares)] -= 1
    return shares


def select_edges(
    net: Network,
    k: int = 8,
    budget: int = 2_000_000,
    activations: np.ndarray | None = None,
    rule: str = "weight",
) -> EdgeSet:
    """Top-k incoming edges per neuron by |score|, at most ``budget`` edges in all."""
    if rule not in RULES:
        raise ValueError(f"unknown edge rule {rule!r}; choose one of {RULES}")
    if rule == "contribution" and activations is None:
        raise ValueError("rule 'contribution' needs one frame of activations")
    conns = [c for c in net.connections if c.kind in EXPANDABLE]
    if not conns or budget <= 0 or k <= 0:
        return EdgeSet.empty()
    n_dst = np.array([net.layers[c.dst].size for c in conns])
    row_max = np.array([_max_in_rows(c, net) for c in conns])

    def total(kk: int) -> int:
        return int((np.minimum(kk, row_max) * n_dst).sum())

    k_eff, note, shares = k, "", None
    if total(k) > budget:
        k_eff = k
        while k_eff > 0 and total(k_eff) > budget:
            k_eff -= 1
        if k_eff == 0:
            k_eff = 1
            shares = _shares(budget, n_dst)
            note = f"edge budget {budget:,} < one edge per neuron: each layer keeps its strongest share"
        else:
            note = f"edge budget {budget:,}: kept top {k_eff} (not {k}) incoming edges per neuron"

    parts = []
    for ci, c in enumerate(conns):
        a_src = None if activations is None else activations[net.layers[c.src].neurons]
        s = _scores(c, a_src if rule == "contribution" else None)
        if c.kind == "dense":
            rows, cols = _rows_top_k(np.abs(s), k_eff)
            w = s[rows, cols]
        else:
            keep = _groups_top_k(np.abs(s), c.dst_index, k_eff)
            rows, cols, w = c.dst_index[keep], c.src_index[keep], s[keep]
        nz = w != 0
        rows, cols, w = rows[nz], cols[nz], w[nz]
        if shares is not None and len(w) > shares[ci]:
            top = np.argsort(np.abs(w), kind="stable")[len(w) - shares[ci] :]
            rows, cols, w = rows[top], cols[top], w[top]
        peak = np.abs(w).max() if len(w) else 1.0
        parts.append((
            (cols + net.layers[c.src].start).astype(np.int32),
            (rows + net.layers[c.dst].start).astype(np.int32),
            w.astype(np.float32),
            (np.abs(w) / peak).astype(np.float32),
        ))
    src, dst, w, strength = (np.concatenate(p) for p in zip(*parts))
    return EdgeSet(src, dst, w, strength, note)
