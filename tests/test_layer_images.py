"""Far layers as images: the tiles match the placement, the far set follows the screen, the switch is seamless,
picking and colours hold on images."""

import numpy as np
import pytest

from nn3d.layout import EdgeSet, layout
from nn3d.network import Layer, Network
from nn3d.render.layer_images import (
    FAR_PITCH_PX,
    far_layers,
    layer_boxes,
    near_ranges,
    projected_pitch,
    quad_vertices,
    tiles,
)

BG = np.array([11, 13, 18])


def net_of(*shapes, kinds=None):
    layers, start = [], 0
    for i, shape in enumerate(shapes):
        kind = kinds[i] if kinds else "dense"
        layers.append(Layer(f"l{i}", kind, tuple(shape), start))
        start += layers[-1].size
    return Network(layers)


MIXED = dict(shapes=[(1000,), (6, 9, 7), (12, 256), (5, 300), (3, 8, 8)],
             kinds=["dense", "conv", "attention", "dense", "conv"])


@pytest.mark.parametrize("conv", ["tile", "stack"])
def test_tiles_cover_every_neuron_where_placement_puts_it(conv):
    """Each tile cell (r, c) holding a neuron is at origin + (0, c, -r) * pitch, the neuron's own position, and
    every neuron is in exactly one cell: ragged rows (1000 = 32 x 32 - 24), feature maps, attention heads
    and banded wide rows (5 x 300) included."""
    net = net_of(*MIXED["shapes"], kinds=MIXED["kinds"])
    lay = layout(net, conv=conv, heads=4)
    t = tiles(*lay.placement)
    assert len(t.layer) > len(net.layers)  # several layers have several tiles
    seen = np.zeros(net.n_neurons, int)
    for k in range(len(t.layer)):
        r, c = np.mgrid[: int(t.rows[k]), : int(t.cols[k])]
        idx = (t.base[k] + r * t.stride[k] + c).astype(int)
        ok = idx < t.end[k]
        expect = t.origin[k] + np.stack([0 * c, c * t.pitch[k], -r * t.pitch[k]], -1)
        np.testing.assert_allclose(lay.positions[idx[ok]], expect[ok], atol=1e-4)
        assert net.layers[t.layer[k]].start <= idx[ok].min() and idx[ok].max() < net.layers[t.layer[k]].stop
        np.add.at(seen, idx[ok], 1)
    assert (seen == 1).all()
    boxes = layer_boxes(*lay.placement)
    for i, layer in enumerate(net.layers):
        p = lay.positions[layer.neurons]
        np.testing.assert_allclose(boxes[i], [p.min(0), p.max(0)], atol=1e-4)


def test_quads_have_two_triangles_per_tile_with_a_margin():
    net = net_of((4, 5, 6))
    lay = layout(net)
    t = tiles(*lay.placement)
    v = quad_vertices(t, np.array([True, False, True, False]), margin=1.0)
    assert len(v) == 12
    assert v["a_cell"][:, 0].min() == -1 and v["a_cell"][:, 0].max() == 7  # 6 columns plus one on each side
    assert set(v["a_base"][:6, 1]) == {0.0} and set(v["a_base"][6:, 1]) == {60.0}


def perspective(eye, target, fov=30.0, size=(640, 480)):
    """A visual-to-framebuffer matrix (row vectors) of a pinhole camera at ``eye`` looking at ``target``."""
    f = np.asarray(target, float) - eye
    f /= np.linalg.norm(f)
    right = np.cross(f, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, f)
    view = np.eye(4)
    view[:3, :3] = np.stack([right, up, -f], 1)
    view[3, :3] = -np.asarray(eye) @ view[:3, :3]
    t = 1 / np.tan(np.radians(fov) / 2)
    near, far = 0.1, 1e4
    proj = np.zeros((4, 4))
    proj[0, 0], proj[1, 1] = t * size[1] / size[0], t
    proj[2, 2], proj[3, 2], proj[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far), -1
    w, h = size
    fb = np.diag([w / 2, -h / 2, 1.0, 1.0])
    fb[3, :2] = w / 2, h / 2
    return view @ proj @ fb


def brute_pitch(positions, s, m):
    """Largest on-screen column or row step from any neuron (the reference of projected_pitch)."""
    out = []
    for step in ([0, s, 0], [0, 0, -s]):
        a = np.c_[positions, np.ones(len(positions))] @ m
        b = np.c_[positions + step, np.ones(len(positions))] @ m
        out.append(np.linalg.norm(a[:, :2] / a[:, 3:] - b[:, :2] / b[:, 3:], axis=1).max())
    return max(out)


def test_projected_pitch_is_the_largest_step_on_the_layer():
    net = net_of((400,), (3, 10, 10), (50,))
    lay = layout(net)
    s = lay.placement[1][:, 3]
    for eye in ([-60, 5, 3], [-20, 40, 30], [90, -30, 10]):
        m = perspective(np.array(eye, float), [0, 0, 0])
        got = projected_pitch(*lay.placement, m)
        for i, layer in enumerate(net.layers):
            ref = brute_pitch(lay.positions[layer.neurons].astype(float), s[i], m)
            assert ref <= got[i] * (1 + 1e-9)  # the corners bound every neuron's step
            assert got[i] <= ref * 1.25  # and not by much: the box's corners are near its neurons


