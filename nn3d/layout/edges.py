"""Edge level of detail: which connections to draw, selected from the weights, never all expanded.

Rule ``"weight"`` scores an edge by |w|; rule ``"contribution"`` by |w * a_src| for one frame, so that what
lights up is what matters. Each destination neuron keeps its top-k incoming edges (Numba kernels in
:mod:`.topk`, NumPy references in :mod:`.edges_reference`).

Connection kinds (a registry, :data:`CANDIDATES`, keyed like :data:`nn3d.connections.KINDS`): ``dense``,
``linear`` (a Linear shared over tokens), ``sparse`` (COO) and ``identity`` (residual adds, concatenations,
norms: neuron i to neuron i, score a_src or 1; only a fraction of them, ``identity=``) are *full*: every
destination neuron takes part. ``conv`` and ``pool`` are *receptive*: their edges are expanded only for chosen
destination neurons, straight from the kernel (``neurons=`` the user's selection; else all when the budget
allows, else the most active ones for the contribution rule, or a seeded random sample for the weight rule;
the budget is split max-min fairly between these connections). ``embedding`` and ``generic`` are not drawn.

The budget: when k edges per neuron would exceed it, k is lowered for all full connections alike (no layer
silently loses its edges), and only when even one edge per neuron is too many does each connection keep a
share in proportion to its destination layer's size. Receptive connections get what the full ones leave,
at least half the budget. ``note`` says what level of detail did. Deterministic for a given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network import Connection, Network
from . import topk as K

RULES = ("weight", "contribution")


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


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _flat(idx: np.ndarray, val: np.ndarray, rows: np.ndarray | None = None):
    """(row, idx, val) of the filled heap slots; ``rows`` maps heap rows to destination rows."""
    r, j = np.nonzero(idx >= 0)
    return (r if rows is None else rows[r]), idx[r, j], val[r, j]


class Candidates:
    """The candidate edges of one connection. ``n_rows``: destination neurons (or sources, for identity);
    ``fan_in``: the most candidates one row can have."""

    receptive = False

    def __init__(self, net: Network, c: Connection, a_src: np.ndarray | None, opts: dict | None = None):
        self.c, self.a = c, a_src
        self.src, self.dst = net.layers[c.src], net.layers[c.dst]
        self.n_rows = self.dst.size

    def demand(self, k: int, rows: int | None = None) -> int:
        """Edges if every row (or ``rows`` rows) kept its top k."""
        return (self.n_rows if rows is None else rows) * min(k, self.fan_in)

    def select(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Local (dst, src, score) of every row's top k."""
        raise NotImplementedError


