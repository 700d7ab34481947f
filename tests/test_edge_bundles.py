"""Edge bundles and the screen's segment budget (render/edge_bundles.py, render/lod.py's plan, EdgesVisual)."""

import numpy as np
import pytest

from nn3d import synthetic
from nn3d.layout import layout, select_edges
from nn3d.render import edge_bundles as eb
from nn3d.render import lod

# -- pure NumPy: grouping, plan, ribbons -------------------------------------------------------------------


def three_layer_grouping(seed=0):
    rng = np.random.default_rng(seed)
    starts = np.array([0, 10, 30])  # layers of 10, 20 and 5 neurons
    src = np.r_[rng.integers(0, 10, 40), rng.integers(10, 30, 15), rng.integers(0, 10, 6)]
    dst = np.r_[rng.integers(10, 30, 40), rng.integers(30, 35, 15), rng.integers(30, 35, 6)]
    w = rng.standard_normal(len(src)).astype(np.float32)
    boxes = np.array([[[0, 0, 0], [0, 2, 2]], [[3, 0, -1], [3, 4, 3]], [[6, 1, 0], [6, 2, 1]]], float)
    return eb.group(src, dst, w, starts, boxes), src, dst, w


def test_group_makes_one_run_per_connection_strongest_first():
    g, src, dst, w = three_layer_grouping()
    assert len(g) == 3 and sorted(map(tuple, g.pairs)) == [(0, 1), (0, 2), (1, 2)]
    layer = np.searchsorted([0, 10, 30], src, side="right") - 1, np.searchsorted([0, 10, 30], dst, side="right") - 1
    for (a, b), s, n, total, pos in zip(g.pairs, g.start, g.count, g.total, g.positive):
        run = g.order[s : s + n]
        assert ((layer[0][run] == a) & (layer[1][run] == b)).all()
        assert n == ((layer[0] == a) & (layer[1] == b)).sum()
        assert (np.diff(np.abs(w[run])) <= 0).all()  # strongest first
        assert total == pytest.approx(np.abs(w[run]).sum())
        assert pos == pytest.approx(np.abs(w[run][w[run] > 0]).sum() / total)
    assert sorted(g.order) == list(range(len(src)))  # a permutation


def test_plan_lines_for_large_layers_bundles_for_small():
    pairs, count, total = np.array([[0, 1], [1, 2]]), np.array([30, 20]), np.array([5.0, 1.0])
    size = (1000, 500)  # lines need both layers >= 0.2 * 500 = 100 px
    p = lod.plan(np.array([300.0, 90.0, 40.0]), pairs, count, total, size)
    assert p.lines.tolist() == [True, False] and p.count.tolist() == [30, 0]
    assert (p.segments, p.bundles) == (30, 1)
    everything = lod.plan(np.full(3, np.inf), pairs, count, total, size)
    assert everything.lines.all() and everything.segments == 50


def test_plan_keeps_every_connection_within_the_budget():
    rng = np.random.default_rng(1)
    count = rng.integers(1, 400, 60)
    pairs = np.stack([np.arange(60), np.arange(1, 61)], axis=1)
    total = rng.random(60)
    for budget in (10_000, 700, 60, 25):
        p = lod.plan(np.full(61, np.inf), pairs, count, total, (640, 400), budget=budget)
        assert p.segments <= budget
        assert ((p.count >= 1) | ~p.lines).all()  # a line connection draws at least one edge ...
        assert (p.count <= count).all()
        if count.sum() <= budget:
            assert (p.count == count).all()
        elif budget >= 60:  # ... in proportion to what it holds
            assert p.lines.all() and p.count[np.argmax(count)] >= p.count[np.argmin(count)]
        else:  # not even one each: the strongest connections stay lines, the rest become bundles
            assert p.lines.sum() == budget and p.bundles == 60 - budget
            assert total[p.lines].min() >= total[~p.lines].max()


def test_ribbons_one_per_bundle_inside_the_layers_and_monotone_in_strength():
    g, *_ = three_layer_grouping()
    which = np.arange(len(g))
    verts = eb.ribbon_vertices(g, which)
    assert len(verts) == 6 * len(g)
    ends = eb.ribbon_ends(g, which)  # (B, 2 ends, bottom/top, 3)
    for b, (a, d) in enumerate(g.pairs):
        for end, layer in ((0, a), (1, d)):
            lo, hi = g.boxes[layer]
            assert (ends[b, end] >= lo - 1e-9).all() and (ends[b, end] <= hi + 1e-9).all()
    # width (as a share of each layer's height) and opacity grow with the summed strength
    share = (ends[:, 0, 1, 2] - ends[:, 0, 0, 2]) / (g.boxes[g.pairs[:, 0], 1, 2] - g.boxes[g.pairs[:, 0], 0, 2])
    alpha = eb.bundle_alpha(g, which)
    order = np.argsort(g.total)
    assert (np.diff(share[order]) > 0).all() and (np.diff(alpha[order]) > 0).all()
    assert eb.ALPHA[0] <= alpha.min() and alpha.max() == pytest.approx(eb.ALPHA[1])
    corners = ends.reshape(len(g), 4, 3)[:, [0, 1, 2, 2, 1, 3]].reshape(-1, 3)  # the quad's two triangles
    assert np.allclose(verts["a_position"], corners, atol=1e-6)


