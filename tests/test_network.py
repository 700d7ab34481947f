import numpy as np
import pytest

from nn3d import synthetic
from nn3d.network import Connection, Network, NetworkError


def test_build_assigns_contiguous_ranges():
    net = Network.build([("in", "input", (8, 8)), ("h", "dense", 5, "relu"), ("out", "dense", 3)])
    assert [layer.start for layer in net.layers] == [0, 64, 69]
    assert net.n_neurons == 72
    assert net.layers[1].activation == "relu"
    np.testing.assert_array_equal(net.layer_of(np.array([0, 63, 64, 68, 69, 71])), [0, 0, 1, 1, 2, 2])
    assert net.layer_index("h") == 1
    with pytest.raises(KeyError, match="no layer named"):
        net.layer_index("nope")


def test_empty_network_and_bad_weights_are_refused():
    with pytest.raises(NetworkError, match="no layers"):
        Network([])
    with pytest.raises(NetworkError, match="no neurons"):
        Network.build([("in", "input", (0,))])
    with pytest.raises(NetworkError, match="weight shape"):
        Network.build([("a", "input", 4), ("b", "dense", 3)], [Connection(0, 1, "dense", np.zeros((4, 3)))])
    with pytest.raises(NetworkError, match="outside"):
        Network.build([("a", "input", 4)], [Connection(0, 1, "dense", np.zeros((4, 4)))])


def test_synthetic_mlp_is_seeded_and_keeps_dense_matrices():
    a, b = synthetic.mlp([784, 256, 10], seed=3), synthetic.mlp([784, 256, 10], seed=3)
    assert a.n_neurons == 784 + 256 + 10
    assert [c.weight.shape for c in a.connections] == [(256, 784), (10, 256)]
    assert all(c.weight.dtype == np.float32 for c in a.connections)
    np.testing.assert_array_equal(a.connections[0].weight, b.connections[0].weight)
    assert not np.array_equal(a.connections[0].weight, synthetic.mlp([784, 256, 10], seed=4).connections[0].weight)


def test_random_network_has_requested_size():
    net = synthetic.random_network(100_000, 1_000_000, n_layers=7, seed=1)
    assert net.n_neurons == 100_000 and len(net.layers) == 7
    assert sum(c.n_candidates for c in net.connections) == 1_000_000
    for c in net.connections:
        assert c.src_index.max() < net.layers[c.src].size and c.dst_index.max() < net.layers[c.dst].size


def test_forward_matches_dense_relu_reference():
    net = synthetic.mlp([6, 5, 4], seed=0)
    x = np.linspace(-1, 1, 6, dtype=np.float32)
    values = synthetic.forward(net, x).frame(0)
    h = np.maximum(net.connections[0].weight @ x, 0)
    np.testing.assert_allclose(values[6:11], h, rtol=1e-6)
    np.testing.assert_allclose(values[11:], net.connections[1].weight @ h, rtol=1e-5)


@pytest.mark.parametrize("src_index, dst_index", [([0, 5], [0, 1]), ([0, 1], [0, -1]), ([0, 2**40], [0, 0]),
                                                  ([0.0, 1.0], [0, 1])])
def test_sparse_indices_outside_their_layers_are_refused(src_index, dst_index):
    """Compiled edge kernels index with these unchecked: a file must not reach them with bad ones."""
    conn = Connection(0, 1, "sparse", np.ones(2, np.float32), np.asarray(src_index), np.asarray(dst_index))
    with pytest.raises(NetworkError, match="index"):
        Network.build([("a", "input", 4), ("b", "dense", 3)], [conn])


def test_identity_dst_index_must_be_in_range():
    conn = Connection(0, 1, "identity", np.zeros(0, np.float32), dst_index=np.array([0, 1, -1]))
    with pytest.raises(NetworkError, match="dst_index"):
        Network.build([("a", "input", 3), ("b", "concat", 6)], [conn])
