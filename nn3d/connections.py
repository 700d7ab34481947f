"""Connection kinds in one registry: what each kind of :class:`Connection` means, kept in one place.

Each kind registers (:data:`KINDS`, a :class:`ConnectionKind`) how its arrays are checked, which neurons feed
one neuron and which one neuron feeds (with the weights: what the pick card lists), and which row of the
connection's 2-D weight matrix holds a neuron's incoming weights (what the weight panels highlight). The
candidate edges the renderer draws are built per kind too, in :data:`nn3d.layout.edges.CANDIDATES`, keyed by
the same names (a test holds the two key sets equal): adding a kind means an entry here and one there.

Plain NumPy, no import from the rest of nn3d (:mod:`nn3d.network` builds on this). A connection is never
expanded: a neuron's neighbours are computed from the weights or the kernel for that neuron alone.
Layers are passed as anything with ``name``, ``shape`` and ``size`` (:class:`nn3d.network.Layer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Connection:
    """Connections from layer ``src`` to layer ``dst`` (indices into ``Network.layers``).

    ``kind == "dense"``: ``weight`` is the (dst.size, src.size) float32 matrix.
    ``kind == "sparse"``: ``src_index``/``dst_index`` (int32, local to each layer) and ``weight`` (float32)
    are parallel arrays of equal length.
    ``kind == "linear"``: a Linear applied along the last axis of a layer with leading axes (tokens):
    ``weight`` is (out_features, in_features) = (dst.shape[-1], src.shape[-1]), shared over the leading axes.
    ``kind == "conv"``: ``weight`` is the kernel (out_channels, in_channels / groups, *kernel), never
    expanded; ``params`` holds ``stride``, ``padding``, ``dilation``, ``groups`` (tuples / int).
    ``kind == "pool"``: pooling windows, ``weight`` empty; ``params`` holds ``op`` ("max"/"avg") and
    ``kernel_size``, ``stride``, ``padding`` (or ``output_size`` for adaptive pooling).
    ``kind == "embedding"``: ``weight`` is the (num_embeddings, dst.shape[-1]) table; src holds the ids.
    ``kind == "identity"``: one-to-one, ``weight`` empty; src neuron i feeds dst neuron i, or
    ``dst_index[i]`` when given (concatenation); used for residual adds, norms, elementwise layers.
    ``kind == "generic"``: some dependency without weights (unknown ops, attention inputs), ``weight`` empty.
    """

    src: int
    dst: int
    kind: str
    weight: np.ndarray
    src_index: np.ndarray | None = None
    dst_index: np.ndarray | None = None
    params: dict | None = None

    @property
    def n_candidates(self) -> int:
        """Number of weights this connection holds (0 for weightless kinds)."""
        return int(self.weight.size)


Neighbours = tuple[np.ndarray, np.ndarray]
"""(local neuron indices int64 (m,), weights float (m,)) of one neuron's partners in the other layer."""


@dataclass(frozen=True)
class ConnectionKind:
    """What one connection kind means.

    ``check(c, src, dst)``: the problem with ``c``'s arrays as one line for the user, or None.
    ``incoming(c, src, dst, j)``: the neurons of ``src`` feeding local neuron ``j`` of ``dst``, with weights.
    ``outgoing(c, src, dst, i)``: the neurons of ``dst`` that local neuron ``i`` of ``src`` feeds.
    ``matrix_row(c, dst, j)``: the row of the 2-D weight matrix holding ``j``'s incoming weights; None for
    kinds without a weight matrix. Weightless links (identity, pooling windows, lookups) have weight 1
    (1 / window size for average pooling).
    """

    name: str
    check: Callable[..., str | None]
    incoming: Callable[..., Neighbours]
    outgoing: Callable[..., Neighbours]
    matrix_row: Callable[..., int] | None = None


KINDS: dict[str, ConnectionKind] = {}
"""Connection kind name -> :class:`ConnectionKind`."""


def register(kind: ConnectionKind) -> ConnectionKind:
    KINDS[kind.name] = kind
    return kind


NONE: Neighbours = (np.empty(0, np.int64), np.empty(0, np.float32))


