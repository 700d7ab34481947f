"""The data model: a network as layers of globally indexed neurons and the connections between them.

Plain dataclasses over NumPy arrays, importing no OpenGL, so that ingest, layout and kernels can be tested
and benchmarked without a screen. A dense connection keeps its weight matrix; it is never expanded into an
edge list (GPT-2 small has ~10^8 block weights). Edge lists exist only after level-of-detail selection
(see :mod:`nn3d.layout.edges`).

Layer kinds (``Layer.kind``), as produced by :mod:`nn3d.ingest`:

``input`` model inputs (token ids become a (tokens,) layer); ``dense`` Linear / transformers ``Conv1D``;
``conv`` Conv1d/Conv2d feature maps (channels, *spatial); ``pool`` max/avg/adaptive pooling; ``norm``
BatchNorm/LayerNorm/GroupNorm/RMSNorm; ``embedding`` lookup tables (tokens, dim); ``attention``
nn.MultiheadAttention and the attention core of transformers blocks (heads mixed, (tokens, dim));
``add`` residual additions; ``concat`` concatenation; ``activation`` an elementwise function that could not
be folded into the layer before it (folded ones set ``Layer.activation`` instead); ``generic`` anything else
(unknown modules and functional ops), drawn without weights.

Connection kinds (``Connection.kind``): see :class:`Connection`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .hierarchy import Block, blocks_of


class NetworkError(ValueError):
    """A network that nn3d cannot draw, with a message meant for the user."""


@dataclass(frozen=True)
class Layer:
    """One layer: its neurons are the elements of its output for one sample.

    ``start`` is the global index of its first neuron; its neurons are ``start .. start + size - 1``,
    in C order over ``shape``.
    """

    name: str
    kind: str  # "input", "dense", "generic", ...
    shape: tuple[int, ...]
    start: int = 0
    activation: str | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def stop(self) -> int:
        return self.start + self.size

    @property
    def neurons(self) -> slice:
        return slice(self.start, self.stop)


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


def _check_index(index: np.ndarray, size: int, what: str) -> None:
    """Indices that compiled kernels will use unchecked: integers in ``0 .. size - 1`` (files can hold anything)."""
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise NetworkError(f"{what} has dtype {index.dtype}, expected integers")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= size):
        raise NetworkError(f"{what} holds values in {int(index.min())}..{int(index.max())}, outside 0..{size - 1}")


@dataclass
class Network:
    """Layers (with contiguous global neuron ranges) and their connections."""

    layers: list[Layer]
    connections: list[Connection] = field(default_factory=list)
    name: str = "network"
    blocks: tuple[Block, ...] = ()
    """The model's blocks when ingest knew them; :attr:`structure` falls back to :func:`blocks_of`."""

    def __post_init__(self) -> None:
        if not self.layers:
            raise NetworkError(f"network {self.name!r} has no layers: nothing to draw")
        start = 0
        for i, layer in enumerate(self.layers):
            if layer.start != start:
                raise NetworkError(f"layer {i} ({layer.name}) starts at {layer.start}, expected {start}")
            if layer.size <= 0:
                raise NetworkError(f"layer {layer.name!r} has shape {layer.shape}: no neurons")
            start = layer.stop
        for c in self.connections:
            self._check_connection(c)
        for b in self.blocks:
            if not b.layers or not all(0 <= i < len(self.layers) for i in b.layers):
                raise NetworkError(f"block {b.name!r} names no layers or a layer outside 0..{len(self.layers) - 1}")

    @property
    def structure(self) -> tuple[Block, ...]:
        """The model's blocks (:mod:`nn3d.hierarchy`): the ones ingest gave, else recognised from layer names."""
        return self.blocks or blocks_of(self)

    def _check_connection(self, c: Connection) -> None:
        n = len(self.layers)
        if not (0 <= c.src < n and 0 <= c.dst < n):
            raise NetworkError(f"connection {c.src}->{c.dst} names a layer outside 0..{n - 1}")
        src, dst = self.layers[c.src], self.layers[c.dst]
        if c.kind == "dense":
            if c.weight.shape != (dst.size, src.size):
                raise NetworkError(
                    f"dense {src.name}->{dst.name}: weight shape {c.weight.shape}, "
                    f"expected {(dst.size, src.size)}"
                )
        elif c.kind == "sparse":
            if c.src_index is None or c.dst_index is None or not (
                len(c.src_index) == len(c.dst_index) == len(c.weight)
            ):
                raise NetworkError(f"sparse {src.name}->{dst.name}: index and weight arrays differ in length")
            _check_index(c.src_index, src.size, f"sparse {src.name}->{dst.name}: src_index")
            _check_index(c.dst_index, dst.size, f"sparse {src.name}->{dst.name}: dst_index")
        elif c.kind == "linear":
            w = c.weight.shape
            if (
                c.weight.ndim != 2 or src.shape[-1] != w[1] or dst.shape[-1] != w[0]
                or src.size // w[1] != dst.size // w[0]
            ):
                raise NetworkError(
                    f"linear {src.name}->{dst.name}: weight {w} does not map {src.shape} to {dst.shape}"
                )
        elif c.kind == "conv":
            groups = int((c.params or {}).get("groups", 1))
            if (
                c.weight.ndim != len(src.shape) + 1 or c.weight.ndim != len(dst.shape) + 1
                or c.weight.shape[1] * groups != src.shape[0] or c.weight.shape[0] != dst.shape[0]
            ):
                raise NetworkError(
                    f"conv {src.name}->{dst.name}: kernel {c.weight.shape} (groups {groups}) does not map "
                    f"{src.shape} to {dst.shape}"
                )
        elif c.kind == "pool":
            if src.shape[0] != dst.shape[0] or len(src.shape) != len(dst.shape):
                raise NetworkError(f"pool {src.name}->{dst.name}: {src.shape} -> {dst.shape} changes channels")
        elif c.kind == "embedding":
            if c.weight.ndim != 2 or c.weight.shape[1] != dst.shape[-1]:
                raise NetworkError(f"embedding {src.name}->{dst.name}: table {c.weight.shape}, dst {dst.shape}")
        elif c.kind == "identity":
            if c.dst_index is None and src.size != dst.size:
                raise NetworkError(f"identity {src.name}->{dst.name}: sizes {src.size} and {dst.size} differ")
            if c.dst_index is not None:
                if len(c.dst_index) != src.size:
                    raise NetworkError(f"identity {src.name}->{dst.name}: dst_index does not fit the layers")
                _check_index(c.dst_index, dst.size, f"identity {src.name}->{dst.name}: dst_index")
        elif c.kind != "generic":
            raise NetworkError(f"unknown connection kind {c.kind!r}")

    @classmethod
    def build(cls, layers: list[tuple], connections: list[Connection] = (), name: str = "network") -> Network:
        """Make a network from ``(name, kind, shape[, activation])`` tuples, assigning neuron ranges."""
        out, start = [], 0
        for spec in layers:
            layer_name, kind, shape, *rest = spec
            shape = tuple(int(s) for s in np.atleast_1d(shape))
            out.append(Layer(layer_name, kind, shape, start, rest[0] if rest else None))
            start += math.prod(shape)
        return cls(out, list(connections), name)

    @property
    def n_neurons(self) -> int:
        return self.layers[-1].stop

    @property
    def starts(self) -> np.ndarray:
        """Global index of each layer's first neuron, int64 (n_layers,)."""
        return np.array([layer.start for layer in self.layers], dtype=np.int64)

    def layer_of(self, neurons: np.ndarray | int) -> np.ndarray:
        """Index of the layer that holds each global neuron index."""
        return np.searchsorted(self.starts, neurons, side="right") - 1

    def layer_index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(f"no layer named {name!r}; layers: {[layer.name for layer in self.layers]}")

    def summary(self) -> str:
        lines = [f"{self.name}: {len(self.layers)} layers, {self.n_neurons:,} neurons"]
        for layer in self.layers:
            act = f" +{layer.activation}" if layer.activation else ""
            lines.append(f"  {layer.name:<16} {layer.kind}{act:<10} {'x'.join(map(str, layer.shape))}")
        return "\n".join(lines)
