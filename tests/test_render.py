"""Rendered frames read back: neurons where they project, in their colormap colour; nothing elsewhere."""

import sys

import numpy as np
import pytest

from nn3d.colormaps import NAN_COLOR
from nn3d.kernels import DIV_MID, NAN_LEVEL, levels
from nn3d.kernels.normalize import DIV_BASE, SEQ_TOP
from nn3d.render.scene import NetworkScene

BG = np.array([11, 13, 18])  # #0b0d12


def centres(scene):
    return np.floor(scene.project(np.arange(scene.net.n_neurons))).astype(int)  # the pixel holding the centre


def disc_mask(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2


def test_neurons_have_their_colormap_colour(small_scene):
    scene, values = small_scene
    img = scene.render()
    assert img.shape == (320, 480, 4)
    xy = centres(scene)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy)) * 1e9
    assert d.min() > 12, "test set-up: neurons must not overlap on screen"
    expected = scene.lut[scene.frame_levels(values)][:, :3]
    got = img[xy[:, 1], xy[:, 0], :3]
    np.testing.assert_allclose(got, expected, atol=4)
    # each layer uses its half of the split table: a sequential layer spans it, a signed one (a range
    # symmetric around 0) reaches the end of its larger side
    lv = scene.frame_levels(values)
    for i, layer in enumerate(scene.net.layers):
        part, mine = values[layer.neurons], lv[layer.neurons]
        if scene.signed[i]:
            assert mine[np.argmax(part)] == 254 and DIV_BASE <= mine[np.argmin(part)] < DIV_MID
        else:
            assert mine[np.argmin(part)] == 0 and mine[np.argmax(part)] == SEQ_TOP


def test_background_everywhere_else(small_scene):
    scene, _ = small_scene
    img = scene.render()
    xy = centres(scene)
    radius = 0.5 * min(np.linalg.norm(xy[i] - xy[j]) for i in range(len(xy)) for j in range(i))
    near = np.zeros(img.shape[:2], bool)
    for c in xy:
        disc = disc_mask(img.shape, c, radius)
        assert (img[disc, :3] != BG).any(1).sum() > 20  # a sprite is drawn at every neuron
        near |= disc
    near |= np.arange(img.shape[0])[:, None] < 40  # the title line
    assert (img[~near, :3] == BG).all()


def test_changing_one_activation_changes_only_its_pixels(small_scene):
    scene, values = small_scene
    scene.percentile = None  # min..max: a middle value's change moves no other level (a percentile would)
    scene.set_frame(values)
    before = scene.render()
    changed = values.copy()
    changed[6] = 0.5  # inside its layer's range [-1, 5]: no other neuron's level moves
    lv0, lv1 = scene.frame_levels(values), scene.frame_levels(changed)
    assert np.flatnonzero(lv0 != lv1).tolist() == [6]
    scene.set_frame(changed)
    after = scene.render()
    diff = (before != after).any(-1)
    xy = centres(scene)
    others = np.delete(xy, 6, axis=0)
    radius = 0.5 * np.linalg.norm(others - xy[6], axis=1).min()
    assert diff.sum() > 20
    assert not diff[~disc_mask(diff.shape, xy[6], radius)].any()
    np.testing.assert_allclose(after[xy[6, 1], xy[6, 0], :3], scene.lut[lv1[6], :3], atol=4)


def test_zero_in_a_signed_layer_is_the_diverging_centre(small_scene):
    from nn3d.colormaps import lut

    scene, values = small_scene
    v = values.copy()
    v[6] = 0.0  # layer 1 holds 5, -1, 0: signed, so centred at 0 in the diverging half
    scene.set_frame(v)
    img = scene.render()
    xy = centres(scene)
    assert scene.signed.tolist() == [False, True, False]
    assert scene.frame_levels(v)[6] == DIV_MID
    np.testing.assert_allclose(img[xy[6, 1], xy[6, 0], :3], lut("coolwarm")[127, :3], atol=4)
    assert scene.colour_rule(1) == "diverging, centred at 0, 1–99th pct"
    assert scene.colour_rule(0) == "sequential, 1–99th pct"


def test_one_outlier_does_not_wash_out_a_layer():
    from nn3d import synthetic
    from nn3d.layout import layout, select_edges

    net = synthetic.mlp([256, 2], seed=0)
    v = np.r_[np.linspace(0, 1, 256), [0, 1]].astype(np.float32)
    v[0] = 1e6
    scene = NetworkScene(net, layout(net), select_edges(net, k=1), size=(64, 64))
    try:
        lv = scene.frame_levels(v)[:256]
        assert lv[0] == SEQ_TOP and len(np.unique(lv[1:])) > 100  # min..max would put 255 neurons on level 0
    finally:
        scene.close()


