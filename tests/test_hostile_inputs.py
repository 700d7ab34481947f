"""Hostile files: tiny inputs that declare huge data are refused in one line before anything is allocated."""

import pytest
import torch

from nn3d import load
from nn3d.ingest import IngestError


@pytest.mark.parametrize("shape", [(20000, 20000), (1_000_000, 1_000_000)])
def test_pt_with_expanded_tensors_is_refused(tmp_path, shape):
    path = tmp_path / "expanded.pt"
    torch.save({"fc.weight": torch.zeros(1).expand(*shape), "fc.bias": torch.zeros(shape[0])[:1]}, path)
    with pytest.raises(IngestError, match="declares .* but stores"):
        load(path)


def test_pt_with_real_weights_still_loads(tmp_path):
    path = tmp_path / "real.pt"
    torch.save(torch.nn.Linear(300, 200).state_dict(), path)
    net, _ = load(path)
    assert net.layers[0].size == 300 and net.layers[1].size == 200
