"""layout(): per-kind placement and DAG placement, checked on every architecture nn3d ingests."""

import numpy as np
import pytest
import torch
from torch import nn

from nn3d import synthetic
from nn3d.ingest import from_torch
from nn3d.layout import layout
from nn3d.layout.placement import PlaceOptions, square, tiling
from nn3d.network import Connection, Layer, Network


class ResBlock(nn.Module):
    """conv-bn-relu-conv-bn + shortcut (a 1x1 strided conv when the shape changes), then add and relu."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out)
        self.c2, self.b2 = nn.Conv2d(c_out, c_out, 3, 1, 1), nn.BatchNorm2d(c_out)
        self.down = None if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class Inception(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, 4, 1)
        self.b = nn.Sequential(nn.Conv2d(c, 4, 1), nn.Conv2d(4, 6, 3, padding=1))
        self.p = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c, 2, 1))

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x), self.p(x)], dim=1)


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.down = nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2)
        self.mid, self.up = nn.Conv2d(4, 4, 3, padding=1), nn.Upsample(scale_factor=2)
        self.dec = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x):
        e = self.enc(x)
        return self.dec(torch.cat([e, self.up(self.mid(self.down(e)))], dim=1))


def _torch(model, x):
    torch.manual_seed(0)
    return from_torch(model.eval(), x)[0]


def _zoo():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), ResBlock(8, 8), ResBlock(8, 16, 2),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    tf = nn.TransformerEncoderLayer(128, 2, 64, batch_first=True)
    nets = {
        "mlp": synthetic.mlp([784, 256, 128, 10]),
        "tiny": synthetic.mlp([3, 1, 2]),
        "unconnected": Network.build([("img", "input", (8, 8)), ("h", "dense", 1000), ("o", "dense", 1)]),
        "random": synthetic.random_network(50_000, 10_000, n_layers=5),
        "resnet": _torch(cnn, torch.randn(1, 3, 16, 16)),
        "inception": _torch(nn.Sequential(nn.Conv2d(1, 3, 3), Inception(3)), torch.randn(1, 1, 12, 12)),
        "unet": _torch(UNet(), torch.randn(1, 1, 16, 16)),
        "transformer": _torch(tf, torch.randn(1, 12, 128)),
        "unknown kinds": Network.build(
            [("x", "input", (5, 7)), ("w", "wormhole", (2, 3, 4, 5)), ("s", "scalar", ()), ("v", "generic", 9)]),
    }
    try:  # a transformers GPT-2 (tokens x features layers, attention heads, residual stream), built offline
        from transformers import GPT2Config, GPT2Model
    except ImportError:
        return nets
    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=50, n_positions=16)
    nets["gpt2"] = _torch(GPT2Model(cfg), torch.randint(0, 50, (1, 8)))
    return nets


ZOO = _zoo()


def check_invariants(net, lay, flow=True):
    assert lay.positions.shape == (net.n_neurons, 3) and lay.positions.dtype == np.float32
    assert np.isfinite(lay.positions).all() and np.isfinite(lay.boxes).all()
    assert lay.boxes.shape == (len(net.layers), 2, 3)
    for i, layer in enumerate(net.layers):  # every neuron inside its layer's box, the box tight around it
        p = lay.positions[layer.neurons]
        assert (p >= lay.boxes[i, 0]).all() and (p <= lay.boxes[i, 1]).all(), layer.name
        slack = np.r_[p.min(0) - lay.boxes[i, 0], lay.boxes[i, 1] - p.max(0)]
        np.testing.assert_allclose(slack, lay.spacing[i] / 2, atol=1e-3, err_msg=layer.name)
        assert len(np.unique(p, axis=0)) == layer.size, f"{layer.name}: two neurons at one place"
    lo, hi = lay.boxes[:, 0], lay.boxes[:, 1]
    overlap = ((lo[:, None] < hi[None]) & (lo[None] < hi[:, None])).all(-1)
    np.fill_diagonal(overlap, False)
    assert not overlap.any(), [(net.layers[i].name, net.layers[j].name) for i, j in np.argwhere(overlap)[:3]]
    np.testing.assert_allclose(lay.bounds.mean(0), 0, atol=1e-3 * np.abs(lay.bounds).max())
    for c in net.connections if flow else ():  # the graph flows along +x: deeper than what feeds it
        assert lay.levels[c.dst] > lay.levels[c.src]
        assert lay.boxes[c.dst, 0, 0] > lay.boxes[c.src, 1, 0]


@pytest.mark.parametrize("conv", ["tile", "stack"])
@pytest.mark.parametrize("name", list(ZOO))
def test_invariants_on_every_architecture(name, conv):
    net = ZOO[name]
    lay = layout(net, conv=conv, backend="numba")
    check_invariants(net, lay)
    ref = layout(net, conv=conv, backend="numpy")
    np.testing.assert_allclose(lay.positions, ref.positions, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(lay.boxes, ref.boxes)


def test_spacing_scales_the_gaps_not_the_layers():
    net = ZOO["resnet"]
    a, b = layout(net), layout(net, spacing=2.0)
    size_a, size_b = np.diff(a.boxes, axis=1), np.diff(b.boxes, axis=1)
    np.testing.assert_allclose(size_a, size_b, atol=1e-3)
    span = lambda lay: np.diff(lay.bounds[:, 0])[0]  # noqa: E731
    assert span(b) > 1.8 * span(a)


def _level_of(net, lay, name):
    return lay.levels[net.layer_index(name)]


def test_residual_branches_side_by_side():
    net = ZOO["resnet"]
    lay = layout(net)
    # the second block's main path (c1) and its shortcut (down.0) start at the same depth, side by side
    i, j = net.layer_index("3.c1"), net.layer_index("3.down.0")
    assert lay.levels[i] == lay.levels[j]
    assert lay.boxes[i, 0, 0] == lay.boxes[j, 0, 0] or np.isclose(
        lay.boxes[i].mean(0)[0], lay.boxes[j].mean(0)[0])
    a, b = sorted([lay.boxes[i], lay.boxes[j]], key=lambda box: box[0, 1])
    assert a[1, 1] < b[0, 1]  # separated along y
    # both branches keep their lanes: the shortcut's norm stays on the shortcut's side
    k = net.layer_index("3.down.1")
    assert lay.levels[k] == lay.levels[j] + 1
    assert np.sign(lay.boxes[k].mean(0)[1] - lay.boxes[i].mean(0)[1]) == np.sign(
        lay.boxes[j].mean(0)[1] - lay.boxes[i].mean(0)[1])
    # the add comes after the longer branch; the identity block's skip is drawn from block input to add
    add = next(x for x in range(len(net.layers)) if net.layers[x].name.startswith("3") and
               net.layers[x].kind == "add")
    assert lay.levels[add] == lay.levels[net.layer_index("3.b2")] + 1
    skip = [c for c in net.connections if c.kind == "identity" and net.layers[c.dst].kind == "add"]
    assert any(lay.levels[c.dst] - lay.levels[c.src] > 1 for c in skip)


def test_inception_towers_side_by_side():
    net = ZOO["inception"]
    lay = layout(net)
    firsts = [net.layer_index(n) for n in ("1.a", "1.b.0", "1.p.0")]
    assert len({int(lay.levels[i]) for i in firsts}) == 1
    ys = sorted(lay.boxes[firsts, :, 1].tolist())
    assert all(ys[m][1] < ys[m + 1][0] for m in range(2))
    cat = next(i for i, layer in enumerate(net.layers) if layer.kind == "concat")
    assert lay.levels[cat] == max(lay.levels[net.layer_index(n)] for n in ("1.a", "1.b.1", "1.p.1")) + 1


def test_image_input_is_drawn_as_the_image():
    net = ZOO["resnet"]  # input 3 x 16 x 16
    lay = layout(net, conv="stack")  # stacking never applies to an image input
    p = lay.positions[net.layers[0].neurons].reshape(3, 16, 16, 3)
    assert np.all(np.diff(p[..., 1], axis=2) > 0)  # columns along +y
    assert np.all(np.diff(p[..., 2], axis=1) < 0)  # row 0 on top
    assert np.ptp(p[..., 0]) == 0  # one plane
    assert np.all(p[1, :, :, 1].min() > p[0, :, :, 1].max())  # channels side by side, in order
    np.testing.assert_allclose(p[1, :, :, 2], p[0, :, :, 2])


def test_conv_maps_tile_or_stack():
    net = Network.build([("x", "input", 10), ("c", "conv", (16, 6, 5))])
    tile = layout(net).positions[10:].reshape(16, 6, 5, 3)
    stack = layout(net, conv="stack").positions[10:].reshape(16, 6, 5, 3)
    for p in (tile, stack):  # each map keeps its picture
        assert np.all(np.diff(p[..., 1], axis=2) > 0) and np.all(np.diff(p[..., 2], axis=1) < 0)
    assert np.ptp(tile[..., 0]) == 0 and np.all(np.diff(stack[:, 0, 0, 0]) > 0)
    assert len(np.unique(stack[..., 1:].reshape(16, -1), axis=0)) == 1  # stacked maps line up in depth
    t = tiling(net.layers[1], PlaceOptions())
    assert t.n_tiles == 16 and t.gap >= 1
    _, w, h = t.extent(1.0)
    assert 0.7 < w / h < 1.4  # tiles in a near-square group


def test_sequences_rows_by_columns_and_attention_heads():
    net = Network.build([("tok", "embedding", (6, 32)), ("att", "attention", (6, 256))])
    lay = layout(net, heads={"att": 4})
    p = lay.positions[:192].reshape(6, 32, 3)  # tokens are rows, features columns
    assert np.all(np.diff(p[..., 1], axis=1) > 0) and np.all(np.diff(p[..., 2], axis=0) < 0)
    a = lay.positions[192:].reshape(6, 4, 64, 3)  # heads: 4 separate 6 x 64 tiles
    boxes = [np.stack([a[:, h].reshape(-1, 3).min(0), a[:, h].reshape(-1, 3).max(0)]) for h in range(4)]
    for h in range(4):
        for g in range(h + 1, 4):
            assert ((boxes[h][1, 1:] < boxes[g][0, 1:]) | (boxes[g][1, 1:] < boxes[h][0, 1:])).any()
    assert tiling(net.layers[1], PlaceOptions()).n_tiles == 4  # 256 / head_dim 64, inferred
    wide = tiling(Layer("w", "dense", (2, 3000)), PlaceOptions())  # very wide rows wrap into bands
    assert wide.n_tiles > 1 and wide.band * wide.n_bands >= 3000


def test_small_layers_stay_visible():
    net = Network.build([("x", "input", (1, 300, 300)), ("c", "conv", (64, 1, 1)), ("o", "dense", 1)])
    lay = layout(net)
    check_invariants(net, lay)
    assert tiling(net.layers[1], PlaceOptions()).n_tiles == 1  # 1x1 maps: one grid of 64 channels
    assert lay.spacing[2] > lay.spacing[0] == 1  # a one-neuron layer is spread, its box not degenerate
    assert (np.diff(lay.boxes[2], axis=0) >= lay.spacing[2] - 1e-6).all()


def test_no_connections_is_a_chain_and_back_edges_do_not_hang():
    net = Network.build([("a", "input", 4), ("b", "dense", 4), ("c", "dense", 4)],
                        [Connection(2, 1, "identity", np.empty(0, np.float32))])
    lay = layout(net)  # b <-> c is a cycle (c follows b by order, b is fed by c): cut, not looped on
    check_invariants(net, lay, flow=False)
    assert lay.levels.tolist() == [0, 0, 1]
    chain = layout(Network.build([("a", "input", 4), ("b", "dense", 4), ("c", "dense", 4)]))
    assert chain.levels.tolist() == [0, 1, 2]


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="conv placement"):
        layout(ZOO["mlp"], conv="spiral")
    with pytest.raises(ValueError, match="positive"):
        layout(ZOO["mlp"], spacing=0)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        layout(ZOO["mlp"], out=np.zeros((10, 3), np.float32))


def test_positions_can_be_written_into_a_reused_buffer():
    net = ZOO["resnet"]
    buf = np.full((net.n_neurons, 3), np.nan, np.float32)
    lay = layout(net, out=buf)
    assert lay.positions is buf
    np.testing.assert_array_equal(buf, layout(net).positions)


def test_square():
    for n in (1, 2, 10, 17, 1000, 12345):
        rows, cols = square(n)
        assert rows * cols >= n and 0 <= cols - rows <= 1 and (rows - 1) * cols < n


@pytest.mark.parametrize("name", ["resnet", "transformer"])
def test_skip_connections_run_in_a_clear_lane(name):
    net = ZOO[name]
    lay = layout(net)
    jumps = [(c.src, c.dst) for c in net.connections
             if c.kind == "identity" and lay.levels[c.dst] - lay.levels[c.src] > 1]
    assert jumps
    for u, v in jumps:
        lo, hi = lay.boxes[u, 0, 1], lay.boxes[u, 1, 1]
        between = np.flatnonzero((lay.levels > lay.levels[u]) & (lay.levels < lay.levels[v]))
        assert between.size
        for w in between:  # the branch the skip jumps over stands beside the skip's lane
            assert lay.boxes[w, 1, 1] <= lo or lay.boxes[w, 0, 1] >= hi, (net.layers[u].name, net.layers[w].name)
    u, v = jumps[0]  # the trunk runs straight: the merge lines up with the skip's source
    np.testing.assert_allclose(lay.boxes[v, :, 1].mean(), lay.boxes[u, :, 1].mean(), atol=1e-3)
