"""nn3d.load: ONNX, safetensors, weights-only .pt, and the errors users see for bad files."""

import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nn3d.ingest import IngestError, from_torch, load, safetensors_file


def small_cnn():
    """The CNN with pooling and a residual block of test_ingest_torch (loaded by path: tests is no package)."""
    path = Path(__file__).with_name("test_ingest_torch.py")
    spec = importlib.util.spec_from_file_location("_nn3d_test_ingest_torch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.small_cnn()


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def test_onnx_and_torch_agree_on_layers_weights_and_activations(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model = small_cnn().eval()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32))
    path = tmp_path / "cnn.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter announces its own deprecation
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*feature will be removed.*")
        torch.onnx.export(model, (x,), path, dynamo=False, do_constant_folding=False,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    onet, oact = load(path)
    tnet, tact = from_torch(model, x)  # the same seeded input the ONNX reader feeds onnxruntime
    assert [(la.kind, la.shape, la.activation) for la in onet.layers] == [
        (la.kind, la.shape, la.activation) for la in tnet.layers
    ]
    assert [(c.src, c.dst, c.kind) for c in onet.connections] == [
        (c.src, c.dst, "pool" if c.kind == "pool" else c.kind) for c in tnet.connections
    ]
    for oc, tc in zip(onet.connections, tnet.connections):
        if tc.kind in ("conv", "dense"):
            np.testing.assert_array_equal(oc.weight, tc.weight)
    np.testing.assert_allclose(oact.values, tact.values, rtol=1e-4, atol=1e-5)


def test_pt_state_dict_keeps_module_order_and_weights(tmp_path):
    model = mlp()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    net, act = load(tmp_path / "w.pt")
    assert [(la.kind, la.shape) for la in net.layers] == [("input", (6,)), ("dense", (8,)), ("dense", (3,))]
    np.testing.assert_array_equal(net.connections[1].weight, model[2].weight.detach().numpy())
    assert act.n_frames == 1 and not act.values.any()  # weights only: one frame of zeros


def test_pickled_whole_model_is_refused_with_export_advice(tmp_path):
    torch.save(mlp(), tmp_path / "whole.pt")
    with pytest.raises(IngestError, match=r"pickled.*state_dict\(\)") as info:
        load(tmp_path / "whole.pt")
    assert "\n" not in str(info.value)


def test_safetensors_from_the_package_and_from_nn3d_agree(tmp_path):
    model = mlp()
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    safetensors_file.write(tmp_path / "a.safetensors", state)
    net, _ = load(tmp_path / "a.safetensors")
    assert [(la.kind, la.shape) for la in net.layers] == [("input", (6,)), ("dense", (8,)), ("dense", (3,))]
    np.testing.assert_array_equal(net.connections[0].weight, state["0.weight"])
    st = pytest.importorskip("safetensors.numpy")
    st.save_file(state, str(tmp_path / "b.safetensors"))
    back, _ = safetensors_file.read(tmp_path / "b.safetensors")
    assert set(back) == set(state) and all(np.array_equal(back[k], state[k]) for k in state)
    theirs = st.load_file(str(tmp_path / "a.safetensors"))  # and the package reads what nn3d writes
    assert all(np.array_equal(theirs[k], state[k]) for k in state)


def test_stfile_streams_chunks_and_reads_bf16(tmp_path):
    chunks = [np.full((2, 3), i, np.float32) for i in range(4)]
    bf16 = (np.array([1.5, -2.0], np.float32).view(np.uint32) >> 16).astype(np.uint16)
    safetensors_file.write(tmp_path / "x.safetensors", {"frames": chunks, "n": np.arange(3)}, {"k": "v"})
    header, meta, _ = safetensors_file.read_header(tmp_path / "x.safetensors")
    assert meta == {"k": "v"} and header["frames"]["shape"] == [4, 2, 3]
    tensors, _ = safetensors_file.read(tmp_path / "x.safetensors")
    np.testing.assert_array_equal(tensors["frames"], np.stack(chunks))
    entry = {"b": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}
    head = json.dumps(entry).encode()
    (tmp_path / "z.safetensors").write_bytes(len(head).to_bytes(8, "little") + head + bf16.tobytes())
    got, _ = safetensors_file.read(tmp_path / "z.safetensors")
    np.testing.assert_array_equal(got["b"], [1.5, -2.0])


def test_safetensors_with_transformers_config_builds_the_model(tmp_path):
    transformers = pytest.importorskip("transformers")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=32,
                                  bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(tmp_path)  # config.json + model.safetensors, no network
    net, act = load(tmp_path / "model.safetensors")
    ids = torch.randint(0, 50, (1, 16), generator=torch.Generator().manual_seed(0))
    ref_net, ref_act = from_torch(model, ids)
    layers = [(la.name, la.kind, la.shape) for la in net.layers]
    assert layers == [(la.name, la.kind, la.shape) for la in ref_net.layers]
    np.testing.assert_allclose(act.values, ref_act.values, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.onnx", b"\x08\x07garbage", "not a valid ONNX file"),
        ("bad.safetensors", b"\xff" * 64, "not a safetensors file"),
        ("short.safetensors", b"\x01", "not a safetensors file"),
        ("bad.pt", b"not a zip or pickle", "not a readable torch file"),
        ("model.h5", b"whatever", "unknown model file type"),
        ("run.nn3d", b"\x02\x00\x00\x00\x00\x00\x00\x00{}", "not an nn3d training recording"),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path, name, content, message):
    if name.endswith(".onnx"):
        pytest.importorskip("onnx")
    (tmp_path / name).write_bytes(content)
    with pytest.raises(IngestError, match=message) as info:
        load(tmp_path / name)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_missing_file_and_truncated_safetensors(tmp_path):
    with pytest.raises(IngestError, match="no such model file"):
        load(tmp_path / "nope.onnx")
    safetensors_file.write(tmp_path / "t.safetensors", {"w": np.ones((10, 10), np.float32)})
    data = (tmp_path / "t.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[:-8])
    with pytest.raises(IngestError, match="truncated or corrupt"):
        load(tmp_path / "t.safetensors")


def test_spec_resolves_model_files(tmp_path):
    from nn3d import model_argument

    torch.save(mlp().state_dict(), tmp_path / "w.pt")
    net, act = model_argument.resolve(str(tmp_path / "w.pt"))
    assert net.n_neurons == 6 + 8 + 3 == act.n_neurons


def test_onnx_tokens_attention_chain_decomposed_gelu_and_concat(tmp_path):
    """A hand-built transformer-like graph: (tokens, dim) layers, an Erf-GELU folded into its MatMul,
    the MatMul-Softmax-MatMul chain as one attention layer, and a concat along features."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    w1, wq, wk, wo = (rng.standard_normal(s).astype(np.float32) for s in ((6, 8), (8, 8), (8, 8), (8, 6)))
    consts = {"w1": w1, "wq": wq, "wk": wk, "wo": wo, "half": np.float32(0.5), "one": np.float32(1.0),
              "sqrt2": np.float32(np.sqrt(2.0))}
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc"),
        helper.make_node("Div", ["h", "sqrt2"], ["h_s"]), helper.make_node("Erf", ["h_s"], ["h_e"]),
        helper.make_node("Add", ["h_e", "one"], ["h_p"]), helper.make_node("Mul", ["h", "half"], ["h_half"]),
        helper.make_node("Mul", ["h_half", "h_p"], ["g"]),
        helper.make_node("MatMul", ["g", "wq"], ["q"], name="q"),
        helper.make_node("MatMul", ["g", "wk"], ["k"], name="k"),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Softmax", ["s"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "q"], ["ctx"]),
        helper.make_node("MatMul", ["ctx", "wo"], ["o"], name="out"),
        helper.make_node("Concat", ["o", "g"], ["y"], name="cat", axis=2),
    ]
    graph = helper.make_graph(
        nodes, "toy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "toy.onnx")
    net, act = load(tmp_path / "toy.onnx")
    assert [(la.name, la.kind, la.shape, la.activation) for la in net.layers] == [
        ("input", "input", (4, 6), None), ("fc", "dense", (4, 8), "gelu"), ("q", "dense", (4, 8), None),
        ("k", "dense", (4, 8), None), ("out.attention", "attention", (4, 8), None),
        ("out", "dense", (4, 6), None), ("cat", "concat", (4, 14), None),
    ]
    assert net.connections[0].kind == "linear"
    np.testing.assert_array_equal(net.connections[0].weight, w1.T)
    # the reader's seeded input (symbolic batch fixed to 1, tokens given), recomputed in NumPy
    from math import erf

    x = np.random.default_rng(0).standard_normal((1, 4, 6)).astype(np.float32)[0]
    h = x @ w1
    g = h * 0.5 * (1 + np.vectorize(erf)(h / np.sqrt(2)))
    q, k = g @ wq, g @ wk
    s = q @ k.T
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    o = (p @ q) @ wo
    expected = [x, g, q, k, p @ q, o, np.concatenate([o, g], axis=1)]
    for layer, ref in zip(net.layers, expected):
        np.testing.assert_allclose(act.values[0, layer.neurons], ref.ravel(), rtol=1e-4, atol=1e-4, err_msg=layer.name)


class _Basic(nn.Module):
    def __init__(self, c, down=False):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        if down:
            self.downsample = nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c))


def resnet_like_state():
    """A ResNet-18-style state dict (stem conv1/bn1, stages layer1..layer2 of blocks, fc), torch's order."""
    torch.manual_seed(0)
    model = nn.Module()
    model.conv1, model.bn1 = nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)
    model.layer1 = nn.Sequential(_Basic(8), _Basic(8))
    model.layer2 = nn.Sequential(_Basic(8, down=True), _Basic(8))
    model.fc = nn.Linear(8, 10)
    return {k: v.detach().numpy() for k, v in model.state_dict().items() if v.is_floating_point()}


@pytest.mark.parametrize("writer", ["safetensors", "nn3d"])
def test_safetensors_state_dict_has_the_layer_order_and_names_of_the_pt(tmp_path, writer):
    state = resnet_like_state()
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "w.pt")
    if writer == "safetensors":  # the package sorts the tensors by name in the file
        st = pytest.importorskip("safetensors.numpy")
        st.save_file(state, str(tmp_path / "w.safetensors"))
        assert list(safetensors_file.read(tmp_path / "w.safetensors")[0]) == sorted(state)
    else:
        safetensors_file.write(tmp_path / "w.safetensors", state)
    pt, _ = load(tmp_path / "w.pt")
    sf, _ = load(tmp_path / "w.safetensors")
    names = [la.name for la in pt.layers]
    assert names[:3] == ["input", "conv1", "bn1"] and names[-1] == "fc"
    assert [(la.name, la.kind, la.shape) for la in sf.layers] == [(la.name, la.kind, la.shape) for la in pt.layers]
    assert [(c.src, c.dst, c.kind) for c in sf.connections] == [(c.src, c.dst, c.kind) for c in pt.connections]


def test_config_json_asking_for_a_huge_model_is_refused_before_it_is_built(tmp_path):
    """A tiny safetensors file beside a config.json whose sizes describe a ~10^11-parameter model: refused
    from the config's own parameter count (built on the meta device), in one line, exit 2."""
    transformers = pytest.importorskip("transformers")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    small = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=32)
    transformers.GPT2Model(small).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg.update(n_embd=65536, n_head=64, vocab_size=1_000_000, n_layer=4)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, "-m", "nn3d.cli", "shot", str(tmp_path / "model.safetensors"),
                        "-o", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "parameters" in r.stderr and "config" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()
