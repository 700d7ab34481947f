"""Broken networks trained for real, recorded with TrainingRecorder(grads=True), against healthy twins (#17):
the gradient-flow data show the vanishing layers of a deep sigmoid MLP with a tiny init, and the dead units of
a ReLU net with a large negative bias are flagged."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from nn3d import Activations  # noqa: E402
from nn3d.analysis.gradflow import gradflow  # noqa: E402
from nn3d.analysis.units import unit_flags  # noqa: E402
from nn3d.recorder import Recording, TrainingRecorder  # noqa: E402


def task(n=256, d=16, k=4):
    """A fixed classification task: Gaussian inputs, labels from a random linear teacher."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    return x, (x @ torch.randn(d, k, generator=g)).argmax(1)


def mlp(act, depth, width, std=None, first_bias=None):
    """``depth`` hidden Linear+``act`` layers of ``width`` and a 4-way output; ``std``: normal weights of that
    std and zero biases (default: PyTorch's init); ``first_bias``: the first hidden layer's bias, constant."""
    torch.manual_seed(0)
    layers, d = [], 16
    for i in range(depth):
        lin = nn.Linear(d, width)
        if std is not None:
            nn.init.normal_(lin.weight, 0.0, std)
            nn.init.zeros_(lin.bias)
        if first_bias is not None and i == 0:
            nn.init.constant_(lin.bias, first_bias)
        layers += [lin, act()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, 4))


def train(model, path, steps=21, every=10):
    """Adam on the task, recording the probe batch's gradients every ``every`` steps; returns the Recording."""
    x, y = task()
    rec = TrainingRecorder(model, x[:8], every=every, grads=True, loss_fn=F.cross_entropy, probe_targets=y[:8],
                           autosave=0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for s in range(steps):
        i = torch.randint(0, len(x), (32,), generator=torch.Generator().manual_seed(s))
        loss = F.cross_entropy(model(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        rec.step(loss=loss)  # after backward, before the next zero_grad: the weight gradients are there
        opt.step()
    return Recording(rec.save(path))


def all_probe_frames(rec: Recording) -> Activations:
    """Every probe sample at every record as one frame each (flags hold over all of them)."""
    n = rec.network.n_neurons
    return Activations(np.asarray(rec.frames).reshape(-1, n), grads=np.asarray(rec.grads).reshape(-1, n))


def hidden(net):
    return [i for i, la in enumerate(net.layers) if la.activation in ("sigmoid", "tanh", "relu")]


def test_vanishing_gradients_of_a_tiny_sigmoid_mlp_against_a_healthy_twin(tmp_path):
    broken = train(mlp(nn.Sigmoid, 6, 32, std=1e-2), tmp_path / "sigmoid.nn3d")
    healthy = train(mlp(nn.Tanh, 6, 32), tmp_path / "tanh.nn3d")  # same shape, a zero-centred activation
    ratios = {}
    for name, rec in (("broken", broken), ("healthy", healthy)):
        flow = gradflow(rec.network, rec.activations(0), rec.record_steps)
        assert flow.norms.shape == (len(rec.network.layers), len(rec.record_steps))
        assert np.isfinite(flow.norms).all() and flow.steps.tolist() == [0, 10, 20]
        h = hidden(rec.network)
        assert len(h) == 6
        if name == "broken":  # each layer back towards the input gets less gradient, at every recorded step
            assert (np.diff(flow.log_norms()[h], axis=0) > 0).all()
        ratios[name] = flow.norms[h[0]] / flow.norms[h[-1]]  # first hidden layer's share of the last one's
    assert (ratios["broken"] < 1e-3).all()  # vanished: orders of magnitude lost over 5 layers
    assert (ratios["healthy"] > 1e-2).all()
    assert (ratios["broken"] < 1e-2 * ratios["healthy"]).all()


def test_dead_relu_units_of_a_negative_bias_against_a_healthy_twin(tmp_path):
    broken = train(mlp(nn.ReLU, 2, 64, first_bias=-10.0), tmp_path / "dead.nn3d")
    healthy = train(mlp(nn.ReLU, 2, 64), tmp_path / "alive.nn3d")
    dead_share, zero_input = {}, {}
    for name, rec in (("broken", broken), ("healthy", healthy)):
        net = rec.network
        first = hidden(net)[0]
        flags = unit_flags(net, all_probe_frames(rec))
        dead_share[name] = flags.counts(net)["dead"][first] / net.layers[first].size
        zero_input[name] = bool(flags.zero_grad[net.layers[0].neurons].all())
        assert not flags.saturated.any()  # a ReLU has no flat top
        flow = gradflow(net, rec.activations(0), rec.record_steps)
        if name == "broken":  # nothing flows back through a layer that never activates
            assert (flow.norms[0] == 0).all() and (flow.norms[1:] > 0).all()
    assert dead_share["broken"] == 1.0 and dead_share["healthy"] < 0.25
    assert zero_input == {"broken": True, "healthy": False}  # the inputs' gradient: always zero behind the dead layer


def test_saturated_sigmoid_units_of_a_large_bias_are_flagged(tmp_path):
    rec = train(mlp(nn.Sigmoid, 2, 32, first_bias=8.0), tmp_path / "pinned.nn3d", steps=11)
    net = rec.network
    flags = unit_flags(net, all_probe_frames(rec))
    first, second = (flags.counts(net)["saturated"][i] for i in hidden(net))
    assert first == 32 and second < 8  # sigmoid(8 +- a few) > 0.98: pinned at 1; the next layer is not
    assert not flags.dead.any()  # a sigmoid never dies, it saturates


def test_plot_gradflow_of_a_recording_and_its_one_line_error(tmp_path, capsys):
    from nn3d.cli import main

    rec = train(mlp(nn.Sigmoid, 3, 16, std=1e-2), tmp_path / "run.nn3d", steps=21)
    out = tmp_path / "flow.png"
    assert main(["plot", str(rec.path), "--panel", "gradflow", "--size", "400x240", "-o", str(out)]) == 0
    import imageio.v3 as iio

    img = iio.imread(out)
    assert img.shape == (240, 400, 4) and len(np.unique(img.reshape(-1, 4)[:, :3], axis=0)) > 8
    plain = tmp_path / "plain.nn3d"
    x, _ = task()
    rec2 = TrainingRecorder(mlp(nn.ReLU, 1, 8), x[:4], every=1, autosave=0)
    rec2.step(loss=1.0)
    rec2.save(plain)
    capsys.readouterr()
    assert main(["plot", str(plain), "--panel", "gradflow", "-o", str(tmp_path / "no.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no recorded gradients" in err and "grads=True" in err