def test_projected_extent_is_the_larger_projected_side():
    boxes = np.array([[[0, 0, 0], [0, 2, 1]]], float)
    m = np.diag([1.0, 10.0, 20.0, 1.0])  # (x, y, z) -> (10 y, 20 z) pixels
    m[:, [0, 1]] = m[:, [1, 2]]
    assert eb.projected_extent(boxes, m) == pytest.approx([20.0])
    behind = m.copy()
    behind[3, 3] = -1.0
    assert np.isinf(eb.projected_extent(boxes, behind)).all()


# -- rendered -----------------------------------------------------------------------------------------------

SIZE = (480, 300)


@pytest.fixture(scope="module")
def mlp_scene():
    from nn3d.render.scene import NetworkScene

    net = synthetic.mlp([48, 40, 32, 24], seed=0)
    acts = synthetic.random_activations(net, seed=0)
    values = acts.frame(0)
    edges = select_edges(net, k=2, budget=10**5, activations=values, rule="contribution")
    scene = NetworkScene(net, layout(net), edges, size=SIZE)
    scene.set_frame(values)
    scene.edges.cache_layer = False
    yield scene, edges
    scene.close()


def edgeless(scene):
    scene.edges.visible = False
    try:
        return scene.render()
    finally:
        scene.edges.visible = True


def centre_px(scene, layer):
    lo, hi = scene.layout.boxes[layer]
    p = scene.neurons.get_transform("visual", "canvas").map(((lo + hi) / 2)[None])
    return p[0, :2] / p[0, 3]


def between_cover(scene, image, bare, a, b):
    """Share of the pixels on the screen segment between layers ``a``'s and ``b``'s centres (the middle
    half of it) that the edges changed, and their mean colour there."""
    pa, pb = centre_px(scene, a), centre_px(scene, b)
    t = np.linspace(0.3, 0.7, 60)
    xy = np.rint(pa[None] + t[:, None] * (pb - pa)[None]).astype(int)
    changed = np.abs(image[xy[:, 1], xy[:, 0], :3].astype(int) - bare[xy[:, 1], xy[:, 0], :3]).max(axis=1) > 6
    return changed.mean(), image[xy[:, 1], xy[:, 0], :3][changed].mean(axis=0) if changed.any() else None


def test_far_connections_are_bands_near_ones_lines(mlp_scene):
    scene, _ = mlp_scene
    home = scene.camera_state
    try:
        scene.set_camera(home.replace(distance=home.distance * 3.5))  # zoomed out: every layer small
        far, bare = scene.render(), edgeless(scene)
        assert scene.edges.bundles_drawn == 3 and scene.edges.segments_drawn == 0
        for a in range(3):
            cover, colour = between_cover(scene, far, bare, a, a + 1)
            assert cover > 0.75  # a band: nearly every pixel between the layers (neurons in front hide some)
            assert colour[0] > colour[1] > colour[2] or colour[2] > colour[0]  # edge hues, not grey or black

        scene.set_camera(home.replace(distance=home.distance * 0.8))  # zoomed in: lines
        near, bare = scene.render(), edgeless(scene)
        assert scene.edges.bundles_drawn == 0 and scene.edges.segments_drawn == len(scene.edges.grouping.order)
        covers = [between_cover(scene, near, bare, a, a + 1)[0] for a in range(3)]
        assert 0 < max(covers) and min(covers) < 0.7  # lines: some pixels, with gaps between them
    finally:
        scene.set_camera(home)


def test_bundles_are_one_draw_call(mlp_scene, monkeypatch):
    scene, _ = mlp_scene
    scene.edges.bundle_mode = "bundles"
    try:
        calls = []
        original = scene.edges.bundles.program.draw
        monkeypatch.setattr(scene.edges.bundles.program, "draw", lambda *a, **k: (calls.append(a), original(*a, **k)))
        scene.render()
        assert calls == [("triangles",)] and scene.edges.bundles.n_vertices == 6 * 3
    finally:
        scene.edges.bundle_mode = "auto"


