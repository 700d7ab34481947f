"""Screen-space labels: the declutter pass (no two drawn rectangles intersect, priority wins, reserved places
and alternatives), the labels drawn by default in a shot, layer labels when close or for the selected block,
and labels kept off the title and the HUD."""

import numpy as np
import pytest

from nn3d.render.labels import declutter, overlaps, rects, text_rect, text_size


def _pairwise_disjoint(r):
    for i in range(len(r)):
        for j in range(i + 1, len(r)):
            a, b = r[i], r[j]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                return False
    return True


@pytest.mark.parametrize("seed", range(5))
def test_declutter_leaves_no_two_rectangles_intersecting(seed):
    rng = np.random.default_rng(seed)
    n = 200
    anchors = rng.uniform([0, 0], [400, 300], (n, 2))
    sizes = rng.uniform([20, 10], [90, 16], (n, 2))
    prio = rng.uniform(0, 3, n)
    keep, placed = declutter(anchors, sizes, prio, bounds=(400, 300))
    assert 0 < keep.sum() < n
    assert _pairwise_disjoint(placed[keep]) and overlaps(placed[keep]) == 0
    inside = (placed[keep, 0] >= 0) & (placed[keep, 1] >= 0) & (placed[keep, 2] <= 400) & (placed[keep, 3] <= 300)
    assert inside.all()
    assert np.allclose(placed[keep, 2] - placed[keep, 0], sizes[keep, 0])  # shifted, never resized


def test_higher_priority_kept_where_two_collide():
    anchors = np.array([[100.0, 100.0], [102.0, 101.0]])
    sizes = np.array([[80.0, 14.0], [80.0, 14.0]])
    keep, placed = declutter(anchors, sizes, [1.0, 2.0], shifts=0)
    assert keep.tolist() == [False, True]
    assert np.allclose(placed[1], rects(anchors[1:], sizes[1:])[0])  # the winner stays at its anchor
    keep, placed = declutter(anchors, sizes, [1.0, 2.0], shifts=2)
    assert keep.all() and overlaps(placed) == 0  # with room to shift, the other moves off instead


def test_overlaps_counts_intersecting_pairs():
    r = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [10, 0, 20, 10], [100, 100, 110, 110]], float)
    assert overlaps(r) == 2  # (0,1) and (1,2); touching edges (0,2) do not count
    assert text_size("abc")[0] < text_size("abcdef")[0]


def test_shot_draws_block_labels_without_the_hud():
    """A default shot of a model with blocks draws one label per block, none overlapping, text visible."""
    import torch
    from torch import nn

    from nn3d.ingest import from_torch
    from nn3d.render.explorer import Explorer

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return torch.relu(self.fc(x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(8, 8)
            self.blocks = nn.ModuleList([Block() for _ in range(3)])

        def forward(self, x):
            x = self.inp(x)
            for b in self.blocks:
                x = b(x)
            return x

    net, acts = from_torch(Net(), torch.rand(2, 8))
    ex = Explorer(net, acts, size=(640, 360))
    try:
        assert not ex.hud_on
        image = ex.render()
        drawn = ex.overlays.label_rects()
        n_blocks = len(net.structure)
        assert [b.group for b in net.structure].count("blocks") == 3  # the repeated ones, one label each
        assert len(drawn) >= n_blocks and overlaps(drawn) == 0
        x0, y0, x1, y1 = drawn[0].astype(int)
        patch = image[max(y0, 0):y1, max(x0, 0):x1, :3].astype(int)
        assert (patch.max(axis=-1) > 150).any()  # light text at the label's place
    finally:
        ex.close()


def test_declutter_keeps_reserved_places_free_and_one_of_each_group():
    anchors = np.array([[50.0, 30.0], [200.0, 100.0], [205.0, 100.0], [300.0, 200.0]])
    sizes = np.array([[60.0, 14.0], [60.0, 14.0], [120.0, 14.0], [40.0, 14.0]])
    reserved = np.array([[0.0, 0.0, 150.0, 40.0]])
    keep, placed = declutter(anchors, sizes, [3.0, 2.0, 2.5, -1.0], bounds=(400, 300), reserved=reserved,
                             group=[-1, 7, 7, -1])
    assert _cross(reserved, placed[keep]) == 0 and overlaps(placed[keep]) == 0
    assert keep[0] and placed[0, 1] >= 40  # moved off the reserved rectangle, not dropped
    assert keep.tolist()[1:] == [False, True, False]  # the group's higher-priority alternative; -1 never drawn


def _cross(a, b):
    """How many (rectangle of a, rectangle of b) pairs intersect."""
    return overlaps(np.vstack([a, b])) - overlaps(a) - overlaps(b)


def _blocky(n_blocks=4, width=12):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = (nn.Linear(width, width) for _ in range(3))

        def forward(self, x):
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block() for _ in range(n_blocks)])

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x

    from nn3d.ingest import from_torch

    torch.manual_seed(0)
    return from_torch(Net(), torch.rand(1, width))


