"""The analysis panels: pixels against the data, and their two-way link with the explorer (synthetic events)."""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from vispy.util import keys

from nn3d import synthetic
from nn3d.analysis import Source
from nn3d.cli import main as plot_main
from nn3d.colormaps import lut
from nn3d.kernels import rgba
from nn3d.network import Connection, Network
from nn3d.render.explorer import Explorer
from nn3d.render.panels import PANELS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def run_file(digits_run):
    return digits_run


@pytest.fixture
def replay(run_file):
    from nn3d.recorder import Recording

    rec = Recording(run_file)
    ex = Explorer(rec.network, rec.activations(0), size=(900, 600), panels=True, recording=rec, k=2)
    ex.scene.edges.visible = False
    yield ex
    ex.close()


def luminance(rgb):
    return rgb[..., :3].astype(float) @ [0.2126, 0.7152, 0.0722]


def test_heatmap_pixels_follow_the_weights(lone_panel):
    net = synthetic.mlp([12, 7], seed=3)
    w = net.connections[0].weight
    panel, img = lone_panel("weights", Source(net), 1)
    expected = rgba(w, lut("viridis"), mode="global", kernel="numpy")  # the kernels' colours, one range
    cells = [(r, c) for r in range(7) for c in range(12)]
    px = np.array([img[int(y), int(x), :3] for x, y in (panel.pixel_of(r, c) for r, c in cells)])
    np.testing.assert_array_equal(px, expected.reshape(-1, 4)[:, :3])  # each cell is its weight's colour
    lum = luminance(px)
    order = np.argsort(w.ravel())
    assert np.argmax(lum) == np.argmax(w.ravel()) and np.argmin(lum) == np.argmin(w.ravel())
    assert np.all(np.diff(lum[order]) >= -1.0)  # brighter as the weight grows (8-bit levels may tie)


def test_large_matrix_is_pooled_not_cropped(lone_panel):
    net = synthetic.mlp([700, 300], seed=0)
    panel, _ = lone_panel("weights", Source(net), 1)
    hm = panel.data["heatmap"]
    assert hm.values.shape == (256, 256) and hm.source_shape == (300, 700)
    assert hm.values.max() == net.connections[0].weight.max()  # max-|w| pooling keeps the extremes
    assert hm.values.min() == net.connections[0].weight.min()


def test_histogram_panel_counts_equal_numpys(replay):
    hist = replay.panels.by_kind["hist"]
    src = replay.panels.source
    _, ws = src.weight_history(replay.panels.layer)
    st = hist.data["weights"]
    assert st.counts.shape == (len(ws), hist.bins)
    for k in (0, len(ws) - 1):
        np.testing.assert_array_equal(st.counts[k], np.histogram(ws[k], st.edges)[0])
    assert hist.data["biases"] is not None and hist.data["current"] == replay.frame


def test_curve_cursor_sits_at_the_current_step(replay):
    curves = replay.panels.by_kind["curves"]
    src = replay.panels.source
    replay.show_frame(5)
    assert curves.data["cursor"] == src.record_steps[5]
    img = replay.render()
    x = int(round(curves.canvas_x(src.record_steps[5])))
    y0, h = curves.view.pos[1], curves.view.size[1]
    column = img[int(y0 + 0.45 * h): int(y0 + 0.8 * h), x - 1: x + 2, :3]
    assert (column.min(axis=2) > 200).any(axis=1).all()  # a white vertical line there, over the curves
    other = int(round(curves.canvas_x(src.record_steps[1])))
    assert (img[int(y0 + 0.45 * h): int(y0 + 0.8 * h), other, :3].min(axis=1) > 200).mean() < 0.2


