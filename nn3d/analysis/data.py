"""The analysis panels' data, in plain NumPy: heatmaps, histogram stacks, curves, filters, attention, functions.

Each function takes arrays and returns arrays (or a small frozen dataclass of them), so every panel's content
can be checked against NumPy without drawing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..connections import KINDS
from ..network import Connection, Network, NetworkError

HEATMAP_MAX = 256  # most rows / columns of a heatmap image; larger matrices are pooled into blocks


# -- weight matrices ---------------------------------------------------------------------------------------
def as_matrix(conn: Connection, weight: np.ndarray | None = None) -> np.ndarray:
    """A connection's weights as a 2-D (outputs, inputs) matrix: dense and linear as they are, a conv kernel
    as (out_channels, in_channels/groups * kernel), an embedding table as (entries, dim)."""
    w = conn.weight if weight is None else weight
    if conn.kind == "sparse":
        raise NetworkError("a sparse connection has no weight matrix to draw (only its edges)")
    if w.size == 0:
        raise NetworkError(f"a {conn.kind} connection holds no weights")
    w = np.asarray(w, dtype=np.float32)
    return w.reshape(w.shape[0], -1) if w.ndim != 2 else w


def block_edges(n: int, m: int) -> np.ndarray:
    """Start index of each of ``min(n, m)`` near-equal blocks covering 0..n-1 (every index in one block)."""
    return np.unique(np.linspace(0, n, min(n, m) + 1).astype(np.int64)[:-1])


@dataclass(frozen=True)
class Heatmap:
    """``values``: float32 (rows, cols) image of a weight matrix of shape ``source_shape``; pixel (i, j) pools the
    block ``row_starts[i]..``, ``col_starts[j]..`` with ``mode`` ("exact", "mean" or "maxabs")."""

    values: np.ndarray
    source_shape: tuple[int, int]
    row_starts: np.ndarray
    col_starts: np.ndarray
    mode: str


def heatmap(w: np.ndarray, max_size: int = HEATMAP_MAX, mode: str = "maxabs") -> Heatmap:
    """Pool a 2-D matrix into at most ``max_size`` x ``max_size`` blocks; nothing is dropped: every weight
    falls in exactly one block. ``mode="mean"`` averages a block, ``"maxabs"`` keeps its largest-|w| weight
    (with its sign), so a single strong weight stays visible."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D matrix, got shape {w.shape}")
    rows, cols = block_edges(w.shape[0], max_size), block_edges(w.shape[1], max_size)
    if len(rows) == w.shape[0] and len(cols) == w.shape[1]:
        return Heatmap(w.copy(), w.shape, rows, cols, "exact")
    if mode == "mean":
        sums = np.add.reduceat(np.add.reduceat(w.astype(np.float64), rows, axis=0), cols, axis=1)
        counts = np.outer(np.diff(np.r_[rows, w.shape[0]]), np.diff(np.r_[cols, w.shape[1]]))
        out = sums / counts
    elif mode == "maxabs":
        hi = np.maximum.reduceat(np.maximum.reduceat(w, rows, axis=0), cols, axis=1)
        lo = np.minimum.reduceat(np.minimum.reduceat(w, rows, axis=0), cols, axis=1)
        out = np.where(np.abs(hi) >= np.abs(lo), hi, lo)
    else:
        raise ValueError(f"unknown heatmap mode {mode!r}; use 'mean' or 'maxabs'")
    return Heatmap(out.astype(np.float32), w.shape, rows, cols, mode)


# -- histograms --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistogramStack:
    """``counts``: (n_steps, bins), one histogram per step over the shared ``edges`` (bins + 1,): int64 from
    values, float64 when rebinned from TensorBoard's buckets (:func:`bucket_stack`); ``steps``: (n_steps,) the
    training step of each row."""

    steps: np.ndarray
    edges: np.ndarray
    counts: np.ndarray


