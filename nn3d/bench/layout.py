"""Layout benchmark: placement of 10^4..10^7 neurons and edge selection from up to 10^8 candidates.

Each record times nn3d's way (Numba kernels) and a straightforward NumPy implementation of the same work in
the same run: placement against :func:`nn3d.layout.placement.place_numpy` (per-layer vectorised index
arithmetic, same DAG code), edge selection against :mod:`nn3d.layout.edges_reference`-style ``argpartition`` of
the whole |score| matrix (dense) and a ``lexsort`` of every edge by destination and |score| (sparse).
Records: ``name``, ``n`` (neurons or candidate edges), ``ms``, ``ns_per`` (ns per neuron / candidate),
``baseline``, ``baseline_ms``, ``speedup``; placement records also ``vs_largest`` (ns per neuron over the
largest size's, from the same interleaved rounds), summarised in the JSON's ``place_flatness``.
"""

from __future__ import annotations

import argparse
import gc
import math
import time

import numpy as np

from . import copy_floor_ms, machine, median_ms, print_table, write_json

PLACE_SIZES = [10**4, 10**5, 10**6, 10**7]
EDGE_SIZES = [10**6, 10**7, 10**8]
K, BUDGET = 8, 2_000_000
COLUMNS = ["name", "n", "ms", "ns_per", "vs_largest", "baseline", "baseline_ms", "speedup", "floor_ms",
           "note"]