def test_click_on_the_curves_jumps_the_3d_view_to_that_step(replay):
    curves = replay.panels.by_kind["curves"]
    src = replay.panels.source
    target = 4
    x = curves.canvas_x(src.record_steps[target] + 1)  # a step just past the recorded one: the nearest record
    y = curves.view.pos[1] + 0.6 * curves.view.size[1]
    before = replay.scene.levels.copy()
    replay.canvas.events.mouse_press(pos=(x, y), button=1)
    replay.canvas.events.mouse_release(pos=(x, y), button=1)
    assert replay.frame == target and curves.data["cursor"] == src.record_steps[target]
    assert replay.panels.by_kind["weights"].frame == target
    np.testing.assert_array_equal(replay.panels.by_kind["weights"].data["weights"], src.weight_matrix(1, target))
    assert not np.array_equal(before, replay.scene.levels)  # the 3D view was recoloured


def test_selecting_a_neuron_in_3d_switches_the_panels_layer(replay):
    net = replay.net
    assert replay.panels.layer == 1
    neuron = net.layers[3].start + 4
    x, y = replay.scene.project([neuron])[0]
    assert x < replay.panels.view_width(replay.canvas.size[0])  # the 3D view is left of the panels
    replay.canvas.events.mouse_press(pos=(x, y), button=1)
    replay.canvas.events.mouse_release(pos=(x, y), button=1)
    assert replay.selected is not None and replay.selected.neuron == neuron  # picking still exact
    assert replay.panels.layer == 3
    weights = replay.panels.by_kind["weights"]
    assert weights.data["weights"].shape == (10, 16)
    np.testing.assert_array_equal(weights.data["weights"], replay.panels.source.weight_matrix(3, replay.frame))
    assert weights.data["row"] == 4 and weights.marker.visible  # the selected neuron's row is outlined
    img = replay.render()
    x, y = weights.pixel_of(4 - 0.5, 7)  # the middle of the outline's top edge
    patch = img[int(y) - 1:int(y) + 2, int(x), :3]
    assert (patch.min(axis=1) > 230).any()
    detail = replay.panels.detail
    assert detail.kind == "function" and detail.data == {} and "applies no activation" in detail.message.text
    replay.select(net.layers[2].start)
    assert replay.panels.layer == 2 and detail.data["counts"].sum() == 16  # relu over layer 2's activations
    replay.clear_selection()
    assert weights.data["row"] is None and not weights.marker.visible
    replay.select_layer("0")  # by name, without a neuron
    assert replay.panels.layer == 1 and weights.data["weights"].shape == (32, 64)


def test_picking_with_panels_finds_every_layer(replay):
    for layer in replay.net.layers:
        n = layer.start + layer.size // 2
        assert replay.scene.pick(*replay.scene.project([n])[0]) == n


def conv_net():
    rng = np.random.default_rng(0)
    k = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    conn = Connection(0, 1, "conv", k, params={"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1),
                                               "groups": 1})
    return Network.build([("x", "input", (2, 6, 6)), ("conv", "conv", (4, 6, 6), "relu")], [conn]), k


def test_conv_filter_images_equal_the_kernel(lone_panel):
    net, k = conv_net()
    panel, img = lone_panel("filters", Source(net), 1)
    lim = panel.data["lim"]
    assert lim == np.abs(k).max()
    expected = rgba(k, lut("coolwarm"), mode="global", vrange=(-lim, lim), kernel="numpy")
    for o, i in [(0, 0), (3, 1), (2, 0)]:
        for r in range(3):
            for c in range(3):
                x, y = panel.pixel_of(*(panel.data["corners"][o, i] + (r, c)))
                np.testing.assert_array_equal(img[int(y), int(x), :3], expected[o, i, r, c, :3])


