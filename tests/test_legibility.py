"""The legibility measurement (benchmarks/legibility.py) and the defaults it judges: the edge budget set by
the screen, the edge alpha, and the home camera filling the frame."""

import sys
from pathlib import Path

import numpy as np
import pytest

from nn3d import synthetic
from nn3d.camera_pose import HOME_VIEW, VIEWS
from nn3d.render.lod import MIN_EDGES, edge_alpha, edge_budget

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from legibility import compare, measure  # noqa: E402


def test_compare_counts_hidden_neuron_pixels_fill_and_edge_cover():
    bg = (10, 10, 10, 255)
    edgeless = np.full((100, 200, 4), bg, np.uint8)
    edgeless[20:60, 50:150, :3] = 200  # "neurons": 40 x 100 pixels
    edged = edgeless.copy()
    edged[30, 50:150, :3] = 50  # an edge across the neurons: hides 100 of their 4000 pixels
    edged[80, 0:200, :3] = 60  # and one across the background
    r = compare(edgeless, edged, bg)
    assert r["visible"] == pytest.approx(1 - 100 / 4000)
    assert r["edges"] == pytest.approx(300 / 20000)
    assert r["fill_w"] == pytest.approx(1.0) and r["fill_h"] == pytest.approx(61 / 100)


def test_edge_budget_follows_the_frame():
    assert edge_budget((1280, 720)) > edge_budget((640, 360)) > 0
    assert edge_budget((2560, 1440)) == pytest.approx(4 * edge_budget((1280, 720)), rel=0.01)
    assert edge_budget((16, 16)) == MIN_EDGES
    with pytest.raises(ValueError):
        edge_budget((0, 10))


def test_edge_alpha_falls_with_the_count_within_bounds():
    assert edge_alpha(10) == edge_alpha(MIN_EDGES) > edge_alpha(1000) > edge_alpha(10**6) > 0
    assert edge_alpha(10**6) == edge_alpha(10**7)


def test_home_view_is_one_constant_and_three_quarter_is_kept():
    from nn3d.layout import layout
    from nn3d.render.scene import NetworkScene

    net = synthetic.mlp([16, 12, 8], seed=0)
    from nn3d.layout import select_edges

    scene = NetworkScene(net, layout(net), select_edges(net, k=1), size=(320, 180))
    try:
        home = scene.home_camera()
        from nn3d.render.home_view import separating_azimuth

        # the home direction, turned only as far as keeps consecutive layers apart
        assert (home.azimuth, home.elevation) == (separating_azimuth(scene.layout, HOME_VIEW[0]), HOME_VIEW[1])
        assert HOME_VIEW[0] - 2 < home.azimuth <= HOME_VIEW[0]
        oblique = scene.home_camera(view="three-quarter")
        assert (oblique.azimuth, oblique.elevation) == VIEWS["three-quarter"] != HOME_VIEW
        assert scene.camera_state == home  # the default view is the home one
        with pytest.raises(ValueError):
            scene.home_camera(view="sideways")
    finally:
        scene.close()


def test_default_shot_of_a_small_model_is_legible():
    net = synthetic.mlp([64, 32, 16, 10], seed=0)
    r = measure(net, synthetic.random_activations(net, seed=0), size=(1280, 720))  # the frame
    assert r["visible"] >= 0.9
    assert r["edges"] >= 0.02  # edges are still drawn
    assert max(r["fill_w"], r["fill_h"]) >= 0.75
    assert r["overlaps"] == 0 and r["labels"] >= 1


def test_home_view_turns_until_consecutive_layers_stand_apart():
    """An MLP whose layers are as wide as the gaps between them (the digits demo's 64-64-32-10): from the
    plain home azimuth its first two layers overlap on screen; the home view turns until they stand apart."""
    from types import SimpleNamespace

    from nn3d.layout import EdgeSet, layout
    from nn3d.render.home_view import FLOOR, separating_azimuth
    from nn3d.render.scene import NetworkScene

    net = synthetic.mlp([64, 64, 32, 10], seed=0)
    scene = NetworkScene(net, layout(net), EdgeSet.empty(), size=(800, 500))
    try:
        def columns():
            out = []
            for layer in net.layers:
                x = scene.project(np.arange(layer.start, layer.start + layer.size))[:, 0]
                out.append((x.min(), x.max()))
            return out

        home = scene.camera_state
        assert FLOOR <= home.azimuth < HOME_VIEW[0] and home.elevation == HOME_VIEW[1]
        spans = columns()
        pitch_px = (spans[0][1] - spans[0][0]) / 7  # the input's 8 columns
        gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
        assert min(gaps) > pitch_px  # more than a neuron spacing between layers: sprites do not touch
        scene.set_camera(home.replace(azimuth=HOME_VIEW[0]))
        spans = columns()
        assert spans[1][0] - spans[0][1] < 0.5 * pitch_px  # the plain home azimuth: they nearly touch
    finally:
        scene.close()
    wide = SimpleNamespace(boxes=np.array([[[0, -10, -10], [1, 10, 10]], [[3, -10, -10], [4, 10, 10]]], float),
                           levels=np.array([0, 1]), rows=None)  # layers far wider than their gap: left as is
    assert separating_azimuth(wide, HOME_VIEW[0]) == HOME_VIEW[0]
