"""Neuron positions computed in the vertex shader from the layout's placement rows: the same positions as the
NumPy placement, the same picture as uploaded positions, picking at any index, ~1 byte per neuron on the GPU."""

import numpy as np
import pytest

from nn3d.layout import EdgeSet, layout
from nn3d.layout.placement import place_numpy
from nn3d.network import Layer, Network
from nn3d.render import neuron_draws

NO_EDGES = EdgeSet(*(np.zeros(0, t) for t in (np.int32, np.int32, np.float32, np.float32)))


def mixed_net(scale: int = 1) -> Network:
    """An image, tiled (or stacked) conv maps, attention with heads, a ragged dense grid, a banded wide table."""
    shapes = [("img", "input", (3, 8 * scale, 8 * scale)), ("conv", "conv", (8, 6 * scale, 6 * scale)),
              ("att", "attention", (6 * scale, 128)), ("dense", "dense", (50 * scale**2,)),
              ("wide", "dense", (2, 600 * scale)), ("mid", "dense", (40,)), ("out", "dense", (7,))]
    layers, start = [], 0
    for name, kind, shape in shapes:
        layers.append(Layer(name, kind, shape, start))
        start += layers[-1].size
    return Network(layers)


@pytest.mark.parametrize("conv", ["tile", "stack"])
@pytest.mark.parametrize("chunk", [16, 100, 1 << 16])
def test_shader_arithmetic_equals_the_numpy_placement(conv, chunk):
    net = mixed_net()
    lay = layout(net, conv=conv, heads=4, fold=2, backend="numpy")
    assert lay.n_rows == 2  # folded: layers of the second row placed by their row's origin
    ip, fp = lay.placement
    reference = np.empty_like(lay.positions)
    place_numpy(reference, ip, fp)
    index, pos = neuron_draws.shader_positions(ip, fp, chunk)
    assert (index == np.arange(net.n_neurons)).all()
    tol = 4 * np.finfo(np.float32).eps * float(np.abs(reference).max())  # float32 sums in another order
    np.testing.assert_allclose(pos, reference, rtol=0, atol=tol)
    lo, hi = neuron_draws.bounds(ip, fp)
    assert (lo <= reference.min(0) + tol).all() and (hi >= reference.max(0) - tol).all()
    np.testing.assert_allclose(np.stack([lo, hi]), [reference.min(0), reference.max(0)], atol=lay.pitch * 3.5)


def test_draws_stay_within_a_chunk_and_a_layer_and_honour_ranges():
    net = mixed_net()
    ip, _ = layout(net, heads=4).placement
    d = neuron_draws.draws(ip, 64, 4096, [(5, 30), (20, 300), (1000, 10**9)])
    drawn = np.concatenate([np.arange(s, s + c) for s, c in zip(d.start, d.count)])
    assert (drawn == np.r_[5:320, 1000:net.n_neurons]).all()  # overlaps drawn once, in order
    assert (d.count <= 64).all() and (d.count > 0).all()
    layer_of = net.layer_of(d.start)
    assert (layer_of == d.layer).all() and (net.layer_of(d.start + d.count - 1) == d.layer).all()
    assert len(neuron_draws.draws(ip, 64, 4096, [])) == 0


def test_chunks_keep_the_index_buffer_small_and_the_draws_few():
    for n in (10**6, 10**7, 10**8):
        chunk = neuron_draws.chunk_size(n)
        assert 4 * chunk <= 0.27 * n and n / chunk <= 100  # the shared float index buffer, draws per frame
    assert neuron_draws.chunk_size(9) == 16


def _scene(net, lay, explicit, size=(640, 400)):
    from nn3d.render.scene import NetworkScene

    scene = NetworkScene(net, lay, NO_EDGES, size=size, explicit_positions=explicit)
    scene.set_frame(np.random.default_rng(0).standard_normal(net.n_neurons).astype(np.float32))
    scene.title.visible = False
    return scene


@pytest.mark.parametrize("conv", ["tile", "stack"])
def test_shader_positions_draw_the_uploaded_positions_picture(conv):
    net = mixed_net(scale=2)
    lay = layout(net, conv=conv, heads=4, fold=2)
    table, explicit = _scene(net, lay, False), _scene(net, lay, True)
    try:
        assert not table.neurons.explicit and explicit.neurons.explicit
        state = table.camera_state
        for scene in (table, explicit):  # an oblique view: stacked maps and both rows in sight
            scene.set_camera(state.replace(azimuth=state.azimuth + 20, elevation=state.elevation + 10))
        a, b = table.render(), explicit.render()
        lit = (a[..., :3] != a[0, 0, :3]).any(-1)
        assert lit.mean() > 0.02
        assert (a != b).any(-1).mean() < 1e-3  # float32 rounding may move a sprite's rim by a pixel
        ids, ids_ref = table.id_image(), explicit.id_image()
        assert (ids != ids_ref).mean() < 1e-3
        # every neuron is drawn where the CPU projects it: its centre pixel holds it, or a neuron whose sprite
        # (projected from its CPU position) covers that pixel: one in front, or an overlapping far neighbour
        n = net.n_neurons
        xy = table.project(np.arange(n))
        px = np.floor(xy).astype(int)
        assert ((px >= 0) & (px < (640, 400))).all()
        seen = ids[px[:, 1], px[:, 0]]
        assert (seen >= 0).all()
        hit = seen == np.arange(n)
        radius = float(table.neurons.shared_program["u_radius"])
        to_canvas = table.neurons.get_transform("visual", "canvas")

        def canvas_xy(points):
            p = to_canvas.map(points)
            return p[:, :2] / p[:, 3:4]

        r_px = np.max([np.hypot(*(canvas_xy(lay.positions + radius * u) - xy).T) for u in np.eye(3)], 0)
        reach = np.maximum(r_px, 0.75) + 1.5
        other = seen[~hit]
        assert hit.mean() > 0.8
        assert (np.hypot(*(xy[other] - xy[~hit]).T) <= reach[other]).all()
    finally:
        table.close(), explicit.close()


