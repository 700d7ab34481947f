"""Block frames (nn3d/render/block_frames.py): a faint outline under each block of two or more layers, drawn
along the block's projected box and never over a neuron; none for a network without blocks."""

import numpy as np
import pytest
import torch
from torch import nn

from nn3d import synthetic
from nn3d.ingest import from_torch
from nn3d.layout import EdgeSet, layout
from nn3d.render.block_frames import COLOUR, PAD, frame_boxes, ground_rectangles


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(16, 16), nn.Linear(16, 16)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Net(nn.Module):
    def __init__(self, n=3):
        super().__init__()
        self.inp = nn.Linear(16, 16)
        self.blocks = nn.ModuleList([Block() for _ in range(n)])

    def forward(self, x):
        x = self.inp(x)
        for b in self.blocks:
            x = b(x)
        return x


@pytest.fixture(scope="module")
def blocky():
    torch.manual_seed(0)
    return from_torch(Net(), torch.rand(1, 16))


def test_one_box_per_block_of_two_layers_and_per_row(blocky):
    net, _ = blocky
    placed = layout(net)
    boxes = frame_boxes(net, placed)
    multi = [b for b in net.structure if len(b.layers) >= 2]
    assert len(multi) == 3 and len(boxes) == 3
    for box, block in zip(boxes, multi):
        idx = list(block.layers)
        assert np.allclose(box[0], placed.boxes[idx, 0].min(0)) and np.allclose(box[1], placed.boxes[idx, 1].max(0))
    segments = ground_rectangles(boxes, placed.pitch).reshape(-1, 4, 2, 3)
    pad = PAD * placed.pitch
    assert np.allclose(segments[..., 2], boxes[:, None, None, 0, 2] - pad)  # on the ground, below the layers
    assert np.allclose(segments[:, :, 0], np.roll(segments[:, :, 1], 1, axis=1))  # each rectangle closed
    assert np.allclose(segments[..., 0].min(axis=(1, 2)), boxes[:, 0, 0] - pad)  # the block's extent along x
    assert np.allclose(segments[..., 0].max(axis=(1, 2)), boxes[:, 1, 0] + pad)
    assert np.allclose(segments[..., 1].min(axis=(1, 2)), boxes[:, 0, 1] - pad)  # a band along its front
    assert (segments[..., 1].max(axis=(1, 2)) < boxes[:, 1, 1]).all()


def test_a_block_split_over_rows_gets_a_frame_per_row():
    class Long(nn.Module):
        def __init__(self):
            super().__init__()
            self.fcs = nn.ModuleList([nn.Linear(16, 16) for _ in range(4)])

        def forward(self, x):
            for f in self.fcs:
                x = f(x)
            return x

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Long() for _ in range(2)])

        def forward(self, x):
            return self.blocks[1](self.blocks[0](x))

    torch.manual_seed(0)
    net, _ = from_torch(Two(), torch.rand(1, 16))
    assert sum(len(b.layers) == 4 for b in net.structure) == 2
    folded = layout(net, fold=4)  # more rows than the blocks allow: block 1 split over rows 2 and 3
    split = frame_boxes(net, folded)
    assert len(split) == 3
    for lo, hi in split:  # each framed part lies within one row's layers
        lo, hi = lo - 1e-4, hi + 1e-4
        inside = [i for i in range(len(net.layers)) if (folded.boxes[i, 0] >= lo).all()
                  and (folded.boxes[i, 1] <= hi).all()]
        assert len({int(folded.rows[i]) for i in inside}) == 1


def test_a_network_without_blocks_draws_no_frame():
    from nn3d.render.scene import NetworkScene

    net = synthetic.mlp([16, 12, 8], seed=0)
    assert all(len(b.layers) == 1 for b in net.structure)
    scene = NetworkScene(net, layout(net), EdgeSet.empty(), size=(160, 90))
    try:
        assert scene.frames.node is None and len(scene.frames.boxes) == 0 and scene.frames.nodes == []
    finally:
        scene.close()


