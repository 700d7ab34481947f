"""Scale: a recording too large for memory is refused up front, with the estimate and what to change; a
10^6-neuron model goes through the path of the 10^8 scene (trace, memory-mapped store, layout, edges, shot)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn3d import memory  # noqa: E402
from nn3d.activations import Activations  # noqa: E402
from nn3d.ingest import from_torch  # noqa: E402
from nn3d.memory import TooLargeError  # noqa: E402


def tokens_mlp(tokens: int = 16, width: int = 64):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, width), torch.nn.ReLU(), torch.nn.Linear(width, width)).eval()
    return model, torch.randn(1, tokens, 32)


def test_recording_in_ram_refused_with_estimate_and_advice(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)  # 1 MB
    model, x = tokens_mlp(tokens=256)  # 256 * (32 + 2 * 64) = 40,960 neurons (ReLU folds into its Linear): 2 MB
    with pytest.raises(TooLargeError) as e:
        from_torch(model, x)
    msg = str(e.value)
    assert "40,960 neurons" in msg and "MB" in msg and "\n" not in msg
    assert "fewer tokens" in msg and "memmap" in msg


def test_memmap_store_refused_when_the_drawing_does_not_fit(monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)
    model, x = tokens_mlp(tokens=256)
    store = tmp_path / "acts.npy"
    with pytest.raises(TooLargeError, match="fewer tokens"):
        from_torch(model, x, memmap=store)
    assert not store.exists()  # refused before the store was created


def test_memmap_store_lifts_the_ram_limit_for_frames(monkeypatch, tmp_path):
    """Frames that would not fit in RAM next to the drawing are accepted into a memory-mapped store."""
    n, frames = 10_000, 40  # 1.6 MB of frames, 0.48 MB to draw
    monkeypatch.setattr(memory, "available_bytes", lambda: int(1.5 * (1 << 20)))
    with pytest.raises(TooLargeError, match="memory-mapped store"):
        Activations.allocate(frames, n)
    values = Activations.allocate(frames, n, tmp_path / "acts.npy")
    assert isinstance(values, np.memmap) and values.shape == (frames, n)


def test_memmap_store_refused_when_the_disk_is_too_small(monkeypatch, tmp_path):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(1 << 20, 0, 1 << 20))
    with pytest.raises(TooLargeError, match="on disk"):
        Activations.allocate(4, 1 << 20, tmp_path / "acts.npy")


def test_million_neurons_through_the_scale_path(tmp_path):
    """~10^6 neurons (a Linear stack shared over 256 tokens) recorded into the memory-mapped store equal the
    model's own outputs; layout, edges within the budget and a shot follow."""
    from nn3d.layout import layout, select_edges
    from nn3d.render.explorer import screenshot

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                                torch.nn.ReLU(), torch.nn.Linear(1024, 1024)).eval()
    x = torch.randn(1, 320, 64)  # 320 * (64 + 3 * 1024) = 1,003,520 neurons
    with torch.no_grad():
        net, acts = from_torch(model, x, memmap=tmp_path / "acts.npy")
        out = model(x).numpy().reshape(-1)
    assert net.n_neurons >= 10**6
    assert isinstance(acts.values, np.memmap)
    last = net.layers[-1]
    np.testing.assert_allclose(acts.frame(0)[last.start:last.stop], out, rtol=1e-5, atol=1e-6)
    placed = layout(net)
    assert placed.positions.shape == (net.n_neurons, 3) and np.isfinite(placed.positions).all()
    edges = select_edges(net, k=4, budget=5000, activations=acts.frame(0), rule="contribution")
    assert 0 < len(edges) <= 5000
    image = screenshot(net, tmp_path / "shot.png", acts, size=(320, 180))
    assert image.shape == (180, 320, 4)
    assert (image[..., :3].astype(int).sum(-1) > 60).mean() > 0.01  # neurons drawn, not an empty frame

    from nn3d.render.explorer import Explorer

    ex = Explorer(net, acts, size=(320, 180))  # the explorer opens on the memory-mapped recording
    try:
        first = ex.render()
        np.testing.assert_array_equal(first.shape, image.shape)
        assert (first[..., :3].astype(int).sum(-1) > 60).mean() > 0.01
        ex.set_forward_pass(True)  # the first layer lit, the others grey: another picture
        assert (ex.render()[..., :3] != first[..., :3]).any(axis=-1).mean() > 0.005
    finally:
        ex.close()


