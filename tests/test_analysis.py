"""The analysis data (nn3d.analysis) against NumPy and torch, and a digits training recording read through it."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nn3d.analysis import Source, activation_curve, attention_from_qkv, filter_mosaic, heatmap, histogram_stack
from nn3d.analysis.data import FUNCTIONS, block_edges
from nn3d.network import NetworkError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_heatmap_is_exact_when_small_and_pools_every_weight_when_large():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 30)).astype(np.float32)
    hm = heatmap(w, max_size=64)
    assert hm.mode == "exact" and np.array_equal(hm.values, w)
    big = rng.standard_normal((1000, 517)).astype(np.float32)
    big[613, 400] = 50.0  # one strong weight must survive pooling
    mean = heatmap(big, max_size=100, mode="mean")
    assert mean.values.shape == (100, 100)
    rows, cols = np.r_[mean.row_starts, 1000], np.r_[mean.col_starts, 517]
    for i, j in [(0, 0), (61, 77), (99, 99)]:
        assert mean.values[i, j] == pytest.approx(big[rows[i]:rows[i + 1], cols[j]:cols[j + 1]].mean(), rel=1e-5)
    counts = np.outer(np.diff(rows), np.diff(cols))  # every weight in exactly one block: nothing dropped
    assert counts.sum() == big.size
    assert (mean.values * counts).sum() == pytest.approx(big.sum(dtype=np.float64), rel=1e-4, abs=1e-2)
    mx = heatmap(big, max_size=100, mode="maxabs")
    i, j = np.searchsorted(mx.row_starts, 613, "right") - 1, np.searchsorted(mx.col_starts, 400, "right") - 1
    assert mx.values[i, j] == 50.0 and mx.values.max() == 50.0
    neg = -big
    assert heatmap(neg, max_size=100, mode="maxabs").values[i, j] == -50.0  # the sign of the extreme is kept


def test_matrix_row_of_a_neuron_per_connection_kind():
    from nn3d.analysis.data import matrix_row
    from nn3d.network import Connection, Network

    w = np.zeros((5, 3), np.float32)
    k = np.zeros((4, 2, 3, 3), np.float32)
    net = Network.build([("a", "input", (6, 3)), ("lin", "dense", (6, 5)), ("x", "input", (2, 4, 4)),
                         ("conv", "conv", (4, 4, 4)), ("flat", "dense", (5,))],
                        [Connection(0, 1, "linear", w), Connection(2, 3, "conv", k, params={"groups": 1}),
                         Connection(0, 4, "dense", np.zeros((5, 18), np.float32))])
    lin, conv, flat = net.layers[1], net.layers[3], net.layers[4]
    assert matrix_row(net, net.connections[0], lin.start + 2 * 5 + 3) == 3  # token 2, feature 3
    assert matrix_row(net, net.connections[1], conv.start + 2 * 16 + 7) == 2  # channel 2
    assert matrix_row(net, net.connections[2], flat.start + 4) == 4
    with pytest.raises(ValueError):
        matrix_row(net, net.connections[2], 0)


def test_block_edges_cover_every_index():
    for n, m in [(7, 3), (256, 256), (1000, 7), (5, 100)]:
        e = block_edges(n, m)
        assert e[0] == 0 and len(e) == min(n, m) and np.all(np.diff(e) > 0) and e[-1] < n


def test_histogram_stack_counts_equal_numpys():
    rng = np.random.default_rng(1)
    snaps = [rng.normal(0, 0.1 * (k + 1), size=(32, 64)) for k in range(5)]
    st = histogram_stack(snaps, steps=[0, 10, 20, 30, 40], bins=25)
    allv = np.concatenate([s.ravel() for s in snaps])
    ref_edges = np.histogram_bin_edges(allv, bins=25)
    np.testing.assert_allclose(st.edges, ref_edges)
    for k, s in enumerate(snaps):
        np.testing.assert_array_equal(st.counts[k], np.histogram(s, bins=25, range=(allv.min(), allv.max()))[0])
        assert st.counts[k].sum() == s.size
    assert list(st.steps) == [0, 10, 20, 30, 40]


def test_filter_mosaic_cells_equal_the_kernel():
    k = np.random.default_rng(2).standard_normal((4, 3, 5, 5)).astype(np.float32)
    mosaic, corners = filter_mosaic(k, gap=1)
    assert corners.shape == (4, 3, 2) and mosaic.shape == (4 * 6 - 1, 3 * 6 - 1)
    for o in range(4):
        for i in range(3):
            assert tuple(corners[o, i]) == (o * 6, i * 6)
            np.testing.assert_array_equal(mosaic[o * 6:o * 6 + 5, i * 6:i * 6 + 5], k[o, i])
    assert np.isnan(mosaic[5, :]).all() and np.isnan(mosaic[:, 5]).all()  # separators, not data
    one_in = k[:, :1].repeat(2, axis=0)  # 8 filters of one input channel wrap into a 3-column grid
    mosaic, corners = filter_mosaic(one_in, gap=1)
    assert mosaic.shape == (3 * 6 - 1, 3 * 6 - 1) and tuple(corners[7, 0]) == (12, 6)
    for o in range(8):
        r, c = corners[o, 0]
        np.testing.assert_array_equal(mosaic[r:r + 5, c:c + 5], one_in[o, 0])


def test_attention_from_qkv_rows_sum_to_one_and_are_causal():
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal((6, 16)), rng.standard_normal((6, 16))
    a = attention_from_qkv(q, k, n_heads=4)
    assert a.shape == (4, 6, 6)
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-6)
    assert np.all(a[:, np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0)
    ref = torch.softmax(torch.tensor(q[:, 4:8] @ k[:, 4:8].T / 2.0).masked_fill(
        ~torch.tril(torch.ones(6, 6, dtype=torch.bool)), -torch.inf), -1)
    np.testing.assert_allclose(a[1], ref.numpy(), atol=1e-6)


def test_attention_captured_from_gpt2_matches_the_recomputation_from_c_attn(gpt2_source):
    net, acts, src = gpt2_source(layers=2, dim=32, heads=4, vocab=50, positions=16, batch=2, tokens=7, seed=0)
    layer = src.layer(None, "attention")
    captured = src.attention(layer, frame=1)
    assert captured.shape == (4, 7, 7)
    np.testing.assert_allclose(captured.sum(-1), 1.0, atol=1e-5)
    recomputed = Source(net, acts).attention(layer, frame=1, n_heads=4)  # no model: from c_attn's activations
    np.testing.assert_allclose(recomputed, captured, atol=1e-4)


@pytest.mark.parametrize("name", ["relu", "gelu", "silu", "sigmoid", "tanh", "elu", "softplus", "leaky_relu"])
def test_activation_curves_match_torch(name):
    x, y = activation_curve(name, -3, 3, 61)
    ref = getattr(torch.nn.functional, name)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(y, ref, atol=1e-6)
    assert name in FUNCTIONS


def test_unknown_activation_is_a_one_line_error():
    with pytest.raises(NetworkError, match="no plot for activation 'swishy'"):
        activation_curve("swishy")


def test_recording_source_weights_biases_curves(digits_run):
    src = Source.open(digits_run)
    rec = src.recording
    assert src.n_frames == len(rec.record_steps) and list(src.record_steps[:3]) == [0, 5, 10]
    layer = src.layer(None)
    assert src.network.layers[layer].name == "0"
    steps, ws = src.weight_history(layer)
    assert len(ws) == src.n_frames and ws[0].shape == (32, 64)
    np.testing.assert_array_equal(src.weights(layer, src.n_frames - 1), ws[-1])
    assert not np.array_equal(ws[0], ws[-1])  # training moved the weights
    bsteps, bs = src.bias_history(layer)
    assert len(bs) == src.n_frames and bs[0].shape == (32,) and not np.array_equal(bs[0], bs[-1])
    cv = src.curves(frame=4)
    assert cv.cursor == 20 and set(cv.series) == {"loss", "test_acc"}
    np.testing.assert_allclose(cv.series["loss"][1], rec.loss)
    assert src.frame_of_step(21.0) == 4 and src.frame_of_step(1e9) == src.n_frames - 1


def test_model_spec_sources_say_what_they_lack():
    src = Source.open("synthetic:mlp:8,6,3")
    with pytest.raises(NetworkError, match="no training curves"):
        src.curves()
    with pytest.raises(NetworkError, match="no layer 'nope'"):
        src.layer("nope")
    with pytest.raises(NetworkError, match="has no layer with filters"):
        src.layer(None, "filters")
    assert src.bias_history(1) is None
    steps, ws = src.weight_history(1)
    assert len(ws) == 1 and ws[0].shape == (6, 8)


def test_analysis_imports_no_vispy(run_without_opengl):
    """The analysis data is core: it works with vispy, OpenGL and glfw unimportable."""
    code = """
from nn3d.analysis import Source, heatmap
src = Source.open('synthetic:mlp:6,5,3')
print(heatmap(src.weight_matrix(1)).values.shape)
"""
    assert run_without_opengl(code) == "(5, 6)"


def test_train_digits_example_writes_a_recording(tmp_path):
    import subprocess

    out = tmp_path / "run.nn3d"
    proc = subprocess.run([sys.executable, str(EXAMPLES / "train_digits.py"), "--out", str(out), "--epochs", "1",
                           "--every", "3"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "12 steps, 4 records" in proc.stdout
    src = Source.open(out)
    assert list(src.record_steps) == [0, 3, 6, 9] and src.bias_history(1) is not None