def test_nan_has_its_own_colour(small_scene):
    scene, values = small_scene
    v = values.copy()
    v[2] = np.nan
    v[7] = np.inf
    scene.set_frame(v)
    img = scene.render()
    xy = centres(scene)
    np.testing.assert_allclose(img[xy[2, 1], xy[2, 0], :3], NAN_COLOR[:3], atol=4)
    np.testing.assert_allclose(img[xy[7, 1], xy[7, 0], :3], scene.lut[SEQ_TOP, :3], atol=4)  # +inf: top end
    assert levels(v, scene.net.starts)[2] == NAN_LEVEL


def test_edges_show_between_layers(small_scene):
    scene, _ = small_scene
    without = scene.render()
    scene.edges.visible = True
    with_edges = scene.render()
    xy = scene.project(np.arange(scene.net.n_neurons))
    src, dst = 0, 4 + int(np.argmax(np.abs(scene.net.connections[0].weight[:, 0])))
    # sample the middle third of the strongest edge from neuron 0: lit with edges, background without
    pts = np.rint([xy[src] + t * (xy[dst] - xy[src]) for t in np.linspace(0.35, 0.65, 9)]).astype(int)
    lit = (with_edges[pts[:, 1], pts[:, 0], :3].astype(int) - BG).sum(1)
    assert (lit > 15).mean() > 0.5
    assert (without[pts[:, 1], pts[:, 0], :3] == BG).all()


class Uploads:
    """Records the GLIR DATA/SIZE commands that reach GL while active."""

    def __init__(self, scene):
        self.parser = scene.canvas.context.shared.parser
        self.commands = []

    def __enter__(self):
        original = self.parser.parse

        def parse(commands):
            self.commands += [c for c in commands if c[0] in ("DATA", "SIZE")]
            return original(commands)

        self.parser.parse = parse
        return self

    def __exit__(self, *exc):
        del self.parser.parse  # back to the class's method

    def nbytes(self, ids=None):
        return sum(c[3].nbytes for c in self.commands if c[0] == "DATA" and (ids is None or c[1] in ids))


def test_frame_update_uploads_only_the_level_bytes(small_scene):
    scene, values = small_scene
    scene.render(), scene.render()  # the second frame with the same view draws the edge layer
    with Uploads(scene) as up:
        scene.set_frame(values[::-1].copy())
        scene.render()
    texture = scene.neurons._level_texture
    data = [c for c in up.commands if c[0] == "DATA"]
    assert data and all(c[1] == texture.id for c in data)  # nothing but the level texture is uploaded
    assert up.nbytes() == scene.net.n_neurons  # one byte per neuron
    resized = {c[1] for c in up.commands if c[0] == "SIZE" and c[3] not in ("color", "depth")}
    assert resized <= {texture.id} and texture.shape[:2] == (1, scene.net.n_neurons)  # (render buffers aside)


def test_partial_level_update_touches_only_its_rows(no_edges):
    from nn3d import synthetic
    from nn3d.layout import layout

    net = synthetic.mlp([9000, 10])
    scene = NetworkScene(net, layout(net), no_edges, size=(64, 64))
    scene.render(), scene.render()
    with Uploads(scene) as up:
        scene.set_levels(np.full(10, 7, np.uint8), offset=9000)
        scene.render()
    assert up.nbytes() == 4096  # the one 4096-byte texture row that holds neurons 9000..9009
    assert (scene.neurons._levels.ravel()[9000:9010] == 7).all()
    scene.close()


def test_frame_shape_is_checked(small_scene):
    scene, _ = small_scene
    with pytest.raises(ValueError, match="expected"):
        scene.set_frame(np.zeros(3, np.float32))


@pytest.fixture
def edge_scene():
    from nn3d.bench.render import content

    net, layout, edges, values = content(1200)  # 1200 neurons in 8 layers, 1200 edges, all drawn
    scene = NetworkScene(net, layout, edges, size=(320, 240))
    scene.set_frame(values)
    # every edge as a line (no bundles, no screen segment budget): these tests are about the edge layer and the
    # moving view's strongest edges (tests/test_edge_bundles.py covers bundles and the budget)
    scene.edges.bundle_mode, scene.edges.segment_budget = "lines", 10**6
    yield scene, values
    scene.close()


def direct(scene):
    """A frame with the edges drawn straight into the framebuffer (no edge layer)."""
    scene.edges.cache_layer = False
    try:
        return scene.render()
    finally:
        scene.edges.cache_layer = True


def assert_same_picture(got, expected):
    d = np.abs(got.astype(int) - expected)
    assert d.max() <= 6 and d.mean() < 0.05, (d.max(), d.mean())  # 8-bit rounding of the blends aside


def test_edge_layer_gives_the_directly_drawn_picture(edge_scene):
    scene, values = edge_scene
    expected = direct(scene)
    assert ((expected[..., :3] != BG).any(-1)).mean() > 0.05  # set-up: edges fill the space between layers
    frames = [scene.render() for _ in range(3)]
    assert scene.edges.layer_draws == 1  # first frame direct, second draws the layer, third composites it
    for got in frames:
        assert_same_picture(got, expected)
    scene.set_frame(values[::-1].copy())  # playback: new colours, same view, same layer
    assert_same_picture(scene.render(), direct(scene))
    assert scene.edges.layer_draws == 1


