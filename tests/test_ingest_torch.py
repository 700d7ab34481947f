"""from_torch: layers, connections, weights and activations of traced modules, checked against the modules."""

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nn3d.ingest import IngestError, from_torch


def values_of(net, act, name):
    layer = net.layers[net.layer_index(name)]
    return act.values[:, layer.neurons].reshape(act.n_frames, *layer.shape)


class Block(nn.Module):
    """A ResNet basic block: the residual add is a functional in-place ``+=``."""

    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


def small_cnn():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), Block(4),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 10),
    )
    for m in model.modules():  # non-trivial running statistics, so that eval-mode BatchNorm matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


def test_mlp_layers_weights_and_activations_match_the_module():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x = torch.randn(5, 8)
    net, act = from_torch(model, x)
    assert [(la.name, la.kind, la.shape, la.activation) for la in net.layers] == [
        ("input", "input", (8,), None), ("0", "dense", (16,), "relu"), ("2", "dense", (4,), None),
    ]
    assert net.n_neurons == 8 + 16 + 4 == act.n_neurons and act.n_frames == 5
    for c, lin in zip(net.connections, (model[0], model[2])):
        assert c.kind == "dense"
        np.testing.assert_array_equal(c.weight, lin.weight.detach().numpy())
        assert np.shares_memory(c.weight, lin.weight.detach().numpy())  # a view, not a copy
    with torch.no_grad():
        np.testing.assert_array_equal(values_of(net, act, "input"), x.numpy())
        np.testing.assert_array_equal(values_of(net, act, "0"), F.relu(model[0](x)).numpy())
        np.testing.assert_array_equal(values_of(net, act, "2"), model(x).numpy())