def test_far_set_grows_with_distance_and_shrinks_with_resolution():
    net = net_of((10000,), (2500,), (100,), (3, 32, 32))
    lay = layout(net)
    eye = np.array([-1.0, 0.4, 0.3])
    counts, prev = [], None
    for d in (200, 400, 800, 1600, 3200):  # from outside the scene (220 x 100 x 100) outwards
        far = far_layers(*lay.placement, perspective(d * eye, [0, 0, 0]))
        if prev is not None:
            assert (far >= prev).all()  # a far layer stays far when the camera backs off
        prev = far
        counts.append(far.sum())
        small = far_layers(*lay.placement, perspective(d * eye, [0, 0, 0], size=(320, 240)))
        assert (small >= far).all()  # a smaller frame: fewer pixels per neuron
    assert counts[0] == 0 and counts[-1] == len(net.layers)
    # the threshold is in pixels: a layer at exactly 1.5 px switches
    m = perspective(100 * eye, [0, 0, 0])
    p = projected_pitch(*lay.placement, m)
    assert (far_layers(*lay.placement, m) == (p < FAR_PITCH_PX)).all()


def test_a_layer_through_the_camera_stays_sprites_and_one_behind_it_is_cheap():
    net = net_of((400,), (400,))
    lay = layout(net)
    lo, hi = layer_boxes(*lay.placement)[0]
    inside = (lo + hi) / 2  # the camera in the first layer's plane, looking obliquely at the second
    m = perspective(inside, layer_boxes(*lay.placement)[1].mean(0) + [0, 5, 3])
    p = projected_pitch(*lay.placement, m)
    assert p[0] == np.inf and np.isfinite(p[1])
    m = perspective(inside + [-1e-3, 0, 0], inside + [-10.0, 0, 0])  # looking away from both
    assert (projected_pitch(*lay.placement, m) == 0).all()


def test_near_ranges_are_the_complement_of_the_far_layers():
    net = net_of((10,), (20,), (30,), (40,), (50,))
    ip = layout(net).placement[0]
    assert near_ranges(ip, np.array([False, False, True, False, True])) == [(0, 30), (60, 40)]
    assert near_ranges(ip, np.zeros(5, bool)) == [(0, 150)]
    assert near_ranges(ip, np.ones(5, bool)) == []


# ---- rendered ----------------------------------------------------------------------------------------------


def scene_of(net, size=(480, 320), values=None, **kw):
    from nn3d.render.scene import NetworkScene

    lay = layout(net, **kw)
    scene = NetworkScene(net, lay, EdgeSet.empty(), size=size)
    if values is None:
        values = np.random.default_rng(0).standard_normal(net.n_neurons).astype(np.float32)
    scene.set_frame(values)
    return scene


def at_pitch(scene, layer, target):
    """Move the camera along its line of sight until ``layer``'s pitch projects to ``target`` pixels."""
    images = scene.layer_images
    for _ in range(6):
        m = images.get_transform("visual", "framebuffer").map(np.eye(4))
        p = projected_pitch(images.ip, images.fp, m)[layer]
        state = scene.camera_state
        scene.set_camera(state.replace(distance=state.distance * p / target))
    m = images.get_transform("visual", "framebuffer").map(np.eye(4))
    return projected_pitch(images.ip, images.fp, m)[layer]


def render_as(scene, mode):
    scene.layer_images.mode = mode
    try:
        return scene.render()[..., :3].astype(int)
    finally:
        scene.layer_images.mode = "auto"


def test_switch_at_the_threshold_is_seamless(tmp_path):
    """At the switch distance the image draws what the sprites draw: a feature map, a ragged dense layer and
    attention heads, each rendered as sprites and as images."""
    from imageio.v2 import imwrite

    net = net_of((3, 40, 40), (1000,), (16, 256), kinds=["conv", "dense", "attention"])
    scene = scene_of(net, heads=4)
    try:
        for layer in range(3):
            p = at_pitch(scene, layer, FAR_PITCH_PX)
            assert abs(p - FAR_PITCH_PX) < 0.01
            sprites, images = render_as(scene, "sprites"), render_as(scene, "images")
            imwrite(tmp_path / f"sprites{layer}.png", sprites.astype(np.uint8))
            imwrite(tmp_path / f"images{layer}.png", images.astype(np.uint8))
            drawn = (sprites != BG).any(-1) | (images != BG).any(-1)
            diff = np.abs(sprites - images).max(-1)
            assert drawn.sum() > 2000
            assert diff[drawn].mean() < 1.5, f"layer {layer}: mean abs difference {diff[drawn].mean():.2f}"
            assert (diff[drawn] > 16).mean() < 0.01, f"layer {layer}: {(diff[drawn] > 16).mean():.2%} differ"
            # the auto switch: the layer is an image just past the threshold, sprites just before it
            state = scene.camera_state
            scene.set_camera(state.replace(distance=state.distance * 1.02))
            scene.render()
            assert scene.layer_images.far[layer]
            scene.set_camera(state.replace(distance=state.distance * 0.98))
            scene.render()
            assert not scene.layer_images.far[layer]
            scene.set_camera(state)
    finally:
        scene.close()


