"""The pick card: what nn3d says about one neuron: its layer, its index in the layer's own shape, its
activation (and its gradient ∂loss/∂activation, when recorded), and its strongest incoming and outgoing
connections. Plain NumPy, read straight from the weights through each connection kind's neighbours
(:data:`nn3d.connections.KINDS`), so every kind shows its partners."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .connections import KINDS
from .network import Network, NetworkError


@dataclass(frozen=True)
class NeuronInfo:
    """``incoming``/``outgoing``: (global neuron, weight, contribution) tuples, strongest |contribution| first;
    contribution is w * a of the source neuron (w alone when there are no activations)."""

    neuron: int
    layer: int
    layer_name: str
    kind: str
    index: tuple[int, ...]
    value: float | None
    incoming: tuple[tuple[int, float, float], ...]
    outgoing: tuple[tuple[int, float, float], ...]
    grad: float | None = None  # ∂loss/∂activation at this frame, when gradients were recorded

    def describe(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.4g}"
        grad = "" if self.grad is None else f", gradient {self.grad:.4g}"
        lines = [f"{self.layer_name} [{self.kind}] neuron {self.index} (#{self.neuron}): activation {value}{grad}"]
        for title, edges in (("in ", self.incoming), ("out", self.outgoing)):
            if edges:
                lines.append(f"  {title}: " + ", ".join(f"#{n} w={w:+.3g}" for n, w, _ in edges))
        return "\n".join(lines)


def _top(neurons: np.ndarray, weights: np.ndarray, contrib: np.ndarray, n: int):
    order = np.argsort(-np.abs(contrib), kind="stable")[:n]
    return [(int(neurons[i]), float(weights[i]), float(contrib[i])) for i in order]


def neuron_info(net: Network, neuron: int, values: np.ndarray | None = None, n: int = 5,
                grads: np.ndarray | None = None) -> NeuronInfo:
    """Describe global ``neuron``; ``values`` is one frame of activations (or None), ``grads`` the same frame's
    ∂loss/∂activation (or None: not recorded)."""
    if not 0 <= neuron < net.n_neurons:
        raise NetworkError(f"neuron {neuron} out of range 0..{net.n_neurons - 1}")
    li = int(net.layer_of(neuron))
    layer = net.layers[li]
    local = int(neuron) - layer.start
    incoming, outgoing = [], []
    for c in net.connections:
        src, dst, kind = net.layers[c.src], net.layers[c.dst], KINDS[c.kind]
        if c.dst == li:
            cols, w = kind.incoming(c, src, dst, local)
            if len(cols):
                a = None if values is None else values[src.start + cols]
                incoming += _top(src.start + cols, w, w if a is None else w * a, n)
        if c.src == li:
            rows, w = kind.outgoing(c, src, dst, local)
            if len(rows):
                a = None if values is None else values[neuron]
                outgoing += _top(dst.start + rows, w, w if a is None else w * a, n)
    incoming = sorted(incoming, key=lambda e: -abs(e[2]))[:n]
    outgoing = sorted(outgoing, key=lambda e: -abs(e[2]))[:n]
    index = tuple(int(i) for i in np.unravel_index(local, layer.shape))
    value = None if values is None else float(values[neuron])
    grad = None if grads is None else float(grads[neuron])
    return NeuronInfo(int(neuron), li, layer.name, layer.kind, index, value, tuple(incoming), tuple(outgoing), grad)
