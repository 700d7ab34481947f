"""Recorded gradients (∂loss/∂activation per neuron, weight-gradient statistics) against torch.autograd."""

import logging
import os

import numpy as np
import pytest
import torch
from torch import nn

from nn3d.activations import Activations
from nn3d.ingest import IngestError, from_torch, load, safetensors_file
from nn3d.ingest.gradients import GRAD_EDGES
from nn3d.ingest.recording import Recording
from nn3d.recorder import TrainingRecorder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CE = nn.functional.cross_entropy


def module_outputs(model, inputs, loss_fn, target):
    """Reference: {module name: (per-sample flat output, ∂loss/∂output)} plus "<input>" from plain autograd."""
    outs = {}

    def keep(name):
        def hook(mod, args, out):
            t = out[0] if isinstance(out, tuple) else out
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.requires_grad and len(t) == len(x):
                outs[name] = t
        return hook

    x = inputs.detach().clone().requires_grad_(inputs.is_floating_point())
    handles = [m.register_forward_hook(keep(n)) for n, m in model.named_modules() if n]
    model.eval()
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    if x.requires_grad:
        outs["<input>"] = x
    loss = loss_fn(out, target)
    names = list(outs)
    grads = torch.autograd.grad(loss, [outs[n] for n in names], allow_unused=True)
    b = x.shape[0]
    return {n: (outs[n].detach().reshape(b, -1).numpy(), None if g is None else g.reshape(b, -1).numpy())
            for n, g in zip(names, grads)}


def check_against_autograd(model, inputs, loss_fn, target, must_match):
    """Every layer whose values are some module's output has that output's autograd gradient."""
    net, act = from_torch(model, inputs, loss_fn=loss_fn, target=target)
    assert act.grads is not None and act.grads.shape == act.values.shape and act.grads.dtype == np.float32
    assert np.isfinite(act.grads).all()
    ref = module_outputs(model, inputs, loss_fn, target)
    matched = []
    for layer in net.layers:
        values, grads = act.values[:, layer.neurons], act.grads[:, layer.neurons]
        name = "<input>" if layer.kind == "input" else layer.name
        candidates = [name] if name in ref else []
        candidates += [n for n, (v, _) in ref.items() if n != name and v.shape == values.shape]
        hit = next((n for n in candidates if np.allclose(ref[n][0], values, rtol=1e-5, atol=1e-6)), None)
        if hit is None or ref[hit][1] is None:
            continue
        g = ref[hit][1]
        np.testing.assert_allclose(grads, g, rtol=1e-4, atol=1e-6 * max(1e-12, float(np.abs(g).max())),
                                   err_msg=f"layer {layer.name} vs {hit}")
        matched.append(layer.name)
    missing = [n for n in must_match if n not in matched]
    assert not missing, f"layers without an autograd reference: {missing} (matched {matched})"
    assert np.abs(act.grads).max() > 0
    return net, act


def test_mlp_gradients_match_autograd():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    x, y = torch.randn(6, 8), torch.randint(0, 4, (6,))
    net, act = check_against_autograd(model, x, CE, y, ["input", "0", "2", "4"])
    assert model[0].weight.grad is None, "recording gradients leaves the parameters' .grad alone"
    # the folded activation: layer "0" shows tanh's output, so its gradient is ∂L/∂tanh(.)
    assert net.layers[net.layer_index("0")].activation == "tanh"


def test_cnn_gradients_match_autograd():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),
                          nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 3))
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 3, (4,))
    check_against_autograd(model, x, CE, y, ["input", "0", "2", "3", "6"])


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(self.block(x))


def test_transformer_layer_gradients_match_autograd():
    torch.manual_seed(2)
    model = Encoder()
    x, y = torch.randn(3, 6, 16), torch.randint(0, 5, (3, 6))

    def loss_fn(out, y):
        return CE(out.reshape(-1, 5), y.reshape(-1))

    net, act = check_against_autograd(model, x, loss_fn, y, ["input", "block.linear1", "block.linear2",
                                                               "block.norm1", "block.norm2", "head"])
    assert any(la.kind == "add" for la in net.layers)  # the residuals are layers too, checked by their sums
    adds = [la for la in net.layers if la.kind == "add"]
    assert all(np.abs(act.grads[:, la.neurons]).max() > 0 for la in adds)