def resnet_like(n: int):
    """A weightless ResNet-like network of about ``n`` neurons and always the same 16 layers: an RGB image,
    conv stages with residual branches (one with a strided shortcut), pooling and a dense head."""
    from ..network import Connection, Network

    s = max(4, round(math.sqrt(n / 103.5)) // 2 * 2)
    h = s // 2
    layers = [("image", "input", (3, s, s)), ("conv1", "conv", (16, s, s)), ("a.c1", "conv", (16, s, s)),
              ("a.c2", "conv", (16, s, s)), ("a.add", "add", (16, s, s)), ("pool", "pool", (16, h, h)),
              ("b.c1", "conv", (32, h, h)), ("b.c2", "conv", (32, h, h)), ("b.down", "conv", (32, h, h)),
              ("b.add", "add", (32, h, h)), ("c.c1", "conv", (32, h, h)), ("c.c2", "conv", (32, h, h)),
              ("c.add", "add", (32, h, h)), ("gap", "pool", (32, 1, 1)), ("fc", "dense", 1000),
              ("out", "dense", 10)]
    links = [(0, 1), (1, 2), (2, 3), (3, 4), (1, 4), (4, 5), (5, 6), (6, 7), (5, 8), (7, 9), (8, 9), (9, 10),
             (10, 11), (11, 12), (9, 12), (12, 13), (13, 14), (14, 15)]
    empty = np.empty(0, np.float32)
    return Network.build(layers, [Connection(a, b, "generic", empty) for a, b in links], name=f"resnet-like:{n}")


def _record(name, n, ms, base_name, base_ms, note="") -> dict:
    rec = {"name": name, "n": int(n), "ms": round(ms, 3), "ns_per": round(ms * 1e6 / n, 3), "baseline": base_name,
           "baseline_ms": None if base_ms is None else round(base_ms, 3),
           "speedup": None if base_ms is None else round(base_ms / ms, 2), "note": note}
    return rec


def _time(fn, big: bool, repeat: int = 3) -> float:
    """Median ms: at least 5 calls (0.5 s) for small sizes; ``repeat`` calls after one warm-up for big ones."""
    return median_ms(fn, warmup=1, min_time=0.0 if big else 0.5, min_repeat=repeat if big else 5)


PLACE_NAMES = {"layout.place": "fresh array", "layout.place.reuse": "reused buffer"}
ROUNDS = 5


def _interleaved(fns: dict, rounds: int = ROUNDS) -> dict:
    """Median ms of each of ``fns``, timed round-robin: ``rounds`` rounds, each timing every function (median
    of calls filling ~0.1 s), the result the median over rounds. Sizes compared for flatness are then timed
    in the same stretch of a shared machine's load, not minutes apart."""
    times = {key: [] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            times[key].append(median_ms(fn, warmup=1, min_time=0.1, min_repeat=3))
    return {key: float(np.median(v)) for key, v in times.items()}


def bench_place(sizes: list[int], baseline: bool = True) -> list[dict]:
    """Whole :func:`~nn3d.layout.layout` calls from a Network, into a fresh array and into a reused buffer,
    every size timed in the same rounds; each record's ``vs_largest`` is its ns per neuron over that of the
    largest size (the flatness claim: <= 2 from 10^5 up)."""
    from ..layout import layout

    nets = [resnet_like(n) for n in sizes]
    bufs = [np.zeros((net.n_neurons, 3), np.float32) for net in nets]  # touched once: no page faults left
    fns = {}
    for net, buf in zip(nets, bufs):
        # the compiled pass at every size (small networks would take the NumPy reference by default)
        fns["layout.place", net.n_neurons] = lambda net=net: layout(net, backend="numba")
        fns["layout.place.reuse", net.n_neurons] = lambda net=net, buf=buf: layout(net, backend="numba", out=buf)
    ms = _interleaved(fns)
    out = []
    for net, buf in zip(nets, bufs):
        big = net.n_neurons >= 5 * 10**6
        for name, kw in (("layout.place", {}), ("layout.place.reuse", {"out": buf})):
            base = _time(lambda net=net, kw=kw: layout(net, backend="numpy", **kw), big, 1) if baseline else None
            note = f"{len(net.layers)} layers, {PLACE_NAMES[name]}"
            out.append(_record(name, net.n_neurons, ms[name, net.n_neurons], "numpy", base, note))
    for name in PLACE_NAMES:
        rows = [r for r in out if r["name"] == name]
        for r in rows:
            r["vs_largest"] = round(r["ns_per"] / rows[-1]["ns_per"], 2)
    print_table(sorted(out, key=lambda r: r["name"]), COLUMNS)
    return out


def flatness(records: list[dict]) -> dict:
    """Per placement record name: sizes, ns per neuron, and the worst ns per neuron from 10^5 up over the
    largest size's (``worst_vs_largest``) and over the best (``max_over_min``)."""
    flat = {}
    for name, what in PLACE_NAMES.items():
        rows = sorted((r for r in records if r["name"] == name), key=lambda r: r["n"])
        per = [r["ns_per"] for r in rows if r["n"] >= 10**5]
        if len(per) < 2:
            continue
        flat[name] = {"what": what, "n": [r["n"] for r in rows], "ns_per": [r["ns_per"] for r in rows],
                      "worst_vs_largest": round(max(per) / per[-1], 2), "max_over_min": round(max(per) / min(per), 2)}
    return flat


def _dense_baseline(net, k, a=None):
    """NumPy: |w| (or |w * a|) and one argpartition per connection, then gather the kept edges."""
    for c in net.connections:
        w = c.weight
        score = np.abs(w) if a is None else np.abs(w * a[net.layers[c.src].neurons][None])
        kk = min(k, w.shape[1])
        cols = np.argpartition(score, w.shape[1] - kk, axis=1)[:, w.shape[1] - kk :]
        rows = np.broadcast_to(np.arange(w.shape[0])[:, None], cols.shape)
        _ = w[rows, cols]
        del score, cols


def _sparse_baseline(net, k):
    """NumPy: sort every edge by (destination, -|w|), keep the first k of each destination."""
    for c in net.connections:
        order = np.lexsort((-np.abs(c.weight), c.dst_index))
        g = c.dst_index[order]
        first = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
        rank = np.arange(len(g)) - np.repeat(first, np.diff(np.r_[first, len(g)]))
        _ = order[rank < k]
        del order, g, rank


def conv_net(m: int, channels: int = 64):
    """One 3x3 conv, ``channels`` -> ``channels``, padding 1, on a square map sized for about ``m``
    candidate edges (every output neuron's receptive field: ``channels * 9`` inputs)."""
    from ..network import Connection, Network

    side = max(4, round(math.sqrt(m / (channels * channels * 9))))
    rng = np.random.default_rng(0)
    w = rng.standard_normal((channels, channels, 3, 3), dtype=np.float32)
    params = {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}
    shape = (channels, side, side)
    net = Network.build([("x", "conv", shape), ("y", "conv", shape)], [Connection(0, 1, "conv", w, params=params)])
    return net, channels * channels * 9 * side * side


def _conv_baseline(net, k, a):
    """NumPy: sliding windows over the padded input, |w * window| per output channel, one argpartition."""
    from numpy.lib.stride_tricks import sliding_window_view

    c = net.connections[0]
    x = np.pad(a[net.layers[0].neurons].reshape(net.layers[0].shape), ((0, 0), (1, 1), (1, 1)))
    win = sliding_window_view(x, (3, 3), axis=(1, 2))  # (C, H, W, 3, 3), a view
    win = win.transpose(1, 2, 0, 3, 4)  # (H, W, C, 3, 3)
    h, w_ = win.shape[:2]
    for co in range(c.weight.shape[0]):
        score = np.abs(win * c.weight[co]).reshape(h * w_, -1)
        _ = np.argpartition(score, score.shape[1] - k, axis=1)[:, score.shape[1] - k :]


def bench_edges(sizes: list[int], baseline: bool = True) -> list[dict]:
    from .. import synthetic
    from ..layout import select_edges

    out = []
    for m in sizes:
        big = m >= 5 * 10**7
        width = round(math.sqrt(m / 4))  # 4 square dense connections: GPT-2-block-like widths
        net = synthetic.mlp([width] * 5, seed=0)
        a = np.random.default_rng(1).random(net.n_neurons, dtype=np.float32)
        n = sum(c.weight.size for c in net.connections)
        for rule in ("weight", "contribution"):
            acts = a if rule == "contribution" else None
            ms = _time(lambda net=net, acts=acts, rule=rule: select_edges(net, K, BUDGET, acts, rule), big)
            base = _time(lambda net=net, acts=acts: _dense_baseline(net, K, acts), big, 1) if baseline else None
            edges = select_edges(net, K, BUDGET, acts, rule)
            out.append(_record(f"edges.dense.{rule}", n, ms, "numpy argpartition", base,
                               f"{len(edges):,} edges kept"))
            out[-1]["floor_ms"] = round(copy_floor_ms(4 * n, cache=True), 3)  # reading every weight once
            print_table(out[-1:], COLUMNS)
        del net
        gc.collect()
        net, n = conv_net(m)
        a = np.random.default_rng(1).random(net.n_neurons, dtype=np.float32)
        ms = _time(lambda net=net, a=a: select_edges(net, K, BUDGET, a, "contribution"), big)
        base = _time(lambda net=net, a=a: _conv_baseline(net, K, a), big, 1) if baseline else None
        edges = select_edges(net, K, BUDGET, a, "contribution")
        out.append(_record("edges.conv.contribution", n, ms, "numpy sliding windows", base,
                           f"{net.layers[1].size:,} receptive fields, {len(edges):,} edges kept"))
        print_table(out[-1:], COLUMNS)
        del net
        net = synthetic.random_network(max(m // 100, 8), m, n_layers=8, seed=0)
        ms = _time(lambda net=net: select_edges(net, K, BUDGET), big)
        base = _time(lambda net=net: _sparse_baseline(net, K), big, 1) if baseline else None
        edges = select_edges(net, K, BUDGET)
        out.append(_record("edges.sparse.weight", m, ms, "numpy lexsort", base,
                           f"{net.n_neurons:,} neurons, {len(edges):,} edges kept"))
        print_table(out[-1:], COLUMNS)
        del net
        gc.collect()
    return out


def run(sizes: list[int] | None = None, json_path: str | None = None, edge_sizes: list[int] | None = None,
        baseline: bool = True) -> list[dict]:
    """Run the layout benchmark; ``sizes``: neuron counts to place, ``edge_sizes``: candidate edge counts."""
    t0 = time.perf_counter()
    info = machine()
    print(f"nn3d layout benchmark on {info['cpu']}, {info['cores']} cores, {info['date']}")
    place = bench_place(sizes or PLACE_SIZES, baseline)
    records = place + bench_edges(edge_sizes or EDGE_SIZES, baseline)
    print_table(records, COLUMNS, title=f"\nlayout benchmark ({time.perf_counter() - t0:.0f} s)")
    flat = flatness(place)
    for name, f in flat.items():
        sizes = " / ".join(f"{n:.0e}".replace("e+0", "e") for n in f["n"])
        print(f"{name} ({f['what']}): ns per neuron {' / '.join(f'{v:.3g}' for v in f['ns_per'])} at {sizes}; "
              f"from 1e5 up, worst / largest = {f['worst_vs_largest']}, max / min = {f['max_over_min']}")
    if json_path:
        write_json(json_path, records, benchmark="layout", k=K, budget=BUDGET, place_flatness=flat)
    return records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nn3d bench layout", description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the records here")
    p.add_argument("--sizes", help="neuron counts to place, comma-separated (default 1e4,1e5,1e6,1e7)")
    p.add_argument("--edges", help="candidate edge counts, comma-separated (default 1e6,1e7,1e8)")
    p.add_argument("--no-baseline", action="store_true", help="skip the NumPy baselines")
    args = p.parse_args(argv)
    ints = lambda t: [int(float(x)) for x in t.split(",")] if t else None  # noqa: E731
    run(ints(args.sizes), args.json, ints(args.edges), not args.no_baseline)
    return 0
