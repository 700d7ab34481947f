"""from_torch on sequence-first attention (``batch_first=False``, PyTorch's default): the same Network and the
same per-sample activations as the ``batch_first=True`` twin with the same weights, never tokens as samples."""

import logging
import math

import numpy as np
import pytest
import torch
from torch import nn

from nn3d.analysis import Source
from nn3d.ingest import IngestError, from_torch

S, E, H = 5, 32, 4


def values_of(net, act, name):
    layer = net.layers[net.layer_index(name)]
    return act.values[:, layer.neurons].reshape(act.n_frames, *layer.shape)


def twins(make):
    """``make(batch_first)`` twice, the batch-first one with the sequence-first one's weights."""
    torch.manual_seed(0)
    seq, bat = make(False), make(True)
    bat.load_state_dict(seq.state_dict())
    return seq.eval(), bat.eval()


def assert_same_network(net_s, act_s, net_b, act_b, batch):
    """Same layers, connections (weights included) and activations: what the drawing is made of."""
    assert [(la.name, la.kind, la.shape, la.activation) for la in net_s.layers] == [
        (la.name, la.kind, la.shape, la.activation) for la in net_b.layers
    ]
    assert len(net_s.connections) == len(net_b.connections)
    for cs, cb in zip(net_s.connections, net_b.connections):
        assert (cs.src, cs.dst, cs.kind, cs.params) == (cb.src, cb.dst, cb.kind, cb.params)
        np.testing.assert_array_equal(cs.weight, cb.weight)
        for a, b in ((cs.dst_index, cb.dst_index), (cs.src_index, cb.src_index)):
            assert (a is None) == (b is None) and (a is None or np.array_equal(a, b))
    assert act_s.n_frames == act_b.n_frames == batch
    np.testing.assert_allclose(act_s.values, act_b.values, rtol=1e-4, atol=1e-5)


class Wrap(nn.Module):
    def __init__(self, batch_first):
        super().__init__()
        self.inp = nn.Linear(E, E)
        self.attn = nn.MultiheadAttention(E, H, batch_first=batch_first)
        self.out = nn.Linear(E, 8)

    def forward(self, x):
        h = self.inp(x)
        a, _ = self.attn(h, h, h)
        return self.out(a)


def encoder_layer(batch_first):
    return nn.TransformerEncoderLayer(E, H, dim_feedforward=64, batch_first=batch_first)


def encoder_stack(batch_first):
    return nn.TransformerEncoder(encoder_layer(batch_first), 2, norm=nn.LayerNorm(E), enable_nested_tensor=False)


@pytest.mark.parametrize("make", [Wrap, encoder_layer, encoder_stack], ids=["mha", "encoder_layer", "encoder"])
@pytest.mark.parametrize("batch", [1, 3, S])  # S: tokens and batch of the same size, told apart all the same
def test_seq_first_attention_matches_its_batch_first_twin(make, batch):
    seq, bat = twins(make)
    x = torch.randn(S, batch, E)
    net_s, act_s = from_torch(seq, x)
    net_b, act_b = from_torch(bat, x.transpose(0, 1).contiguous())
    assert_same_network(net_s, act_s, net_b, act_b, batch)
    attn = next(la for la in net_s.layers if la.kind == "attention")
    assert attn.shape == (S, E) and net_s.layers[0].shape == (S, E)  # (tokens, dim), not (batch, dim)
    with torch.no_grad():
        out = seq(x)
    last = net_s.layers[-1]
    np.testing.assert_allclose(values_of(net_s, act_s, last.name), out.transpose(0, 1).numpy(), rtol=1e-4, atol=1e-5)


