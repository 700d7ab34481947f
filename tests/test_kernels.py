"""Activation kernels: the reference's semantics on hand-made inputs, then every fast kernel bit for bit
against the reference on random inputs (NaN, ±inf, constant and empty layers, several sizes and shapes)."""

import numpy as np
import pytest

from nn3d import kernels as K
from nn3d.kernels import dispatch
from nn3d.kernels import reference as ref
from nn3d.kernels.normalize import RunningRange, scales

torch = pytest.importorskip("torch")

FAST = ["numba", "torch"]


# ---------------------------------------------------------------- the reference, on values we can check by eye


def test_levels_span_the_range_with_nan_and_inf_at_fixed_places():
    x = np.array([0.0, 0.5, 1.0, np.nan, np.inf, -np.inf, 0.25], dtype=np.float32)
    assert ref.levels(x, mode="global").tolist() == [0, 127, 254, 255, 254, 0, 64]  # 63.5 rounds to even


def test_constant_and_all_nan_layers():
    x = np.array([3.0, 3.0, -np.inf, np.inf, np.nan, np.nan, 7.0], dtype=np.float32)
    got = ref.levels(x, np.array([0, 4, 6]))
    assert got.tolist() == [127, 127, 0, 254, 255, 255, 127]


def test_each_layer_uses_the_whole_map_in_layer_mode_only():
    x = np.array([0.0, 1.0, 100.0, 300.0], dtype=np.float32)
    assert ref.levels(x, np.array([0, 2])).tolist() == [0, 254, 0, 254]
    assert ref.levels(x, np.array([0, 2]), mode="global").tolist() == [0, 1, 85, 254]


def test_symmetric_puts_zero_in_the_middle():
    x = np.array([-1.0, 0.0, 2.0], dtype=np.float32)
    assert ref.levels(x, symmetric=True).tolist() == [64, 127, 254]


def test_fixed_range_clamps_and_may_be_per_layer():
    x = np.array([-5.0, 0.0, 5.0, 1.0, 2.0], dtype=np.float32)
    assert ref.levels(x, vrange=(-1, 1), mode="global").tolist() == [0, 127, 254, 254, 254]
    assert ref.levels(x, np.array([0, 3]), vrange=([-5, 0], [5, 4])).tolist() == [0, 127, 254, 64, 127]
    for bad in [(1, 0), (0, np.inf), (np.nan, 1)]:
        with pytest.raises(ValueError, match="fixed range"):
            ref.levels(x, vrange=bad)
    with pytest.raises(ValueError, match="excludes"):
        ref.levels(x, vrange=(0, 1), symmetric=True)


def test_degenerate_fixed_range_is_a_step():
    x = np.array([-1.0, 2.0, 3.0, np.nan], dtype=np.float32)
    assert ref.levels(x, vrange=(2, 2)).tolist() == [0, 127, 254, 255]


def test_percentile_range_matches_numpy_and_clips_outliers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1001).astype(np.float32)
    x[:3] = [1e6, -1e6, np.nan]
    lo, hi = ref.percentile_ranges(x, np.array([0]), 1.0)
    np.testing.assert_allclose([lo[0], hi[0]], np.nanpercentile(x, [1, 99]), rtol=1e-6)
    lev = ref.levels(x, percentile=1.0)
    assert lev[0] == 254 and lev[1] == 0 and lev[2] == 255
    assert np.mean(lev[3:] == 0) < 0.02 and np.mean(lev[3:] == 254) < 0.02  # the rest spreads out
    with pytest.raises(ValueError, match="percentile"):
        ref.levels(x, percentile=50)


def test_shapes_empty_and_single_values():
    assert ref.levels(np.zeros((0,), np.float32)).shape == (0,)
    assert ref.levels(np.array([5.0], np.float32)).tolist() == [127]
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = ref.levels(x, np.array([0, 4, 8]))
    assert got.shape == (3, 4) and got[:, 0].tolist() == [0, 0, 0] and got[:, 3].tolist() == [254] * 3