def index_problem(index: np.ndarray, size: int, what: str) -> str | None:
    """Indices that compiled kernels will use unchecked must be integers in ``0 .. size - 1`` (files can hold
    anything): the problem, or None."""
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        return f"{what} has dtype {index.dtype}, expected integers"
    if index.size and (int(index.min()) < 0 or int(index.max()) >= size):
        return f"{what} holds values in {int(index.min())}..{int(index.max())}, outside 0..{size - 1}"
    return None


def _ones(n: int) -> Neighbours:
    return np.arange(n, dtype=np.int64), np.ones(n, np.float32)


def _one(i: int) -> Neighbours:
    return np.array([i], np.int64), np.ones(1, np.float32)


# -- dense -----------------------------------------------------------------------------------------------
def _dense_check(c, src, dst):
    if c.weight.shape != (dst.size, src.size):
        return f"dense {src.name}->{dst.name}: weight shape {c.weight.shape}, expected {(dst.size, src.size)}"
    return None


register(ConnectionKind(
    "dense", _dense_check,
    incoming=lambda c, src, dst, j: (np.arange(src.size, dtype=np.int64), np.asarray(c.weight[j])),
    outgoing=lambda c, src, dst, i: (np.arange(dst.size, dtype=np.int64), np.asarray(c.weight[:, i])),
    matrix_row=lambda c, dst, j: j,
))


# -- linear: one matrix shared over the leading (token) axes ---------------------------------------------
def _linear_check(c, src, dst):
    w = c.weight.shape
    if c.weight.ndim != 2 or src.shape[-1] != w[1] or dst.shape[-1] != w[0] or src.size // w[1] != dst.size // w[0]:
        return f"linear {src.name}->{dst.name}: weight {w} does not map {src.shape} to {dst.shape}"
    return None


