"""TrainingRecorder: loss and metrics every step, activations and weights every N steps, replayed by load."""

import numpy as np
import pytest
import torch
from torch import nn

from nn3d.ingest import IngestError, load
from nn3d.ingest.recording import Recording
from nn3d.recorder import TrainingRecorder


def train(rec, model, steps, x, y, probe):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    snapshots = {}
    for i in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i % rec.every == 0:  # what the recorder must have captured at this step
            with torch.no_grad():
                snapshots[i] = [model[0].weight.clone(), model[2].weight.clone(), model(probe)]
        rec.step(loss=loss, acc=0.25 * (i % 4) if i % 2 else None)
    return snapshots


def test_recording_replays_steps_weights_and_metrics(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    x, y = torch.randn(64, 8), torch.randint(0, 4, (64,))
    probe = x[:3]
    rec = TrainingRecorder(model, probe, every=5, max_weights=200, sample_weights=16)
    snapshots = train(rec, model, 12, x, y, probe)
    path = rec.save(tmp_path / "run.nn3d")

    net, act = load(path, sample=1)
    assert act.n_frames == 3 and list(act.meta["step"]) == [0, 5, 10]
    np.testing.assert_allclose(act.meta["loss"], np.array(rec.loss)[[0, 5, 10]])
    assert act.labels[1].startswith("step 5, loss")
    np.testing.assert_array_equal(net.connections[1].weight, model[2].weight.detach().numpy())  # final weights
    for frame, step in enumerate((0, 5, 10)):  # each frame: probe sample 1's forward pass at that step
        np.testing.assert_allclose(act.values[frame, net.layers[-1].neurons], snapshots[step][2][1].numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert not np.allclose(act.values[0], act.values[-1])

    run = Recording(path)
    assert list(run.steps) == list(range(12)) and list(run.record_steps) == [0, 5, 10]
    assert np.isnan(run.metrics["acc"][0]) and run.metrics["acc"][3] == 0.75
    small = run.weights(1)[1]  # 4 x 32 = 128 weights: kept in full
    np.testing.assert_array_equal(small, snapshots[5][1].numpy())
    big = run.weights(2)[0]  # 32 x 8 = 256 > 200: a fixed sample plus statistics
    index = np.asarray(run.tensors["weight_index/0"])
    assert big.shape == (16,) and len(set(index)) == 16
    np.testing.assert_array_equal(big, snapshots[10][0].numpy().ravel()[index])
    stats = np.asarray(run.tensors["weight_stats/0"])[2]
    np.testing.assert_allclose(stats[[0, 2, 3]], [snapshots[10][0].mean(), snapshots[10][0].min(),
                                                  snapshots[10][0].max()], rtol=1e-5)


def test_recorder_rejects_bad_arguments_and_foreign_files(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="every"):
        TrainingRecorder(model, torch.zeros(1, 2), every=0)
    from nn3d.ingest import safetensors_file

    safetensors_file.write(tmp_path / "other.nn3d", {"w": np.zeros(3, np.float32)}, {"format": "something else"})
    with pytest.raises(IngestError, match="not an nn3d training recording"):
        load(tmp_path / "other.nn3d")
    rec = TrainingRecorder(model, torch.zeros(2, 2), every=1)
    rec.step(loss=1.0)
    with pytest.raises(IngestError, match="sample 5"):
        load(rec.save(tmp_path / "r.nn3d"), sample=5)
