"""The explorer driven by synthetic key and mouse events, offscreen; pixels and camera read back."""

import sys

import numpy as np
import pytest
from vispy.util import keys

from nn3d import colormaps, synthetic
from nn3d.activations import Activations
from nn3d.kernels import NAN_LEVEL
from nn3d.render.explorer import Explorer

BG = np.array([11, 13, 18])


@pytest.fixture
def explorer():
    net = synthetic.mlp([16, 9, 4], seed=0)
    rng = np.random.default_rng(0)
    acts = Activations(rng.standard_normal((3, net.n_neurons)).astype(np.float32), ("a", "b", "c"))
    ex = Explorer(net, acts, size=(480, 320), k=2)
    ex.scene.edges.visible = False
    yield ex
    ex.close()


def press(ex, name, text="", modifiers=()):
    key = getattr(keys, name.upper(), None) if len(name) > 1 else keys.Key(name)
    ex.canvas.events.key_press(key=key, text=text, modifiers=modifiers)


def click(ex, x, y, button=1):
    ex.canvas.events.mouse_press(pos=(x, y), button=button)
    ex.canvas.events.mouse_release(pos=(x, y), button=button)


def projected(ex, neurons=None):
    neurons = np.arange(ex.net.n_neurons) if neurons is None else neurons
    return ex.scene.project(neurons)


def test_fly_keys_move_the_eye_by_the_step(explorer):
    press(explorer, "C")
    press(explorer, "C")
    assert explorer.mode == "fly"
    s0 = explorer.camera_state
    press(explorer, "W", "w")
    s1 = explorer.camera_state
    np.testing.assert_allclose(s1.eye - s0.eye, explorer.fly_step * s0.forward, atol=1e-6)
    press(explorer, "W", "W", modifiers=(keys.SHIFT,))
    np.testing.assert_allclose(explorer.camera_state.eye - s1.eye, 5 * explorer.fly_step * s0.forward, atol=1e-6)
    s2 = explorer.camera_state
    press(explorer, "D", "d")
    right = explorer.camera_state.eye - s2.eye
    assert np.linalg.norm(right) == pytest.approx(explorer.fly_step)
    assert abs(np.dot(right, s2.forward)) < 1e-6 and abs(right[2]) < 1e-6  # sideways, level
    press(explorer, "E", "e")
    assert explorer.camera_state.eye[2] > s2.eye[2]
    # in turntable mode the same keys do not fly
    explorer.set_camera_mode("turntable")
    before = explorer.camera_state
    press(explorer, "W", "w")
    assert explorer.camera_state == before


def test_fly_mouse_looks_around_the_eye(explorer):
    explorer.set_camera_mode("fly")
    s0 = explorer.camera_state
    from vispy.app.canvas import MouseEvent

    first = MouseEvent("mouse_move", pos=(200, 150), button=1, buttons=[1])
    second = MouseEvent("mouse_move", pos=(240, 150), button=1, buttons=[1], last_event=first, press_event=first)
    explorer.on_mouse_move(second)
    s1 = explorer.camera_state
    np.testing.assert_allclose(s1.eye, s0.eye, atol=1e-6)
    assert s1.azimuth == pytest.approx(s0.azimuth - 8)


def test_switching_cameras_keeps_the_view(explorer):
    explorer.set_camera(explorer.camera_state.replace(azimuth=70, elevation=35, roll=12))
    before = projected(explorer)
    for mode in ("arcball", "fly", "turntable", "arcball"):
        explorer.set_camera_mode(mode)
        np.testing.assert_allclose(projected(explorer), before, atol=1e-3)