def test_bench_render_scene_list(tmp_path):
    """``--scenes bert``: a camera-moving and a playback frame, new renderer against current, in one run."""
    from nn3d.bench import render

    md = tmp_path / "render.md"
    records = render.main(["--sizes", "--scenes", "bert", "--quick", "--markdown", str(md)])
    assert [r["name"] for r in records] == ["scene_orbit:bert", "scene_playback:bert"]
    for r in records:
        assert r["neurons"] > 10**5 and r["ms"] > 0 and r["baseline_ms"] > 0
        assert r["gpu_bytes_per_neuron"] < 2 < 12 < r["baseline_gpu_bytes_per_neuron"]
    assert "| scene_orbit | bert |" in md.read_text()


def test_bench_render_unknown_scene_is_one_line(capsys):
    from nn3d.bench import render

    with pytest.raises(SystemExit):
        render.main(["--scenes", "bert,resnet9000"])
    assert "unknown scene(s) resnet9000" in capsys.readouterr().err


def test_huge_linear_scans_its_most_active_rows_only(monkeypatch):
    """Past SCAN_LIMIT candidates, a connection short of one edge per neuron keeps the strongest edges among
    its most active destination neurons: per row the same top 1 as the full scan, within the budget."""
    from nn3d.layout import edges as E
    from nn3d.layout import select_edges

    model, x = tokens_mlp(tokens=64, width=256)
    with torch.no_grad():
        net, acts = from_torch(model, x)
    frame = acts.frame(0).copy()
    frame[5] = np.nan  # a NaN source never makes an edge
    exact = select_edges(net, k=4, budget=40, activations=frame, rule="contribution")
    monkeypatch.setattr(E, "SCAN_LIMIT", 1000)
    sampled = select_edges(net, k=4, budget=40, activations=frame, rule="contribution")
    assert "most active neurons" in sampled.note and "most active" not in exact.note
    assert 0 < len(sampled) <= 40
    c = net.connections[-1]  # the second Linear: its rows, scanned whole and sampled, agree
    src, dst = net.layers[c.src], net.layers[c.dst]
    cand = E.Linear(net, c, frame[src.neurons])
    d, s, v = cand.select(1)
    rows = np.sort(np.random.default_rng(0).choice(cand.n_rows, 50, replace=False))
    dr, sr, vr = cand.select_rows(rows)
    monkeypatch.setattr(E, "SCORES_PER_PASS", 7 * 256)  # 7 rows per pass: the same result, chunk by chunk
    for got, want in zip(cand.select_rows(rows), (dr, sr, vr)):
        np.testing.assert_array_equal(got, want)
    full = dict(zip(d.tolist(), zip(s.tolist(), v.tolist())))
    assert {r: full[r] for r in rows.tolist() if r in full} == dict(zip(dr.tolist(), zip(sr.tolist(), vr.tolist())))
    # the sampled edges of that connection end on its most active destination neurons
    mine = sampled.dst[(sampled.dst >= dst.start) & (sampled.dst < dst.stop)] - dst.start
    top = np.argsort(-np.abs(frame[dst.neurons]))[: E.ROW_SAMPLE * 40]
    assert len(mine) and np.isin(mine, top).all()


def test_nn3d_shot_refuses_a_too_large_model_in_one_line(monkeypatch, tmp_path, capsys):
    """``nn3d shot FILE.py:factory`` on a model whose recording would not fit: exit 2, one line, no image."""
    from nn3d.cli import main

    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)
    factory = tmp_path / "big.py"
    factory.write_text("import torch\n\ndef make():\n    torch.manual_seed(0)\n"
                       "    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Linear(64, 64)), "
                       "torch.randn(1, 256, 32)\n")
    out = tmp_path / "x.png"
    assert main(["shot", f"{factory}:make", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs about" in err[0] and "fewer tokens" in err[0]
    assert not out.exists()
