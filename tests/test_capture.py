"""Capture: tiled screenshots equal untiled ones, videos have their frames, bad input leaves nothing behind."""

import gc
import warnings

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest

import nn3d
from nn3d import synthetic
from nn3d.camera_pose import CameraFileError, CameraState
from nn3d.camera_pose import save as save_cameras
from nn3d.render import camera_paths, offscreen, video
from nn3d.render.explorer import Explorer
from nn3d.render.output_files import CaptureError


@pytest.fixture(scope="module")
def net():
    return synthetic.mlp([36, 16, 8, 4], seed=0)


@pytest.fixture(scope="module")
def acts(net):
    return synthetic.random_activations(net)


@pytest.fixture
def scene(net, acts):
    explorer = Explorer(net, acts, size=(320, 240))
    yield explorer.scene
    explorer.close()


def decode(path):
    """All frames of a video, decoded by imageio (its ffmpeg backend for MP4, Pillow for GIF)."""
    if str(path).endswith(".gif"):
        return iio.imread(path, index=None)
    with warnings.catch_warnings():
        # imageio-ffmpeg's reader leaves the pipes of an ffmpeg that has exited to the garbage collector (a
        # ResourceWarning, an error under pytest): collect them here, where the warning is expected
        warnings.simplefilter("ignore", ResourceWarning)
        with iio2.get_reader(path) as reader:
            frames = np.stack([f for f in reader])  # not list(reader): its len() is inf
        gc.collect()
    return frames


# ------------------------------------------------------------------------------------------ screenshots


def count_regions(monkeypatch):
    calls = []
    original = offscreen.render_region

    def counting(*args, **kwargs):
        calls.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(offscreen, "render_region", counting)
    return calls


def test_tiles_join_without_seams(scene, monkeypatch):
    from nn3d.camera_pose import HOME_VIEW
    from nn3d.render.overlays import ScreenLabels

    for node in scene.canvas.scene.children:  # the block labels: glyphs rasterised per tile may step a pixel
        if any(isinstance(c, ScreenLabels) for c in node.children):
            node.visible = False
    # the view these tolerances were set in (the home view now turns this MLP a little, where one clipped
    # line steps a fourth pixel along a column: not a seam, which would run the length of a tile)
    scene.set_camera(scene.camera_state.replace(azimuth=HOME_VIEW[0]))
    size = (640, 480)
    untiled = offscreen.render_image(scene, size)
    calls = count_regions(monkeypatch)
    tiled = offscreen.render_image(scene, size, max_tile=160)
    assert tiled.shape == untiled.shape == (480, 640, 4)
    assert len(calls) >= 16 and max(max(c) for c in calls) <= 160
    assert (untiled[..., :3] != untiled[0, 0, :3]).any(-1).mean() > 0.02  # the scene is really there
    diff = (tiled != untiled).any(-1)
    # clipped 1-px lines may step one pixel apart; a seam would be a run along a row or column of tiles
    assert diff.mean() < 1e-3
    assert diff.sum(0).max() <= 3 and diff.sum(1).max() <= 3
    # neurons alone match to rounding
    scene.edges.visible = False
    a, b = offscreen.render_image(scene, size), offscreen.render_image(scene, size, max_tile=160)
    assert np.abs(a.astype(int) - b).max() <= 2


def test_without_the_margin_sprites_are_cut_at_tile_borders(scene, monkeypatch):
    """The seam check above can fail: with no margin, sprites straddling a border lose their other half."""
    scene.edges.visible = False
    size = (640, 480)
    untiled = offscreen.render_image(scene, size)
    monkeypatch.setattr(offscreen, "largest_sprite_px", lambda s, scale=1.0: 0.0)
    cut = offscreen.render_image(scene, size, max_tile=160)
    assert (np.abs(cut.astype(int) - untiled) > 2).any(-1).sum() > 50