def test_far_layers_leave_the_sprites_and_come_back():
    net = net_of((200, 200), (20,))
    scene = scene_of(net)
    try:
        images = scene.layer_images
        at_pitch(scene, 0, 1.0)
        scene.render()
        assert images.far.tolist() == [True, False]
        assert scene.neurons.draw_ranges == [(40000, 20)]
        rebuilds = images.rebuilds
        scene.render()
        assert images.rebuilds == rebuilds  # same far set: nothing rebuilt
        at_pitch(scene, 0, 3.0)
        scene.render()
        assert images.far.tolist() == [False, False] and scene.neurons.draw_ranges is None
    finally:
        scene.close()


def test_a_far_layer_shows_its_neurons_colours():
    """A checkerboard of 5-row x 3-column blocks per feature map, each map's phase shifted, and stripes of
    rows in a ragged dense layer: at the projected centre of each block's middle neuron the image has that
    neuron's colour (one of the colormap's two ends, lit)."""
    c, h, w = 4, 30, 30
    r, q = np.mgrid[:h, :w]
    board = np.stack([((r // 5 + q // 3 + k) % 2) for k in range(c)]).astype(np.float32)
    dense = (np.arange(1000) // 32 % 2).astype(np.float32)  # stripes of rows: 1000 = 32 x 32 - 24
    net = net_of((c, h, w), (1000,), kinds=["conv", "dense"])
    scene = scene_of(net, values=np.concatenate([board.ravel(), dense]))
    try:
        at_pitch(scene, 0, 1.2)
        img = render_as(scene, "auto")
        assert scene.layer_images.far.all()
        lv = scene.levels
        middle = np.flatnonzero(((r % 5 == 2) & (q % 3 == 1)).ravel())
        probes = np.concatenate([k * h * w + middle for k in range(c)] + [c * h * w + np.arange(5, 1000, 37)])
        xy = np.floor(scene.project(probes)).astype(int)
        got = img[xy[:, 1], xy[:, 0]].astype(float)
        lut = scene.lut[:, :3].astype(float)
        ends = np.stack([lut[lv[probes].min()], lut[lv[probes].max()]])
        cos = got @ ends.T / np.linalg.norm(got, axis=1)[:, None] / np.linalg.norm(ends, axis=1)[None]
        nearest = np.argmax(cos, axis=1)
        want = (lv[probes] == lv[probes].max()).astype(int)
        assert (nearest == want).mean() > 0.97 and 0.3 < want.mean() < 0.7
        bright = np.linalg.norm(got, axis=1) / np.linalg.norm(ends[want], axis=1)
        assert np.median(bright) > 0.8  # lit discs, not a dimmed or blended colour
    finally:
        scene.close()


def test_picking_a_far_layer_returns_the_neuron_under_the_cursor():
    net = net_of((3, 40, 40), (20,), kinds=["conv", "dense"])
    scene = scene_of(net)
    try:
        at_pitch(scene, 0, 1.3)
        scene.render()
        assert scene.layer_images.far[0]
        rng = np.random.default_rng(3)
        for neuron in rng.integers(0, 4800, 12):
            x, y = scene.project([neuron])[0]
            got = scene.pick(x, y, radius=1)
            assert got is not None and net.layers[0].start <= got < net.layers[0].stop
            gx, gy = scene.project([got])[0]
            assert np.hypot(gx - x, gy - y) < 1.0  # the neuron whose disc is on top there: one pitch at most
            assert got == pick_as(scene, "sprites", x, y)
    finally:
        scene.close()


def pick_as(scene, mode, x, y):
    scene.layer_images.mode = mode
    try:
        scene.render()
        return scene.pick(x, y, radius=1)
    finally:
        scene.layer_images.mode = "auto"


def test_images_occlude_edges_in_the_edge_layer():
    """The edge layer (composited while the view holds still) gets its depth from the images too: the still
    frame and the directly drawn one are the same picture."""
    from nn3d.layout import select_edges
    from nn3d.render.scene import NetworkScene
    from nn3d.synthetic import mlp

    net = mlp([900, 900, 50], seed=0)
    lay = layout(net)
    scene = NetworkScene(net, lay, select_edges(net, k=2), size=(480, 320))
    try:
        scene.set_frame(np.random.default_rng(0).standard_normal(net.n_neurons).astype(np.float32))
        at_pitch(scene, 0, 1.0)
        state = scene.camera_state
        scene.set_camera(state.replace(azimuth=state.azimuth + 30))
        draws = scene.edges.layer_draws
        direct = scene.render()  # a new view: edges drawn directly
        assert scene.layer_images.far[:2].all()
        still = scene.render()  # the same view again: through the edge layer
        assert scene.edges.layer_draws == draws + 1
        diff = np.abs(direct.astype(int) - still.astype(int)).max(-1)
        assert (diff > 8).mean() < 0.002
    finally:
        scene.close()
