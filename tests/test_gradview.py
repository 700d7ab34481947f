"""Seeing gradients (#17): colour modes against a NumPy reference and in pixels, the backward animation, the pick
card's gradient, the gradient-flow data and panel, dead / saturated / zero-gradient units and their marks."""

import numpy as np
import pytest

from nn3d import Activations, synthetic
from nn3d.analysis import Source
from nn3d.analysis.gradflow import gradflow, layer_grad_norms
from nn3d.analysis.units import RULES, layer_count_line, unit_flags
from nn3d.cli import main
from nn3d.color_modes import COLOR_MODES, check_color, color_mode
from nn3d.colormaps import lut
from nn3d.explorer_state import HIGHLIGHTS as STATE_HIGHLIGHTS
from nn3d.kernels import MID_LEVEL, ROBUST_PERCENTILE
from nn3d.network import NetworkError
from nn3d.render import video
from nn3d.render.explorer import Explorer
from nn3d.render.unit_marks import MARK_COLORS


@pytest.fixture(scope="module")
def net():
    return synthetic.mlp([6, 5, 4], seed=0)  # input, dense+relu, dense


@pytest.fixture(scope="module")
def acts(net):
    rng = np.random.default_rng(1)
    v = rng.standard_normal((3, net.n_neurons)).astype(np.float32)
    g = (rng.standard_normal((3, net.n_neurons)) * np.repeat([1e-6, 1e-3, 1.0], [6, 5, 4])).astype(np.float32)
    g[0, 2] = 0.0  # an exact zero gradient: the colormap's middle
    return Activations(v, grads=g)


def reference_levels(x, net, percentile=ROBUST_PERCENTILE):
    """Per layer: symmetric robust range (-m, m), m = max |1st, 99th percentile|, mapped linearly to 0..254."""
    out = np.empty(len(x), np.uint8)
    for la in net.layers:
        part = x[la.neurons].astype(np.float64)
        lo, hi = np.percentile(part, [percentile, 100 - percentile])
        m = np.float32(max(abs(lo), abs(hi)))
        lev = np.rint((np.clip(part, -m, m) + m) * np.float32(254 / (2 * m)))
        out[la.neurons] = lev
    return out


def test_colour_modes_registry_and_spellings(acts):
    assert list(COLOR_MODES) == ["activation", "gradient", "grad×act"]
    for text in ("gradxact", "grad*act", "grad×act", "GRADxACT"):
        assert color_mode(text).name == "grad×act"
    np.testing.assert_array_equal(color_mode("grad*act").values(acts, 1), acts.grads[1] * acts.values[1])
    np.testing.assert_array_equal(color_mode("activation").values(acts, 2), acts.values[2])
    assert color_mode("gradient").colormap("viridis") == "coolwarm"  # a sequential map is replaced
    assert color_mode("gradient").colormap("RdBu") == "RdBu" and color_mode("activation").colormap("magma") == "magma"
    with pytest.raises(ValueError, match="unknown colour mode"):
        color_mode("hessian")
    with pytest.raises(NetworkError, match=r"grads=True"):
        check_color("gradient", Activations(acts.values))


@pytest.mark.parametrize("mode", ["gradient", "grad×act"])
def test_gradient_levels_equal_numpy_reference(net, acts, mode):
    ex = Explorer(net, acts, size=(240, 160), color=mode, k=1)
    try:
        for frame in range(acts.n_frames):
            ex.show_frame(frame)
            x = acts.grads[frame] * (acts.values[frame] if mode == "grad×act" else 1)
            np.testing.assert_array_equal(ex.scene.levels, reference_levels(x, net))
        ex.show_frame(0)
        assert ex.scene.levels[2] == MID_LEVEL  # zero gradient -> the diverging map's middle level
        np.testing.assert_array_equal(ex.scene.lut, lut("coolwarm"))  # one diverging table, levels 0..254
        assert ex.overlays.bar_title.text.startswith(f"{mode}, each layer: diverging, centred at 0")
        ex.set_hud(True)
        assert f"colour: {mode}" in ex._hud_text()
    finally:
        ex.close()


def test_gradient_shot_has_diverging_colours(net, acts, tmp_path):
    from nn3d.render.explorer import screenshot

    g = np.zeros_like(acts.grads)
    g[0, net.layers[1].neurons] = [-3.0, -1.0, 0.0, 1.0, 3.0]  # layer 1: negative, zero, positive gradients
    ex = Explorer(net, Activations(acts.values, grads=g), size=(480, 320), color="gradient", k=1)
    try:
        ex.scene.edges.visible = False
        img = ex.render()
        ids = np.arange(net.layers[1].start, net.layers[1].stop)
        xy = np.floor(ex.scene.project(ids)).astype(int)
        px = img[xy[:, 1], xy[:, 0], :3].astype(int)
    finally:
        ex.close()
    cw = lut("coolwarm")
    np.testing.assert_allclose(px[2], cw[127, :3], atol=6)  # zero: the map's middle (light grey)
    assert px[0, 2] > px[0, 0] + 60 and px[4, 0] > px[4, 2] + 60  # most negative blue, most positive red
    np.testing.assert_allclose(px[0], cw[0, :3], atol=6)
    np.testing.assert_allclose(px[4], cw[254, :3], atol=6)
    out = screenshot(net, tmp_path / "g.png", Activations(acts.values, grads=g), size=(240, 160), color="gradient")
    assert out.shape == (160, 240, 4)


