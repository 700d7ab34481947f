"""from_torch on transformers models built from configs (random weights, never a download)."""

import os
import time

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

from nn3d.ingest import from_torch  # noqa: E402

TOKENS = 7


def tiny_gpt2():
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=64,
                                  bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(cfg).eval()


def tiny_bert():
    torch.manual_seed(0)
    cfg = transformers.BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                                  intermediate_size=64, vocab_size=100, max_position_embeddings=64)
    return transformers.BertModel(cfg).eval()


def test_tiny_gpt2_tokens_axis_weights_and_logits():
    model = tiny_gpt2()
    ids = torch.randint(0, 100, (2, TOKENS))
    net, act = from_torch(model, ids)
    kinds = [la.kind for la in net.layers]
    assert kinds.count("attention") == 2 and kinds.count("add") == 1 + 2 * 2  # embeddings + 2 residuals/block
    assert all(la.shape[0] == TOKENS for la in net.layers[1:]), "tokens are the first axis of every layer"
    assert net.layers[-1].name == "lm_head" and net.layers[-1].shape == (TOKENS, 100)
    assert net.n_neurons == sum(la.size for la in net.layers) == act.n_neurons
    c_fc = model.transformer.h[0].mlp.c_fc  # transformers' Conv1D stores (in, out): the Network holds W^T
    fc = net.layer_index("transformer.h.0.mlp.c_fc")
    conn = next(c for c in net.connections if c.dst == fc)
    assert conn.kind == "linear" and net.layers[fc].activation == "gelu_new"
    np.testing.assert_array_equal(conn.weight, c_fc.weight.detach().numpy().T)
    assert np.shares_memory(conn.weight, c_fc.weight.detach().numpy())
    with torch.no_grad():
        out = model(ids)
        hidden = model.transformer(ids).last_hidden_state
    np.testing.assert_allclose(act.values[:, net.layers[-1].neurons], out.logits.reshape(2, -1).numpy(),
                               rtol=1e-5, atol=1e-5)
    ln_f = net.layers[net.layer_index("transformer.ln_f")]
    np.testing.assert_allclose(act.values[:, ln_f.neurons], hidden.reshape(2, -1).numpy(), rtol=1e-5, atol=1e-5)


def test_tiny_bert_attention_layers_and_outputs():
    model = tiny_bert()
    ids = torch.randint(0, 100, (3, TOKENS))
    net, act = from_torch(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    names = [la.name for la in net.layers]
    assert "encoder.layer.0.attention.self.attention" in names
    attn = net.layer_index("encoder.layer.1.attention.self.attention")
    srcs = {net.layers[c.src].name.rsplit(".", 1)[-1] for c in net.connections if c.dst == attn}
    assert {"query", "key", "value"} <= srcs
    q = net.layer_index("encoder.layer.0.attention.self.query")
    conn = next(c for c in net.connections if c.dst == q)
    np.testing.assert_array_equal(conn.weight, model.encoder.layer[0].attention.self.query.weight.detach().numpy())
    assert net.layers[q].shape == (TOKENS, 32)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    last = net.layers[net.layer_index("encoder.layer.1.output.LayerNorm")]
    np.testing.assert_allclose(act.values[:, last.neurons], out.last_hidden_state.reshape(3, -1).numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(act.values[:, net.layers[-1].neurons], out.pooler_output.numpy(), rtol=1e-5, atol=1e-5)


def test_tiny_llama_rotary_attention_is_one_layer():
    """RoPE's cat/add inside the attention module stay inside the attention layer; the rotary table is no layer."""
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, vocab_size=100, bos_token_id=0, eos_token_id=0,
                                   pad_token_id=0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 100, (2, TOKENS))
    net, act = from_torch(model, ids)
    kinds = [la.kind for la in net.layers]
    assert kinds.count("attention") == 2 and kinds.count("add") == 4 and "concat" not in kinds
    assert not any("rotary" in la.name for la in net.layers)
    assert net.layers[net.layer_index("model.layers.0.self_attn.k_proj")].shape == (TOKENS, 16)  # 2 kv heads
    with torch.no_grad():
        logits = model(ids).logits.reshape(2, -1).numpy()
    np.testing.assert_allclose(act.values[:, net.layers[-1].neurons], logits, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not os.environ.get("NN3D_SLOW"), reason="slow (GPT-2 124M): set NN3D_SLOW=1 to run")
def test_gpt2_124m_ingests_in_under_a_minute():
    start = time.perf_counter()
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    ids = torch.randint(0, 50257, (1, 32))
    net, act = from_torch(model, ids)
    elapsed = time.perf_counter() - start
    assert sum(p.numel() for p in model.parameters()) > 124e6
    assert elapsed < 60, f"GPT-2 124M took {elapsed:.1f} s to build and ingest"
    assert net.n_neurons == act.n_neurons == sum(la.size for la in net.layers)
    with torch.no_grad():
        logits = model(ids).logits.reshape(1, -1).numpy()
    np.testing.assert_allclose(act.values[:, net.layers[-1].neurons], logits, rtol=1e-4, atol=1e-4)
