"""Folding deep models into rows (layout(fold=...)), and the compiled placement against the NumPy reference."""

import math

import numpy as np
import pytest
import torch
from test_layout_engine import ZOO, ResBlock, check_invariants
from torch import nn

from nn3d import synthetic
from nn3d.ingest import from_torch
from nn3d.layout import dag, fold, layout, plan
from nn3d.layout.placement import PLACERS, PlaceOptions, Tiling, _place_kernel, place, place_numpy
from nn3d.network import Connection, Network


def _torch(model, x):
    torch.manual_seed(0)
    return from_torch(model.eval(), x)[0]


def _deep_resnet(blocks=12):
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()]
    layers += [ResBlock(8, 8) for _ in range(blocks)]
    return _torch(nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)),
                  torch.randn(1, 3, 8, 8))


def _gpt2(blocks):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=blocks, n_embd=64, n_head=4, vocab_size=100, n_positions=16,
                                  bos_token_id=0, eos_token_id=0)
    return _torch(transformers.GPT2Model(cfg), torch.randint(0, 100, (1, 8)))


CHAIN = synthetic.mlp([64] * 100)  # 100 levels of 8 x 8 grids: a very long, thin scene
DEEP_RESNET = _deep_resnet()


def _aspect(lay):
    """The bounding box's width / height from the home camera's direction (what fold="auto" aims at)."""
    w = np.diff(lay.bounds, axis=0)[0]
    return fold.view_aspect(w[0], w[1], w[2])


def check_rows(net, lay):
    """Invariants of a folded layout: the unfolded ones with flow along +x within a row, rows of
    consecutive levels stacked downwards, every row starting at the same left edge."""
    check_invariants(net, lay, flow=False)
    rows, lo, hi = lay.rows, lay.boxes[:, 0], lay.boxes[:, 1]
    assert rows.shape == (len(net.layers),) and rows.min() == 0
    for c in net.connections:
        assert lay.levels[c.dst] > lay.levels[c.src] and rows[c.dst] >= rows[c.src]
        if rows[c.dst] == rows[c.src]:  # within a row the graph flows along +x
            assert lo[c.dst, 0] > hi[c.src, 0], (net.layers[c.src].name, net.layers[c.dst].name)
    for r in range(lay.n_rows):
        here, below = rows == r, rows > r
        assert here.any()
        lv = np.unique(lay.levels[here])  # a row is a run of consecutive levels, in order
        assert np.array_equal(lv, np.arange(lv[0], lv[-1] + 1))
        if below.any():
            assert lay.levels[below].min() == lv[-1] + 1
            assert hi[below, 2].max() < lo[here, 2].min()  # the rows below lie entirely below this one
    left = [lo[rows == r, 0].min() for r in range(lay.n_rows)]
    np.testing.assert_allclose(left, left[0], atol=1e-3)


@pytest.mark.parametrize("rows", [2, 3, 7])
@pytest.mark.parametrize("name", ["chain", "deep resnet", "transformer", "inception"])
def test_explicit_fold_gives_that_many_rows(name, rows):
    net = {"chain": CHAIN, "deep resnet": DEEP_RESNET}.get(name) or ZOO[name]
    lay = layout(net, fold=rows, backend="numba")
    assert lay.n_rows == min(rows, lay.levels.max() + 1)
    check_rows(net, lay)
    ref = layout(net, fold=rows, backend="numpy")
    np.testing.assert_array_equal(lay.positions, ref.positions)
    np.testing.assert_array_equal(lay.rows, ref.rows)


def test_more_rows_than_levels_gives_one_level_per_row():
    net = synthetic.mlp([5, 4, 3])
    lay = layout(net, fold=10)
    assert lay.n_rows == 3 and lay.rows.tolist() == [0, 1, 2]
    check_rows(net, lay)


def test_rows_share_the_length_evenly():
    lay = layout(CHAIN, fold=4)
    assert np.bincount(lay.rows).tolist() == [25, 25, 25, 25]
    width = [np.ptp(lay.boxes[lay.rows == r][:, :, 0]) for r in range(4)]
    assert max(width) / min(width) < 1.01
    unfolded = np.ptp(layout(CHAIN, fold=None).bounds[:, 0])
    assert max(width) < unfolded / 3.5


@pytest.mark.parametrize("spacing", [1.0, 3.0])
def test_gap_between_rows_scales_like_the_gaps_between_levels(spacing):
    lay = layout(CHAIN, spacing, fold=2)
    top, bottom = lay.boxes[lay.rows == 0], lay.boxes[lay.rows == 1]
    gap = top[:, 0, 2].min() - bottom[:, 1, 2].max()
    level_gap = lay.boxes[1, 0, 0] - lay.boxes[0, 1, 0]  # between two 8 x 8 grids of one row
    np.testing.assert_allclose(gap, level_gap, rtol=1e-5)
    assert level_gap == pytest.approx(spacing * 8.0)  # max(min_gap 6, size of an 8 x 8 grid with its margins)