def _drawn(ex):
    ex.render()
    labels = ex.overlays.labels
    return labels.items.layer[labels.shown], labels.items.block[labels.shown], ex.overlays.label_rects()


def test_far_view_blocks_only_close_view_layers_selected_block_layers():
    from nn3d.render.explorer import Explorer

    net, acts = _blocky()
    ex = Explorer(net, acts, size=(640, 360))
    try:
        home = ex.camera_state
        ex.set_camera(home.replace(distance=2 * home.distance))  # far: blocks only
        layer, block, drawn = _drawn(ex)
        assert len(layer) >= 3 and (layer == -1).all() and overlaps(drawn) == 0

        blocks = [b for b in net.structure if b.group == "blocks"]
        target = blocks[2]
        ex.frame_layer(target.layers[1])  # close to one block: its layers' own labels
        layer, block, drawn = _drawn(ex)
        assert target.layers[1] in layer.tolist()
        texts = [ex.overlays.labels.items.texts[i] for i in ex.overlays.labels.shown]
        assert any("dense" in t and "12" in t for t in texts)  # name, kind and shape
        assert overlaps(drawn) == 0

        ex.set_camera(home.replace(distance=2 * home.distance))
        ex.select(net.layers[blocks[1].layers[0]].start)  # the selected block's layers, far away
        layer, block, drawn = _drawn(ex)
        named = set(layer[layer >= 0].tolist())
        assert named and named <= set(blocks[1].layers)
        assert overlaps(drawn) == 0
        ex.clear_selection()
        layer, _, _ = _drawn(ex)
        assert (layer == -1).all()
    finally:
        ex.close()


def test_labels_never_cover_the_title_or_the_hud():
    """With the HUD on every layer label is a candidate: none may land on the title or the HUD text, whose
    reserved rectangles cover the text actually drawn."""
    from nn3d.render.explorer import Explorer

    net, acts = _blocky(n_blocks=6, width=16)
    title = "a long title across the top of the frame, where the first labels would otherwise go " * 2
    ex = Explorer(net, acts, size=(640, 360), hud=True, title=title)
    try:
        ex.set_camera(ex.camera_state.replace(elevation=30.0))  # the network's top edge up under the title
        ex.render()
        reserved = ex.overlays.reserved_rects()
        drawn = ex.overlays.label_rects()
        assert len(reserved) >= 2 and len(drawn) >= 3
        assert _cross(reserved, drawn) == 0 and overlaps(drawn) == 0
        # without reserving them, some label would cover them (the test can fail)
        labels = ex.overlays.labels
        tr = ex.view.scene.node_transform(ex.canvas.scene)
        p = tr.map(labels._points)
        prio = labels.candidates(tr, ex.canvas.size)
        keep, placed = declutter(p[:, :2] / p[:, 3:4], labels._text_px, prio, bounds=ex.canvas.size)
        assert _cross(reserved, placed[keep]) > 0

        # the title's and the HUD's reserved rectangles hold their pixels (labels hidden: they would move)
        ex.overlays.labels.visible = False
        with_title = ex.render()[..., :3].astype(int)
        ex.scene.set_title("")
        ex.overlays.hud.visible = False
        without = ex.render()[..., :3].astype(int)
        ys, xs = np.nonzero((np.abs(with_title - without).max(axis=-1) > 40)[:100, :])
        r = text_rect(title, ex.scene.title.pos[0], ex.scene.title.font_size)
        hud = text_rect(ex.overlays.hud.text, ex.overlays.hud.pos[0], ex.overlays.hud.font_size)
        inside = ((xs >= r[0]) & (xs <= r[2]) & (ys >= r[1]) & (ys <= r[3])) | (
            (xs >= hud[0]) & (xs <= hud[2]) & (ys >= hud[1]) & (ys <= hud[3]))
        assert len(xs) > 50 and inside.mean() > 0.97
    finally:
        ex.close()


def test_labels_sit_on_dark_plates_so_they_read_over_bright_pixels():
    """Over a bright layer light text would vanish: each drawn label has a dark plate under it. On a white
    background (the brightest thing a label can sit on) the plate's pixels stay dark and the text light."""
    from nn3d.render.explorer import Explorer

    net, acts = _blocky()
    ex = Explorer(net, acts, size=(640, 360))
    try:
        ex.canvas.bgcolor = "white"
        image = ex.render()[..., :3].astype(float)
        rects = ex.overlays.label_rects()
        assert len(rects) >= 3
        luminance = image.mean(axis=-1)
        for x0, y0, x1, y1 in np.round(rects).astype(int):
            inside = luminance[max(y0, 0):y1, max(x0, 0):x1]
            assert np.median(inside) < 90  # the plate, not the white behind it
            assert inside.max() > 150  # and the text on it
    finally:
        ex.close()