def test_cnn_with_pooling_and_residual_block():
    model = small_cnn()
    x = torch.randn(3, 1, 8, 8)
    model.train()
    net, act = from_torch(model, x)
    assert model.training and model[3].bn1.training, "from_torch must restore the training flags"
    assert [(la.name, la.kind, la.shape, la.activation) for la in net.layers] == [
        ("input", "input", (1, 8, 8), None), ("0", "conv", (4, 8, 8), "relu"), ("2", "pool", (4, 4, 4), None),
        ("3.conv1", "conv", (4, 4, 4), None), ("3.bn1", "norm", (4, 4, 4), "relu"),
        ("3.conv2", "conv", (4, 4, 4), None), ("3.bn2", "norm", (4, 4, 4), None),
        ("3.add", "add", (4, 4, 4), "relu"), ("4", "pool", (4, 2, 2), None), ("6", "dense", (10,), None),
    ]
    assert net.n_neurons == sum(la.size for la in net.layers) == 64 + 256 + 64 * 6 + 16 + 10
    edges = {(net.layers[c.src].name, net.layers[c.dst].name): c for c in net.connections}
    assert edges[("2", "3.add")].kind == edges[("3.bn2", "3.add")].kind == "identity"  # the skip connection
    conv = edges[("input", "0")]
    assert conv.kind == "conv" and conv.params == {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}
    np.testing.assert_array_equal(conv.weight, model[0].weight.detach().numpy())  # the kernel, not expanded
    assert edges[("4", "6")].kind == "dense"  # through nn.Flatten, which adds no layer
    assert edges[("0", "2")].params["op"] == "max" and edges[("3.add", "4")].params["output_size"] == (2, 2)

    model.eval()
    with torch.no_grad():
        b = model[3]
        a0 = F.relu(model[0](x))
        p = model[2](a0)
        b1 = F.relu(b.bn1(b.conv1(p)))
        b2 = b.bn2(b.conv2(b1))
        add = F.relu(b2 + p)
        expected = {"input": x, "0": a0, "2": p, "3.conv1": b.conv1(p), "3.bn1": b1, "3.conv2": b.conv2(b1),
                    "3.bn2": b2, "3.add": add, "4": model[4](add), "6": model(x)}
    for name, ref in expected.items():
        np.testing.assert_allclose(values_of(net, act, name), ref.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


class Mixer(nn.Module):
    """Embedding, nn.MultiheadAttention, a concatenation, functional flatten and an unknown module."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.attn = nn.MultiheadAttention(6, 2, batch_first=True)
        self.odd = Odd()
        self.head = nn.Linear(5 * 12, 3)

    def forward(self, ids):
        e = self.emb(ids)
        a, _ = self.attn(e, e, e)
        both = torch.cat([a, self.odd(e)], dim=-1)
        return self.head(torch.flatten(both, 1))


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.full((6,), 2.0))

    def forward(self, x):
        return x * self.scale


def test_embedding_attention_concat_and_unknown_module(caplog):
    torch.manual_seed(0)
    model = Mixer()
    ids = torch.randint(0, 20, (2, 5))
    with caplog.at_level(logging.WARNING, logger="nn3d"):
        net, act = from_torch(model, ids)
    kinds = {la.name: (la.kind, la.shape) for la in net.layers}
    assert kinds == {
        "input": ("input", (5,)), "emb": ("embedding", (5, 6)), "attn": ("attention", (5, 6)),
        "odd": ("generic", (5, 6)), "cat": ("concat", (5, 12)), "head": ("dense", (3,)),
    }
    unknown = [r.getMessage() for r in caplog.records if "generic" in r.getMessage()]
    assert len(unknown) == 1 and "odd (Odd)" in unknown[0]
    cat = net.layer_index("cat")
    into_cat = {net.layers[c.src].name: c for c in net.connections if c.dst == cat}
    assert set(into_cat) == {"attn", "odd"}
    concat = act.values[:, net.layers[cat].neurons]
    for name, c in into_cat.items():  # dst_index says where each source neuron lands
        assert c.kind == "identity"
        np.testing.assert_array_equal(concat[:, c.dst_index], act.values[:, net.layers[net.layer_index(name)].neurons])
    emb = next(c for c in net.connections if c.kind == "embedding")
    np.testing.assert_array_equal(emb.weight, model.emb.weight.detach().numpy())
    with torch.no_grad():
        np.testing.assert_allclose(values_of(net, act, "head"), model(ids).numpy(), rtol=1e-6)


def test_memmap_chunks_and_layer_subset(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 7), nn.Tanh(), nn.Linear(7, 3))
    x = torch.randn(5, 6)
    net, full = from_torch(model, x)
    net2, mapped = from_torch(model, x, memmap=tmp_path / "act.npy", chunk=2)
    assert isinstance(mapped.values, np.memmap) and (tmp_path / "act.npy").stat().st_size > 5 * net.n_neurons * 4
    np.testing.assert_allclose(np.asarray(mapped.values), full.values, rtol=1e-5, atol=1e-6)  # BLAS by batch size
    _, part = from_torch(model, x, layers=["2"])
    only = net.layers[net.layer_index("2")].neurons
    np.testing.assert_array_equal(part.values[:, only], full.values[:, only])
    assert not part.values[:, : only.start].any()


@pytest.mark.parametrize(
    "model, inputs, message",
    [
        (nn.Sequential(), torch.zeros(2, 3), "no layers"),
        ("not a module", torch.zeros(2, 3), "nn.Module"),
        (nn.Linear(3, 2), torch.zeros(2, 4), "failed on example_inputs"),
        (nn.Linear(3, 2), [], "batch tensor"),
    ],
)
def test_bad_models_raise_one_line_errors(model, inputs, message):
    with pytest.raises(IngestError, match=message) as info:
        from_torch(model, inputs)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


class Functional(nn.Module):
    """Conv1d branches concatenated on channels, and the functional forms of conv, pool, norm and linear."""

    def __init__(self):
        super().__init__()
        self.k = nn.Parameter(torch.randn(3, 3, 3))
        self.a, self.b = nn.Conv1d(3, 4, 3, padding=1), nn.Conv1d(3, 2, 5, padding=2)
        self.gn, self.act = nn.GroupNorm(2, 6), nn.GELU()
        self.w = nn.Parameter(torch.randn(4, 30))

    def forward(self, x):
        x = F.conv1d(x, self.k, padding=1)
        y = self.act(self.gn(torch.cat([self.a(x), self.b(x)], 1)))
        y = F.layer_norm(F.max_pool1d(y, 2), (5,))
        return torch.softmax(F.linear(y.view(y.size(0), -1), self.w), -1)


def test_conv1d_channel_concat_and_functional_layers():
    torch.manual_seed(0)
    model = Functional()
    x = torch.randn(2, 3, 10)
    net, act = from_torch(model, x)
    assert [(la.name, la.kind, la.shape, la.activation) for la in net.layers] == [
        ("input", "input", (3, 10), None), ("conv1d", "conv", (3, 10), None), ("a", "conv", (4, 10), None),
        ("b", "conv", (2, 10), None), ("cat", "concat", (6, 10), None), ("gn", "norm", (6, 10), "gelu"),
        ("max_pool1d", "pool", (6, 5), None), ("layer_norm", "norm", (6, 5), None),
        ("linear", "dense", (4,), "softmax"),
    ]
    conns = {(net.layers[c.src].name, net.layers[c.dst].name): c for c in net.connections}
    np.testing.assert_array_equal(conns[("input", "conv1d")].weight, model.k.detach().numpy())
    assert conns[("gn", "max_pool1d")].params == {"op": "max", "kernel_size": (2,), "stride": (2,), "padding": (0,)}
    np.testing.assert_array_equal(conns[("layer_norm", "linear")].weight, model.w.detach().numpy())
    cat = act.values[:, net.layers[4].neurons].reshape(2, 6, 10)
    np.testing.assert_array_equal(cat[:, 4:], values_of(net, act, "b"))  # channels 4, 5 come from b
    with torch.no_grad():
        np.testing.assert_allclose(values_of(net, act, "linear"), model(x).numpy(), rtol=1e-6)