class Dense(Candidates):
    def __init__(self, net, c, a_src, opts=None):
        super().__init__(net, c, a_src)
        self.w = c.weight
        self.tokens, self.fan_in = 1, self.w.shape[1]

    def select(self, k):
        w = _f32(self.w)
        n_out, n_in = w.shape
        if self.a is None:  # |w| does not depend on the token: one pass, repeated over tokens
            a = np.ones((1, n_in), np.float32)
        else:
            a = _f32(self.a).reshape(self.tokens, n_in)
        idx = np.empty((a.shape[0] * n_out, k), np.int64)
        val = np.empty((a.shape[0] * n_out, k), np.float32)
        K.topk_rows(w, a, k, idx, val, work=w.size * a.shape[0])
        d, s, v = _flat(idx, val)
        if a.shape[0] < self.tokens:
            t = np.repeat(np.arange(self.tokens), len(d))
            d, s, v = np.tile(d, self.tokens) + t * n_out, np.tile(s, self.tokens) + t * n_in, np.tile(v, self.tokens)
        else:
            t = d // n_out
            s = s + t * n_in
        return d, s, v


    def select_rows(self, rows: np.ndarray):
        """The top 1 of each chosen row (``t * n_out + o``) only, in NumPy (a few rows of a huge connection):
        (row, local source, score), as :meth:`select` with k = 1 gives for those rows (lower index on ties, zero
        and NaN scores dropped)."""
        n_out, n_in = self.w.shape
        w, a = _f32(self.w), _f32(self.a).reshape(self.tokens, n_in)
        out_r, out_s, out_v = [], [], []
        step = max(1, SCORES_PER_PASS // max(1, n_in))  # rows per pass: bounded scratch memory
        for lo in range(0, len(rows), step):
            r = rows[lo:lo + step]
            t, o = np.divmod(r, n_out)
            scores = w[o] * a[t]
            mag = np.abs(scores)
            mag[np.isnan(mag)] = 0
            j = np.argmax(mag, axis=1) if n_in else np.zeros(len(r), np.int64)
            at = np.arange(len(r))
            keep = mag[at, j] > 0
            out_r.append(r[keep])
            out_s.append((j + t * n_in)[keep])
            out_v.append(scores[at, j][keep])
        if not out_r:
            return rows[:0], rows[:0], np.empty(0, np.float32)
        return np.concatenate(out_r), np.concatenate(out_s), np.concatenate(out_v)


class Linear(Dense):
    def __init__(self, net, c, a_src, opts=None):
        super().__init__(net, c, a_src)
        self.tokens = self.src.size // self.w.shape[1]


class Sparse(Candidates):
    def __init__(self, net, c, a_src, opts=None):
        super().__init__(net, c, a_src)
        m = len(c.weight)
        self.counts = K.count_groups(c.dst_index, self.n_rows, K.threads(m), work=m)
        self.fan_in = int(self.counts.max()) if self.n_rows else 0

    def demand(self, k, rows=None):
        full = int(np.minimum(self.counts, k).sum())
        return full if rows is None else min(full, rows * min(k, self.fan_in))

    def select(self, k):
        c = self.c
        a = np.ones(self.src.size, np.float32) if self.a is None else _f32(self.a)
        idx = np.empty((self.n_rows, k), np.int64)
        val = np.empty((self.n_rows, k), np.float32)
        m = len(c.weight)
        K.topk_groups(c.dst_index, c.src_index, _f32(c.weight), a, self.n_rows, k, idx, val, K.threads(m), work=m)
        d, e, v = _flat(idx, val)
        return d, c.src_index[e], v


class Identity(Candidates):
    """Neuron i of the source to neuron i (or ``dst_index[i]``) of the destination: one edge per source.

    Drawn for a ``fraction`` of the source neurons only (the most active ones under the contribution rule,
    else a seeded sample): a few lines show a skip path or a branch leaving the trunk as well as thousands
    of parallel ones, which would bury the weighted edges.
    """

    def __init__(self, net, c, a_src, opts=None):
        super().__init__(net, c, a_src)
        fraction, seed = (opts or {}).get("identity", 1.0), (opts or {}).get("seed", 0)
        self.n_rows, self.fan_in = self.src.size, 1
        self.rows = None
        if fraction < 1:
            m = int(np.ceil(fraction * self.n_rows))
            self.rows = _pick(self.n_rows, m, a_src, seed, c.src * 7919 + c.dst)
            self.n_rows = m

    def select(self, k, rows=None):
        if self.rows is not None:
            rows = self.rows if rows is None else self.rows[rows]
        s = np.arange(self.n_rows) if rows is None else rows
        d = s if self.c.dst_index is None else self.c.dst_index[s]
        v = np.ones(len(s), np.float32) if self.a is None else _f32(self.a)[s]
        nz = v != 0
        return d[nz], s[nz], v[nz]


def _geometry(c: Connection, src: tuple, dst: tuple):
    """(kernel (C_out, C_in/g, KH, KW), geom int64 (7,)) of a 1-D/2-D conv or pool, or None if unsupported."""
    p = c.params or {}
    nd = len(src) - 1
    if nd not in (1, 2) or len(dst) != len(src):
        return None
    spatial_in, spatial_out = src[1:], dst[1:]
    if c.kind == "pool":
        if "output_size" in p:  # adaptive pooling: exact only when the sizes divide
            if any(i % o for i, o in zip(spatial_in, spatial_out)):
                return None
            stride = tuple(i // o for i, o in zip(spatial_in, spatial_out))
            ks, pad = stride, (0,) * nd
        else:
            ks, stride, pad = (tuple(p.get(x, ())) for x in ("kernel_size", "stride", "padding"))
            stride = stride or ks
            pad = pad or (0,) * nd
        w = np.ones((src[0], 1, *ks), np.float32)
        dil, groups = (1,) * nd, src[0]
    else:
        w, groups = c.weight, int(p.get("groups", 1))
        stride, dil = tuple(p.get("stride", (1,) * nd)), tuple(p.get("dilation", (1,) * nd))
        pad = p.get("padding", (0,) * nd)
        if pad == "valid":
            pad = (0,) * nd
        elif pad == "same":
            pad = tuple(d * (kk - 1) // 2 for d, kk in zip(dil, w.shape[2:]))
    if nd == 1:  # a 1-D conv is a 2-D one of height 1
        w, stride, pad, dil = w[:, :, None, :], (1, *stride), (0, *pad), (1, *dil)
    geom = np.array([*stride, *pad, *dil, groups], np.int64)
    return _f32(w), geom


class Receptive(Candidates):
    """Conv and pooling: a destination neuron's candidates are its receptive field (no expanded matrix)."""

    receptive = True

    def __init__(self, net, c, a_src, geometry):
        super().__init__(net, c, a_src)
        self.w, self.geom = geometry
        self.fan_in = int(np.prod(self.w.shape[1:]))
        as3 = lambda s: np.array(s if len(s) == 3 else (s[0], 1, s[1]), np.int64)  # noqa: E731
        self.src_shape, self.dst_shape = as3(self.src.shape), as3(self.dst.shape)

    def select(self, k, rows=None):
        rows = np.arange(self.n_rows) if rows is None else rows
        a = np.ones(self.src.size, np.float32) if self.a is None else _f32(self.a)
        idx = np.empty((len(rows), k), np.int64)
        val = np.empty((len(rows), k), np.float32)
        K.topk_conv(self.w, a, self.src_shape, self.dst_shape, self.geom, rows.astype(np.int64), k, idx, val,
                    work=len(rows) * self.fan_in)
        return _flat(idx, val, rows)


def _receptive(net, c, a_src, opts=None):
    g = _geometry(c, net.layers[c.src].shape, net.layers[c.dst].shape)
    return None if g is None else Receptive(net, c, a_src, g)


CANDIDATES = {"dense": Dense, "linear": Linear, "sparse": Sparse, "identity": Identity,
              "conv": _receptive, "pool": _receptive, "embedding": None, "generic": None}
"""Connection kind -> maker of its :class:`Candidates`, called as ``make(net, c, a_src, opts)`` with
``opts = {"identity": ..., "seed": ...}`` (the maker returns None when this connection cannot be expanded);
None for kinds never drawn as edges. The keys are those of :data:`nn3d.connections.KINDS`, the registry of
what each kind means (kept here because the candidates need the compiled kernels of this package)."""


def _pick(n: int, m: int, key: np.ndarray | None, seed: int, salt: int) -> np.ndarray:
    """``m`` of ``n`` rows, sorted: the ``m`` largest ``key`` if given, else a seeded random sample."""
    if m >= n:
        return np.arange(n)
    if key is not None:
        return np.sort(np.argpartition(-np.abs(np.nan_to_num(key)), m - 1)[:m])
    return np.sort(np.random.default_rng([seed, salt]).choice(n, m, replace=False))


def _shares(budget: int, n_dst: np.ndarray) -> np.ndarray:
    """Split ``budget`` edges between connections in proportion to their destination sizes, at least one
    each while the budget allows, never more than ``budget`` in all."""
    shares = np.floor(budget * n_dst / max(1, n_dst.sum())).astype(np.int64)
    if budget >= len(n_dst):
        shares = np.maximum(shares, 1)
    while shares.sum() > budget:
        shares[np.argmax(shares)] -= 1
    return shares


def _fair(budget: int, demand: list[int]) -> list[int]:
    """Max-min fair split of ``budget``: connections that need little get all they need, the rest share
    what is left equally (so a 16-neuron pooling layer keeps its edges next to a 10^5-neuron conv)."""
    alloc = [0] * len(demand)
    left = budget
    for n_left, i in zip(range(len(demand), 0, -1), sorted(range(len(demand)), key=lambda j: demand[j])):
        alloc[i] = min(demand[i], left // n_left)
        left -= alloc[i]
    return alloc


def _largest_k(cands: list[Candidates], k: int, budget: int) -> int:
    """The largest k' <= k with every row's top k' within ``budget`` (0 if even k' = 1 is too many)."""
    lo, hi = 0, k
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(x.demand(mid) for x in cands) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


SCAN_LIMIT = 1 << 28
"""Candidate edges (weights x tokens) past which a connection short of even one edge per neuron is not scanned
whole under the contribution rule: only its :data:`ROW_SAMPLE` x share most active destination neurons are (a
TinyLlama-sized MLP projection on 128 tokens has 1.5 * 10^9 candidates, seconds each)."""
ROW_SAMPLE = 8
SCORES_PER_PASS = 1 << 24
"""Scores :meth:`Dense.select_rows` computes at a time (64 MB of float32)."""


def _select_full(cands, k, budget, seed, a_dst=None):
    """Full connections within ``budget``: (parts, note). ``a_dst``: the frame (contribution rule), which
    ranks the destination neurons of connections past :data:`SCAN_LIMIT`."""
    if not cands:
        return [], ""
    k_eff = _largest_k(cands, k, budget)
    if k_eff == k:
        return [x.select(k) for x in cands], ""
    if k_eff > 0:
        note = f"edge budget {budget:,}: kept top {k_eff} (not {k}) incoming edges per neuron"
        return [x.select(k_eff) for x in cands], note
    parts, sampled = [], 0
    for x, share in zip(cands, _shares(budget, np.array([x.n_rows for x in cands]))):
        if isinstance(x, Identity):
            key = None if x.a is None or x.rows is None else x.a[x.rows]
            key = x.a if x.rows is None else key
            parts.append(x.select(1, _pick(x.n_rows, int(share), key, seed, x.c.src)))
            continue
        if (isinstance(x, Dense) and x.a is not None and a_dst is not None and x.w.size * x.tokens > SCAN_LIMIT
                and ROW_SAMPLE * share < x.n_rows):
            d, s, v = x.select_rows(_pick(x.n_rows, max(1, ROW_SAMPLE * int(share)), a_dst[x.dst.neurons], seed, 0))
            sampled += 1
        else:
            d, s, v = x.select(1)
        if len(v) > share:
            top = np.sort(np.argpartition(-np.abs(v), share - 1)[:share]) if share else np.empty(0, np.int64)
            d, s, v = d[top], s[top], v[top]
        parts.append((d, s, v))
    note = f"edge budget {budget:,} < one edge per neuron: each layer keeps its strongest share"
    if sampled:
        note += f" ({sampled} connection(s) of over {SCAN_LIMIT:,} candidates: among their most active neurons)"
    return parts, note


def _select_receptive(cands, k, budget, a_dst, neurons, seed):
    """Receptive connections within ``budget``: (parts, note)."""
    if not cands:
        return [], ""
    chosen = []
    for x in cands:
        if neurons is None:
            chosen.append(None)
        else:
            lo, hi = x.dst.start, x.dst.stop
            chosen.append(np.unique(neurons[(neurons >= lo) & (neurons < hi)] - lo))
    rows = [x.n_rows if r is None else len(r) for x, r in zip(cands, chosen)]
    want = sum(x.demand(k, r) for x, r in zip(cands, rows))
    parts, n_sel = [], 0
    demand = [x.demand(k, r) for x, r in zip(cands, rows)]
    shares = _fair(budget, demand) if want > budget else [None] * len(cands)
    for x, r, n, share in zip(cands, chosen, rows, shares):
        kk = min(k, x.fan_in)
        if share is not None and n * kk > share:
            m = int(share) // kk
            if m == 0:
                m, kk = int(share > 0), int(share)
            key = None if x.a is None or a_dst is None else a_dst[x.dst.neurons]
            if r is None:
                r = _pick(n, m, key, seed, x.c.dst)
            else:
                r = r[_pick(len(r), m, None if key is None else key[r], seed, x.c.dst)]
        if kk == 0 or (r is not None and len(r) == 0):
            parts.append((np.empty(0, np.int64),) * 2 + (np.empty(0, np.float32),))
            continue
        parts.append(x.select(kk, r))
        n_sel += x.n_rows if r is None else len(r)
    total = sum(x.n_rows for x in cands)
    note = "" if n_sel == total else f"conv/pool edges: receptive fields of {n_sel:,} of {total:,} neurons"
    return parts, note


def select_edges(
    net: Network,
    k: int = 8,
    budget: int = 2_000_000,
    activations: np.ndarray | None = None,
    rule: str = "weight",
    *,
    neurons: np.ndarray | None = None,
    seed: int = 0,
    identity: float = 0.02,
) -> EdgeSet:
    """Top-k incoming edges per neuron by |score|, at most ``budget`` edges in all.

    Parameters
    ----------
    k : edges kept per destination neuron (per connection), before the budget lowers it.
    budget : the most edges returned, never exceeded.
    activations : one frame, float (n_neurons,): needed by ``rule="contribution"``.
    rule : ``"weight"`` (|w|) or ``"contribution"`` (|w * a_src| for this frame).
    neurons : global indices of selected neurons: conv/pool edges are expanded for these only.
    seed : seeds the random samples (conv/pool neurons, identity edges) under the weight rule.
    identity : fraction of the source neurons of an identity connection (residual add, concatenation, norm)
        drawn as edges, 0 to 1.
    """
    if rule not in RULES:
        raise ValueError(f"unknown edge rule {rule!r}; choose one of {RULES}")
    if rule == "contribution" and activations is None:
        raise ValueError("rule 'contribution' needs one frame of activations")
    if budget <= 0 or k <= 0:
        return EdgeSet.empty()
    # no neuron has more inputs than its largest source layer, and no more than ``budget`` edges are kept: a
    # larger k changes nothing but the size of the per-row buffers (k = 10^9 asked for 238 GB)
    k = min(int(k), int(budget), max((net.layers[c.src].size for c in net.connections), default=1))
    a = None if activations is None else np.asarray(activations)
    sel = None if neurons is None else np.asarray(neurons, dtype=np.int64).ravel()
    full, rec = [], []
    opts = {"identity": float(identity), "seed": seed}
    for c in net.connections:
        make = CANDIDATES.get(c.kind)
        if make is None or (c.kind == "identity" and identity <= 0):
            continue
        x = make(net, c, a[net.layers[c.src].neurons] if rule == "contribution" else None, opts)
        if x is not None and x.n_rows:
            (rec if x.receptive else full).append(x)
    if not full and not rec:
        return EdgeSet.empty()
    if sel is None:
        want_rec = sum(x.demand(k) for x in rec)
    else:
        want_rec = sum(x.demand(k, int(((sel >= x.dst.start) & (sel < x.dst.stop)).sum())) for x in rec)
    want_full = sum(x.demand(k) for x in full)
    b_full = budget
    if rec and want_full + want_rec > budget:
        # receptive (conv/pool) connections get at least their share of the connections' count, between a tenth
        # and half of the budget: a ViT's one patch-embedding conv no longer takes half of a transformer's edges
        share = min(0.5, max(0.1, len(rec) / (len(rec) + len(full))))
        b_full = min(want_full, max(budget - int(budget * share), budget - want_rec))
    parts_f, note_f = _select_full(full, k, b_full, seed, a if rule == "contribution" else None)
    used = sum(len(p[0]) for p in parts_f)
    parts_r, note_r = _select_receptive(rec, k, budget - used, a if rule == "contribution" else None, sel, seed)

    out = []
    for x, (d, s, v) in zip(full + rec, parts_f + parts_r):
        if len(v) == 0:
            continue
        mag = np.abs(v)
        peak = float(mag[np.isfinite(mag)].max(initial=0.0)) or 1.0  # NaN/inf weights (file data) set no scale
        strength = np.clip(np.nan_to_num(mag / peak, nan=0.0, posinf=1.0), 0.0, 1.0)
        out.append(((s + x.src.start).astype(np.int32), (d + x.dst.start).astype(np.int32), v.astype(np.float32),
                    strength.astype(np.float32)))
    note = "; ".join(n for n in (note_f, note_r) if n)
    if not out:
        return EdgeSet.empty(note)
    src, dst, w, strength = (np.concatenate(p) for p in zip(*out))
    return EdgeSet(src, dst, w, strength, note)