def test_sequence_first_attention_gradients_are_cut_per_sample():
    """(tokens, batch, dim) inputs: each sample's gradient rows come from batch axis 1, as its values do."""
    torch.manual_seed(10)
    block = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)  # batch_first=False
    model = nn.Sequential(block, nn.Linear(8, 3)).eval()
    x, y = torch.randn(5, 3, 8), torch.randint(0, 3, (5, 3))

    def loss_fn(out, y):
        return CE(out.reshape(-1, 3), y.reshape(-1))

    net, act = from_torch(model, x, loss_fn=loss_fn, target=y)
    assert act.n_frames == 3
    seen = {}
    hooks = [block.linear2.register_forward_hook(lambda m, i, o: seen.__setitem__("0.linear1", i[0])),
             model[1].register_forward_hook(lambda m, i, o: seen.__setitem__("1", o))]
    xr = x.clone().requires_grad_(True)
    loss = loss_fn(model(xr), y)
    for h in hooks:
        h.remove()
    names = ["input", "0.linear1", "1"]  # linear1 shows relu(linear1): linear2's input
    for name, g in zip(names, torch.autograd.grad(loss, [xr, seen["0.linear1"], seen["1"]])):
        layer = net.layers[net.layer_index(name)]
        np.testing.assert_allclose(act.grads[:, layer.neurons], g.movedim(1, 0).reshape(3, -1).numpy(),
                                   rtol=1e-4, atol=1e-7, err_msg=name)


def test_tiny_gpt2_gradients_match_autograd():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(3)
    cfg = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=16,
                                  bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    ids = torch.randint(0, 50, (2, 5))

    def loss_fn(out, ids):
        return CE(out.logits[:, :-1].reshape(-1, 50), ids[:, 1:].reshape(-1))

    net, act = check_against_autograd(model, ids, loss_fn, ids, [
        "transformer.wte", "transformer.h.0.ln_1", "transformer.h.0.mlp.c_proj", "transformer.ln_f", "lm_head"])
    inp = net.layers[0]
    assert inp.kind == "input" and not act.grads[:, inp.neurons].any(), "token ids have no gradient: zeros"