@pytest.mark.parametrize("starts", [[1, 2], [0, 5, 3], [0, 99]])
def test_bad_layer_starts_are_refused(starts):
    with pytest.raises(ValueError, match="starts"):
        K.levels(np.zeros(10, np.float32), np.array(starts))


def test_unknown_mode_and_kernel():
    with pytest.raises(ValueError, match="normalisation"):
        K.levels(np.zeros(3, np.float32), mode="loud")
    with pytest.raises(ValueError, match="kernel"):
        K.levels(np.zeros(3, np.float32), kernel="fortran")


def test_float32_map_falls_back_to_float64_when_the_range_overflows():
    x = np.array([-3e38, 0.0, 3e38], dtype=np.float32)  # width 6e38 overflows float32
    r = scales(*ref.layer_ranges(x, np.array([0])), np.float32)
    assert r.scale32[0] == 0 and r.scale[0] > 0
    assert ref.levels(x).tolist() == [0, 127, 254]


# ---------------------------------------------------------------- fast kernels == reference


def _frame(shape, seed, dtype=np.float32, n_layers=5):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    x = (rng.standard_normal(n) * rng.choice([1e-3, 1.0, 1e4])).astype(dtype)
    if n >= 20:
        x[rng.integers(0, n, n // 10)] = np.nan
        x[rng.integers(0, n, n // 20)] = np.inf
        x[rng.integers(0, n, n // 20)] = -np.inf
    cuts = np.sort(rng.integers(0, n + 1, n_layers - 1))
    starts = np.r_[0, cuts, cuts[-1] if n_layers > 1 else 0].astype(np.int64)  # ends with an empty layer
    if n >= 40:  # a constant layer and an all-NaN layer
        a, b = starts[1], starts[2]
        x[a:b] = 2.5
        x[starts[3] : starts[3] + (starts[4] - starts[3]) // 2] = np.nan
    return x.reshape(shape), starts


SHAPES = [(1,), (2,), (7,), (1000,), (40, 25), (200_003,)]
OPTIONS = [{}, {"mode": "global"}, {"symmetric": True}, {"percentile": 2.5}, {"vrange": (-0.5, 1.5)},
           {"symmetric": True, "mode": "global"}]


@pytest.mark.parametrize("kernel", FAST)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_levels_equal_reference(kernel, shape, dtype):
    x, starts = _frame(shape, seed=int(np.prod(shape)) + (dtype == np.float64), dtype=dtype)
    for opts in OPTIONS:
        want = ref.levels(x, starts, **opts)
        got = K.levels(x, starts, kernel=kernel, **opts)
        assert type(got) is np.ndarray and got.dtype == np.uint8 and got.shape == x.shape
        np.testing.assert_array_equal(got, want, err_msg=f"{kernel} {opts}")


@pytest.mark.parametrize("kernel", FAST)
def test_many_small_layers_across_chunk_boundaries(kernel):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(150_001).astype(np.float32) * 3
    starts = np.r_[0, np.sort(rng.integers(1, x.size, 3000))].astype(np.int64)
    np.testing.assert_array_equal(K.levels(x, starts, kernel=kernel), ref.levels(x, starts))
    lo, hi = K.ranges(x, starts, kernel=kernel)
    want_lo, want_hi = ref.layer_ranges(x, starts)
    np.testing.assert_array_equal(lo, want_lo)
    np.testing.assert_array_equal(hi, want_hi)


@pytest.mark.parametrize("kernel", FAST)
def test_ties_and_extreme_ranges_equal_reference(kernel):
    ties = np.arange(0, 254.5, 0.5, dtype=np.float32)  # every x.5 is a tie, rounded to even
    tiny = np.array([0.0, 1e-45, 3e-45, 1e-40], dtype=np.float32)  # float32 scale would overflow
    huge = np.array([-3e38, -1e38, 0.0, 2e38, 3.4e38], dtype=np.float32)  # float32 width would overflow
    for x in (ties, tiny, huge, np.full(5, -0.0, np.float32), np.array([np.inf, -np.inf], np.float32)):
        np.testing.assert_array_equal(K.levels(x, kernel=kernel), ref.levels(x), err_msg=str(x))


@pytest.mark.parametrize("kernel", FAST)
@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.uint8, np.bool_])
def test_other_dtypes_equal_reference(kernel, dtype):
    x = (np.random.default_rng(11).standard_normal(3000) * 50).astype(dtype)
    starts = np.array([0, 1000, 2000])
    np.testing.assert_array_equal(K.levels(x, starts, kernel=kernel), ref.levels(x, starts))


@pytest.mark.parametrize("kernel", FAST)
def test_rgba_equals_reference(kernel):
    from nn3d.colormaps import lut

    x, starts = _frame((5000,), seed=3)
    table = lut("coolwarm")
    got = K.rgba(x, table, starts, kernel=kernel, symmetric=True)
    assert got.shape == (5000, 4) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, ref.rgba(x, table, starts, symmetric=True))
    np.testing.assert_array_equal(got[np.isnan(x)], np.broadcast_to(table[255], (np.isnan(x).sum(), 4)))


@pytest.mark.parametrize("kernel", ["numpy", *FAST])
def test_interpolate(kernel):
    rng = np.random.default_rng(4)
    a = rng.standard_normal(10_000).astype(np.float32)
    b = rng.standard_normal(10_000).astype(np.float32)
    a[:3], b[:3] = [np.nan, 1.0, 0.0], [0.0, np.inf, 2.0]
    mid = K.interpolate(a, b, 0.25, kernel=kernel)
    np.testing.assert_array_equal(mid, ref.interpolate(a, b, 0.25))
    assert np.isnan(mid[0]) and mid[1] == np.inf and mid[2] == 0.5
    np.testing.assert_array_equal(K.interpolate(a, b, 0.0, kernel=kernel), a)  # exact ends, even next to inf
    np.testing.assert_array_equal(K.interpolate(a, b, 1.0, kernel=kernel), b)
    with pytest.raises(ValueError, match="shape"):
        ref.interpolate(a, b[:-1], 0.5)


# ---------------------------------------------------------------- running range


def _update(rr, lo, hi):
    out = rr.update(np.array([lo, 0.0]), np.array([hi, 1.0]))  # a second, steady layer rides along
    assert out[0][1] == 0.0 and out[1][1] == 1.0
    return float(out[0][0]), float(out[1][0])


def test_running_range_widens_at_once_and_narrows_only_with_relax():
    rr = RunningRange()
    assert _update(rr, 0.0, 1.0) == (0.0, 1.0)
    assert _update(rr, -1.0, 0.5) == (-1.0, 1.0)
    assert _update(rr, np.nan, np.nan) == (-1.0, 1.0)  # no finite value this frame: keep the range
    relaxed = RunningRange(relax=0.5)
    _update(relaxed, -4.0, 4.0)
    assert _update(relaxed, 0.0, 2.0) == (-2.0, 3.0)
    assert _update(relaxed, -9.0, 2.0) == (-9.0, 2.5)
    fresh = RunningRange()
    assert np.isnan(_update(fresh, np.nan, np.nan)[0])
    assert _update(fresh, 1.0, 2.0) == (1.0, 2.0)  # a layer seen for the first time takes its range
    with pytest.raises(ValueError):
        RunningRange(relax=2)


@pytest.mark.parametrize("kernel", FAST)
def test_running_range_keeps_levels_steady_across_frames(kernel):
    rng = np.random.default_rng(5)
    starts = np.array([0, 300, 600])
    frames = [rng.standard_normal(1000).astype(np.float32) * s for s in (1.0, 2.0, 0.5, 1.0)]
    mine, truth = RunningRange(relax=0.25), RunningRange(relax=0.25)
    for f in frames:
        np.testing.assert_array_equal(K.levels(f, starts, running=mine, kernel=kernel),
                                      ref.levels(f, starts, running=truth))
    steady = RunningRange()
    first = K.levels(frames[1], starts, running=steady, kernel=kernel)  # the widest frame
    again = K.levels(frames[1], starts, running=steady, kernel=kernel)
    np.testing.assert_array_equal(first, again)
    quiet = K.levels(frames[2], starts, running=steady, kernel=kernel)
    assert quiet.max() < 254 and quiet.min() > 0  # a quiet frame keeps the loud frame's scale


# ---------------------------------------------------------------- dispatch


def test_dispatch_picks_by_array_kind_and_returns_the_same_kind():
    x, starts = _frame((1000,), seed=6)
    assert K.choose_kernel(x) == "numpy"  # small: the reference, no compiler wait
    big = np.zeros(dispatch.NUMPY_BELOW, np.float32)
    assert K.choose_kernel(big) == "numba"
    assert K.choose_kernel(torch.from_numpy(big)) == "numba"  # CPU tensor: zero-copy to Numba
    assert K.choose_kernel(x, starts=np.arange(0, 1000, 2)) == "numba"  # many layers: Python loop too slow
    assert K.choose_kernel(x, "torch") == "torch"
    got = K.levels(torch.from_numpy(x), starts)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), ref.levels(x, starts))
    got = K.levels(torch.from_numpy(x), starts, kernel="torch")
    assert isinstance(got, torch.Tensor)
    np.testing.assert_array_equal(got.numpy(), ref.levels(x, starts))
    assert {"numpy", "numba", "torch"} <= set(K.available_kernels())


@pytest.mark.parametrize("kernel", FAST)
def test_out_is_written_in_place(kernel):
    x, starts = _frame((40, 25), seed=8)
    out = np.zeros(x.shape, np.uint8) if kernel == "numba" else torch.zeros(x.shape, dtype=torch.uint8)
    values = x if kernel == "numba" else torch.from_numpy(x)
    assert K.levels(values, starts, out=out, kernel=kernel) is out
    np.testing.assert_array_equal(np.asarray(out), ref.levels(x, starts))
    cpu_tensor = torch.zeros(x.shape, dtype=torch.uint8)  # a CPU tensor also takes the Numba path
    K.levels(torch.from_numpy(x), starts, out=cpu_tensor)
    np.testing.assert_array_equal(cpu_tensor.numpy(), ref.levels(x, starts))
    colours = np.zeros((*x.shape, 4), np.uint8)
    if kernel == "torch":
        colours = torch.from_numpy(colours)
    assert K.rgba(values, np.eye(256, 4, dtype=np.uint8), starts, out=colours, kernel=kernel) is colours
    colours = np.asarray(colours)
    assert (colours.sum(-1) <= 1).all() and colours[..., 0].sum() == (ref.levels(x, starts) == 0).sum()
    with pytest.raises(ValueError, match="contiguous uint8"):
        K.levels(x, starts, out=np.zeros((25, 40), np.uint8).T, kernel="numba")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_on_cuda_equals_reference():
    x, starts = _frame((200_003,), seed=9)
    got = K.levels(torch.from_numpy(x).cuda(), starts)
    assert got.is_cuda
    np.testing.assert_array_equal(got.cpu().numpy(), ref.levels(x, starts))


@pytest.mark.parametrize("kernel", FAST)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lagging_running_range_maps_with_the_frames_before(kernel, dtype):
    starts = np.array([0, 70_000, 70_010, 140_000])  # segments cross chunk boundaries; one tiny layer
    frames = [_frame((200_000,), seed=20 + i, dtype=dtype)[0] * s for i, s in enumerate((1.0, 3.0, 0.5))]
    mine, truth = RunningRange(lag=True), RunningRange(lag=True)
    for i, f in enumerate(frames):
        got = K.levels(f, starts, running=mine, kernel=kernel, symmetric=i == 2)
        np.testing.assert_array_equal(got, ref.levels(f, starts, running=truth, symmetric=i == 2))
        np.testing.assert_array_equal(mine.lo, truth.lo)
        np.testing.assert_array_equal(mine.hi, truth.hi)
    # frame 1 (3x wider) is mapped with frame 0's range, so more of it clamps to the ends
    first = RunningRange(lag=True)
    K.levels(frames[0], starts, running=first, kernel=kernel)
    got = K.levels(frames[1], starts, running=first, kernel=kernel)
    np.testing.assert_array_equal(got, ref.levels(frames[1], starts, vrange=ref.layer_ranges(frames[0], starts)))
    assert (got == 254).mean() > 2 * (ref.levels(frames[1], starts) == 254).mean()
