"""The render benchmark runs at tiny sizes and writes its records, JSON and plot."""

import json

import pytest

from nn3d.bench import render


def test_content_keeps_every_edge():
    net, layout, edges, values = render.content(2000)
    assert net.n_neurons == 2000 and len(edges) == 2000 and values.shape == (2000,)
    assert edges.src.max() < 2000 and edges.dst.max() < 2000
    assert (net.layer_of(edges.dst) == net.layer_of(edges.src) + 1).all()
    assert 0 < edges.strength.max() <= 1


def test_smoke_run_writes_records(tmp_path):
    pytest.importorskip("matplotlib")
    out, png, md = tmp_path / "render.json", tmp_path / "frame.png", tmp_path / "results.md"
    records = render.run([1000, 3000], json_path=str(out), plot_path=str(png), quick=True, markdown_path=str(md))
    assert [(r["name"], r["n"]) for r in records] == [
        (name, n) for n in (1000, 3000) for name in render.NAMES
    ]
    for r in records:
        assert {"name", "n", "ms", "baseline", "baseline_ms", "speedup", "p95_ms", "neurons_per_s"} <= set(r)
        assert 0 < r["ms"] <= r["p95_ms"] and r["baseline_ms"] > 0
        assert r["speedup"] == pytest.approx(r["baseline_ms"] / r["ms"])
        assert r["neurons_per_s"] == pytest.approx(r["neurons"] / r["ms"] * 1e3)
    assert all("edges_per_s" in r for r in records if r["name"] in ("frame_playback", "frame_orbit"))
    assert all(r["kernel_ms"] > 0 and r["upload_ms"] > 0 for r in records if r["name"] == "recolour")
    saved = json.loads(out.read_text())
    assert saved["records"] == records and saved["machine"]["cores"] >= 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = md.read_text()
    assert "| frame_playback | 10^3 |" in table and "| recolour | 3,000 |" in table and "](frame.png)" in table
    assert "3,000: kernel" in table


def test_both_scenes_draw_the_same_content():
    """The baseline is not a strawman: its image lights up where ours does."""
    net, layout, edges, values = render.content(400)
    scene = render.ours(net, layout, edges, values)
    canvas, _, markers, line = render.naive(scene, edges, values)
    try:
        a, b = render.Offscreen(scene.canvas), render.Offscreen(canvas)
        scene.title.visible = False
        a.draw(), b.draw()
        lit_a = (a.image()[..., :3] != a.image()[0, 0, :3]).any(-1)
        lit_b = (b.image()[..., :3] != b.image()[0, 0, :3]).any(-1)
        assert lit_a.mean() > 0.01
        assert (lit_a & lit_b).sum() > 0.6 * max(lit_a.sum(), lit_b.sum())
    finally:
        canvas.close()
        scene.close()


def test_current_renderer_skipped_when_it_would_not_fit(monkeypatch):
    """The 10^8 scene's current-renderer column is refused up front, with its estimate, rather than killed."""
    from nn3d import memory
    from nn3d.bench import scenes

    assert scenes.current_fits(10**4) is None
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * 2**30)
    why = scenes.current_fits(118_751_360)
    assert why.startswith("the current renderer on 118,751,360 neurons needs about 11.1 GB") and "skipped" in why
    assert scenes.current_fits(10**6) is None