def test_chunked_and_memmapped_gradients_equal_the_whole_batch(tmp_path):
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 3))
    x, y = torch.randn(8, 5), torch.randn(8, 3)
    _, whole = from_torch(model, x, loss_fn=nn.functional.mse_loss, target=y)
    _, chunked = from_torch(model, x, loss_fn=nn.functional.mse_loss, target=y, chunk=3,
                            memmap=tmp_path / "acts.npy")
    assert isinstance(chunked.grads, np.memmap) and (tmp_path / "acts.grads.npy").is_file()
    np.testing.assert_allclose(chunked.grads, whole.grads, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(np.load(tmp_path / "acts.grads.npy"), np.asarray(chunked.grads))
    _, plain = from_torch(model, x)
    assert plain.grads is None
    with pytest.raises(IngestError, match="no batch of 8 first"):
        from_torch(model, x, loss_fn=nn.functional.mse_loss, target=y[:5], chunk=3)


def test_non_finite_loss_and_gradients_give_one_line_errors():
    model = nn.Sequential(nn.Linear(4, 3))
    x = torch.randn(5, 4)
    with pytest.raises(IngestError, match=r"^loss is inf at samples 0\.\.4; gradients not recorded$"):
        from_torch(model, x, loss_fn=lambda out: out.sum() + float("inf"))
    calls = []

    def nan_second(out):
        calls.append(1)
        return out.sum() * (float("nan") if len(calls) == 2 else 1.0)

    with pytest.raises(IngestError, match=r"^loss is nan at samples 2\.\.3; gradients not recorded$"):
        from_torch(model, x, chunk=2, loss_fn=nan_second)
    with pytest.raises(IngestError, match=r"^the gradient of layer '0' is NaN at sample 0; gradients not"):
        from_torch(model, x, loss_fn=lambda out: (out * 0).sqrt().sum())  # finite loss, 0 * inf gradient
    with pytest.raises(IngestError, match="loss_fn must return a scalar tensor, got shape"):
        from_torch(model, x, loss_fn=lambda out: out)
    with pytest.raises(IngestError, match=r"^loss_fn failed on the model's output: TypeError"):
        from_torch(model, x, loss_fn=CE)  # needs a target
    with pytest.raises(IngestError, match="needs loss_fn"):
        from_torch(model, x, target=x)
    frozen = nn.Embedding(10, 4).requires_grad_(False)
    with pytest.raises(IngestError, match="the loss does not depend on anything with a gradient"):
        from_torch(frozen, torch.randint(0, 10, (3, 2)), loss_fn=lambda out: out.sum())


def test_activations_grads_shape_is_checked():
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(2, 3\)"):
        Activations(np.zeros((2, 3), np.float32), grads=np.zeros((2, 4), np.float32))
    assert Activations(np.zeros((2, 3), np.float32)).grads is None


def train(rec, model, x, y, steps, clear_grads_first=False):
    """SGD steps with rec.step() after backward; returns per record step the reference the recorder must hold."""
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    refs = {}
    for i in range(steps):
        opt.zero_grad()
        loss = CE(model(x), y)
        loss.backward()
        if i % rec.every == 0 and rec.grads:
            probe = rec.probe.detach().clone().requires_grad_(True)
            h = model[0](probe)
            a = model[1](h)
            p_loss = CE(model[2](a), rec.probe_targets)
            g_in, g_a = torch.autograd.grad(p_loss, [probe, a])
            refs[i] = {"input": g_in.numpy(), "0": g_a.numpy(),
                       "norms": [model[0].weight.grad.norm().item(), model[2].weight.grad.norm().item()],
                       "grad0": model[0].weight.grad.numpy().copy()}
        if clear_grads_first:
            opt.zero_grad(set_to_none=True)
        rec.step(loss=loss)
        opt.step()
    return refs


def test_recorder_writes_and_reads_gradients(tmp_path):
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 3))
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    rec = TrainingRecorder(model, x[:4], every=3, grads=True, loss_fn=CE, probe_targets=y[:4], max_weights=50,
                           sample_weights=16)
    refs = train(rec, model, x, y, 7)
    path = rec.save(tmp_path / "run.nn3d")

    run = Recording(path)
    assert run.grads.shape == run.frames.shape and isinstance(run.grads.base, np.memmap)
    for sample in (0, 3):
        act = run.activations(sample)
        assert act.grads is not None and act.grads.shape == act.values.shape
        for frame, step in enumerate((0, 3, 6)):
            for name in ("input", "0"):
                neurons = run.network.layers[run.network.layer_index(name)].neurons
                np.testing.assert_allclose(act.grads[frame, neurons], refs[step][name][sample], rtol=1e-4,
                                           atol=1e-7)
    _, loaded = load(path, sample=2)
    np.testing.assert_array_equal(loaded.grads, run.activations(2).grads)

    steps, index, norms = run.weight_grad_norms()
    assert list(steps) == [0, 3, 6] and list(index) == [0, 1] and norms.shape == (3, 2)
    np.testing.assert_allclose(norms, [refs[s]["norms"] for s in (0, 3, 6)], rtol=1e-5)
    _, _, stats = run.weight_grad_stats()
    g = refs[3]["grad0"]
    np.testing.assert_allclose(stats[1, 0, 1:], [g.mean(), g.std(), g.min(), g.max(), np.abs(g).mean()],
                               rtol=1e-4, atol=1e-9)
    _, _, edges, hist = run.weight_grad_histograms()
    np.testing.assert_array_equal(edges, GRAD_EDGES)
    assert hist.shape == (3, 2, len(GRAD_EDGES) - 1) and (hist.sum(-1) == [[120, 60]] * 3).all()
    ref = np.histogram(np.clip(np.log10(np.maximum(np.abs(g), 1e-12)), -12, 2), bins=GRAD_EDGES)[0]
    np.testing.assert_array_equal(hist[1, 0], ref)


