import numpy as np
import pytest

from nn3d import synthetic
from nn3d.layout import grid_layout, grid_shape
from nn3d.network import Network

NETWORKS = [
    synthetic.mlp([784, 256, 128, 10]),
    synthetic.mlp([3, 1, 2]),
    Network.build([("img", "input", (8, 8)), ("h", "dense", 1000), ("o", "dense", 1)]),
    synthetic.random_network(50_000, 10_000, n_layers=5),
]


@pytest.mark.parametrize("net", NETWORKS, ids=lambda n: n.name)
def test_layout_invariants(net):
    lay = grid_layout(net)
    assert lay.positions.shape == (net.n_neurons, 3) and lay.positions.dtype == np.float32
    assert np.isfinite(lay.positions).all()
    for i, layer in enumerate(net.layers):  # every neuron inside its layer's box
        p = lay.positions[layer.neurons]
        assert (p >= lay.boxes[i, 0]).all() and (p <= lay.boxes[i, 1]).all()
    for i in range(len(net.layers)):  # no two layers' boxes overlap
        for j in range(i + 1, len(net.layers)):
            a, b = lay.boxes[i], lay.boxes[j]
            assert ((a[1] <= b[0]) | (b[1] <= a[0])).any(), (i, j)
    np.testing.assert_allclose(lay.bounds.mean(0), 0, atol=1e-4)  # centred
    # planes along the depth axis, in layer order; no two neurons of a layer at the same place
    assert np.all(np.diff(lay.boxes[:, 0, 0]) > 0)
    for layer in net.layers:
        yz = lay.positions[layer.neurons][:, 1:]
        assert len(np.unique(yz, axis=0)) == layer.size


def test_image_layer_keeps_image_order():
    net = Network.build([("img", "input", (3, 5)), ("o", "dense", 2)])
    p = grid_layout(net).positions[:15].reshape(3, 5, 3)
    assert np.all(np.diff(p[:, :, 1], axis=1) > 0)  # columns go along +y
    assert np.all(np.diff(p[:, :, 2], axis=0) < 0)  # row 0 on top (+z)


def test_grid_shape_is_near_square():
    assert grid_shape((10,)) == (3, 4)
    assert grid_shape((16,)) == (4, 4)
    assert grid_shape((1,)) == (1, 1)
    assert grid_shape((7, 9)) == (7, 9)
    for n in (2, 17, 1000, 12345):
        rows, cols = grid_shape((n,))
        assert rows * cols >= n and cols - rows <= 1 and (rows - 1) * cols < n
