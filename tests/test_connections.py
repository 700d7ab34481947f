"""The registry of connection kinds: one entry per kind, and every kind's pick-card partners against a brute-force
NumPy reference built from the weights (and, for conv and pooling, against torch's own operator)."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nn3d.analysis.data import matrix_row
from nn3d.connections import KINDS, Connection
from nn3d.layout.edges import CANDIDATES
from nn3d.network import Network, NetworkError
from nn3d.pick_card import neuron_info

EMPTY = np.empty(0, np.float32)
RNG = np.random.default_rng(14)


def test_one_registry_names_every_kind_the_data_model_documents():
    documented = set(re.findall(r'``kind == "(\w+)"``', Connection.__doc__))
    assert documented == set(KINDS)
    assert set(CANDIDATES) == set(KINDS), "layout/edges.py must say, for every kind, how its edges are drawn"


def test_an_unknown_kind_is_one_line_naming_the_kinds():
    with pytest.raises(NetworkError, match="unknown connection kind 'magic'.*dense"):
        Network.build([("a", "input", 2), ("b", "dense", 2)], [Connection(0, 1, "magic", EMPTY)])


# -- brute-force references: every (dst local, src local, weight) triple, by plain loops ------------------
def triples_dense(w):
    return [(d, s, w[d, s]) for d in range(w.shape[0]) for s in range(w.shape[1])]


def triples_linear(w, tokens):
    n_out, n_in = w.shape
    return [(t * n_out + o, t * n_in + i, w[o, i]) for t in range(tokens) for o in range(n_out) for i in range(n_in)]


def triples_conv(w, src_shape, dst_shape, stride, pad, dil, groups):
    c_out, c_in_g = w.shape[:2]
    out = []
    for dst in np.ndindex(*dst_shape):
        co, p = dst[0], dst[1:]
        g = co // (c_out // groups)
        for cl in range(c_in_g):
            for k in np.ndindex(*w.shape[2:]):
                pos = [pa * s - q + ka * d for pa, s, q, ka, d in zip(p, stride, pad, k, dil)]
                if all(0 <= x < n for x, n in zip(pos, src_shape[1:])):
                    src = np.ravel_multi_index((g * c_in_g + cl, *pos), src_shape)
                    out.append((np.ravel_multi_index(dst, dst_shape), src, w[(co, cl, *k)]))
    return out


def triples_pool(src_shape, dst_shape, op, kernel=None, stride=None, pad=None):
    """Windows by loops; ``kernel=None``: adaptive (torch's floor/ceil windows)."""
    out = []
    for dst in np.ndindex(*dst_shape):
        ch, p = dst[0], dst[1:]
        if kernel is None:
            ranges = [range(pa * n // o, -(-(pa + 1) * n // o)) for pa, n, o in zip(p, src_shape[1:], dst_shape[1:])]
            area = np.prod([len(r) for r in ranges])
        else:
            ranges = [range(max(0, pa * s - q), min(n, pa * s - q + k))
                      for pa, s, q, k, n in zip(p, stride, pad, kernel, src_shape[1:])]
            area = np.prod(kernel)
        for pos in np.ndindex(*[len(r) for r in ranges]):
            at = [r[i] for r, i in zip(ranges, pos)]
            w = 1.0 if op == "max" else 1.0 / area
            out.append((np.ravel_multi_index(dst, dst_shape), np.ravel_multi_index((ch, *at), src_shape), w))
    return out


def jacobian(f, src_shape):
    """(dst.size, src.size): torch's operator applied to every unit input (the operator is linear)."""
    eye = torch.eye(int(np.prod(src_shape)), dtype=torch.float64).reshape(-1, *src_shape)
    return f(eye).detach().reshape(eye.shape[0], -1).T.numpy()


def as_matrix(triples, n_dst, n_src):
    m = np.zeros((n_dst, n_src))
    for d, s, w in triples:
        m[d, s] += w
    return m


def check_partners(net, conn, triples, values=None):
    """Every neuron on both sides: the pick card lists exactly the reference's partners and weights."""
    src, dst = net.layers[conn.src], net.layers[conn.dst]
    n = src.size + dst.size  # show all
    by_dst, by_src = {}, {}
    for d, s, w in triples:
        by_dst.setdefault(int(d), []).append((src.start + int(s), float(w)))
        by_src.setdefault(int(s), []).append((dst.start + int(d), float(w)))
    for side, layer, ref in (("incoming", dst, by_dst), ("outgoing", src, by_src)):
        for local in range(layer.size):
            info = neuron_info(net, layer.start + local, values, n=n)
            got = sorted((p, round(w, 5)) for p, w, _ in getattr(info, side))
            want = sorted((p, round(w, 5)) for p, w in ref.get(local, []))
            assert got == want, (side, layer.name, local)


def two_layers(src_shape, dst_shape, conn_kind, weight=EMPTY, **kw):
    return Network.build([("a", "input", src_shape), ("b", "dense", dst_shape)],
                         [Connection(0, 1, conn_kind, weight, **kw)])


# -- one test per kind ----------------------------------------------------------------------------------
def test_dense_partners_are_the_weight_matrix_row_and_column():
    w = RNG.standard_normal((5, 7)).astype(np.float32)
    net = two_layers(7, 5, "dense", w)
    check_partners(net, net.connections[0], triples_dense(w))


def test_linear_partners_stay_within_the_token():
    w = RNG.standard_normal((5, 4)).astype(np.float32)
    net = two_layers((3, 4), (3, 5), "linear", w)
    check_partners(net, net.connections[0], triples_linear(w, 3))
    assert matrix_row(net, net.connections[0], net.layers[1].start + 2 * 5 + 3) == 3


def test_sparse_partners_are_the_listed_edges():
    src_i = RNG.integers(0, 9, 40).astype(np.int32)
    dst_i = RNG.integers(0, 6, 40).astype(np.int32)
    w = RNG.standard_normal(40).astype(np.float32)
    net = two_layers(9, 6, "sparse", w, src_index=src_i, dst_index=dst_i)
    check_partners(net, net.connections[0], list(zip(dst_i, src_i, w)))


def test_identity_and_concatenation_partners():
    net = two_layers(6, 6, "identity")
    check_partners(net, net.connections[0], [(i, i, 1.0) for i in range(6)])
    net = Network.build([("a", "input", 3), ("b", "input", 2), ("cat", "concat", 5)],
                        [Connection(0, 2, "identity", EMPTY, dst_index=np.array([0, 1, 2])),
                         Connection(1, 2, "identity", EMPTY, dst_index=np.array([3, 4]))])
    assert [p for p, _, _ in neuron_info(net, 5 + 3).incoming] == [3 + 0]  # b's neuron 0
    assert [p for p, _, _ in neuron_info(net, 1).outgoing] == [5 + 1]


@pytest.mark.parametrize("case", [
    dict(src=(4, 7, 6), c_out=6, k=(3, 3), stride=(2, 1), pad=(1, 2), dil=(1, 2), groups=2),
    dict(src=(3, 9), c_out=4, k=(3,), stride=(2,), pad=(1,), dil=(2,), groups=1),
    dict(src=(2, 5, 5), c_out=2, k=(3, 3), stride=(1, 1), pad="same", dil=(1, 1), groups=2),
])
def test_conv_partners_are_the_receptive_field_and_match_torch(case):
    nd = len(case["k"])
    w = RNG.standard_normal((case["c_out"], case["src"][0] // case["groups"], *case["k"])).astype(np.float32)
    pad = (1,) * nd if case["pad"] == "same" else case["pad"]
    conv = F.conv2d if nd == 2 else F.conv1d
    wt = torch.from_numpy(w).double()
    op = lambda x: conv(x, wt, stride=case["stride"], padding=case["pad"], dilation=case["dil"],  # noqa: E731
                        groups=case["groups"])
    dst_shape = op(torch.zeros(1, *case["src"], dtype=torch.float64)).shape[1:]
    ref = triples_conv(w, case["src"], dst_shape, case["stride"], pad, case["dil"], case["groups"])
    np.testing.assert_allclose(as_matrix(ref, np.prod(dst_shape), np.prod(case["src"])),
                               jacobian(op, case["src"]), atol=1e-6)  # the reference is torch's convolution
    params = dict(stride=case["stride"], padding=case["pad"], dilation=case["dil"], groups=case["groups"])
    net = two_layers(case["src"], tuple(dst_shape), "conv", w, params=params)
    check_partners(net, net.connections[0], ref)
    conv_layer = net.layers[1]
    assert matrix_row(net, net.connections[0], conv_layer.start + conv_layer.size - 1) == case["c_out"] - 1


@pytest.mark.parametrize("op", ["max", "avg"])
def test_pool_partners_are_the_window(op):
    src, kernel, stride, pad = (2, 7, 6), (3, 2), (2, 2), (1, 0)
    torch_op = lambda x: F.avg_pool2d(x, kernel, stride, pad)  # noqa: E731  (max pools the same windows)
    dst = tuple(torch_op(torch.zeros(1, *src, dtype=torch.float64)).shape[1:])
    ref = triples_pool(src, dst, op, kernel, stride, pad)
    if op == "avg":
        np.testing.assert_allclose(as_matrix(ref, np.prod(dst), np.prod(src)), jacobian(torch_op, src), atol=1e-9)
    net = two_layers(src, dst, "pool", params=dict(op=op, kernel_size=kernel, stride=stride, padding=pad))
    check_partners(net, net.connections[0], ref)


def test_adaptive_pool_partners_follow_torchs_uneven_windows():
    src, dst = (2, 5, 7), (2, 3, 2)
    torch_op = lambda x: F.adaptive_avg_pool2d(x, dst[1:])  # noqa: E731
    ref = triples_pool(src, dst, "avg")
    np.testing.assert_allclose(as_matrix(ref, np.prod(dst), np.prod(src)), jacobian(torch_op, src), atol=1e-9)
    net = two_layers(src, dst, "pool", params=dict(op="avg", output_size=dst[1:]))
    check_partners(net, net.connections[0], ref)


def test_embedding_partner_is_the_token_whose_id_picks_the_row():
    table = RNG.standard_normal((11, 4)).astype(np.float32)
    net = two_layers(3, (3, 4), "embedding", table)
    check_partners(net, net.connections[0], [(t * 4 + d, t, 1.0) for t in range(3) for d in range(4)])
    assert matrix_row(net, net.connections[0], net.layers[1].start + 6) == 2


def test_generic_has_no_partners_and_no_weight_matrix():
    net = two_layers(3, 2, "generic")
    assert neuron_info(net, 3).incoming == () and neuron_info(net, 0).outgoing == ()
    with pytest.raises(NetworkError, match="no weight matrix"):
        matrix_row(net, net.connections[0], 3)


def test_pick_card_ranks_partners_by_contribution_across_kinds():
    """A conv neuron's top partners are the reference's largest |w * a|, strongest first."""
    src, c_out, k = (3, 6, 6), 4, (3, 3)
    w = RNG.standard_normal((c_out, 3, *k)).astype(np.float32)
    net = two_layers(src, (c_out, 4, 4), "conv", w, params=dict(stride=(1, 1), padding=(0, 0), dilation=(1, 1)))
    values = RNG.standard_normal(net.n_neurons).astype(np.float32)
    neuron = net.layers[1].start + 1 * 16 + 2 * 4 + 3
    ref = [(s, wt * values[s]) for d, s, wt in triples_conv(w, src, (c_out, 4, 4), (1, 1), (0, 0), (1, 1), 1)
           if d == neuron - net.layers[1].start]
    top = sorted(ref, key=lambda e: -abs(e[1]))[:5]
    info = neuron_info(net, neuron, values)
    assert [p for p, _, _ in info.incoming] == [s for s, _ in top]
    np.testing.assert_allclose([c for _, _, c in info.incoming], [c for _, c in top], rtol=1e-5)
    assert "in : #" in info.describe()


def test_pick_card_of_ingested_torch_layers_matches_the_modules_jacobian():
    """Through ingest: a Conv2d, a pooling and a token-wise Linear picked anywhere list the neurons the
    module's output really depends on."""
    from nn3d.ingest import from_torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1, stride=2), torch.nn.MaxPool2d(2))
    net, _ = from_torch(model, torch.randn(1, 2, 6, 6))
    kinds = {c.kind for c in net.connections}
    assert {"conv", "pool"} <= kinds
    conv = next(c for c in net.connections if c.kind == "conv")
    src, dst = net.layers[conv.src], net.layers[conv.dst]
    jac = jacobian(lambda x: F.conv2d(x, model[0].weight.double(), None, 2, 1), src.shape)
    for local in range(0, dst.size, 5):
        got = {p - src.start for p, _, _ in neuron_info(net, dst.start + local, n=src.size).incoming}
        assert got == set(np.flatnonzero(jac[local])), local
    pool = next(c for c in net.connections if c.kind == "pool")
    src, dst = net.layers[pool.src], net.layers[pool.dst]
    jac = jacobian(lambda x: F.avg_pool2d(x, 2), src.shape)  # max pooling's windows, every one
    for local in range(src.size):
        got = {p - dst.start for p, _, _ in neuron_info(net, src.start + local, n=dst.size).outgoing}
        assert got == set(np.flatnonzero(jac[:, local])), local

    lin = torch.nn.Linear(4, 3)
    net, _ = from_torch(lin, torch.randn(1, 5, 4))
    c = net.connections[0]
    assert c.kind == "linear"
    src, dst = net.layers[c.src], net.layers[c.dst]
    info = neuron_info(net, dst.start + 2 * 3 + 1, n=100)  # token 2, feature 1
    assert sorted(p - src.start for p, _, _ in info.incoming) == [8, 9, 10, 11]
    np.testing.assert_allclose(sorted(w for _, w, _ in info.incoming),
                               sorted(lin.weight[1].detach().numpy()), rtol=1e-6)


@pytest.mark.parametrize("kind, params, message", [
    ("conv", dict(stride=(0, 1)), "stride"),
    ("conv", dict(padding=(1,)), "padding"),
    ("conv", dict(dilation="2"), "dilation"),
    ("conv", dict(groups=0), "groups"),
    ("pool", dict(op="max", kernel_size=(2, -1)), "kernel_size"),
    ("pool", dict(op="avg", output_size=(2, 2.5)), "output_size"),
])
def test_window_parameters_a_file_could_hold_are_refused_in_one_line(kind, params, message):
    w = RNG.standard_normal((2, 2, 3, 3)).astype(np.float32) if kind == "conv" else EMPTY
    with pytest.raises(NetworkError, match=f"{kind} a->b: {message}"):
        two_layers((2, 6, 6), (2, 4, 4), kind, w, params=params)
    two_layers((2, 6, 6), (2, 4, 4), kind, w, params={**params, message: (1, 1)} if message != "groups" else {})
