"""Seeded synthetic networks of any size, for tests, benchmarks and `nn3d shot synthetic:...`."""

from __future__ import annotations

import numpy as np

from .activations import Activations
from .memory import BYTES_PER_NEURON, check_fits
from .network import Connection, Network, NetworkError


def mlp(sizes: list[int], seed: int = 0, activation: str = "relu") -> Network:
    """A dense MLP with He-initialised float32 weights; ``sizes[0]`` is the input width."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise NetworkError(f"an MLP needs at least two layer sizes >= 1, got {sizes}")
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    check_fits(8.0 * n_weights + BYTES_PER_NEURON * sum(sizes), f"an MLP of sizes {sizes} ({n_weights:,} weights)",
               "use smaller layers")
    rng = np.random.default_rng(seed)
    layers = [("input", "input", sizes[0])]
    for i, n in enumerate(sizes[1:], 1):
        act = activation if i < len(sizes) - 1 else None
        layers.append((f"dense{i}", "dense", n, act))
    conns = [
        Connection(i, i + 1, "dense", (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32))
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
    ]
    return Network.build(layers, conns, name="mlp:" + ",".join(map(str, sizes)))


def random_network(n_neurons: int, n_edges: int, n_layers: int = 8, seed: int = 0) -> Network:
    """A layered network with ``n_neurons`` neurons and ``n_edges`` random sparse edges between consecutive
    layers (edges split in proportion to the destination layers' sizes)."""
    if n_layers < 2 or n_neurons < n_layers:
        raise NetworkError(f"need at least 2 layers and one neuron per layer, got {n_neurons=} {n_layers=}")
    if n_edges < 0:
        raise NetworkError(f"the number of edges must be >= 0, got {n_edges}")
    # per edge: float32 weight, two int32 indices, their float64 generation, and the edge selection's scratch
    check_fits(40.0 * n_edges + BYTES_PER_NEURON * n_neurons,
               f"a random network of {n_neurons:,} neurons and {n_edges:,} edges", "ask for fewer neurons or edges")
    rng = np.random.default_rng(seed)
    sizes = np.full(n_layers, n_neurons // n_layers)
    sizes[: n_neurons % n_layers] += 1
    layers = [("input", "input", int(sizes[0]))] + [
        (f"layer{i}", "dense", int(s), "relu") for i, s in enumerate(sizes[1:], 1)
    ]
    per_conn = np.diff(np.round(np.cumsum(np.r_[0, sizes[1:]]) / sizes[1:].sum() * n_edges).astype(np.int64))
    conns = []
    for i, m in enumerate(per_conn):
        conns.append(
            Connection(
                i, i + 1, "sparse",
                weight=rng.standard_normal(m, dtype=np.float32),
                src_index=rng.integers(0, sizes[i], m, dtype=np.int32),
                dst_index=rng.integers(0, sizes[i + 1], m, dtype=np.int32),
            )
        )
    return Network.build(layers, conns, name=f"random:{n_neurons}:{n_edges}")


def forward(net: Network, x: np.ndarray) -> Activations:
    """Run ``x`` (input-layer values) through a synthetic network in NumPy: one frame of activations."""
    values = np.zeros(net.n_neurons, dtype=np.float32)
    values[net.layers[0].neurons] = np.asarray(x, dtype=np.float32).ravel()
    for c in net.connections:
        a = values[net.layers[c.src].neurons]
        if c.kind == "dense":
            z = c.weight @ a
        else:
            z = np.bincount(c.dst_index, c.weight * a[c.src_index], minlength=net.layers[c.dst].size)
        if net.layers[c.dst].activation == "relu":
            z = np.maximum(z, 0)
        values[net.layers[c.dst].neurons] += z.astype(np.float32)
    return Activations.single(values)


def random_activations(net: Network, seed: int = 0) -> Activations:
    """One frame from a seeded uniform random input."""
    rng = np.random.default_rng(seed)
    return forward(net, rng.random(net.layers[0].size, dtype=np.float32))