def histogram_stack(snapshots, steps=None, bins: int = 40) -> HistogramStack:
    """Histograms of each snapshot (any shape, flattened) over one range spanning them all, as TensorBoard's
    stacked distributions; non-finite values are left out."""
    flat = [np.asarray(s, dtype=np.float64).reshape(-1) for s in snapshots]
    if not flat:
        raise ValueError("no snapshots to histogram")
    finite = [f[np.isfinite(f)] for f in flat]
    lo = min((f.min() for f in finite if f.size), default=0.0)
    hi = max((f.max() for f in finite if f.size), default=1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = np.stack([np.histogram(f, edges)[0] for f in finite])
    steps = np.arange(len(flat)) if steps is None else np.asarray(steps)
    return HistogramStack(steps, edges, counts)


def bucket_stack(buckets, steps, bins: int = 40) -> HistogramStack:
    """A stack of TensorBoard histograms (each (k, 3) rows of left edge, right edge, count, as
    :class:`nn3d.ingest.tensorboard_log.HistogramSeries` holds them) over one set of edges.

    When every step has the same bucket edges they are the stack's edges and the counts are TensorBoard's, bin
    for bin; otherwise the range spanning all steps is cut into ``bins`` equal bins and each bucket's count is
    spread over them in proportion to its overlap (a bucket of zero width goes whole to the bin holding it), so
    every step's total is kept."""
    rows = [np.asarray(b, np.float64).reshape(-1, 3) for b in buckets]
    steps = np.asarray(steps)
    if not rows:
        raise ValueError("no histograms to stack")
    first = rows[0]
    if first.size and all(r.shape == first.shape and np.array_equal(r[:, :2], first[:, :2]) for r in rows):
        edges = np.r_[first[:, 0], first[-1, 1]]
        if np.all(np.diff(edges) > 0):
            return HistogramStack(steps, edges, np.stack([r[:, 2] for r in rows]))
    filled = [r for r in rows if r.size]
    lo = min((r[:, 0].min() for r in filled), default=0.0)
    hi = max((r[:, 1].max() for r in filled), default=1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = np.zeros((len(rows), bins))
    for i, r in enumerate(rows):
        left, right, n = r[:, 0:1], r[:, 1:2], r[:, 2:3]
        overlap = np.clip(np.minimum(right, edges[1:]) - np.maximum(left, edges[:-1]), 0, None)
        width = (right - left)[:, 0]
        share = np.divide(overlap, width[:, None], out=np.zeros_like(overlap), where=width[:, None] > 0)
        point = np.clip(np.searchsorted(edges, left[:, 0], "right") - 1, 0, bins - 1)
        share[width <= 0] = 0.0
        share[np.flatnonzero(width <= 0), point[width <= 0]] = 1.0
        counts[i] = (share * n).sum(axis=0)
    return HistogramStack(steps, edges, counts)


# -- curves ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curves:
    """Training curves: ``series`` maps a name to (steps, values) float64 arrays (NaNs removed)."""

    series: dict
    cursor: float | None = None

    def at(self, name: str, step: float) -> float:
        """The value of curve ``name`` at the logged step nearest ``step``."""
        s, v = self.series[name]
        return float(v[np.argmin(np.abs(s - step))])


def curves(steps, loss, metrics: dict | None = None, cursor: float | None = None) -> Curves:
    steps = np.asarray(steps, dtype=np.float64)
    series = {}
    for name, values in {"loss": loss, **(metrics or {})}.items():
        v = np.asarray(values, dtype=np.float64)
        keep = np.isfinite(v)
        if keep.any():
            series[name] = (steps[keep], v[keep])
    return Curves(series, cursor)


def nearest(values, x: float) -> int:
    """Index of the entry of ``values`` nearest ``x``."""
    return int(np.argmin(np.abs(np.asarray(values, dtype=np.float64) - x)))


# -- conv filters ------------------------------------------------------------------------------------------
def filter_mosaic(kernel: np.ndarray, max_out: int = 64, max_in: int = 16, gap: int = 1):
    """Conv filters as small images in one mosaic: row o, column i holds ``kernel[o, i]`` (a 1-D kernel is one
    row of pixels); with one input channel the output channels wrap into a near-square grid instead. Cells
    are separated by ``gap`` NaN pixels. Returns (mosaic float32, corners int (n_out, n_in, 2): the (row,
    column) of each cell's top-left pixel)."""
    k = np.asarray(kernel, dtype=np.float32)
    if k.ndim == 3:
        k = k[:, :, None, :]
    if k.ndim != 4:
        raise NetworkError(f"conv filters need a 1-D or 2-D kernel (out, in, [h,] w), got shape {kernel.shape}")
    k = k[:max_out, :max_in]
    n_out, n_in, h, w = k.shape
    o, i = np.meshgrid(np.arange(n_out), np.arange(n_in), indexing="ij")
    if n_in == 1:
        cols = int(np.ceil(np.sqrt(n_out)))
        cell_r, cell_c = o // cols, o % cols
    else:
        cell_r, cell_c = o, i
    corners = np.stack([cell_r * (h + gap), cell_c * (w + gap)], axis=-1)
    out = np.full(((cell_r.max() + 1) * (h + gap) - gap, (cell_c.max() + 1) * (w + gap) - gap), np.nan, np.float32)
    for a in range(n_out):
        for b in range(n_in):
            r, c = corners[a, b]
            out[r : r + h, c : c + w] = k[a, b]
    return out, corners


# -- attention ---------------------------------------------------------------------------------------------
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def attention_from_qkv(q: np.ndarray, k: np.ndarray, n_heads: int, causal: bool = True) -> np.ndarray:
    """Attention probabilities (heads, tokens, tokens) from query and key activations (tokens, dim):
    softmax(q_h k_h^T / sqrt(dim / heads)) per head, future tokens masked when ``causal``."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    t, d = q.shape
    if d % n_heads:
        raise NetworkError(f"attention width {d} does not split into {n_heads} heads")
    hd = d // n_heads
    qh, kh = q.reshape(t, n_heads, hd).transpose(1, 0, 2), k.reshape(-1, n_heads, hd).transpose(1, 0, 2)
    scores = qh @ kh.transpose(0, 2, 1) / np.sqrt(hd)
    if causal:
        scores = np.where(np.tril(np.ones((t, kh.shape[1]), bool)), scores, -np.inf)
    return softmax(scores).astype(np.float32)


# -- activation functions ----------------------------------------------------------------------------------
def _gelu(x):
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


SELU = (1.0507009873554805, 1.6732632423543772)
FUNCTIONS = {
    "relu": lambda x: np.maximum(x, 0), "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x), "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: SELU[0] * np.where(x > 0, x, SELU[1] * np.expm1(x)), "sigmoid": _sigmoid,
    "tanh": np.tanh, "gelu": _gelu, "gelu_tanh": _gelu_tanh, "gelu_new": _gelu_tanh,
    "silu": lambda x: x * _sigmoid(x), "softplus": lambda x: np.logaddexp(0, x),
    "mish": lambda x: x * np.tanh(np.logaddexp(0, x)), "hardtanh": lambda x: np.clip(x, -1, 1),
    "hardswish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
}


def activation_curve(name: str, lo: float = -4.0, hi: float = 4.0, n: int = 201):
    """(x, f(x)) for an elementwise activation function by nn3d's name for it (``Layer.activation``)."""
    if name not in FUNCTIONS:
        raise NetworkError(f"no plot for activation {name!r}; known: {', '.join(sorted(FUNCTIONS))}")
    x = np.linspace(lo, hi, n)
    return x, np.asarray(FUNCTIONS[name](x), dtype=np.float64)


# -- which weights belong to a layer -----------------------------------------------------------------------
def incoming_weighted(net: Network, layer: int) -> int | None:
    """Index of the connection with weights that feeds ``layer`` (the first one), or None."""
    for i, c in enumerate(net.connections):
        if c.dst == layer and c.weight.size and KINDS[c.kind].matrix_row is not None:
            return i
    return None


def matrix_row(net: Network, conn: Connection, neuron: int) -> int:
    """The row of ``as_matrix(conn)`` that holds the incoming weights of global neuron ``neuron`` (in
    ``conn.dst``): its index for dense, its feature for linear/embedding (tokens share rows), its channel
    for conv (each kind's ``matrix_row`` in :data:`nn3d.connections.KINDS`)."""
    layer = net.layers[conn.dst]
    local = int(neuron) - layer.start
    if not 0 <= local < layer.size:
        raise ValueError(f"neuron {neuron} is not in layer {layer.name!r}")
    row = KINDS[conn.kind].matrix_row
    if row is None:
        raise NetworkError(f"a {conn.kind} connection has no weight matrix")
    return int(row(conn, layer, local))


def weighted_layers(net: Network) -> list[int]:
    return [i for i in range(len(net.layers)) if incoming_weighted(net, i) is not None]
