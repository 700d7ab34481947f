"""Compiled kernels on values and indices that come from files: NaN, ±inf, huge values, empty and one-neuron
layers, sparse indices at the ends of their range. Run as usual, and once more by ``test_boundscheck.py`` in a
subprocess with ``NUMBA_BOUNDSCHECK=1`` (fresh cache), where any out-of-bounds read raises IndexError."""

import os

import numpy as np
import pytest

from nn3d import kernels as K
from nn3d.kernels import reference as ref
from nn3d.layout import layout, select_edges
from nn3d.network import Connection, Network, NetworkError

HOSTILE = [np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-45, 0.0]


def hostile_values(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(np.float32)
    x[rng.integers(0, n, n // 3 + 1)] = rng.choice(np.array(HOSTILE, np.float32), n // 3 + 1)
    return x


@pytest.mark.parametrize("starts", [[0], [0, 1], [0, 1, 2, 3], [0, 7, 8, 50], [0, 99]])
@pytest.mark.parametrize("mode", ["layer", "global"])
def test_levels_on_hostile_values_equal_the_reference(starts, mode):
    x = hostile_values(100, len(starts))
    got = K.levels(x, np.array(starts), mode, kernel="numba")
    np.testing.assert_array_equal(got, ref.levels(x, np.array(starts), mode=mode))


def test_levels_of_all_nan_all_inf_and_single_neuron_layers():
    x = np.array([np.nan, np.nan, np.inf, np.inf, -np.inf, 5.0], np.float32)
    starts = np.array([0, 2, 4, 5])
    np.testing.assert_array_equal(K.levels(x, starts, kernel="numba"), ref.levels(x, starts))


def hostile_network(value: float) -> Network:
    """Dense, conv, sparse and identity connections whose weights hold ``value`` among ordinary ones."""
    rng = np.random.default_rng(1)
    layers = [("in", "input", (2, 5, 5), None), ("conv", "conv", (3, 5, 5), None), ("fc", "dense", (7,), None),
              ("sp", "dense", (4,), None), ("id", "dense", (4,), None)]
    wc = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    wd = rng.standard_normal((7, 75)).astype(np.float32)
    wc[0, 0, 0, 0] = wd[0, 0] = wd[6, 74] = value
    src, dst = np.array([0, 6, 3, 6], np.int32), np.array([0, 3, 3, 0], np.int32)  # both ends of both ranges
    conns = [Connection(0, 1, "conv", wc, params={"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1),
                                                   "groups": 1}),
             Connection(1, 2, "dense", wd),
             Connection(2, 3, "sparse", np.array([value, 1, -1, value], np.float32), src, dst),
             Connection(3, 4, "identity", np.empty(0, np.float32))]
    return Network.build(layers, conns, name="hostile")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 3e38, 0.0])
@pytest.mark.parametrize("rule", ["weight", "contribution"])
def test_edge_selection_and_layout_on_hostile_weights_and_activations(value, rule):
    net = hostile_network(value)
    acts = hostile_values(net.n_neurons, 3)
    for k, budget in [(1, 5), (4, 40), (100, 10_000)]:
        edges = select_edges(net, k=k, budget=budget, activations=acts, rule=rule)
        assert len(edges) <= budget
        if len(edges):
            assert 0 <= edges.src.min() and edges.src.max() < net.n_neurons
            assert 0 <= edges.dst.min() and edges.dst.max() < net.n_neurons
    pos = layout(net).positions
    assert pos.shape == (net.n_neurons, 3) and np.isfinite(pos).all()


@pytest.mark.parametrize("src, dst", [([0, 7], [0, 0]), ([0, -1], [0, 0]), ([0, 0], [4, 0]),
                                      ([0, 2**31 - 1], [0, 0]), ([0, 0], [-2**31, 0])])
def test_sparse_indices_out_of_range_never_reach_a_kernel(src, dst):
    layers = [("a", "input", (7,), None), ("b", "dense", (4,), None)]
    c = Connection(0, 1, "sparse", np.ones(2, np.float32), np.array(src, np.int32), np.array(dst, np.int32))
    with pytest.raises(NetworkError, match="outside"):
        Network.build(layers, [c])


@pytest.mark.skipif(os.environ.get("NUMBA_BOUNDSCHECK") != "1", reason="only meaningful with NUMBA_BOUNDSCHECK=1")
def test_bounds_checks_are_on():
    from numba import njit

    @njit
    def read(a, i):
        return a[i]

    with pytest.raises(IndexError):
        read(np.zeros(3), 5)