def test_recorder_without_weight_grads_says_so_once_and_survives_an_inf_probe(caplog):
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(20, 6), torch.randint(0, 3, (20,))
    calls = []

    def loss_fn(out, target):  # finite for the recorder's set-up, then inf at the second record
        calls.append(1)
        return CE(out, target) * (float("inf") if len(calls) == 3 else 1.0)

    rec = TrainingRecorder(model, x[:2], every=2, grads=True, loss_fn=loss_fn, probe_targets=y[:2])
    with caplog.at_level(logging.WARNING, logger="nn3d"):
        train(rec, model, x, y, 6, clear_grads_first=True)
    said = [r.getMessage() for r in caplog.records]
    assert sum("no .grad on the weights" in m for m in said) == 1
    assert sum("loss is inf at the probe batch; gradients not recorded (step 2)" in m for m in said) == 1
    assert len(rec.record_steps) == 3
    assert np.isnan(rec.grad_frames[1]).all() and np.isfinite(rec.grad_frames[2]).all()
    assert np.isfinite(rec.frames[1]).all(), "the activations of that record are kept"
    assert np.isnan(np.array(rec.grad_stats[0])).all()
    with pytest.raises(ValueError, match="grads=True needs loss_fn"):
        TrainingRecorder(model, x[:2], grads=True)


def test_old_recording_reads_without_gradients(tmp_path):
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    x, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    rec = TrainingRecorder(model, x[:2], every=2)
    train(rec, model, x, y, 3)
    run = Recording(rec.save(tmp_path / "old.nn3d"))
    assert run.grads is None and run.activations(0).grads is None
    steps, index, norms = run.weight_grad_norms()
    assert list(steps) == [0, 2] and index.size == 0 and norms.shape == (2, 0)


@pytest.mark.parametrize("change, why", [
    (lambda t: t.update(gradients=t["gradients"][:, :, :-1]), "gradients of shape"),
    (lambda t: t.update(gradients=t["gradients"].astype(np.int32)), "gradients of shape"),
    (lambda t: t.update({"weight_grad/0": t["weight_grad/0"][:, :3]}), "'weight_grad/0' of shape"),
    (lambda t: t.update({"weight_grad/9": t["weight_grad/0"]}), "'weight_grad/9' names no connection"),
    (lambda t: t.update({"weight_grad_hist/0": t["weight_grad_hist/0"][:1]}), "'weight_grad_hist/0' of shape"),
    (lambda t: t.pop("weight_grad_edges"), "without weight_grad_edges"),
    (lambda t: t.update(weight_grad_edges=t["weight_grad_edges"][::-1]), "increasing bin edges"),
])
def test_damaged_gradient_tensors_are_one_line_errors(tmp_path, change, why):
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    x, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    rec = TrainingRecorder(model, x[:2], every=2, grads=True, loss_fn=CE, probe_targets=y[:2])
    train(rec, model, x, y, 3)
    path = rec.save(tmp_path / "run.nn3d")
    tensors, meta = safetensors_file.read(path)
    tensors = {k: np.array(v) for k, v in tensors.items()}
    change(tensors)
    safetensors_file.write(path, tensors, meta)
    with pytest.raises(IngestError, match=why) as e:
        Recording(path)
    assert "\n" not in str(e.value)


def test_readme_gradients_example_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text.split("### Recording gradients", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(9)
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    ns = {"torch": torch, "nn3d": __import__("nn3d"), "model": model, "x": torch.randn(5, 8),
          "y": torch.randint(0, 3, (5,))}
    exec(compile(block, "README.md", "exec"), ns)
    assert ns["acts"].grads.shape == ns["acts"].values.shape
    assert ns["norms"].shape == (1, 2) and np.isnan(ns["norms"]).all()  # saved before any backward: no .grad
    assert (tmp_path / "run.nn3d").is_file()