def _linear_in(c, src, dst, j):
    n_out, n_in = c.weight.shape
    return (j // n_out) * n_in + np.arange(n_in, dtype=np.int64), np.asarray(c.weight[j % n_out])


def _linear_out(c, src, dst, i):
    n_out, n_in = c.weight.shape
    return (i // n_in) * n_out + np.arange(n_out, dtype=np.int64), np.asarray(c.weight[:, i % n_in])


register(ConnectionKind("linear", _linear_check, _linear_in, _linear_out,
                        matrix_row=lambda c, dst, j: j % c.weight.shape[0]))


# -- sparse (COO) ----------------------------------------------------------------------------------------
def _sparse_check(c, src, dst):
    what = f"sparse {src.name}->{dst.name}"
    if c.src_index is None or c.dst_index is None or not len(c.src_index) == len(c.dst_index) == len(c.weight):
        return f"{what}: index and weight arrays differ in length"
    return (index_problem(c.src_index, src.size, f"{what}: src_index")
            or index_problem(c.dst_index, dst.size, f"{what}: dst_index"))


def _sparse_in(c, src, dst, j):
    sel = np.flatnonzero(c.dst_index == j)
    return np.asarray(c.src_index[sel], np.int64), np.asarray(c.weight[sel])


def _sparse_out(c, src, dst, i):
    sel = np.flatnonzero(c.src_index == i)
    return np.asarray(c.dst_index[sel], np.int64), np.asarray(c.weight[sel])


register(ConnectionKind("sparse", _sparse_check, _sparse_in, _sparse_out))


# -- identity: neuron i to neuron i, or to dst_index[i] ---------------------------------------------------
def _identity_check(c, src, dst):
    what = f"identity {src.name}->{dst.name}"
    if c.dst_index is None:
        return None if src.size == dst.size else f"{what}: sizes {src.size} and {dst.size} differ"
    if len(c.dst_index) != src.size:
        return f"{what}: dst_index does not fit the layers"
    return index_problem(c.dst_index, dst.size, f"{what}: dst_index")


def _identity_in(c, src, dst, j):
    if c.dst_index is None:
        return _one(j)
    return _ones_at(np.flatnonzero(np.asarray(c.dst_index) == j))


def _identity_out(c, src, dst, i):
    return _one(i if c.dst_index is None else int(c.dst_index[i]))


def _ones_at(index: np.ndarray) -> Neighbours:
    return index.astype(np.int64), np.ones(len(index), np.float32)


register(ConnectionKind("identity", _identity_check, _identity_in, _identity_out))


# -- embedding: the token's id picks a row of the table ---------------------------------------------------
def _embedding_check(c, src, dst):
    if c.weight.ndim != 2 or c.weight.shape[1] != dst.shape[-1]:
        return f"embedding {src.name}->{dst.name}: table {c.weight.shape}, dst {dst.shape}"
    return None


def _embedding_tokens(c, src, dst) -> int | None:
    """Tokens of the destination when the source holds one id per token, else None (ids not in the graph)."""
    tokens = dst.size // c.weight.shape[1]
    return tokens if src.size == tokens else None


def _embedding_in(c, src, dst, j):
    return NONE if _embedding_tokens(c, src, dst) is None else _one(j // c.weight.shape[1])


def _embedding_out(c, src, dst, i):
    if _embedding_tokens(c, src, dst) is None:
        return NONE
    dim = c.weight.shape[1]
    return i * dim + np.arange(dim, dtype=np.int64), np.ones(dim, np.float32)


register(ConnectionKind("embedding", _embedding_check, _embedding_in, _embedding_out,
                        matrix_row=lambda c, dst, j: j % c.weight.shape[1]))


# -- conv and pool: receptive fields, from the kernel's geometry -----------------------------------------
def _conv_check(c, src, dst):
    groups = (c.params or {}).get("groups", 1)
    w = c.weight
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        return f"conv {src.name}->{dst.name}: groups {groups!r}, expected a positive integer"
    if w.ndim != len(src.shape) + 1 or w.ndim != len(dst.shape) + 1 or w.shape[1] * groups != src.shape[0] \
            or w.shape[0] != dst.shape[0]:
        return (f"conv {src.name}->{dst.name}: kernel {w.shape} (groups {groups}) does not map "
                f"{src.shape} to {dst.shape}")
    return _geometry_problem(c, src, dst, {"stride": 1, "dilation": 1, "padding": 0})


def _geometry_problem(c, src, dst, least: dict) -> str | None:
    """Window parameters the receptive fields are computed from (files can hold anything): one integer per
    spatial axis, each at least ``least[name]`` (a conv's padding may also be "same" or "valid")."""
    nd = len(src.shape) - 1
    for name, low in least.items():
        v = (c.params or {}).get(name)
        if v is None or (c.kind == "conv" and name == "padding" and v in ("same", "valid")):
            continue
        values = list(v) if isinstance(v, (tuple, list, np.ndarray)) else None
        if values is None or (values and (len(values) != nd or not all(
                isinstance(x, (int, np.integer)) and x >= low for x in values))):
            return f"{c.kind} {src.name}->{dst.name}: {name} {v!r}, expected {nd} integers >= {low}"
    return None


def _per_axis(value, nd: int, default: int) -> tuple[int, ...]:
    """A checked window parameter (:func:`_geometry_problem`) as ``nd`` ints; ``default`` when absent."""
    return tuple(int(v) for v in value) if value is not None and len(value) else (default,) * nd


def _adaptive_length(o: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """Window length of adaptive-pooling output positions ``o`` along one axis."""
    return -((-(o + 1) * n_in) // n_out) - o * n_in // n_out


def _windows(c, src, dst) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per spatial axis: (output position, input position, kernel offset) of every pair where the output's
    window covers the input, inside the input (padding is outside it)."""
    p = c.params or {}
    nd = len(src.shape) - 1
    axes = []
    if c.kind == "pool" and "output_size" in p:  # adaptive: torch's windows floor(o*I/O) .. ceil((o+1)*I/O)
        for n_in, n_out in zip(src.shape[1:], dst.shape[1:]):
            o = np.arange(n_out)
            lo, length = o * n_in // n_out, _adaptive_length(o, n_in, n_out)
            out = np.repeat(o, length)
            offset = np.arange(len(out)) - np.repeat(np.cumsum(length) - length, length)
            axes.append((out, lo[out] + offset, offset))
        return axes
    if c.kind == "pool":
        ks = _per_axis(p.get("kernel_size"), nd, 1)
        stride, pad, dil = _per_axis(p.get("stride"), nd, 0), _per_axis(p.get("padding"), nd, 0), (1,) * nd
        stride = tuple(s or k for s, k in zip(stride, ks))
    else:
        ks = c.weight.shape[2:]
        stride, dil = _per_axis(p.get("stride"), nd, 1), _per_axis(p.get("dilation"), nd, 1)
        pad = p.get("padding")
        if pad == "same":
            pad = tuple(d * (k - 1) // 2 for d, k in zip(dil, ks))
        pad = _per_axis(None if pad == "valid" else pad, nd, 0)
    for n_in, n_out, k, s, q, d in zip(src.shape[1:], dst.shape[1:], ks, stride, pad, dil):
        out, off = (g.ravel() for g in np.meshgrid(np.arange(n_out), np.arange(k), indexing="ij"))
        pos = out * s - q + off * d
        keep = (pos >= 0) & (pos < n_in)
        axes.append((out[keep], pos[keep], off[keep]))
    return axes


def _receptive(c, src, dst, local: int, incoming: bool) -> Neighbours:
    """The partners of one neuron of a conv or pool connection (``incoming``: ``local`` is in dst)."""
    p, pool = c.params or {}, c.kind == "pool"
    groups = src.shape[0] if pool else int(p.get("groups", 1))  # pooling: each channel its own group
    c_in, c_out = src.shape[0] // groups, dst.shape[0] // groups
    channel, *at = (int(v) for v in np.unravel_index(local, (dst if incoming else src).shape))
    group = channel // (c_out if incoming else c_in)
    width = c_in if incoming else c_out
    far, offsets = [], []  # per spatial axis: positions in the other layer, kernel offsets
    for (out, pos, off), x in zip(_windows(c, src, dst), at):
        sel = (out if incoming else pos) == x
        far.append((pos if incoming else out)[sel])
        offsets.append(off[sel])
    grid = [g.ravel() for g in np.meshgrid(np.arange(group * width, (group + 1) * width), *far, indexing="ij")]
    index = np.ravel_multi_index(grid, (src if incoming else dst).shape).astype(np.int64)
    if not pool:
        co, ci = (np.full(len(index), channel), grid[0]) if incoming else (grid[0], np.full(len(index), channel))
        k = [g.ravel() for g in np.meshgrid(np.arange(width), *offsets, indexing="ij")[1:]]
        return index, np.asarray(c.weight)[(co, ci - group * c_in, *k)]
    if p.get("op") == "max":
        return index, np.ones(len(index), np.float32)
    if "output_size" in p:  # average over each output's own window
        outs = [np.full(len(index), x) for x in at] if incoming else grid[1:]
        size = np.prod([_adaptive_length(o, n_in, n_out) for o, n_in, n_out in
                        zip(outs, src.shape[1:], dst.shape[1:])], axis=0)
    else:  # torch's default count_include_pad: the whole kernel's area
        size = np.full(len(index), np.prod(_per_axis(p.get("kernel_size"), len(at), 1)))
    return index, (1.0 / size).astype(np.float32)


def _pool_check(c, src, dst):
    if src.shape[0] != dst.shape[0] or len(src.shape) != len(dst.shape):
        return f"pool {src.name}->{dst.name}: {src.shape} -> {dst.shape} changes channels"
    return _geometry_problem(c, src, dst, {"kernel_size": 1, "stride": 0, "padding": 0, "output_size": 1})


def _conv_row(c, dst, j):
    return j // (dst.size // dst.shape[0])


register(ConnectionKind("conv", _conv_check, lambda c, s, d, j: _receptive(c, s, d, j, True),
                        lambda c, s, d, i: _receptive(c, s, d, i, False), matrix_row=_conv_row))
register(ConnectionKind("pool", _pool_check, lambda c, s, d, j: _receptive(c, s, d, j, True),
                        lambda c, s, d, i: _receptive(c, s, d, i, False)))


# -- generic: a dependency with no known neuron-to-neuron map ---------------------------------------------
register(ConnectionKind("generic", lambda c, src, dst: None, lambda c, *_: NONE, lambda c, *_: NONE))