def test_attention_panel_rows_sum_to_one_and_heads_cycle(gpt2_source):
    net, acts, src = gpt2_source(layers=1, dim=16, heads=2, vocab=30, positions=8, batch=1, tokens=6, seed=1)
    ex = Explorer(net, acts, size=(700, 500), panels=src, k=1)
    try:
        layer = src.layer(None, "attention")
        ex.select(net.layers[layer].start)
        panel = ex.panels.detail
        assert panel.kind == "attention" and panel.head == 0
        np.testing.assert_allclose(panel.data["map"].sum(axis=1), 1.0, atol=1e-5)
        ex.canvas.events.key_press(key=keys.Key("]"), text="]", modifiers=())
        assert panel.head == 1
        np.testing.assert_array_equal(panel.data["map"], panel.data["probs"][1])
        assert not np.allclose(panel.data["probs"][0], panel.data["probs"][1])
    finally:
        ex.close()


def test_nn3d_plot_writes_each_panel(run_file, tmp_path, capsys):
    for kind in ("weights", "hist", "curves", "function"):
        out = tmp_path / f"{kind}.png"
        assert plot_main(["plot", str(run_file), "--panel", kind, "--step", "12", "-o", str(out),
                          "--size", "320x200"]) == 0
        img = iio.imread(out)
        assert img.shape[:2] == (200, 320) and img[..., :3].std() > 5  # something drawn


def test_nn3d_plot_errors_are_one_line_exit_2(run_file, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    cases = [(["synthetic:mlp:8,4,2", "--panel", "curves"], "no training curves"),
             ([str(run_file), "--panel", "weights", "--layer", "nope"], "no layer 'nope'"),
             ([str(run_file), "--panel", "filters"], "has no layer with filters"),
             ([str(tmp_path / "missing.nn3d"), "--panel", "hist"], "no such recording")]
    for args, message in cases:
        assert plot_main(["plot", *args, "-o", out]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err


def test_nn3d_plot_filters_from_a_model_spec(tmp_path):
    out = tmp_path / "filters.png"
    args = ["plot", f"{EXAMPLES / 'small_cnn.py'}:factory", "--panel", "filters", "--layer", "3.conv1", "-o", str(out),
            "--size", "400x300"]
    assert plot_main(args) == 0
    img = iio.imread(out)
    assert img.shape[:2] == (300, 400)
    reds = (img[..., 0].astype(int) - img[..., 2] > 60).sum()  # coolwarm: positive weights red, negative blue
    blues = (img[..., 2].astype(int) - img[..., 0] > 60).sum()
    assert reds > 500 and blues > 500


def test_panels_leave_the_3d_view_as_it_was(replay):
    """The panels' wider lines must not leak into the next frame's edges (GL state outlives a draw)."""
    replay.scene.edges.visible = True
    replay.scene.edges.cache_layer = False  # every frame draws the edges again
    first, second = replay.render(), replay.render()
    assert (first != second).any(-1).sum() == 0


def test_panel_kinds_have_one_registry():
    """The kinds `nn3d plot --panel` offers, the views that draw them and the explorer's column all come from
    nn3d.analysis.panel_kinds; colorize is the kernels' rgba (NaN in the panels' background colour)."""
    import argparse

    from nn3d.analysis.panel_kinds import PANEL_KINDS, column_kinds, detail_kinds
    from nn3d.cli import plot as plot_cli
    from nn3d.render.panels import PANEL_NAN, colorize

    parser = plot_cli.add_parser(argparse.ArgumentParser().add_subparsers())
    choices = next(a.choices for a in parser._actions if a.dest == "panel")
    assert list(choices) == list(PANELS) == list(PANEL_KINDS)
    assert all(PANELS[k].kind == k for k in PANEL_KINDS)
    assert column_kinds(False) == ["weights", "hist"] and column_kinds(True) == ["weights", "hist", "curves"]
    assert detail_kinds() == ["filters", "attention", "function"]
    v = np.array([[0.0, 1.0, np.nan], [np.inf, -np.inf, 0.5]])
    img = colorize(v, "magma", 0.0, 1.0)
    table = lut("magma")
    np.testing.assert_array_equal(img[0, 2], PANEL_NAN)
    np.testing.assert_array_equal(img[[0, 0, 1, 1, 1], [0, 1, 0, 1, 2]], table[[0, 254, 254, 0, 127]])