def test_picking_returns_the_neuron_under_the_cursor(explorer):
    # zoom in so that the first layer spreads to the edges of the screen
    explorer.frame_layer(0)
    explorer.set_camera(explorer.camera_state.replace(distance=explorer.camera_state.distance * 0.55))
    w, h = explorer.canvas.size
    xy = projected(explorer)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    margin = np.minimum.reduce([xy[:, 0], w - xy[:, 0], xy[:, 1], h - xy[:, 1]])
    edge = np.flatnonzero(inside & (margin < 25))
    assert len(edge) >= 2, "test set-up: some neurons must sit near the screen's edge"
    for i in list(edge) + [int(n) for n in np.flatnonzero(inside)[::3]]:
        info = explorer.pick(*xy[i])
        assert info is not None and info.neuron == i
        assert explorer.selected.neuron == i
    assert explorer.pick(1, 1) is None and explorer.selected is None


def test_pick_reports_layer_index_value_and_connections(explorer):
    n = 16 + 4  # dense1, neuron 4
    xy = projected(explorer, [n])[0]
    click(explorer, *xy)
    info = explorer.selected
    assert (info.layer_name, info.index) == ("dense1", (4,))
    assert info.value == pytest.approx(explorer.activations.frame(0)[n])
    w_in = explorer.net.connections[0].weight[4] * explorer.activations.frame(0)[:16]
    assert info.incoming[0][0] == int(np.argmax(np.abs(w_in)))
    assert "dense1 [dense] neuron (4,)" in explorer.overlays.card.text


def test_highlight_changes_the_selected_neurons_pixels(explorer):
    explorer.scene.edges.visible = False
    explorer.overlays.always.visible = False  # the block labels' text re-renders a little after a selection
    before = explorer.render()
    info = explorer.select(20)
    after = explorer.render()
    diff = (before != after).any(-1)
    xy = projected(explorer)
    ring_px = np.hypot(*np.nonzero(diff)[::-1] - xy[20][:, None])  # distance of changed pixels to neuron 20
    assert diff.sum() > 30 and ring_px.min() < 20
    partners = {n for n, _, _ in info.incoming + info.outgoing} | {20}
    far = [i for i in range(explorer.net.n_neurons) if i not in partners and np.linalg.norm(xy[20] - xy[i]) > 60]
    for i in far[:3]:  # an unrelated neuron's centre keeps its colour
        x, y = np.floor(xy[i]).astype(int)
        assert (before[y, x] == after[y, x]).all()
    explorer.clear_selection()
    np.testing.assert_array_equal(explorer.render(), before)


def test_playback_steps_frames_and_recolours(explorer):
    xy = np.floor(projected(explorer)).astype(int)
    lut, net = explorer.scene.lut, explorer.net

    def colour_matches(frame):
        img = explorer.render()
        want = lut[explorer.scene.frame_levels(explorer.activations.frame(frame))][:, :3]
        return np.abs(img[xy[:, 1], xy[:, 0], :3].astype(int) - want).max() <= 4

    assert explorer.frame == 0 and colour_matches(0)
    press(explorer, "Space")
    assert explorer.playing
    explorer._tick()
    assert explorer.frame == 1 and colour_matches(1)
    press(explorer, "Right")
    assert explorer.frame == 2 and colour_matches(2)
    press(explorer, "Right")
    assert explorer.frame == 0  # wraps
    press(explorer, "Left")
    assert explorer.frame == 2
    press(explorer, "+", "+")
    assert explorer.speed == 2
    # forward-pass mode: layers light up in order; layers not reached yet are "no value" grey
    press(explorer, "M", "m")
    assert explorer.forward_pass and explorer.forward_step == 0
    img = explorer.render()
    last = net.layers[-1].neurons
    assert np.abs(img[xy[last, 1], xy[last, 0], :3].astype(int) - lut[NAN_LEVEL, :3]).max() <= 4
    explorer.advance(2)
    assert explorer.forward_step == 2 and colour_matches(2)
    explorer.advance(1)
    assert (explorer.frame, explorer.forward_step) == (0, 0)


