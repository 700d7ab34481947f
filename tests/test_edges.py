import numpy as np
import pytest

from nn3d import synthetic
from nn3d.layout import select_edges
from nn3d.network import Connection, Network


def brute_force(net, k, activations=None):
    """{(src, dst)} of the k largest nonzero |score| per destination neuron, by sorting every row."""
    keep = set()
    for c in net.connections:
        s0, d0 = net.layers[c.src].start, net.layers[c.dst].start
        w = c.weight if activations is None else c.weight * activations[net.layers[c.src].neurons]
        for row in range(w.shape[0]):
            order = np.argsort(-np.abs(w[row]), kind="stable")[:k]
            keep |= {(s0 + col, d0 + row) for col in order if w[row, col] != 0}
    return keep


@pytest.mark.parametrize("k", [1, 3, 7, 50])
def test_dense_top_k_equals_brute_force(k):
    net = synthetic.mlp([40, 30, 20, 5], seed=k)
    edges = select_edges(net, k=k, budget=10**9)
    assert set(zip(edges.src.tolist(), edges.dst.tolist())) == brute_force(net, k)
    assert edges.strength.max() <= 1 and edges.strength.min() > 0


def test_contribution_rule_uses_activations():
    net = synthetic.mlp([40, 30, 10], seed=1)
    acts = synthetic.random_activations(net, seed=2).frame(0)
    edges = select_edges(net, k=4, budget=10**9, activations=acts, rule="contribution")
    assert set(zip(edges.src.tolist(), edges.dst.tolist())) == brute_force(net, 4, acts)
    dead = np.flatnonzero(acts[40:70] == 0) + 40  # ReLU-silent neurons contribute nothing
    assert dead.size and not np.isin(edges.src, dead).any()


def test_sparse_top_k_per_destination():
    rng = np.random.default_rng(0)
    m = 5000
    c = Connection(0, 1, "sparse", rng.standard_normal(m).astype(np.float32),
                   rng.integers(0, 100, m).astype(np.int32), rng.integers(0, 50, m).astype(np.int32))
    net = Network.build([("a", "input", 100), ("b", "dense", 50)], [c])
    edges = select_edges(net, k=5, budget=10**9)
    for d in range(50):
        w = np.abs(c.weight[c.dst_index == d])
        got = np.sort(np.abs(edges.weight[edges.dst == 100 + d]))
        np.testing.assert_array_equal(got, np.sort(w)[-5:])


@pytest.mark.parametrize("budget", [0, 7, 100, 333, 1000, 4000])
def test_budget_is_never_exceeded_and_no_layer_is_dropped(budget):
    net = synthetic.mlp([200, 100, 50, 10], seed=0)
    edges = select_edges(net, k=8, budget=budget)
    assert len(edges) <= budget
    if budget >= 160:  # at least one edge per destination neuron fits: every neuron keeps k' edges
        counts = np.bincount(edges.dst, minlength=net.n_neurons)[200:]
        assert counts.min() == counts.max() >= 1
        assert ("kept top" in edges.note) == (budget < 8 * 160)
    elif budget >= 3:  # shares: every layer still has edges
        layers = set(net.layer_of(edges.dst).tolist())
        assert layers == {1, 2, 3} and "share" in edges.note


def test_bad_rule_is_refused():
    net = synthetic.mlp([4, 3])
    with pytest.raises(ValueError, match="unknown edge rule"):
        select_edges(net, rule="random")
    with pytest.raises(ValueError, match="needs one frame"):
        select_edges(net, rule="contribution")
