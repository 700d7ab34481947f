"""The engine's invariants on plain chains of every size, and the ``Layout`` type itself."""

import numpy as np
import pytest
from test_layout_engine import check_invariants

from nn3d import synthetic
from nn3d.layout import Layout, layout
from nn3d.network import Network

NETWORKS = [
    synthetic.mlp([784, 256, 128, 10]),
    synthetic.mlp([3, 1, 2]),
    Network.build([("img", "input", (8, 8)), ("h", "dense", 1000), ("o", "dense", 1)]),
    synthetic.random_network(50_000, 10_000, n_layers=5),
]


@pytest.mark.parametrize("net", NETWORKS, ids=lambda n: n.name)
def test_layout_invariants(net):
    lay = layout(net)
    check_invariants(net, lay, flow=False)
    # a chain: one layer per level, planes along the depth axis in layer order
    np.testing.assert_array_equal(lay.levels, np.arange(len(net.layers)))
    assert np.all(np.diff(lay.boxes[:, 0, 0]) > 0) and lay.n_rows == 1


def test_image_layer_keeps_image_order():
    net = Network.build([("img", "input", (3, 5)), ("o", "dense", 2)])
    p = layout(net).positions[:15].reshape(3, 5, 3)
    assert np.all(np.diff(p[:, :, 1], axis=1) > 0)  # columns go along +y
    assert np.all(np.diff(p[:, :, 2], axis=0) < 0)  # row 0 on top (+z)


def test_layout_rows_and_bounds():
    boxes = np.array([[[0, 0, 0], [1, 2, 3]], [[-4, 1, -1], [0, 5, 2]]], np.float32)
    lay = Layout(np.zeros((0, 3), np.float32), boxes, rows=np.array([0, 2], np.int32))
    assert lay.n_rows == 3 and Layout(lay.positions, boxes).n_rows == 1
    np.testing.assert_array_equal(lay.bounds, [[-4, 0, -1], [1, 5, 3]])