def test_bundles_lie_under_the_neurons(mlp_scene):
    """A neuron in front of a bundle hides it: the neurons' pixels nearest the camera do not change."""
    scene, _ = mlp_scene
    bare = edgeless(scene)
    scene.edges.bundle_mode = "bundles"
    try:
        banded = scene.render()
    finally:
        scene.edges.bundle_mode = "auto"
    last = scene.net.layers[-1].neurons  # the last layer stands in front of the ribbon ending in it
    xy = np.rint(scene.project(np.arange(last.start, last.stop))).astype(int)
    same = (banded[xy[:, 1], xy[:, 0]] == bare[xy[:, 1], xy[:, 0]]).all(axis=1)
    assert same.mean() > 0.9


def test_lod_picture_keeps_the_neurons_of_the_full_one(mlp_scene):
    """At a view where both are feasible, the LOD render (bundles and the segment budget) and the full one
    (every selected edge as a line) differ in the edges only: the neuron pixels stay as readable."""
    scene, edges = mlp_scene
    home = scene.camera_state
    try:
        scene.set_camera(home.replace(distance=home.distance * 2.2))
        bare = edgeless(scene)
        lod_image = scene.render()
        assert scene.edges.bundles_drawn > 0
        scene.edges.bundle_mode, scene.edges.segment_budget = "lines", 10**6
        full = scene.render()
        assert scene.edges.segments_drawn == len(edges)
    finally:
        scene.edges.bundle_mode, scene.edges.segment_budget = "auto", None
        scene.set_camera(home)
    bg = np.array([11, 13, 18])
    neuron = np.abs(bare[..., :3].astype(int) - bg).max(axis=-1) > 24
    assert neuron.mean() > 0.01
    diff = np.abs(lod_image[..., :3].astype(int) - full[..., :3]).max(axis=-1)[neuron]
    def visible(img):
        return (np.abs(img[..., :3].astype(int) - bare[..., :3]).max(axis=-1)[neuron] <= 24).mean()

    assert np.median(diff) <= 8 and np.percentile(diff, 90) <= 60

    assert visible(lod_image) >= visible(full) - 0.02  # as many neuron pixels readable as with every line


def test_segments_never_exceed_the_screen_budget_on_a_large_net():
    from nn3d.render.scene import NetworkScene

    net = synthetic.random_network(200_000, 300_000, n_layers=10, seed=0)
    values = np.random.default_rng(0).standard_normal(net.n_neurons).astype(np.float32)
    edges = select_edges(net, k=4, budget=60_000, activations=values, rule="contribution")
    size = (400, 250)
    scene = NetworkScene(net, layout(net), edges, size=size)
    try:
        budget = lod.segment_budget(size)
        assert len(edges) > 20 * budget
        home = scene.camera_state
        connections = len(scene.edges.grouping)
        seen = set()
        for f in (0.05, 0.2, 0.5, 1.0, 3.0):
            scene.set_camera(home.replace(distance=home.distance * f))
            scene.render()
            e = scene.edges
            assert e.segments_drawn <= budget
            assert (0 if e._index_buffer is None else e._index_buffer.size) == 2 * e.segments_drawn
            drawn_lines = int(((e.plan.count > 0) & e.plan.lines).sum())
            assert drawn_lines + e.bundles_drawn == connections  # no connection dropped
            seen.add((e.segments_drawn > 0, e.bundles_drawn > 0))
        assert (False, True) in seen and any(lines for lines, _ in seen)  # far: bundles only; near: lines
    finally:
        scene.close()


def test_the_selection_stays_lines_and_the_hud_counts(tmp_path):
    from nn3d.render.explorer import Explorer

    net = synthetic.mlp([48, 40, 32, 24], seed=0)
    ex = Explorer(net, synthetic.random_activations(net, seed=0), size=SIZE, hud=True)
    try:
        home = ex.camera_state
        ex.set_camera(home.replace(distance=home.distance * 3.5))
        neuron = net.layers[1].start + 3
        info = ex.select(neuron)
        image = ex.render()
        assert ex.scene.edges.bundles_drawn == 3 and ex.scene.edges.segments_drawn == 0
        assert ex.highlight.lines.visible  # the selection's edges: gold lines over the bundles
        pos = ex.highlight.lines._pos
        assert len(pos) == 2 * (len(info.incoming) + len(info.outgoing))
        gold = (image[..., 0] > 200) & (image[..., 1] > 160) & (image[..., 2] < 140)
        assert gold.sum() > 20
        ex.render()
        assert "0 lines · 3 bundles" in ex._hud_text()
    finally:
        ex.close()
