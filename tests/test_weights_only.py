"""A weights-only file (a state dict, no activations): edges are ranked by |w|, and the user is told."""

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("safetensors.torch")


def test_weights_only_safetensors_draws_edges_ranked_by_weight(tmp_path, caplog):
    import nn3d
    from nn3d.render.explorer import Explorer

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    path = tmp_path / "w.safetensors"
    st.save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(path))
    net, acts = nn3d.load(path)
    assert acts.blank
    with caplog.at_level(logging.INFO, logger="nn3d"):
        ex = Explorer(net, acts, size=(320, 240), k=2)
    try:
        assert ex.rule == "weight"
        said = [r.message for r in caplog.records]
        assert said.count("nn3d: no activations to rank edges by: edges ranked by |w|") == 1
        edges = ex.scene.edges_set
        assert len(edges) > 0 and np.all(edges.strength > 0)
    finally:
        ex.close()