def test_seq_first_attention_layer_holds_the_attention_output_per_sample():
    seq, _ = twins(Wrap)
    x = torch.randn(S, 3, E)
    net, act = from_torch(seq, x)
    with torch.no_grad():
        h = seq.inp(x)
        a = seq.attn(h, h, h)[0]
    np.testing.assert_allclose(values_of(net, act, "attn"), a.transpose(0, 1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(values_of(net, act, "input"), x.transpose(0, 1).numpy())
    into_attn = {net.layers[c.src].name for c in net.connections if net.layers[c.dst].name == "attn"}
    assert into_attn == {"inp"}


class Full(nn.Module):
    """nn.Transformer: two sequence-first inputs of different lengths (source and target)."""

    def __init__(self, batch_first):
        super().__init__()
        self.t = nn.Transformer(E, H, 1, 1, 64, batch_first=batch_first)

    def forward(self, src, tgt):
        return self.t(src, tgt)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # nn.Transformer's, for batch_first=False
@pytest.mark.parametrize("batch", [1, 3])
def test_seq_first_transformer_with_two_inputs(batch):
    seq, bat = twins(Full)
    src, tgt = torch.randn(S, batch, E), torch.randn(S - 1, batch, E)
    net_s, act_s = from_torch(seq, (src, tgt))
    net_b, act_b = from_torch(bat, (src.transpose(0, 1).contiguous(), tgt.transpose(0, 1).contiguous()))
    assert_same_network(net_s, act_s, net_b, act_b, batch)
    shapes = {la.name: la.shape for la in net_s.layers}
    assert shapes["input0"] == (S, E) and shapes["input1"] == (S - 1, E)
    assert shapes["t.encoder.layers.0.self_attn"] == (S, E)
    assert shapes["t.decoder.layers.0.multihead_attn"] == (S - 1, E)


class Clipish(nn.Module):
    """Batch-first input, sequence-first inside (OpenAI CLIP permutes NLD -> LND around its transformer)."""

    def __init__(self, batch_first):
        super().__init__()
        self.batch_first = batch_first
        self.ln = nn.LayerNorm(E)
        self.attn = nn.MultiheadAttention(E, H, batch_first=batch_first)
        self.fc, self.proj = nn.Linear(E, 64), nn.Linear(64, E)

    def forward(self, x):
        if not self.batch_first:
            x = x.permute(1, 0, 2)
        h = self.ln(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        x = x + self.proj(torch.relu(self.fc(x)))
        cls = x[0] if not self.batch_first else x[:, 0]
        return torch.cat([cls, cls.mean(-1, keepdim=True)], dim=-1)


@pytest.mark.parametrize("batch", [1, 3])
def test_permuted_to_seq_first_inside_the_model(batch):
    seq, bat = twins(Clipish)
    x = torch.randn(batch, S, E)
    net_s, act_s = from_torch(seq, x)
    net_b, act_b = from_torch(bat, x)
    assert_same_network(net_s, act_s, net_b, act_b, batch)
    shapes = {la.name: (la.kind, la.shape) for la in net_s.layers}
    assert shapes["attn"] == ("attention", (S, E)) and shapes["fc"] == ("dense", (S, 64))
    with torch.no_grad():
        np.testing.assert_allclose(values_of(net_s, act_s, net_s.layers[-1].name), seq(x).numpy(), rtol=1e-5)


class WordLM(nn.Module):
    """PyTorch's word_language_model: (tokens, batch) ids, a positional table, an encoder, a decoder."""

    def __init__(self, batch_first, ntoken=20, merge=False):
        super().__init__()
        self.batch_first, self.ntoken, self.merge = batch_first, ntoken, merge
        self.emb = nn.Embedding(ntoken, E)
        self.register_buffer("pe", torch.randn(50, 1, E))
        self.enc = nn.TransformerEncoder(encoder_layer(batch_first), 2, enable_nested_tensor=False)
        self.dec = nn.Linear(E, ntoken)

    def forward(self, ids):
        x = self.emb(ids) * math.sqrt(E)
        n = ids.size(1 if self.batch_first else 0)
        x = x + (self.pe[:n].transpose(0, 1) if self.batch_first else self.pe[:n])
        out = self.dec(self.enc(x, nn.Transformer.generate_square_subsequent_mask(n), is_causal=True))
        return torch.log_softmax(out.view(-1, self.ntoken), -1) if self.merge else out


@pytest.mark.parametrize("batch", [1, 3])
def test_seq_first_token_ids_through_embedding(batch):
    seq, bat = twins(WordLM)
    ids = torch.randint(0, 20, (S, batch))
    net_s, act_s = from_torch(seq, ids)
    net_b, act_b = from_torch(bat, ids.T.contiguous())
    assert_same_network(net_s, act_s, net_b, act_b, batch)
    kinds = [(la.kind, la.shape) for la in net_s.layers]
    assert kinds[:2] == [("input", (S,)), ("embedding", (S, E))]
    assert kinds.count(("generic", (S, E))) == 1  # the scaled, position-shifted embedding: once, not per q/k/v
    np.testing.assert_array_equal(values_of(net_s, act_s, "input"), ids.T.numpy())


def test_merged_batch_axis_is_warned_about(caplog):
    torch.manual_seed(0)
    model = WordLM(False, merge=True).eval()
    ids = torch.randint(0, 20, (S, 3))
    with caplog.at_level(logging.WARNING, logger="nn3d"):
        net, act = from_torch(model, ids)
    assert act.n_frames == 3 and net.layer_index("dec") is not None
    assert net.layers[net.layer_index("dec")].shape == (S, 20)
    lines = [r.getMessage() for r in caplog.records if "batch axis" in r.getMessage()]
    assert len(lines) == 1 and "view" in lines[0] and "(5, 3, 20)" in lines[0] and "\n" not in lines[0]
    assert net.layers[-1].shape == (S * 3, 20)  # drawn, as the warning says, with the whole batch in each frame


def test_unbatched_query_is_one_sample_with_a_warning(caplog):
    seq, _ = twins(Wrap)
    x = torch.randn(S, E)  # (tokens, dim): nn.MultiheadAttention's unbatched form
    with caplog.at_level(logging.WARNING, logger="nn3d"):
        net, act = from_torch(seq, x)
    assert act.n_frames == 1
    assert [(la.name, la.shape) for la in net.layers] == [("input", (S, E)), ("inp", (S, E)), ("attn", (S, E)),
                                                           ("out", (S, 8))]
    with torch.no_grad():
        np.testing.assert_allclose(values_of(net, act, "out")[0], seq(x).numpy(), rtol=1e-5, atol=1e-6)
    assert any("unbatched" in r.getMessage() and "one sample" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("batch", "chunk"), [(5, 2), (7, 3), (7, 6)])  # 6: no cut along tokens, 3 along batch
def test_chunks_and_memmap_cut_along_the_batch_axis(tmp_path, batch, chunk):
    seq, _ = twins(encoder_stack)
    x = torch.randn(S, batch, E)
    net, full = from_torch(seq, x)
    net2, parts = from_torch(seq, x, memmap=tmp_path / "act.npy", chunk=chunk)
    assert [la.shape for la in net2.layers] == [la.shape for la in net.layers] and parts.n_frames == batch
    np.testing.assert_allclose(np.asarray(parts.values), full.values, rtol=1e-5, atol=1e-6)


class Lost(nn.Module):
    """Flattens tokens and batch together before a sequence-first attention: nn3d cannot follow the batch."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(E, E)
        self.attn = nn.MultiheadAttention(E, H)

    def forward(self, x):
        h = self.lin(x.flatten(0, 1)).view(x.shape)
        return self.attn(h, h, h)[0]


def test_attention_whose_batch_axis_was_lost_is_a_one_line_error():
    with pytest.raises(IngestError, match=r"attn: nn.MultiheadAttention\(batch_first=False\)") as e:
        from_torch(Lost(), torch.randn(S, 3, E))
    assert "\n" not in str(e.value)


def probs_from(mha, h):
    """Attention probabilities (heads, tokens, tokens) of ``mha`` on one sample's (tokens, dim) input ``h``."""
    w, b = mha.in_proj_weight.detach().numpy(), mha.in_proj_bias.detach().numpy()
    hd = E // H
    q, k = ((h @ w[i * E : (i + 1) * E].T + b[i * E : (i + 1) * E]).reshape(S, H, hd).transpose(1, 0, 2)
            for i in (0, 1))
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("make", [Wrap, encoder_layer], ids=["mha", "encoder_layer"])
def test_attention_maps_per_sample_match_the_frames_and_the_batch_first_twin(make):
    seq, bat = twins(make)
    x = torch.randn(S, 3, E)
    xb = x.transpose(0, 1).contiguous()
    net_s, act_s = from_torch(seq, x)
    net_b, act_b = from_torch(bat, xb)
    src_s, src_b = Source(net_s, act_s, model=seq, inputs=x), Source(net_b, act_b, model=bat, inputs=xb)
    layer = next(i for i, la in enumerate(net_s.layers) if la.kind == "attention")
    feed = next(c.src for c in net_s.connections if c.dst == layer)  # the layer the attention reads
    mha = seq.attn if make is Wrap else seq.self_attn
    assert act_s.n_frames == 3
    for frame in range(act_s.n_frames):
        probs = src_s.attention(layer, frame)
        assert probs.shape == (H, S, S)
        np.testing.assert_allclose(probs, src_b.attention(layer, frame), rtol=1e-4, atol=1e-6)
        h = act_s.frame(frame)[net_s.layers[feed].neurons].reshape(S, E)  # what this frame draws
        np.testing.assert_allclose(probs, probs_from(mha, h), rtol=1e-4, atol=1e-5)


class Cat(nn.Module):
    """Concatenations of (tokens, batch, dim) tensors along features and along tokens."""

    def __init__(self, batch_first):
        super().__init__()
        self.bf = batch_first
        self.attn = nn.MultiheadAttention(E, H, batch_first=batch_first)
        self.a, self.b, self.c = nn.Linear(E, 8), nn.Linear(E, 8), nn.Linear(E, 16)

    def forward(self, x):
        h = self.attn(x, x, x)[0]
        wide = torch.cat([self.a(h), self.b(x)], dim=-1)
        first = self.c(x)[:1] if not self.bf else self.c(x)[:, :1]  # one more token, prepended
        return torch.cat([first, wide], dim=1 if self.bf else 0)


@pytest.mark.parametrize("batch", [1, 3])
def test_seq_first_concat_along_features_and_tokens(batch):
    seq, bat = twins(Cat)
    x = torch.randn(S, batch, E)
    net_s, act_s = from_torch(seq, x)
    net_b, act_b = from_torch(bat, x.transpose(0, 1).contiguous())
    assert_same_network(net_s, act_s, net_b, act_b, batch)
    shapes = {la.name: (la.kind, la.shape) for la in net_s.layers}
    assert shapes["cat"] == ("concat", (S, 16)) and shapes["cat#2"] == ("concat", (S + 1, 16))
    with torch.no_grad():
        np.testing.assert_allclose(values_of(net_s, act_s, "cat#2"), seq(x).transpose(0, 1).numpy(), rtol=1e-5)
