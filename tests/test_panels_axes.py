"""Panels that explain themselves: the weights panel defaults to the last step and has axes and a colour bar,
the curves have one labelled axis per series, the attention map names its tokens."""

import numpy as np
import pytest
from vispy import scene

from nn3d.analysis import Source
from nn3d.cli.plot import plot
from nn3d.colormaps import lut
from nn3d.render.backend import ensure_backend
from nn3d.render.panels import PANELS, default_frame, render_panel


@pytest.fixture(scope="module")
def run_source(digits_run):
    return Source.open(digits_run)


def test_weights_panel_defaults_to_the_last_step_and_has_a_colour_bar(run_source, digits_run, tmp_path):
    src = run_source
    layer = src.layer(None, "weights")
    assert default_frame(src, "weights") == src.n_frames - 1 > 0
    out = tmp_path / "w.png"
    img = plot(str(digits_run), "weights", out, size=(480, 320))
    np.testing.assert_array_equal(img, render_panel(src, "weights", layer, src.n_frames - 1, size=(480, 320)))
    assert not np.array_equal(img, render_panel(src, "weights", layer, 0, size=(480, 320)))
    # the colour bar, below the matrix: both ends of viridis in the bottom quarter, left end left of right end
    bottom = img[int(0.75 * img.shape[0]):]
    table = lut("viridis")
    lo, hi = np.argwhere(np.abs(bottom[..., :3].astype(int) - table[0, :3]).max(-1) <= 6), \
        np.argwhere(np.abs(bottom[..., :3].astype(int) - table[254, :3]).max(-1) <= 6)
    assert len(lo) > 20 and len(hi) > 20 and lo[:, 1].mean() < hi[:, 1].mean()


def test_weights_panel_axes_are_labelled(run_source):
    ensure_backend()
    canvas = scene.SceneCanvas(size=(480, 320), show=False)
    try:
        panel = PANELS["weights"](parent=canvas.scene)
        panel.set_rect(0, 0, 480, 320)
        layer = run_source.layer(None, "weights")
        panel.update(run_source, layer, default_frame(run_source, "weights"))
        w = panel.data["weights"]
        assert panel.data["axes"] == (f"rows: output 0..{w.shape[0] - 1} (top to bottom) · columns: input "
                                      f"0..{w.shape[1] - 1}")
        assert [e.text for e in panel.bar_ends] == [f"{w.min():.3g}", f"{w.max():.3g}"]
        assert panel.data["bar"] == (float(w.min()), float(w.max()))
        assert f"step {run_source.record_steps[-1]}" in panel.title.text
    finally:
        canvas.close()


def test_curves_have_one_labelled_axis_per_series(run_source):
    img = render_panel(run_source, "curves", 0, 3, size=(640, 320))
    ensure_backend()
    canvas = scene.SceneCanvas(size=(640, 320), show=False)
    try:
        panel = PANELS["curves"](parent=canvas.scene)
        panel.set_rect(0, 0, 640, 320)
        panel.update(run_source, 0, 3)
        names = list(panel.data["curves"].series)
        assert len(names) >= 2 and names[0] in panel.data["axes"] and names[1] in panel.data["axes"]
        x0 = panel.canvas_x(min(s[0] for s, _ in panel.data["curves"].series.values()))
        x1 = panel.canvas_x(max(s[-1] for s, _ in panel.data["curves"].series.values()))
    finally:
        canvas.close()
    # each axis's labels in its series' colour, beside the plot: the first left of it, the second right
    def hue(part, first):  # pixels of the first series' orange, or the second's cyan
        r, b = part[..., 0].astype(int), part[..., 2].astype(int)
        return ((r > 120) & (r - b > 60)).sum() if first else ((b > 120) & (b - r > 60)).sum()

    left, right = img[60:, : int(x0) - 2, :3], img[60:, int(x1) + 2:, :3]
    assert hue(left, True) > 30 and hue(right, False) > 30
    assert hue(left, False) == 0 and hue(right, True) == 0


def test_attention_map_names_its_tokens(gpt2_source):
    net, acts, src = gpt2_source(layers=1, dim=16, heads=2, vocab=30, positions=8, batch=1, tokens=6, seed=1)
    layer = src.layer(None, "attention")
    ensure_backend()
    canvas = scene.SceneCanvas(size=(400, 400), show=False)
    try:
        panel = PANELS["attention"](parent=canvas.scene)
        panel.set_rect(0, 0, 400, 400)
        panel.update(src, layer, 0)
        inputs = [lay for lay in net.layers if lay.kind == "input"][0]
        ids = np.asarray(acts.frame(0))[inputs.neurons].astype(int)
        assert panel.data["tokens"] == [f"{i}:#{t}" for i, t in enumerate(ids)]
        assert list(panel.rows.text) == panel.data["tokens"]
        img = canvas.render(alpha=False)
        left = panel.pixel_of(0, 0)[0]
        assert (img[:, : int(left) - 2, :3].max(-1) > 100).sum() > 30  # the row labels are drawn
    finally:
        canvas.close()