def test_cli_colour_flag_and_missing_gradients(tmp_path, capsys):
    code = main(["shot", "synthetic:mlp:6,5,4", "-o", str(tmp_path / "x.png"), "--size", "160x120",
                 "--color", "grad*act"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--color grad×act needs recorded gradients" in err and "TrainingRecorder(..., grads=True)" in err
    with pytest.raises(SystemExit) as e:
        main(["shot", "synthetic:mlp:6,5,4", "-o", str(tmp_path / "x.png"), "--color", "curvature"])
    assert e.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_backward_animation_lights_output_first(net, acts):
    ex = Explorer(net, acts, size=(240, 160), color="gradient", k=1)
    try:
        full = ex.scene.frame_levels(ex.colour_values(0))  # the gradient mode's colours
        bp = video.animation("backward", ex, acts, frames=3)
        layers = net.layers
        titles = []
        for i in range(3):
            bp(i)
            cut = layers[len(layers) - 1 - i].start  # frame i has reached layer n-1-i, from the output
            assert np.array_equal(ex.scene.levels[cut:], full[cut:])
            assert (ex.scene.levels[:cut] == video.NOT_REACHED).all()
            titles.append(ex.scene.title.text)
        assert [t.split(": ")[1].split(" ")[0] for t in titles] == [la.name for la in reversed(layers)]
        assert titles[0].startswith("backward pass") and "3/3" in titles[-1]
        assert video.LAYER_ORDERS["backward"](4) == [3, 2, 1, 0] == video.LAYER_ORDERS["forward"](4)[::-1]
    finally:
        ex.close()


def test_pick_card_shows_the_gradient(net, acts):
    ex = Explorer(net, acts, size=(240, 160), k=1)
    try:
        info = ex.select(7)
        assert info.grad == pytest.approx(float(acts.grads[0, 7]))
        assert f"gradient {acts.grads[0, 7]:.4g}" in ex.overlays.card.text
        assert "units of dense1 (5): " in ex.overlays.card.text
        ex.show_frame(2)
        assert ex.selected.grad == pytest.approx(float(acts.grads[2, 7]))  # follows the frame
    finally:
        ex.close()
    bare = Explorer(net, Activations(acts.values), size=(240, 160), k=1)
    try:
        assert bare.select(7).grad is None and "gradient" not in bare.overlays.card.text
    finally:
        bare.close()


def test_gradflow_is_the_layers_l2_norms(net, acts):
    flow = gradflow(net, acts, steps=np.array([0, 10, 20]))
    expected = np.array([[np.linalg.norm(acts.grads[f, la.neurons].astype(np.float64)) for f in range(3)]
                         for la in net.layers])
    np.testing.assert_allclose(flow.norms, expected, rtol=1e-12)
    assert flow.steps.tolist() == [0, 10, 20] and flow.layers == tuple(la.name for la in net.layers)
    np.testing.assert_allclose(flow.log_norms(), np.log10(expected))
    chunked = layer_grad_norms(net, np.tile(acts.grads, (400, 1)))  # several chunks of frames
    np.testing.assert_allclose(chunked[:, :3], expected) and np.testing.assert_allclose(chunked[:, -3:], expected)
    with pytest.raises(NetworkError, match="grads=True"):
        gradflow(net, Activations(acts.values))


def test_gradflow_panel_pixels_and_clicks(net, acts, tmp_path):
    from nn3d.render.gradflow_panel import GradflowPanel
    from nn3d.render.panels import PANELS, colorize, render_panel

    assert PANELS["gradflow"] is GradflowPanel
    src = Source(net, acts)
    img = render_panel(src, "gradflow", 1, 1, size=(400, 300))
    panel_src = Source(net, acts)
    ex = Explorer(net, acts, size=(700, 450), panels=panel_src, k=1)
    try:
        panel = ex.panels.by_kind["gradflow"]
        log = panel.data["log"]
        np.testing.assert_allclose(log, np.log10(gradflow(net, acts).norms))
        shot = ex.render()
        expected = colorize(log, "viridis", *panel.data["range"])
        for r in range(3):
            for c in range(3):
                x, y = panel.pixel_of(r - 0.2, c - 0.2)  # off the cursor and row outline (cell edges)
                np.testing.assert_array_equal(shot[int(y), int(x), :3], expected[r, c, :3])
        # log colour: the input's 1e-6-scale gradients dark, the output's 1-scale bright
        assert expected[0, 0, :3].sum() < expected[2, 0, :3].sum()
        x, y = panel.pixel_of(1, 2)  # a click on layer 1's row at the third step
        ex.click_panels(x, y)
        assert ex.frame == 2 and ex.panels.layer == 1 and panel.data["column"] == 2 and panel.data["row"] == 1
    finally:
        ex.close()
    assert img.shape == (300, 400, 4) and len(np.unique(img.reshape(-1, 4), axis=0)) > 4
    rec = Explorer(net, Activations(acts.values), size=(700, 500), panels=True, k=1)
    try:
        assert "gradflow" not in rec.panels.by_kind  # no gradients: no panel in the column
    finally:
        rec.close()
    with pytest.raises(NetworkError, match="no recorded gradients"):
        Source(net, Activations(acts.values)).layer(None, "grads")


def test_unit_flags_by_activation_rule():
    from nn3d.network import Layer, Network

    layers = [Layer("x", "input", (3,), 0), Layer("r", "dense", (4,), 3, "relu"),
              Layer("s", "dense", (3,), 7, "sigmoid"), Layer("t", "dense", (2,), 10, "tanh")]
    net = Network(layers)
    v = np.array([[0.5, 0, 0, -1, 0.0, 2, -3, 0.01, 0.5, 0.99, 0.99, 0.5],
                  [0.2, 0, 0, -2, 0.1, 0, -1, 0.001, 0.3, 0.995, -0.995, 0.97]], np.float32)
    g = np.ones_like(v)
    g[:, 5] = 0.0  # unit 5 never gets a gradient
    flags = unit_flags(net, Activations(v, grads=g))
    assert np.flatnonzero(flags.dead).tolist() == [3, 6]  # relu units <= 0 in both frames (4: active once)
    assert np.flatnonzero(flags.saturated).tolist() == [7, 9, 10]  # sigmoid < .02 or > .98; |tanh| > .98
    assert np.flatnonzero(flags.zero_grad).tolist() == [5]
    assert np.flatnonzero(flags.mask("any")).tolist() == [3, 5, 6, 7, 9, 10]
    counts = flags.counts(net)
    assert counts["dead"].tolist() == [0, 2, 0, 0] and counts["saturated"].tolist() == [0, 0, 2, 1]
    assert layer_count_line(net, Activations(v, grads=g), 1) == "units of r (4): 2 dead · 1 zero-grad"
    assert layer_count_line(net, Activations(v), 2) == "units of s (3): 2 saturated"
    assert layer_count_line(net, Activations(v), 0) == ""  # an input: no rule, no gradients
    assert not unit_flags(net, Activations(v)).zero_grad.any()
    assert {"relu", "sigmoid", "tanh"} <= set(RULES)
    assert STATE_HIGHLIGHTS[1:] == ("dead", "saturated", "zero-grad", "any")


def test_highlight_draws_dead_units_in_the_marked_colour(net):
    v = np.abs(np.random.default_rng(2).standard_normal((2, net.n_neurons))).astype(np.float32) + 0.1
    dead = [net.layers[1].start + 1, net.layers[1].start + 3]
    v[:, dead] = 0.0
    ex = Explorer(net, Activations(v), size=(480, 320), k=1, highlight="dead")
    try:
        ex.scene.edges.visible = False
        assert ex.marks.shown.tolist() == dead
        img = ex.render()
        xy = np.floor(ex.scene.project(np.arange(net.n_neurons))).astype(int)
        px = img[xy[:, 1], xy[:, 0], :3].astype(int)
        magenta = np.array(MARK_COLORS["dead"][:3])
        shaded = [np.abs(px[i] - magenta).max() for i in range(net.n_neurons)]
        assert max(shaded[i] for i in dead) < 60  # the sphere's centre: the marked colour, lit
        alive = [i for i in range(net.n_neurons) if i not in dead]
        assert min(shaded[i] for i in alive) > 60
        ex.next_highlight()  # U: the next kind (saturated: none in a relu layer)
        assert ex.state.highlight == "saturated" and not ex.marks.sprites.visible
        assert ex.keymap.dispatch("U") and ex.state.highlight == "zero-grad"
        assert "U" in ex.keymap.help()
    finally:
        ex.close()


def test_backward_video_in_gradient_colours(net, acts, tmp_path):
    import imageio.v3 as iio

    out = video.record(net, acts, tmp_path / "back.gif", path="orbit", frames=3, fps=5, size=(96, 64),
                       animate="backward", color="gradient", progress=False)
    frames = iio.imread(out, index=None)
    assert 1 <= len(frames) <= 3 and frames.shape[1:3] == (64, 96)
    with pytest.raises(video.CaptureError, match="unknown animation"):
        video.record(net, acts, tmp_path / "x.gif", animate="sideways")
