"""The layout benchmark's plumbing (sizes tiny, timing stubbed): records as the kernel benchmark writes them."""

import json

import numpy as np

from nn3d.bench import layout as bench
from nn3d.layout import layout, select_edges


def test_synthetic_networks_have_the_requested_size_and_shape():
    for n in (10**4, 10**5):
        net = bench.resnet_like(n)
        assert 0.7 * n < net.n_neurons < 1.5 * n and len(net.layers) == 16
        lay = layout(net)
        assert lay.levels[net.layer_index("b.c1")] == lay.levels[net.layer_index("b.down")]  # a branch
    net, m = bench.conv_net(10**5, channels=8)
    assert m == 8 * 8 * 9 * net.layers[1].size // 8
    assert len(select_edges(net, k=3, budget=10**6)) == 3 * net.layers[1].size


def test_run_writes_records_with_baselines(tmp_path, monkeypatch):
    calls = []

    def fake_time(fn, big, repeat=3):
        fn()
        calls.append(big)
        return 2.0

    def fake_interleaved(fns, rounds=3):
        for fn in fns.values():
            fn()
            calls.append("interleaved")
        return dict.fromkeys(fns, 2.0)

    monkeypatch.setattr(bench, "_time", fake_time)
    monkeypatch.setattr(bench, "_interleaved", fake_interleaved)
    monkeypatch.setattr(bench, "copy_floor_ms", lambda n, cache=False: 0.5)
    path = tmp_path / "layout.json"
    records = bench.run(sizes=[2000, 5000], json_path=str(path), edge_sizes=[20_000])
    names = [r["name"] for r in records]
    assert names.count("layout.place") == names.count("layout.place.reuse") == 2
    assert "edges.sparse.weight" in names and "edges.conv.contribution" in names
    for r in records:
        assert {"name", "n", "ms", "baseline", "baseline_ms", "speedup"} <= set(r)
        assert r["speedup"] == 1.0 and r["ns_per"] == np.round(2.0 * 1e6 / r["n"], 3)
    data = json.loads(path.read_text())
    assert data["records"] == records and data["machine"]["cores"] >= 1
    assert len(calls) == 2 * len(records)  # nn3d's way and the NumPy baseline, each timed
    place = [r for r in records if r["name"] == "layout.place.reuse"]
    assert place[-1]["vs_largest"] == 1.0
    assert place[0]["vs_largest"] == round(place[0]["ns_per"] / place[-1]["ns_per"], 2)


def test_flatness_compares_every_size_with_the_largest():
    recs = [{"name": "layout.place.reuse", "n": n, "ns_per": v} for n, v in ((10**4, 9.0), (10**5, 1.5), (10**6, 0.5),
                                                                            (10**7, 1.0))]
    flat = bench.flatness(recs)["layout.place.reuse"]
    assert flat["worst_vs_largest"] == 1.5 and flat["max_over_min"] == 3.0  # 1e4 is below the claim's range
    assert flat["n"] == [10**4, 10**5, 10**6, 10**7] and "layout.place" not in bench.flatness(recs)


def test_interleaved_timing_takes_the_median_over_rounds(monkeypatch):
    seq = iter([1.0, 10.0, 3.0, 20.0, 2.0, 30.0])
    monkeypatch.setattr(bench, "median_ms", lambda fn, **kw: next(seq))
    assert bench._interleaved({"a": None, "b": None}, rounds=3) == {"a": 2.0, "b": 20.0}