def test_screenshot_above_the_gl_limit_has_the_requested_size(net, acts, tmp_path, monkeypatch):
    monkeypatch.setattr(offscreen, "gl_limit", lambda scene: 200)  # pretend GL allows 200 px
    calls = count_regions(monkeypatch)
    out = tmp_path / "big.png"
    image = nn3d.screenshot(net, out, size=(700, 330), activations=acts)
    assert image.shape == (330, 700, 4) and len(calls) >= 8 and max(max(c) for c in calls) <= 200
    assert iio.imread(out).shape == (330, 700, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["big.png"]


def test_public_screenshot_tiled_past_a_low_gl_limit_equals_the_untiled_one(net, acts, tmp_path, monkeypatch):
    """nn3d.screenshot goes through the offscreen path: under a (pretended) 128 px GL limit it tiles, and the
    stitched image is the one rendered whole (text aside: glyphs rasterised per tile may step a pixel)."""
    from vispy.visuals import TextVisual

    monkeypatch.setattr(TextVisual, "draw", lambda self: None)
    whole = nn3d.screenshot(net, tmp_path / "whole.png", acts, size=(400, 260), title="t")
    monkeypatch.setattr(offscreen, "gl_limit", lambda scene: 128)
    calls = count_regions(monkeypatch)
    tiled = nn3d.screenshot(net, tmp_path / "tiled.png", acts, size=(400, 260), title="t")
    assert len(calls) >= 9 and max(max(c) for c in calls) <= 128
    assert (whole[..., :3] != whole[0, 0, :3]).any(-1).mean() > 0.02
    diff = (tiled != whole).any(-1)
    assert diff.mean() < 2e-3 and diff.sum(0).max() <= 3 and diff.sum(1).max() <= 3
    np.testing.assert_array_equal(iio.imread(tmp_path / "tiled.png"), tiled)


def test_public_record_writes_the_frames(net, acts, tmp_path):
    out = nn3d.record(net, tmp_path / "fly.gif", acts, path="through", frames=4, fps=10, size=(96, 64),
                      progress=False)
    frames = decode(out)
    assert out == tmp_path / "fly.gif" and frames.shape[1:3] == (64, 96) and 2 <= len(frames) <= 4
    assert not np.array_equal(frames[0], frames[-1])  # the camera moved


def test_screenshot_wider_than_the_real_gl_limit(net, scene, tmp_path):
    width = offscreen.gl_limit(scene) + 100
    image = nn3d.screenshot(net, tmp_path / "wide.png", size=(width, 24))
    assert image.shape == (24, width, 4) and iio.imread(tmp_path / "wide.png").shape == (24, width, 4)


def test_same_camera_same_image_and_transparent_background(scene, net):
    cam = scene.home_camera().replace(azimuth=70)
    scene.set_camera(cam)
    a = offscreen.render_image(scene, (320, 240))
    scene.set_camera(cam.replace(azimuth=10))
    offscreen.render_image(scene, (320, 240))
    scene.set_camera(cam)
    assert np.array_equal(a, offscreen.render_image(scene, (320, 240)))
    assert (a[..., 3] == 255).all()  # opaque: edges do not punch holes in the alpha channel
    t = offscreen.render_image(scene, (320, 240), transparent=True)
    assert (t[0, 0] == 0).all() and (t[..., 3] == 0).mean() > 0.5
    xy = np.floor(scene.project(np.arange(net.n_neurons))).astype(int)
    assert (t[xy[:, 1], xy[:, 0], 3] == 255).all()


def test_bad_image_paths(net, tmp_path):
    with pytest.raises(CaptureError, match="unknown image type"):
        nn3d.screenshot(net, tmp_path / "x.xyz", size=(64, 64))
    with pytest.raises(CaptureError, match="does not exist"):
        nn3d.screenshot(net, tmp_path / "nope" / "x.png", size=(64, 64))
    with pytest.raises(CaptureError, match="transparent"):
        nn3d.screenshot(net, tmp_path / "x.jpg", size=(64, 64), transparent=True)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------- camera paths


def test_orbit_goes_once_around(scene):
    path = camera_paths.camera_path("orbit", scene, 8)
    home = scene.home_camera()
    assert len(path) == 8
    az = np.array([c.azimuth for c in path]) - home.azimuth - np.arange(8) * 45.0
    np.testing.assert_allclose((az + 180.0) % 360.0 - 180.0, 0.0, atol=1e-9)  # angles are kept in [-180, 180)
    assert all(c.center == scene.layer_middle() and c.elevation == home.elevation for c in path)


@pytest.mark.parametrize("sizes", [[36, 16, 8, 4], [64, 48, 32, 10], [8] * 12])
def test_orbit_keeps_every_layer_in_frame(sizes):
    """A long model turned end-on towards the camera: its near layers stay inside the frame on every frame
    (framed from the home view alone, they left it), and every frame is filled, not only the widest."""
    explorer = Explorer(synthetic.mlp(sizes, seed=0), None, size=(640, 360))
    try:
        scene = explorer.scene
        corners = np.concatenate([scene.layout.boxes[:, [i, j, k], [0, 1, 2]]
                                  for i in (0, 1) for j in (0, 1) for k in (0, 1)])
        reach = []
        for state in camera_paths.camera_path("orbit", scene, 48):
            scene.set_camera(state)
            p = scene.view.scene.transform.map(corners)
            reach.append(np.abs(p[:, :2] / p[:, 3:4] - (320, 180)).max(axis=0) / (320, 180))
        reach = np.max(reach, axis=1)
        assert reach.max() < 0.97  # inside, with a margin
        assert reach.min() > 0.7  # and no frame left small
    finally:
        explorer.close()


def test_through_flies_along_depth_looking_ahead(scene):
    path = camera_paths.camera_path("through", scene, 10)
    eyes = np.array([c.eye for c in path])
    boxes = scene.layout.boxes
    assert (np.diff(eyes[:, 0]) > 0).all()
    assert eyes[0, 0] < boxes[0, 0, 0] and eyes[-1, 0] > boxes[-1, 1, 0]
    np.testing.assert_allclose(eyes[:, 1:], eyes[:1, 1:].repeat(10, 0), atol=1e-9)  # a straight line
    for c in path:
        np.testing.assert_allclose(c.forward, [1, 0, 0], atol=1e-9)
    # never through a neuron: the line stays clear of every neuron's sphere
    pos = scene.layout.positions
    off_axis = np.hypot(pos[:, 1] - eyes[0, 1], pos[:, 2] - eyes[0, 2])
    assert off_axis.min() > 0.32 * scene.layout.pitch


def test_keyframes_pass_through_every_key_smoothly(tmp_path):
    keys = [CameraState((0, 0, 0), 350, 10, 20), CameraState((5, 0, 1), 20, 30, 10), CameraState((5, 5, 1), 80, 0, 40)]
    save_cameras(keys, tmp_path / "keys.json")
    path = camera_paths.camera_path(str(tmp_path / "keys.json"), None, 21)
    for i, k in enumerate(keys):
        got = path[10 * i]
        np.testing.assert_allclose(got.center, k.center, atol=1e-9)
        assert abs((got.azimuth - k.azimuth + 180) % 360 - 180) < 1e-9
        assert got.distance == pytest.approx(k.distance) and got.elevation == pytest.approx(k.elevation)
    az = np.unwrap(np.radians([c.azimuth for c in path]))
    assert (np.diff(az) > 0).all() and np.degrees(az[10] - az[0]) == pytest.approx(30)  # the short way round
    steps = np.diff([c.elevation for c in path])
    assert np.abs(np.diff(steps)).max() < 3  # no kinks: step sizes change gradually


# ------------------------------------------------------------------------------------------- animations


def test_forward_pass_lights_layers_in_order(scene, acts):
    full = scene.frame_levels(acts.frame(0))
    fp = video.animation("forward", scene, acts, frames=4)
    layers = scene.net.layers
    for i in range(4):
        fp(i)
        cut = layers[i].stop  # 4 frames, 4 layers: frame i has reached layer i
        assert np.array_equal(scene.levels[:cut], full[:cut])
        assert (scene.levels[cut:] == video.NOT_REACHED).all()
    assert "4/4" in scene.title.text


# ---------------------------------------------------------------------------------------------- video


def test_video_has_its_frames_differing_along_the_path(net, acts, tmp_path):
    out = video.record(net, acts, tmp_path / "orbit.mp4", path="orbit", frames=6, fps=12, size=(160, 120),
                         progress=False)
    frames = decode(out)
    assert frames.shape == (6, 120, 160, 3)
    step = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert (step > 0.5).all()
    assert [p.name for p in tmp_path.iterdir()] == ["orbit.mp4"]


def test_gif_through_path_with_animation(net, acts, tmp_path, capsys):
    out = video.record(net, acts, tmp_path / "fly.gif", path="through", frames=5, fps=10, size=(120, 90),
                         animate="forward")
    frames = decode(out)
    assert frames.shape[1:3] == (90, 120) and len(frames) == 5
    assert all((a != b).any() for a, b in zip(frames[:-1], frames[1:]))
    assert "5/5" in capsys.readouterr().err  # the progress line


def test_keyframe_video_and_the_same_command_twice_gives_identical_frames(net, acts, tmp_path):
    keys = tmp_path / "keys.json"
    save_cameras([CameraState((0, 0, 0), 0, 10, 30), CameraState((0, 0, 0), 90, 40, 20)], keys)
    a = decode(video.record(net, acts, tmp_path / "a.mp4", path=str(keys), frames=4, size=(96, 64), progress=False))
    b = decode(video.record(net, acts, tmp_path / "b.mp4", path=str(keys), frames=4, size=(96, 64), progress=False))
    assert a.shape == (4, 64, 96, 3) and np.array_equal(a, b)
    assert not np.array_equal(a[0], a[-1])


@pytest.mark.parametrize(
    "out, kwargs, match",
    [
        ("missing/x.mp4", {}, "does not exist"),
        ("file.txt/x.mp4", {}, "is not a folder"),
        ("x.avi", {}, "unknown video type"),
        ("x", {}, "unknown video type"),
        ("x.mp4", {"frames": 0}, "frames must be"),
        ("x.gif", {"frames": -3}, "frames must be"),
        ("x.mp4", {"path": "bad.json"}, "not valid JSON"),
        ("x.mp4", {"path": "spiral"}, "unknown camera path"),
        ("x.mp4", {"size": (161, 120)}, "even width"),
        ("x.mp4", {"animate": "sideways"}, "unknown animation"),  # (backward is one since #17)
        ("x.mp4", {"fps": 0}, "fps must be"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(net, acts, tmp_path, monkeypatch, out, kwargs, match):
    (tmp_path / "bad.json").write_text("[{\"azimuth\": 3,")
    (tmp_path / "file.txt").write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("nn3d.render.video.Explorer", lambda *a, **k: pytest.fail("rendered before checking"))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match=match) as e:
        video.record(net, acts, out, **{"frames": 3, "size": (160, 120), **kwargs})
    assert "\n" not in str(e.value) and isinstance(e.value, (CaptureError, CameraFileError))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_failure_while_rendering_removes_the_partial_file(net, acts, tmp_path, monkeypatch):
    calls = []

    def failing(scene, size, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("GPU on fire")
        return np.zeros((size[1], size[0], 4), np.uint8)

    monkeypatch.setattr(video, "render_image", failing)
    with pytest.raises(RuntimeError, match="on fire"):
        video.record(net, acts, tmp_path / "x.mp4", frames=5, size=(64, 48), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_samples_and_training_playback_titles(net, tmp_path):
    from nn3d.activations import Activations

    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, net.n_neurons)).astype(np.float32)
    training = Activations(values, meta={"step": np.array([0, 10, 20]), "loss": np.array([2.0, 1.0, 0.5])})
    explorer = Explorer(net, training, size=(96, 64))
    try:
        play = video.animation("training", explorer, training, frames=6)
        titles = []
        for i in range(6):
            play(i)
            titles.append(explorer.scene.title.text)
        assert titles[0].startswith("training: step 0, loss 2") and "step 20, loss 0.5" in titles[-1]
        assert len(set(titles)) == 3
        np.testing.assert_array_equal(explorer.scene.levels,
                                      explorer.scene.frame_levels(values[2]))
    finally:
        explorer.close()
    with pytest.raises(CaptureError, match="needs activations"):
        video.record(net, None, tmp_path / "x.gif", animate="samples", frames=2, size=(64, 48))


def test_through_a_folded_model_flies_each_row_in_turn():
    from nn3d.layout import layout
    from nn3d.render.camera_paths import through_path

    placed = layout(synthetic.mlp([16] * 30), fold=3)
    assert placed.n_rows == 3
    path = through_path(placed, 40)
    eyes = np.array([c.eye for c in path])
    assert len(path) == 40
    row_of = np.full(40, -1)
    for r in range(3):
        lo, hi = placed.boxes[placed.rows == r, 0, 2].min(), placed.boxes[placed.rows == r, 1, 2].max()
        row_of[(eyes[:, 2] >= lo) & (eyes[:, 2] <= hi)] = r
    assert (row_of >= 0).all() and (np.diff(row_of) >= 0).all() and set(row_of) == {0, 1, 2}  # row after row
    for r in range(3):
        x = eyes[row_of == r, 0]
        members = placed.boxes[placed.rows == r]
        assert (np.diff(x) > 0).all() and x[0] < members[:, 0, 0].min() and x[-1] > members[:, 1, 0].max()
    for c in path:
        np.testing.assert_allclose(c.forward, [1, 0, 0], atol=1e-9)
