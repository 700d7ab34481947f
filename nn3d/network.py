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

Connection kinds (``Connection.kind``) and what each means: :mod:`nn3d.connections`, one registry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .connections import KINDS, Connection
from .hierarchy import Block, blocks_of

__all__ = ["Connection", "Layer", "Network", "NetworkError"]  # Connection lives in nn3d.connections


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
        kind = KINDS.get(c.kind)
        if kind is None:
            raise NetworkError(f"unknown connection kind {c.kind!r}; kinds: {', '.join(KINDS)}")
        problem = kind.check(c, self.layers[c.src], self.layers[c.dst])
        if problem:
            raise NetworkError(problem)

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
