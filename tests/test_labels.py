"""Screen-space labels: the declutter pass (no two drawn rectangles intersect, priority wins), the block
fallback by name prefix, and the labels drawn by default in a shot."""

import numpy as np
import pytest

from nn3d.render.labels import declutter, overlaps, rects, text_size


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
