"""The model's hierarchy (nn3d.hierarchy): the same blocks from a torch module, its ONNX export and its state dict."""

import warnings

import pytest
import torch
from torch import nn

from nn3d.hierarchy import blocks_of, module_path
from nn3d.ingest import from_torch, load
from nn3d.network import Network


class Basic(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class ResNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(Basic(8), Basic(8))
        self.layer2 = nn.Sequential(Basic(8), Basic(8))
        self.layer3 = nn.Sequential(Basic(8))  # a stage of one block is still a stage
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(8, 10)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x))))))
        return self.fc(torch.flatten(self.pool(x), 1))


def block_by_path(net):
    """module path -> (block name, group, index) of each layer."""
    return {module_path(net.layers[i].name): (b.name, b.group, b.index) for b in net.structure for i in b.layers}


def test_torch_onnx_and_state_dict_give_the_same_blocks(tmp_path):
    torch.manual_seed(0)
    model, x = ResNetLike().eval(), torch.randn(1, 3, 8, 8)
    sources = {"torch": from_torch(model, x)[0]}
    torch.save(model.state_dict(), tmp_path / "w.pt")
    sources["state dict"] = load(tmp_path / "w.pt")[0]
    pytest.importorskip("onnx", reason="onnx is not installed: the ONNX export is what this test compares")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), tmp_path / "m.onnx", dynamo=False, do_constant_folding=False)
    sources["onnx"] = load(tmp_path / "m.onnx")[0]
    maps = {k: block_by_path(n) for k, n in sources.items()}
    repeated = {k: [b.name for b in n.structure if b.group] for k, n in sources.items()}
    want = ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0"]
    assert all(r == want for r in repeated.values()), repeated
    common = set.intersection(*(set(m) for m in maps.values()))
    assert {"conv1", "layer1.0.conv1", "layer2.1.conv2", "layer3.0.conv1", "fc"} <= common
    for k, m in maps.items():
        assert {p: m[p] for p in common} == {p: maps["torch"][p] for p in common}, k
    torch_net = sources["torch"]
    b = next(b for b in torch_net.structure if b.name == "layer2.1")
    assert (b.group, b.index, b.label) == ("layer2", 1, "layer2.1")
    assert [torch_net.layers[i].name for i in b.layers] == [
        "layer2.1.conv1", "layer2.1.bn1", "layer2.1.conv2", "layer2.1.bn2", "layer2.1.add"]
    assert b.parts == ("conv1", "bn1", "conv2", "bn2", "add")
    top = [b.name for b in torch_net.structure if not b.group]
    assert top == ["input", "conv1", "bn1", "pool", "fc"]


def test_every_layer_is_in_exactly_one_block_in_model_order():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=3, n_embd=32, n_head=4, vocab_size=100, n_positions=32)
    net, _ = from_torch(transformers.GPT2Model(cfg).eval(), torch.randint(0, 100, (1, 8)))
    blocks = net.structure
    assert sorted(i for b in blocks for i in b.layers) == list(range(len(net.layers)))
    firsts = [b.layers[0] for b in blocks]
    assert firsts == sorted(firsts)
    h = [b for b in blocks if b.group == "h"]
    assert [(b.name, b.index, b.label) for b in h] == [
        (f"h.{i}", i, f"block {i} · attention · MLP") for i in range(3)]
    assert h[0].parts == ("ln_1", "attn", "add", "ln_2", "mlp")
    assert all(net.layers[i].name.startswith(b.name + ".") for b in h for i in b.layers)


@pytest.mark.parametrize("names, want", [
    # BERT: the module path of ONNX scopes; embeddings and pooler are top-level blocks
    (["input", "/embeddings/word_embeddings/Gather", "/embeddings/LayerNorm/LayerNormalization",
      "/encoder/layer.0/attention/self/query/MatMul", "/encoder/layer.0/intermediate/dense/MatMul",
      "/encoder/layer.0/output/dense/MatMul", "/encoder/layer.1/attention/self/query/MatMul",
      "/encoder/layer.1/output/dense/MatMul", "/pooler/dense/Gemm"],
     [("input", "input"), ("embeddings", "embeddings"), ("encoder.layer.0", "block 0 · attention · MLP"),
      ("encoder.layer.1", "block 1 · attention · MLP"), ("pooler", "pooler")]),
    # T5: the outermost index is the block (block.2.layer.0 is a part of block 2)
    (["shared", "encoder.block.0.layer.0.SelfAttention.q", "encoder.block.0.layer.1.DenseReluDense.wi",
      "encoder.block.1.layer.0.SelfAttention.q", "encoder.block.1.layer.1.DenseReluDense.wi",
      "encoder.final_layer_norm"],
     [("shared", "shared"), ("encoder.block.0", "block 0"), ("encoder.block.1", "block 1"),
      ("encoder", "encoder")]),
    # timm ViT and a plain Sequential (blocks of one layer each)
    (["patch_embed.proj", "blocks.0.norm1", "blocks.0.attn.qkv", "blocks.0.mlp.fc1", "blocks.1.norm1",
      "blocks.1.attn.qkv", "blocks.1.mlp.fc1", "head"],
     [("patch_embed", "patch_embed"), ("blocks.0", "block 0 · attention · MLP"),
      ("blocks.1", "block 1 · attention · MLP"), ("head", "head")]),
    (["input", "0", "1", "2"], [("input", "input"), ("0", "0 · dense 2"), ("1", "1 · dense 2"), ("2", "2 · dense 2")]),
])
def test_blocks_from_names(names, want):
    net = Network.build([(n, "dense", (2,)) for n in names])
    assert [(b.name, b.label) for b in blocks_of(net)] == want


def test_ingest_given_blocks_win_over_names():
    net = Network.build([("a", "dense", (2,)), ("b", "dense", (2,))])
    assert [b.name for b in net.structure] == ["a", "b"]
    from nn3d.hierarchy import Block

    net.blocks = (Block("all", "all", (0, 1)),)
    assert [b.name for b in net.structure] == ["all"]


def test_encoder_and_decoder_blocks_are_told_apart():
    names = ["encoder.block.0.layer.0.SelfAttention.q", "encoder.block.1.layer.0.SelfAttention.q",
             "decoder.block.0.layer.0.SelfAttention.q", "decoder.block.1.layer.0.SelfAttention.q"]
    net = Network.build([(n, "dense", (2,)) for n in names])
    assert [(b.label, b.group, b.index) for b in blocks_of(net)] == [
        ("encoder block 0", "encoder.block", 0), ("encoder block 1", "encoder.block", 1),
        ("decoder block 0", "decoder.block", 0), ("decoder block 1", "decoder.block", 1)]


def test_a_block_outside_the_layers_is_refused():
    from nn3d.hierarchy import Block
    from nn3d.network import Layer, NetworkError

    with pytest.raises(NetworkError, match="block 'b'"):
        Network([Layer("a", "dense", (2,))], blocks=(Block("b", "b", (0, 1)),))