def test_edge_layer_follows_the_view_and_the_edges(edge_scene):
    scene, _ = edge_scene
    scene.render(), scene.render()
    assert scene.edges.layer_draws == 1
    state = scene.camera_state
    scene.set_camera(state.replace(azimuth=state.azimuth + 25))
    moved = scene.render()  # a moving view is drawn directly ...
    assert scene.edges.layer_draws == 1
    assert_same_picture(moved, direct(scene))
    assert_same_picture(scene.render(), moved)  # ... and the layer redrawn once it holds still
    assert scene.edges.layer_draws == 2
    edges = scene.edges_set
    scene.set_edges(type(edges)(edges.src.copy(), edges.dst.copy(), edges.weight.copy(), edges.strength.copy()))
    scene.render()
    assert scene.edges.layer_draws == 2  # the same edges selected again: the layer stays
    scene.set_edges(type(edges)(edges.src[::2], edges.dst[::2], edges.weight[::2], edges.strength[::2]))
    fewer = direct(scene)
    assert (fewer != moved).any()
    scene.render()
    assert_same_picture(scene.render(), fewer)
    assert scene.edges.layer_draws == 3


def test_edge_layer_keeps_transparency(edge_scene):
    scene, _ = edge_scene
    scene.canvas.bgcolor = (0, 0, 0, 0)
    expected = direct(scene)
    assert 0 < (expected[..., 3] > 0).mean() < 1 and ((expected[..., 3] > 0) & (expected[..., 3] < 255)).any()
    scene.render()
    assert_same_picture(scene.render(), expected)



def test_moving_view_draws_only_the_strongest_edges_then_all(edge_scene):
    scene, _ = edge_scene
    scene.edges.set_alpha(0.6)  # one opacity for both sets: the comparison is about which edges are drawn
    edges = scene.edges_set
    strongest = edges.strength >= np.sort(edges.strength)[-300]
    assert strongest.sum() == 300  # set-up: no ties at the cut
    scene.edges.motion_budget = 300
    moving = scene.render()  # a new view: the level of detail applies
    assert scene.edges.reduced
    full = direct(scene)
    assert (full != moving).any()
    scene.set_edges(type(edges)(*(a[strongest] for a in (edges.src, edges.dst, edges.weight, edges.strength))))
    assert_same_picture(moving, direct(scene))  # exactly the 300 strongest edges
    scene.set_edges(edges)
    scene.render()  # a new edge set is a new view ...
    still = scene.render()  # ... and once it holds still, every edge comes back through the layer
    assert not scene.edges.reduced and scene.edges.layer_draws == 1
    assert_same_picture(still, full)


WINDOW_SCRIPT = """
import numpy as np
from vispy import app, gloo
from nn3d.bench.render import content
from nn3d.render.scene import NetworkScene
net, layout, edges, values = content(3000)
scene = NetworkScene(net, layout, edges, size=(400, 300), show=True)
scene.set_frame(values)
def frame():
    scene.canvas.update()
    for _ in range(5):
        app.process_events()
    scene.canvas.set_current()
    return gloo.read_pixels(alpha=True).astype(int)
scene.edges.cache_layer = False
expected = frame()
scene.edges.cache_layer = True
frames = [frame() for _ in range(3)]
d = np.abs(frames[-1] - expected)
lit = (expected[..., :3] != expected[0, 0, :3]).any(-1).mean()
print(scene.edges.layer_draws, (d.max(-1) > 8).sum(), d.mean(), lit)
scene.close()
"""


def test_edge_layer_in_a_window_matches_direct_drawing(under_xvfb):
    """In a glfw window (24-bit depth, unlike gloo's 16-bit render buffers) the layer gives the same picture."""
    r = under_xvfb([sys.executable, "-c", WINDOW_SCRIPT])
    assert r.returncode == 0, r.stderr
    layer_draws, off, mean, lit = r.stdout.split()
    assert int(layer_draws) == 1 and float(lit) > 0.03
    assert int(off) <= 5 and float(mean) < 0.1, r.stdout  # faint (low-alpha) edges round more often by 1


def test_colour_bar_names_the_selected_layers_rule(small_scene):
    from nn3d.colormaps import half
    from nn3d.render.overlays import colorbar

    scene, values = small_scene
    colours, low, high, title = colorbar(scene, values, 1, "hidden")
    assert title == "hidden: diverging, centred at 0, 1–99th pct" and float(low) == -float(high)
    np.testing.assert_array_equal(colours, half(scene.lut, True))
    colours, _, _, title = colorbar(scene, values, 0, "input")
    assert title == "input: sequential, 1–99th pct" and len(colours) == SEQ_TOP + 1
    assert colorbar(scene, None, None)[3] == "no activations"