def test_draw_ranges_draw_only_those_neurons():
    net = mixed_net()
    lay = layout(net, heads=4)
    scene = _scene(net, lay, False)
    try:
        conv, dense = net.layers[1], net.layers[3]
        scene.layer_images.parent = None  # it sets draw_ranges itself at every draw
        scene.neurons.draw_ranges = [(conv.start, conv.size), (dense.start + 10, 20)]
        ids = scene.id_image()
        shown = np.unique(ids[ids >= 0])
        assert set(shown) <= set(range(conv.start, conv.stop)) | set(range(dense.start + 10, dense.start + 30))
        assert len(shown) > 0.9 * (conv.size + 20)
        scene.neurons.draw_ranges = None
        ids = scene.id_image()
        assert len(np.unique(ids[ids >= 0])) > 0.9 * net.n_neurons
    finally:
        scene.close()


def test_picking_ids_past_two_to_the_24():
    """A synthetic table whose second layer starts past 2^24 (only it drawn): picking reads its own indices."""
    from vispy import scene as vscene

    from nn3d.render.backend import ensure_backend
    from nn3d.render.scene import decode_ids

    ensure_backend()
    from nn3d.render.visuals import Neurons

    big = 2**24 + 4321
    ip = np.array([[0, big, 4097, 4096, 4096, 1, 1, 0], [big, 64, 8, 8, 8, 1, 1, 0]], np.int64)
    fp = np.array([[0, -5000, 5000, 1, 4096, 4097, 0], [0, -3.5, 3.5, 1, 8, 8, 0]], np.float64)
    lut = np.zeros((256, 4), np.uint8)
    lut[:, 3] = 255
    canvas = vscene.SceneCanvas(size=(200, 200), show=False, bgcolor="black")
    try:
        view = canvas.central_widget.add_view()
        neurons = Neurons(None, np.zeros(big + 64, np.uint8), lut, radius=0.3, table=(ip, fp), parent=view.scene)
        neurons.draw_ranges = [(big, 64)]
        view.camera = vscene.TurntableCamera(up="+z", center=(0, 0, 0), azimuth=90, elevation=0, distance=30, fov=25)
        neurons.shared_program["u_picking"] = 1.0
        ids = decode_ids(canvas.render(alpha=True))
        ref, small = np.empty((64, 3), np.float32), ip[1:].copy()
        small[0, 0] = 0  # the drawn layer's positions by the reference, indexed from 0
        place_numpy(ref, small, fp[1:])
        i = np.arange(64)
        p = neurons.get_transform("visual", "canvas").map(ref)
        xy = np.floor(p[:, :2] / p[:, 3:4]).astype(int)
        assert (ids[xy[:, 1], xy[:, 0]] == big + i).all()
        assert neurons.gpu_nbytes() <= 1.26 * (big + 64)  # the level bytes, an index buffer of <= n / 16 floats
    finally:
        canvas.close()


def test_one_byte_per_neuron_on_the_gpu_at_a_million():
    from test_render import Uploads

    shapes = [("a", "dense", (400_000,)), ("b", "conv", (16, 100, 100)), ("c", "attention", (256, 1024)),
              ("d", "dense", (2, 90_000)), ("e", "dense", (1000,))]
    layers, start = [], 0
    for name, kind, shape in shapes:
        layers.append(Layer(name, kind, shape, start))
        start += layers[-1].size
    net = Network(layers)
    assert 10**6 <= net.n_neurons < 1.05 * 10**6
    lay = layout(net)
    from nn3d.render.scene import NetworkScene

    scene = NetworkScene(net, lay, NO_EDGES, size=(64, 64))
    try:
        ids = {scene.neurons._level_texture.id, scene.neurons._lut_texture.id, scene.neurons._local.id}
        with Uploads(scene) as up:
            scene.set_levels(scene.levels)
            scene.neurons._local.set_data(np.arange(scene.neurons._chunk, dtype=np.float32))  # upload it again
            scene.render()
        per_neuron = scene.neurons.gpu_nbytes() / net.n_neurons
        assert 1.0 < per_neuron <= 1.5
        assert up.nbytes(ids) <= 1.5 * net.n_neurons
        texture = scene.neurons._level_texture
        assert texture.shape[0] * texture.shape[1] < net.n_neurons + 4096  # one byte each, one row of padding
    finally:
        scene.close()
    baseline = NetworkScene(net, lay, NO_EDGES, size=(64, 64), explicit_positions=True)
    try:
        assert baseline.neurons.gpu_nbytes() / net.n_neurons >= 16  # position (12 B) + index (4 B) + level
    finally:
        baseline.close()


def test_too_many_neurons_is_refused_before_anything_is_allocated():
    from nn3d.memory import TooLargeError
    from nn3d.render.backend import ensure_backend

    ensure_backend()
    from nn3d.render.visuals import NeuronsVisual

    n = NeuronsVisual.MAX_NEURONS + 1
    ip = np.array([[0, n, 1 << 14, 1 << 14, 1 << 14, 1, 1, 0]], np.int64)
    with pytest.raises(TooLargeError, match="neurons to draw"):
        NeuronsVisual(None, np.zeros(1, np.uint8), np.zeros((256, 4), np.uint8), 0.3, table=(ip, np.zeros((1, 7))))