def test_cuts_prefer_narrow_points():
    """A 12-block ResNet cut into 3 rows: every cut right after a block's add (one layer, no skip jumping over
    it), so whatever leaves a row leaves from its last layer; a cut anywhere else would split a block."""
    net = DEEP_RESNET
    lay = layout(net, fold=3)
    check_rows(net, lay)
    for c in net.connections:
        if lay.rows[c.src] != lay.rows[c.dst]:
            last = lay.levels[lay.rows == lay.rows[c.src]].max()
            assert lay.levels[c.src] == last and (lay.levels == last).sum() == 1, net.layers[c.src].name
    for r in range(1, 3):
        first = np.flatnonzero(lay.rows == r)
        before = np.flatnonzero(lay.levels == lay.levels[first].min() - 1)
        assert len(before) == 1 and net.layers[before[0]].kind == "add", net.layers[before[0]].name
    # the boundaries it could pick: clean_cuts marks exactly the levels after a block's output
    links = [(p, i) for i, ps in enumerate(dag.predecessors(net)) for p in ps]
    src, dst = (np.array([link[k] for link in links], np.int64) for k in (0, 1))
    n_lv = lay.levels.max() + 1
    clean = fold.clean_cuts(lay.levels.astype(np.int64), src, dst, n_lv)
    jumps = [(lay.levels[c.src], lay.levels[c.dst]) for c in net.connections]
    for k in np.flatnonzero(clean):
        assert (lay.levels == k).sum() == 1 and not any(a < k < b for a, b in jumps)
    assert 12 <= clean.sum() < n_lv - 1


def test_residual_branches_stay_side_by_side_when_folded():
    net = ZOO["resnet"]
    lay = layout(net, fold=2)
    check_rows(net, lay)
    i, j = net.layer_index("3.c1"), net.layer_index("3.down.0")
    assert lay.levels[i] == lay.levels[j] and lay.rows[i] == lay.rows[j]
    a, b = sorted([lay.boxes[i], lay.boxes[j]], key=lambda box: box[0, 1])
    assert a[1, 1] < b[0, 1]  # separated along y, at one depth
    np.testing.assert_allclose(lay.boxes[i, :, 0].mean(), lay.boxes[j, :, 0].mean(), atol=1e-3)