def test_forward_steps_within_a_frame_draw_what_a_full_recolour_draws(explorer):
    """A forward-pass step in the same frame uploads only the layers it lights or greys (no levels computed
    again): forwards and backwards, the picture equals the frame coloured from scratch at that step."""
    explorer.set_forward_pass(True)
    calls = []
    real = explorer.scene.frame_levels
    explorer.scene.frame_levels = lambda values: calls.append(1) or real(values)
    for steps, step in ((1, 1), (1, 2), (-2, 0), (2, 2)):
        explorer.advance(steps)
        assert (explorer.frame, explorer.forward_step) == (0, step)
        stepped, shown = explorer.render(), explorer.scene.levels.copy()
        assert not calls  # the fast path: the frame's levels were kept
        explorer._reached_frame = None
        explorer.show_frame(explorer.frame)  # the whole frame coloured again at this step
        assert calls
        calls.clear()
        np.testing.assert_array_equal(explorer.scene.levels, shown)
        np.testing.assert_array_equal(explorer.render(), stepped)
    assert not (shown == NAN_LEVEL).any()  # the last step lit every layer


def test_overlays_appear_with_the_hud(explorer):
    plain = explorer.render()
    explorer.set_hud(True)
    img = explorer.render()
    w, h = explorer.canvas.size
    hud = (img[40:100, :200, :3] != plain[40:100, :200, :3]).any(-1)
    assert hud.sum() > 100  # the HUD's text
    # the colour bar shows the colormap from low to high, left to right
    y = h - 44 + 6
    x0, bw = w - min(260, w // 3) - 20, min(260, w // 3)
    row = img[y, x0 + 2 : x0 + bw - 2, :3].astype(int)
    lut = colormaps.half(explorer.scene.lut, bool(explorer.scene.signed[0]))[:, :3].astype(int)
    nearest = np.argmin(((row[:, None] - lut[None]) ** 2).sum(-1), axis=1)
    assert np.abs(row - lut[nearest]).max() <= 3 and np.all(np.diff(nearest) >= 0) and nearest[-1] - nearest[0] > 100
    assert explorer._hud_text().startswith("frame 1/3 (a)")
    press(explorer, "H", "h")
    assert explorer.overlays.help.visible


def test_bookmarks_reset_and_camera_files(explorer, tmp_path, monkeypatch):
    explorer.camera_path = tmp_path / "view.json"
    monkeypatch.chdir(tmp_path / "..")  # the keys use the explorer's file, not one in the working directory
    assert "P  save camera to view.json" in explorer.overlays.help.text
    home = explorer.camera_state
    press(explorer, "1", "1", modifiers=(keys.CONTROL,))
    explorer.set_camera(home.replace(azimuth=100, distance=3))
    press(explorer, "P", "p")
    assert (tmp_path / "view.json").is_file() and not (tmp_path / ".." / "nn3d-camera.json").exists()
    press(explorer, "1", "1")
    assert explorer.camera_state == home
    press(explorer, "L", "l")
    assert explorer.camera_state.azimuth == pytest.approx(100)
    press(explorer, "R", "r")
    assert explorer.camera_state == explorer.scene.home_camera()
    explorer.select(27)  # output layer (neurons 25..28)
    press(explorer, "F", "f")
    lo, hi = explorer.scene.layout.boxes[2]
    assert explorer.camera_state.center == pytest.approx(tuple((lo + hi) / 2))


def test_camera_file_is_fixed_at_construction(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ex = Explorer(synthetic.mlp([4, 3]), size=(64, 48))
    try:
        monkeypatch.chdir(tmp_path / "..")
        assert ex.camera_path == tmp_path / "nn3d-camera.json" and ex.camera_path.is_absolute()
        ex.save_camera()
        assert (tmp_path / "nn3d-camera.json").is_file()
    finally:
        ex.close()


def test_help_lists_every_key_of_the_keymap(explorer):
    text = explorer.overlays.help.text
    assert len(explorer.keymap.bindings) >= 15
    for binding in explorer.keymap.bindings:
        assert f"{binding.name}  {binding.text}" in text, binding
    assert "Ctrl+1-9  save bookmark" in text and "W A S D Q E  fly" in text


@pytest.mark.parametrize(("key", "text", "mods", "method", "args"), [
    ("C", "c", (), "next_camera_mode", ()), ("R", "r", (), "reset_camera", ()), ("F", "f", (), "frame_selected", ()),
    ("3", "3", (), "recall_bookmark", (3,)), ("3", "3", ("Control",), "save_bookmark", (3,)),
    ("Space", " ", (), "toggle_play", ()), ("Left", "", (), "advance", (-1,)), ("Right", "", (), "advance", (1,)),
    ("=", "=", (), "faster", ()), ("-", "-", (), "slower", ()), ("M", "m", (), "toggle_forward_pass", ()),
    ("H", "h", (), "toggle_help", ()), ("P", "p", (), "save_camera", ()), ("]", "]", (), "next_head", ()),
])
def test_every_key_calls_a_public_method(explorer, monkeypatch, key, text, mods, method, args):
    """What a key does, the Python API does: each binding runs one public method of the Explorer."""
    calls = []
    monkeypatch.setattr(explorer, method, lambda *a: calls.append(a))
    assert explorer.keymap.dispatch(key, text, mods)
    assert calls == [args]


def test_window_opens_under_xvfb(under_xvfb):
    """A real glfw window: `nn3d view` under Xvfb renders and closes cleanly."""
    r = under_xvfb([sys.executable, "-m", "nn3d.cli", "view", "synthetic:mlp:784,256,10", "--close-after", "1.5"])
    assert r.returncode == 0, r.stderr
    frames = int(r.stderr.split("window closed after ")[1].split()[0])
    assert frames >= 1


MOTION_SCRIPT = """
import sys, time
from vispy import app
from nn3d.model_argument import resolve
from nn3d.render.explorer import Explorer
net, acts = resolve("synthetic:random:60000,60000")
ex = Explorer(net, acts, show=True, hud=True, size=(640, 400), k=8, budget=200_000, rule="weight")
edges = ex.scene.edges
edges.bundle_mode, edges.segment_budget = "lines", 10**6  # all 200,000 as lines: past the screen's budget

def pump_until(done, seconds=10.0):
    end = time.time() + seconds
    while not done() and time.time() < end:
        app.process_events()

pump_until(lambda: False, 0.3)
state, moving, said = ex.camera_state, [], []
for i in range(3):  # a drag: the view changes every frame
    ex.set_camera(state.replace(azimuth=state.azimuth + 5 * (i + 1)))
    said.append("strongest 30,000 while moving" in ex._hud_text())  # the HUD of the frame about to be drawn
    time.sleep(float(sys.argv[1]))  # the time between a drag's frames
    ex.canvas.update()
    app.process_events()
    moving.append(edges.reduced)
pump_until(lambda: not edges.reduced)  # the camera stopped: the settle timer draws every edge
still = "while moving" not in ex._hud_text()
print(edges.motion_budget, all(moving), all(said) and still, edges.reduced, edges.layer_draws)
ex.canvas.close()
"""


@pytest.mark.parametrize("pause", [0.0, 0.3])
def test_dragging_on_software_gl_draws_the_strongest_edges_then_all(under_xvfb, pause):
    """In a window on llvmpipe, a moving camera draws the strongest edges only; once it stops, one more frame
    draws all of them (through the edge layer). With frames further apart than the settle timer's interval
    (slow GL, a loaded machine) the timer fires between them, and the last frame must still restart it."""
    r = under_xvfb([sys.executable, "-c", MOTION_SCRIPT, str(pause)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["30000", "True", "True", "False", "1"], r.stdout


def test_offscreen_explorer_draws_every_edge():
    """Screenshots and videos never get the moving camera's level of detail."""
    net = synthetic.mlp([30, 20, 10])
    ex = Explorer(net, size=(200, 150))
    assert ex.scene.edges.motion_budget is None
    ex.close()
