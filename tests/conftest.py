import numpy as np
import pytest

from nn3d import synthetic
from nn3d.layout import EdgeSet, grid_layout, select_edges


@pytest.fixture
def small_scene():
    """A 4-3-2 MLP drawn at 480x320 with known activations (edges hidden unless a test shows them)."""
    from nn3d.render.scene import NetworkScene

    net = synthetic.mlp([4, 3, 2], seed=0)
    values = np.array([0.0, 1.0, 2.0, 3.0, 5.0, -1.0, 2.0, 0.25, 0.75], dtype=np.float32)
    scene = NetworkScene(net, grid_layout(net), select_edges(net, k=2), size=(480, 320), radius=0.15)
    scene.set_frame(values)
    scene.edges.visible = False
    yield scene, values
    scene.close()


@pytest.fixture
def no_edges():
    return EdgeSet.empty()