def test_frame_pixels_along_the_block_box_never_over_neuron_centres(blocky):
    from nn3d.render.scene import NetworkScene

    net, acts = blocky
    scene = NetworkScene(net, layout(net), EdgeSet.empty(), size=(480, 270))
    try:
        scene.set_frame(acts.frame(0))
        node = scene.frames.node
        assert node is not None and node in scene.overlays  # hidden in the picking pass
        with_frames = scene.render()[..., :3].astype(int)
        node.visible = False
        without = scene.render()[..., :3].astype(int)
        node.visible = True
        changed = np.abs(with_frames - without).max(axis=-1) > 8
        assert changed.sum() > 100  # the outlines are drawn
        ys, xs = np.nonzero(changed)
        tr = scene.view.scene.transform
        p = tr.map(scene.frames.segments)
        ends = p[:, :2] / p[:, 3:4]
        assert xs.min() >= ends[:, 0].min() - 2 and xs.max() <= ends[:, 0].max() + 2
        assert ys.min() >= ends[:, 1].min() - 2 and ys.max() <= ends[:, 1].max() + 2
        # the changed pixels take the frame's colour over the background
        bg = without[changed]
        expect = COLOUR[3] * np.array(COLOUR[:3]) * 255 + (1 - COLOUR[3]) * bg
        assert np.abs(with_frames[changed] - expect).max(axis=-1).mean() < 12
        centres = np.rint(scene.project(np.arange(net.n_neurons))).astype(int)
        h, w = changed.shape
        ok = (centres[:, 0] >= 0) & (centres[:, 0] < w) & (centres[:, 1] >= 0) & (centres[:, 1] < h)
        assert ok.sum() > net.n_neurons // 2
        assert not changed[centres[ok, 1], centres[ok, 0]].any()  # never over a neuron's centre
    finally:
        scene.close()


def test_row_breaks_one_path_each_instead_of_the_edges_between_rows():
    from nn3d.layout import select_edges
    from nn3d.render.row_breaks import break_paths, layer_rows, within_rows
    from nn3d.render.scene import NetworkScene

    net = synthetic.mlp([24] * 12, seed=0)
    placed = layout(net, fold=3)
    rows = layer_rows(net, placed)
    assert rows.max() == 2
    edges = select_edges(net, k=2)
    row_of = rows[np.searchsorted(net.starts, edges.src, side="right") - 1], rows[
        np.searchsorted(net.starts, edges.dst, side="right") - 1]
    crossing = row_of[0] != row_of[1]
    assert crossing.sum() > 0
    kept = within_rows(net, placed, edges)
    assert len(kept) == len(edges) - crossing.sum()
    assert np.array_equal(kept.src, edges.src[~crossing]) and np.array_equal(kept.dst, edges.dst[~crossing])
    assert within_rows(net, layout(net, fold=None), edges) is edges  # unfolded: every edge drawn

    paths = break_paths(net, placed).reshape(2, 3, 2, 3)  # two breaks, three segments each
    boxes = placed.boxes
    for j, path in enumerate(paths):
        assert np.allclose(path[:-1, 1], path[1:, 0])  # one connected path
        here, there = np.flatnonzero(rows == j), np.flatnonzero(rows == j + 1)
        last, first = here[np.argmax(boxes[here, 1, 0])], there[np.argmin(boxes[there, 0, 0])]
        assert np.allclose(path[0, 0], [*boxes[last].mean(0)[:2], boxes[last, 0, 2]])  # out of the row's end
        assert np.allclose(path[-1, 1], [*boxes[first].mean(0)[:2], boxes[first, 1, 2]])  # into the next start
        run = path[1]  # back under the row, in the gap between the rows
        assert boxes[there, 1, 2].max() < run[0, 2] == run[1, 2] < boxes[here, 0, 2].min()
    assert len(break_paths(net, layout(net, fold=None))) == 0

    scene = NetworkScene(net, placed, edges, size=(320, 180))
    try:
        assert len(scene.edges._positions) == 2 * len(kept)  # the visual draws only edges within rows
        assert len(scene.frames.breaks) == 12 and scene.frames.node is not None
    finally:
        scene.close()


def test_a_block_is_framed_where_its_layers_are_not_across_the_blocks_between():
    """A catch-all block (GPT-2's "transformer": embeddings first, final norm last) gets one frame per run of
    consecutive levels, not one box spanning every repeated block between its parts."""

    class Tail(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.emb2, self.blocks, self.norm, self.norm2 = (
                nn.Linear(16, 16), nn.Linear(16, 16), nn.ModuleList([Block() for _ in range(2)]),
                nn.Linear(16, 16), nn.Linear(16, 16))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Tail()

        def forward(self, x):
            m = self.model
            x = m.emb2(m.emb(x))
            for b in m.blocks:
                x = b(x)
            return m.norm2(m.norm(x))

    torch.manual_seed(0)
    net, _ = from_torch(Model(), torch.rand(1, 16))
    placed = layout(net, fold=None)
    outer = next(b for b in net.structure if b.name == "model")
    assert len(outer.layers) == 4
    boxes = frame_boxes(net, placed)
    inner = [b for b in net.structure if b.index is not None]
    assert len(boxes) == 2 + len(inner)  # the outer block's two runs, and each repeated block
    for b in inner:  # no frame contains a repeated block's layers unless it is that block's
        centre = placed.boxes[list(b.layers)].mean(axis=(0, 1))
        holding = [(lo <= centre).all() and (centre <= hi).all() for lo, hi in boxes]
        assert sum(holding) == 1