@pytest.mark.parametrize("name", ["mlp", "tiny", "resnet", "transformer", "gpt2", "small cnn"])
def test_auto_leaves_small_models_unfolded(name):
    if name == "small cnn":
        import importlib.util
        import pathlib

        path = pathlib.Path(__file__).parents[1] / "examples" / "small_cnn.py"
        spec = importlib.util.spec_from_file_location("small_cnn_example", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model, x = module.factory()
        net = _torch(model, x[:1])
    else:
        net = ZOO.get(name) or pytest.skip(f"{name} needs transformers")
    auto, none = layout(net), layout(net, fold=None)
    assert auto.n_rows == 1 and not auto.rows.any()
    np.testing.assert_array_equal(auto.positions, none.positions)
    np.testing.assert_array_equal(auto.boxes, none.boxes)


@pytest.mark.parametrize("name", ["chain", "gpt2 12 blocks"])
def test_auto_folds_a_deep_stack_towards_a_screen(name):
    net = CHAIN if name == "chain" else _gpt2(12)
    none, auto = layout(net, fold=None), layout(net)
    length, side = np.ptp(none.bounds, axis=0)[0], np.ptp(none.bounds, axis=0)[1:].max()
    assert length > fold.AUTO_ELONGATION * side  # a hairline unfolded
    assert auto.n_rows >= 2
    check_rows(net, auto)
    target = math.log(fold.SCREEN_ASPECT)
    err = abs(math.log(_aspect(auto)) - target)
    assert err < abs(math.log(_aspect(none)) - target)
    for r in (auto.n_rows - 1, auto.n_rows + 1):  # no other number of rows comes nearer 16:9
        assert abs(math.log(_aspect(layout(net, fold=r))) - target) >= err - 1e-9


def test_gpt2_rows_start_after_a_residual_add():
    net = _gpt2(12)
    lay = layout(net)
    assert lay.n_rows >= 2
    for r in range(1, lay.n_rows):
        first = np.flatnonzero(lay.rows == r)
        before = np.flatnonzero(lay.levels == lay.levels[first].min() - 1)
        assert [net.layers[i].kind for i in before] == ["add"], [net.layers[i].name for i in before]


@pytest.mark.parametrize("name", ["mlp", "resnet", "transformer", "unet"])
def test_fold_none_is_the_unfolded_layout(name):
    net = ZOO[name]
    none = layout(net, fold=None)
    for same in (layout(net, fold="none"), layout(net, fold="None"), layout(net, fold=1)):
        np.testing.assert_array_equal(same.positions, none.positions)
        np.testing.assert_array_equal(same.boxes, none.boxes)
    assert none.n_rows == 1 and none.rows.dtype == np.int32
    check_invariants(net, none)  # flow along +x everywhere


@pytest.mark.parametrize("bad", [0, -2, 2.5, "sideways", True, "3"])
def test_bad_fold_is_refused(bad):
    with pytest.raises(ValueError, match="fold must be 'auto', 'none' or a number of rows >= 1"):
        layout(ZOO["mlp"], fold=bad)


# -- the planner's output placed by the compiled pass and by the NumPy reference ------------------------------
@pytest.mark.parametrize("fold_mode", [0, fold.AUTO, 3])
@pytest.mark.parametrize("conv", ["tile", "stack"])
def test_compiled_placement_of_real_plans_equals_numpy(conv, fold_mode):
    """The planner's kernel parameters for every zoo model, placed by :func:`place` and :func:`place_numpy`."""
    nets = dict(ZOO, chain=CHAIN, deep_resnet=DEEP_RESNET)
    for name, net in nets.items():
        opts = PlaceOptions(conv, heads={"1.self_attn": 2} if name == "transformer" else None)
        ip, fp, boxes, levels, spacing, rows = plan.plan(net, opts, 1.5, 0.5, 0.8, 5.0, 2.0, fold_mode)
        assert ip.shape == (len(net.layers), 8) and ip.dtype == np.int64 and fp.dtype == np.float64, name
        assert boxes.dtype == np.float32 and spacing.dtype == np.float32 and rows.dtype == np.int32, name
        assert np.all(boxes[:, 0] <= boxes[:, 1]), name
        want = np.full((net.n_neurons, 3), np.nan, np.float32)
        place_numpy(want, ip, fp)
        got = np.full((net.n_neurons, 3), np.nan, np.float32)
        place(got, ip, fp, work=net.n_neurons)
        np.testing.assert_array_equal(got, want, err_msg=name)
        for i, layer in enumerate(net.layers):  # every neuron lies inside its layer's box
            p = got[layer.neurons]
            assert np.all(p >= boxes[i, 0] - 1e-3) and np.all(p <= boxes[i, 1] + 1e-3), (name, layer.name)


def test_a_registered_placer_is_used_by_the_planner(monkeypatch):
    """A kind with its own placer (not auto / attention): its tiling is used, by both placement backends."""
    monkeypatch.setitem(PLACERS, "ring", lambda layer, opts: Tiling(layer.shape[0], 2, 3, 3, 2, 1, True, 4.0))
    net = Network.build([("x", "input", 7), ("r", "ring", (5, 2, 3)), ("o", "dense", 3)],
                        [Connection(0, 1, "generic", np.empty(0, np.float32)),
                         Connection(1, 2, "generic", np.empty(0, np.float32))])
    lay, ref = layout(net, backend="numba"), layout(net, backend="numpy")
    np.testing.assert_array_equal(lay.positions, ref.positions)
    np.testing.assert_array_equal(lay.boxes, ref.boxes)
    check_invariants(net, lay)
    p = lay.positions[7:37].reshape(5, 2, 3, 3)
    assert np.all(np.diff(p[:, 0, 0, 0]) > 0)  # stacked along x, as the placer says


def _random_params(rng, n_layers):
    """Random kernel parameters covering bands, stacks, ragged last rows and tiles bigger than a task."""
    ip, fp, start = [], [], 0
    for _ in range(n_layers):
        rows, band = int(rng.integers(1, 40)), int(rng.integers(1, 50))
        n_bands = int(rng.integers(1, 4))
        cols = band * n_bands - int(rng.integers(0, band))  # the last band may be narrower
        outer = int(rng.integers(1, 5))
        n = outer * rows * cols - int(rng.integers(0, cols))  # a ragged end
        if rng.random() < 0.1:  # one big tile: cut into several tasks
            rows, cols, band, n_bands, outer = 3000, 40, 40, 1, 1
            n = rows * cols
        stack = int(rng.random() < 0.3)
        ip.append((start, n, rows, cols, band, n_bands, int(rng.integers(1, 4)), stack))
        s = float(rng.uniform(0.5, 2))
        fp.append((*rng.normal(0, 100, 3), s, (band + 2) * s, (rows + 2) * s, 3 * s if stack else 0.0))
        start += n
    return np.array(ip, np.int64), np.array(fp), start


@pytest.mark.parametrize("parts", [1, 2, 5])
def test_placement_kernel_equals_numpy_on_random_tilings(parts):
    rng = np.random.default_rng(parts)
    for _ in range(5):
        ip, fp, n = _random_params(rng, 12)
        want = np.full((n, 3), np.nan, np.float32)
        place_numpy(want, ip, fp)
        for kernel in (_place_kernel.serial, _place_kernel.parallel):
            got = np.full((n, 3), np.nan, np.float32)
            kernel(got, ip, fp, parts)
            np.testing.assert_array_equal(got, want)


def _rows_of_blocks(net, lay):
    """block name -> the set of rows its layers lie on."""
    return {b.name: {int(lay.rows[i]) for i in b.layers} for b in net.structure}


@pytest.mark.parametrize("fold_arg", ["auto", 3, 5])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_gpt2_blocks_never_span_two_rows(fold_arg, backend):
    net = _gpt2(12)
    assert sum(b.group == "h" for b in net.structure) == 12
    lay = layout(net, fold=fold_arg, backend=backend)
    assert lay.n_rows >= 2 and (fold_arg == "auto" or lay.n_rows == fold_arg)
    check_rows(net, lay)
    spans = _rows_of_blocks(net, lay)
    assert all(len(r) == 1 for r in spans.values()), {k: v for k, v in spans.items() if len(v) > 1}


def test_cuts_avoid_blocks_even_where_a_narrow_point_is_nearer():
    """Each residual block of a deep ResNet (a Sequential of ResBlocks: blocks "2", "3", ...) stays on one row."""
    lay = layout(DEEP_RESNET, fold=4)
    spans = _rows_of_blocks(DEEP_RESNET, lay)
    assert all(len(r) == 1 for r in spans.values()), spans
    assert lay.n_rows == 4


def test_block_cuts_forbid_exactly_the_boundaries_inside_a_block():
    from nn3d.hierarchy import Block

    net = Network.build([(f"l{i}", "dense", (2,)) for i in range(6)])
    net.blocks = (Block("a", "a", (0, 1)), Block("b", "b", (2, 3, 4)), Block("c", "c", (5,)))
    level = np.arange(6)
    assert fold.block_cuts(net, level, 6).tolist() == [False, True, False, False, True]
    # a block whose layers share one level allows every cut
    net.blocks = (Block("all", "all", tuple(range(6))),)
    assert fold.block_cuts(net, np.zeros(6, np.int64), 1).tolist() == []


def test_auto_rows_follow_the_frame_aspect():
    """A wider frame gets fewer rows (fold.rows' ``aspect``), and the blocks still lie on one row each."""
    net = _gpt2(12)
    lay = layout(net, fold=1, backend="numpy")
    lv = lay.levels.astype(np.int64)
    n = int(lv.max()) + 1
    lo = np.array([lay.boxes[lv == k, 0, 0].min() for k in range(n)], np.float64)
    hi = np.array([lay.boxes[lv == k, 1, 0].max() for k in range(n)], np.float64)
    half = np.array([(lay.boxes[lv == k, 1, 2] - lay.boxes[lv == k, 0, 2]).max() / 2 for k in range(n)])
    ext = half * 2
    width_y = float(np.ptp(lay.bounds[:, 1]))
    clean = np.zeros(n - 1, np.bool_)
    allowed = fold.block_cuts(net, lv, n)
    counts = []
    for aspect in (4.0, 16 / 9, 0.5):
        row, _, _ = fold.rows(lo, hi, half, ext, width_y, clean, allowed, fold.AUTO, 1.0, 0.5, 0.5, aspect)
        counts.append(int(row.max()) + 1)
        assert allowed[np.flatnonzero(row[1:] != row[:-1])].all()  # every cut is an allowed one
    assert counts[0] < counts[1] < counts[2], counts


def test_bert_blocks_never_span_two_rows():
    """BERT's narrow points (the LayerNorm after each residual add) lie inside blocks as well as between them."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(num_hidden_layers=6, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                                  vocab_size=100, max_position_embeddings=32)
    net = _torch(transformers.BertModel(cfg), torch.randint(0, 100, (1, 8)))
    for rows in (3, 4):
        lay = layout(net, fold=rows)
        assert lay.n_rows == rows
        spans = _rows_of_blocks(net, lay)
        assert all(len(r) == 1 for r in spans.values()), {k: v for k, v in spans.items() if len(v) > 1}
