"""The connection kinds and Activations extensions that ingest added to the data model, and their checks."""

import numpy as np
import pytest

from nn3d.activations import Activations
from nn3d.network import Connection, Network, NetworkError

E = np.empty(0, np.float32)
LAYERS = [("ids", "input", (4,)), ("tok", "embedding", (4, 6)), ("fc", "dense", (4, 3)),
          ("img", "input", (2, 5, 5)), ("conv", "conv", (3, 5, 5)), ("pool", "pool", (3, 2, 2)),
          ("cat", "concat", (7, 5, 5))]


def build(conn):
    return Network.build(LAYERS, [conn])


@pytest.mark.parametrize("conn", [
    Connection(0, 1, "embedding", np.zeros((10, 6), np.float32)),
    Connection(1, 2, "linear", np.zeros((3, 6), np.float32)),
    Connection(3, 4, "conv", np.zeros((3, 2, 3, 3), np.float32), params={"stride": (1, 1), "groups": 1}),
    Connection(3, 4, "conv", np.zeros((3, 1, 3, 3), np.float32), params={"groups": 2}),
    Connection(4, 5, "pool", E, params={"op": "max", "output_size": (2, 2)}),
    Connection(4, 6, "identity", E, dst_index=np.arange(75, dtype=np.int32) + 50),
    Connection(0, 2, "generic", E),
])
def test_new_connection_kinds_accept_fitting_shapes(conn):
    assert build(conn).connections[0] is conn


@pytest.mark.parametrize("conn, message", [
    (Connection(0, 1, "embedding", np.zeros((10, 5), np.float32)), "embedding"),
    (Connection(1, 2, "linear", np.zeros((6, 3), np.float32)), "linear"),
    (Connection(3, 4, "conv", np.zeros((3, 3, 3, 3), np.float32)), "conv"),
    (Connection(3, 5, "pool", E), "channels"),
    (Connection(1, 2, "identity", E), "sizes"),
    (Connection(4, 6, "identity", E, dst_index=np.arange(75, dtype=np.int32) + 150), "dst_index"),
    (Connection(0, 1, "mystery", E), "unknown connection kind"),
])
def test_new_connection_kinds_reject_misfits(conn, message):
    with pytest.raises(NetworkError, match=message):
        build(conn)


def test_activations_meta_allocate_and_open(tmp_path):
    values = Activations.allocate(3, 5, tmp_path / "a.npy")
    values[1] = 2.0
    values.flush()
    act = Activations.open(tmp_path / "a.npy", ("a", "b", "c"))
    assert isinstance(act.values, np.memmap) and act.values[1].tolist() == [2.0] * 5 and act.n_frames == 3
    assert Activations.allocate(2, 4).dtype == np.float32
    Activations(np.zeros((2, 3), np.float32), meta={"loss": np.array([1.0, 0.5])})
    with pytest.raises(ValueError, match="meta 'loss'"):
        Activations(np.zeros((2, 3), np.float32), meta={"loss": np.array([1.0])})
