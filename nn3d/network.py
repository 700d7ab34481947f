"""The data model: a network as layers of globally indexed neurons and the connections between them.

Plain dataclasses over NumPy arrays, importing no OpenGL, so that ingest, layout and kernels can be tested
and benchmarked without a screen. A dense connection keeps its weight matrix; it is never expanded into an
edge list (GPT-2 small has ~10^8 block weights). Edge lists exist only after level-of-detail selection
(see :mod:`nn3d.layout.edges`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


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
    """

    src: int
    dst: int
    kind: str
    weight: np.ndarray
    src_index: np.ndarray | None = None
    dst_index: np.ndarray | None = None

    @property
    def n_candidates(self) -> int:
        return int(self.weight.size)


@dataclass
class Network:
    """Layers (with contiguous global neuron ranges) and their connections."""

    layers: list[Layer]
    connections: list[Connection] = field(default_factory=list)
    name: str = "network"

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
        else:
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
