"""Edge selection per connection kind (linear, identity, conv, pool), kernels against NumPy, budgets, seeds."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numba import get_num_threads

from nn3d.layout import edges_reference as R
from nn3d.layout import select_edges
from nn3d.layout import topk as K
from nn3d.network import Connection, Network

EMPTY = np.empty(0, np.float32)


def pairs(edges):
    return set(zip(edges.src.tolist(), edges.dst.tolist()))


def brute_force_dense(w, k, s0=0, d0=0, a=None):
    """{(src, dst)} of the k largest nonzero |w[d, s] * a[s]| per row d, ties to the lower s (stable sort)."""
    score = w if a is None else w * a[None]
    keep = set()
    for row in range(score.shape[0]):
        order = np.argsort(-np.abs(score[row]), kind="stable")[:k]
        keep |= {(s0 + int(col), d0 + row) for col in order if score[row, col] != 0}
    return keep


@pytest.mark.parametrize("k", [1, 4, 9])
def test_row_kernel_equals_numpy_reference_with_ties(k):
    rng = np.random.default_rng(k)
    w = np.round(rng.standard_normal((37, 29)) * 2).astype(np.float32)  # few distinct values: many ties
    a = np.round(rng.random((3, 29)) * 3).astype(np.float32)  # and zeros
    idx = np.empty((3 * 37, k), np.int64)
    val = np.empty((3 * 37, k), np.float32)
    K.topk_rows(w, a, k, idx, val)
    ref_idx, ref_val = R.topk_rows(w, a, k)
    for r in range(3 * 37):  # same members, same scores (heap order is not sorted order)
        assert set(idx[r][idx[r] >= 0]) == set(ref_idx[r][ref_idx[r] >= 0]), r
        np.testing.assert_array_equal(np.sort(val[r]), np.sort(ref_val[r]))


def test_group_kernel_equals_numpy_reference_with_ties():
    rng = np.random.default_rng(3)
    m, n_dst, n_src = 20_000, 300, 500
    dst = rng.integers(0, n_dst, m).astype(np.int32)
    src = rng.integers(0, n_src, m).astype(np.int32)
    w = np.round(rng.standard_normal(m) * 3).astype(np.float32)
    a = rng.random(n_src).astype(np.float32)
    for k in (1, 5):
        idx = np.empty((n_dst, k), np.int64)
        val = np.empty((n_dst, k), np.float32)
        K.topk_groups(dst, src, w, np.ones(n_src, np.float32), n_dst, k, idx, val, get_num_threads())
        ref, _ = R.topk_groups(dst, src, w, np.ones(n_src, np.float32), n_dst, k)
        assert all(set(idx[d]) == set(ref[d]) for d in range(n_dst))
        K.topk_groups(dst, src, w, a, n_dst, k, idx, val, get_num_threads())
        ref, _ = R.topk_groups(dst, src, w, a, n_dst, k)
        assert all(set(idx[d]) == set(ref[d]) for d in range(n_dst))
    np.testing.assert_array_equal(K.count_groups(dst, n_dst, get_num_threads()), np.bincount(dst, minlength=n_dst))


@pytest.mark.parametrize("rule", ["weight", "contribution"])
def test_linear_over_tokens_equals_brute_force(rule):
    rng = np.random.default_rng(0)
    tokens, n_in, n_out = 5, 12, 7
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    net = Network.build([("x", "input", (tokens, n_in)), ("y", "dense", (tokens, n_out))],
                        [Connection(0, 1, "linear", w)])
    acts = np.maximum(rng.standard_normal(net.n_neurons), 0).astype(np.float32)
    edges = select_edges(net, k=3, budget=10**6, activations=acts, rule=rule)
    dense = np.kron(np.eye(tokens, dtype=np.float32), w)  # the shared Linear as one block-diagonal matrix
    a = acts[: tokens * n_in] if rule == "contribution" else None
    assert pairs(edges) == brute_force_dense(dense, 3, 0, tokens * n_in, a)


def conv_net(c_in, hw, c_out, kernel, seed=0, **params):
    """A conv layer as a Network, and the same conv as an explicit dense matrix (for brute force)."""
    torch.manual_seed(seed)
    groups = params.get("groups", 1)
    w = torch.randn(c_out, c_in // groups, *kernel)
    nd = len(kernel)
    conv = F.conv1d if nd == 1 else F.conv2d
    basis = torch.eye(c_in * int(np.prod(hw))).reshape(-1, c_in, *hw)
    out = conv(basis, w, **params)  # (n_src, c_out, *spatial): column s of the dense matrix
    dense = out.reshape(out.shape[0], -1).T.numpy().copy()
    p = {"stride": (1,) * nd, "padding": (0,) * nd, "dilation": (1,) * nd, "groups": groups}
    for key in ("stride", "padding", "dilation"):
        if key in params:
            p[key] = (params[key],) * nd if isinstance(params[key], int) else tuple(params[key])
    net = Network.build([("x", "input", (c_in, *hw)), ("c", "conv", tuple(out.shape[1:]))],
                        [Connection(0, 1, "conv", w.numpy(), params=p)])
    return net, dense


CONVS = {
    "plain": (3, (7, 6), 4, (3, 3), {}),
    "padded strided": (2, (9, 8), 3, (3, 3), {"stride": 2, "padding": 1}),
    "dilated": (2, (9, 9), 2, (3, 2), {"dilation": (2, 3), "padding": (1, 2)}),
    "grouped": (4, (6, 6), 6, (3, 3), {"groups": 2, "padding": 1}),
    "1-d": (3, (11,), 4, (3,), {"stride": 2, "padding": 1}),
}


@pytest.mark.parametrize("case", list(CONVS))
@pytest.mark.parametrize("rule", ["weight", "contribution"])
def test_conv_receptive_fields_equal_brute_force(case, rule):
    c_in, hw, c_out, kernel, params = CONVS[case]
    net, dense = conv_net(c_in, hw, c_out, kernel, **params)
    acts = np.maximum(np.random.default_rng(1).standard_normal(net.n_neurons), 0).astype(np.float32)
    edges = select_edges(net, k=4, budget=10**6, activations=acts, rule=rule)
    a = acts[: net.layers[0].size] if rule == "contribution" else None
    assert pairs(edges) == brute_force_dense(dense, 4, 0, net.layers[0].size, a)
    assert edges.note == ""


def test_pooling_windows_and_adaptive_pooling():
    net = Network.build([("x", "input", (2, 6, 6)), ("p", "pool", (2, 3, 3)), ("g", "pool", (2, 1, 1))], [
        Connection(0, 1, "pool", EMPTY, params={"op": "max", "kernel_size": (2, 2), "stride": (2, 2),
                                                "padding": (0, 0)}),
        Connection(1, 2, "pool", EMPTY, params={"op": "avg", "output_size": (1, 1)})])
    acts = np.random.default_rng(0).random(net.n_neurons).astype(np.float32)
    edges = select_edges(net, k=1, budget=10**6, activations=acts, rule="contribution")
    x = acts[:72].reshape(2, 3, 2, 3, 2).transpose(0, 1, 3, 2, 4).reshape(2, 3, 3, 4)
    into_p = edges.dst < 90
    got = dict(zip(edges.dst[into_p].tolist(), acts[edges.src[into_p]].tolist()))
    np.testing.assert_allclose([got[72 + i] for i in range(18)], x.max(-1).ravel())  # max pool: its argmax
    into_g = edges.src >= 72  # global pool: each channel's 9 cells compete, the largest wins
    assert sorted(edges.dst[into_g].tolist()) == [90, 91]
    for ch in range(2):
        cells = acts[72 + 9 * ch : 81 + 9 * ch]
        assert acts[edges.src[edges.dst == 90 + ch]][0] == cells.max()


def _cnn():
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    conv = {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}
    return Network.build(
        [("x", "input", (1, 12, 12)), ("c1", "conv", (4, 12, 12)), ("c2", "conv", (4, 12, 12)),
         ("add", "add", (4, 12, 12)), ("p", "pool", (4, 6, 6)), ("fc", "dense", 10), ("e", "embedding", (2, 3))],
        [Connection(0, 1, "conv", f32(4, 1, 3, 3), params=conv), Connection(1, 2, "conv", f32(4, 4, 3, 3), params=conv),
         Connection(1, 3, "identity", EMPTY), Connection(2, 3, "identity", EMPTY),
         Connection(3, 4, "pool", EMPTY, params={"op": "max", "kernel_size": (2, 2), "stride": (2, 2)}),
         Connection(4, 5, "dense", f32(10, 144)), Connection(5, 6, "generic", EMPTY),
         Connection(0, 6, "embedding", f32(5, 3))])


def test_residual_connections_are_identity_edges():
    net = _cnn()
    acts = np.random.default_rng(0).random(net.n_neurons).astype(np.float32)
    for fraction, rule in ((1.0, "weight"), (0.1, "weight"), (0.1, "contribution")):
        edges = select_edges(net, k=2, budget=10**6, identity=fraction, activations=acts, rule=rule)
        for src in (1, 2):  # both inputs of the add: neuron i to neuron i
            s0, d0 = net.layers[src].start, net.layers[3].start
            m = (net.layer_of(edges.src) == src) & (net.layer_of(edges.dst) == 3)
            assert m.sum() == int(np.ceil(fraction * net.layers[3].size))
            np.testing.assert_array_equal(edges.src[m] - s0, edges.dst[m] - d0)
            if rule == "contribution":  # the most active sources are the ones drawn
                a = acts[net.layers[src].neurons]
                assert a[edges.src[m] - s0].min() >= np.sort(a)[-m.sum()]
    none = select_edges(net, k=2, budget=10**6, identity=0)
    assert not (net.layer_of(none.dst) == 3).any()
    # weightless kinds nn3d cannot expand (generic, embedding) are skipped, not errors
    assert not np.isin(net.layer_of(edges.dst), [6]).any()


def test_concat_identity_edges_follow_dst_index():
    net = Network.build([("a", "input", 3), ("b", "input", 2), ("cat", "concat", 5)], [
        Connection(0, 2, "identity", EMPTY, dst_index=np.array([0, 2, 4], np.int32)),
        Connection(1, 2, "identity", EMPTY, dst_index=np.array([1, 3], np.int32))])
    edges = select_edges(net, k=1, identity=1.0)
    assert pairs(edges) == {(0, 5), (1, 7), (2, 9), (3, 6), (4, 8)}
    norm = Network.build([("a", "input", 300), ("n", "norm", 300)], [Connection(0, 1, "identity", EMPTY)])
    assert len(select_edges(norm)) == 6  # 2% by default
    assert len(select_edges(norm, identity=0)) == 0


@pytest.mark.parametrize("rule", ["weight", "contribution"])
@pytest.mark.parametrize("budget", [1, 5, 60, 500, 2000, 5247, 5248])
def test_budget_never_exceeded_with_receptive_connections(budget, rule):
    net = _cnn()
    acts = np.random.default_rng(2).random(net.n_neurons).astype(np.float32)
    edges = select_edges(net, k=4, budget=budget, activations=acts, rule=rule, seed=3)
    assert len(edges) <= budget
    again = select_edges(net, k=4, budget=budget, activations=acts, rule=rule, seed=3)
    np.testing.assert_array_equal(edges.src, again.src)  # deterministic for a seed
    np.testing.assert_array_equal(edges.dst, again.dst)
    full = 4 * (576 + 576 + 144) + 2 * 12 + 10 * 4  # every kind at k = 4 (pool fan-in 4), 2% identity: 5248
    assert (edges.note == "") == (budget >= full)
    if budget >= 500:  # a short budget still reaches every drawable layer
        assert set(net.layer_of(edges.dst).tolist()) == {1, 2, 3, 4, 5}


def test_seed_and_activity_choose_the_conv_neurons():
    net = _cnn()
    a = select_edges(net, k=4, budget=800, seed=0)
    b = select_edges(net, k=4, budget=800, seed=1)
    conv_a, conv_b = a.dst[a.dst < 300], b.dst[b.dst < 300]
    assert "receptive fields of" in a.note and set(conv_a.tolist()) != set(conv_b.tolist())
    acts = np.zeros(net.n_neurons, np.float32)
    hot = net.layers[2].start + np.array([5, 50, 100])
    acts[hot] = 10.0
    acts[: net.layers[1].stop] = 1.0
    c = select_edges(net, k=4, budget=800, activations=acts, rule="contribution")
    into_c2 = c.dst[net.layer_of(c.dst) == 2]
    assert set(hot.tolist()) <= set(into_c2.tolist())  # what lights up is expanded first


def test_selected_neurons_restrict_conv_expansion():
    net = _cnn()
    chosen = np.array([net.layers[2].start + 17, net.layers[4].start + 3])
    edges = select_edges(net, k=3, budget=10**6, neurons=chosen)
    rec = np.isin(net.layer_of(edges.dst), [1, 2, 4])  # conv and pool destinations
    assert set(edges.dst[rec].tolist()) == set(chosen.tolist())
    assert (np.bincount(edges.dst[rec])[chosen] == 3).all()
    assert (net.layer_of(edges.dst) == 5).sum() == 30  # the dense head is unaffected


def test_short_budget_is_split_fairly_between_conv_and_pool():
    net = _cnn()  # receptive candidates: conv 576 rows, conv 576 rows, pool 144 rows
    acts = np.random.default_rng(4).random(net.n_neurons).astype(np.float32) + 0.1
    edges = select_edges(net, k=1, budget=600, activations=acts, rule="contribution")
    per_layer = np.bincount(net.layer_of(edges.dst), minlength=len(net.layers))
    assert per_layer[4] == 144  # the small pooling layer keeps every edge
    assert abs(int(per_layer[1]) - int(per_layer[2])) <= 1 and per_layer[1] < 576  # the convs share the rest
    assert len(edges) <= 600


def test_parallel_kernels_equal_serial_ones(monkeypatch):
    """Small work runs the serial twins (once the NumPy ones are off); forcing the threaded ones gives the same
    edges and positions."""
    from nn3d import synthetic
    from nn3d.layout import layout

    nets = [_cnn(), synthetic.mlp([60, 40, 7], seed=3), synthetic.random_network(3000, 20_000, n_layers=4)]
    acts = [np.random.default_rng(i).random(n.n_neurons).astype(np.float32) for i, n in enumerate(nets)]
    monkeypatch.setattr(K, "NUMPY_BELOW", 0)  # compiled kernels even for small work (tests/test_coldstart.py)
    serial = [select_edges(n, k=3, budget=10**6, activations=a, rule="contribution") for n, a in zip(nets, acts)]
    places = [layout(n, backend="numba").positions for n in nets]
    monkeypatch.setattr(K, "SERIAL_BELOW", 0)
    for n, a, e, p in zip(nets, acts, serial, places):
        f = select_edges(n, k=3, budget=10**6, activations=a, rule="contribution")
        assert pairs(f) == pairs(e) and len(f) == len(e)
        np.testing.assert_array_equal(layout(n, backend="numba").positions, p)


def test_one_conv_among_many_dense_layers_takes_only_its_share_of_the_budget():
    """A ViT-like stack: one patch-embedding conv, then dense layers. The conv's receptive fields get about a
    tenth of the budget (its share of the connections, at least a tenth), not half of it; the dense layers
    the rest. A conv-only network still gives its convs at least half."""
    from torch import nn

    from nn3d.ingest import from_torch

    torch.manual_seed(0)
    vit = nn.Sequential(nn.Conv2d(3, 8, 4, 4), nn.Flatten(), *[nn.Linear(128, 128) for _ in range(9)])
    net, acts = from_torch(vit, torch.rand(1, 3, 16, 16))
    budget = 400
    e = select_edges(net, k=4, budget=budget, activations=acts.values[0], rule="contribution")
    conv = next(c for c in net.connections if c.kind == "conv")
    into_conv = np.isin(e.dst, np.arange(net.layers[conv.dst].start, net.layers[conv.dst].stop))
    assert 0 < into_conv.sum() <= 0.1 * budget + 4
    assert len(e) > 0.85 * budget

    cnn = nn.Sequential(*[m for _ in range(3) for m in (nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())])
    net, acts = from_torch(cnn, torch.rand(1, 4, 12, 12))
    e = select_edges(net, k=4, budget=budget, activations=acts.values[0], rule="contribution")
    assert len(e) >= budget // 2
