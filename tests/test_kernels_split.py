"""Per-layer colour rules as data: signed layers get a symmetric range in the diverging half of a split table."""

import numpy as np
import pytest

from nn3d import kernels as K
from nn3d.kernels import DIV_MID, NAN_LEVEL, signed_layers
from nn3d.kernels import reference as ref
from nn3d.kernels.normalize import DIV_BASE, SEQ_TOP

KERNELS = [k for k in ("numba", "torch") if k in K.available_kernels()]


def test_signed_layers_needs_both_sides():
    lo = np.array([-1.0, 0.0, -0.01, np.nan, -3.0])
    hi = np.array([2.0, 5.0, 4.0, np.nan, -1.0])
    assert signed_layers(lo, hi).tolist() == [True, False, False, False, False]


def test_zero_in_a_signed_layer_is_the_diverging_centre_and_halves_do_not_mix():
    x = np.array([-1, 0, 2, 0.5, 1, 3, np.nan, 0], np.float32)
    starts = np.array([0, 3])
    flags = np.zeros(2, bool)
    lev = ref.levels(x, starts, symmetric="auto", split=True, signed_out=flags)
    assert flags.tolist() == [True, False]
    assert lev[1] == DIV_MID and lev[2] == 254 and DIV_BASE <= lev[0] < DIV_MID
    seq = lev[3:]
    assert seq[3] == NAN_LEVEL and seq[4] == 0 and seq[2] == SEQ_TOP and np.all(seq[seq != NAN_LEVEL] <= SEQ_TOP)


def test_robust_range_keeps_an_outlier_from_washing_out_a_layer():
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000).astype(np.float32)
    x[0] = 1e4
    plain = ref.levels(x)
    robust = ref.levels(x, percentile=K.ROBUST_PERCENTILE)
    assert len(np.unique(plain[1:])) < 5  # min..max: everything but the outlier in a few levels
    assert len(np.unique(robust[1:])) > 200 and robust[0] == 254


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("options", [{"symmetric": "auto"}, {"symmetric": "auto", "percentile": 1.0},
                                     {"symmetric": np.array([True, False, True, False])},
                                     {"symmetric": "auto", "mode": "global"}])
def test_split_levels_match_the_reference(kernel, options):
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(size=300), rng.random(200), rng.normal(2, 1, 100), rng.normal(size=50)].astype(np.float32)
    x[7] = np.nan
    starts = np.array([0, 300, 500, 600])
    want_flags = np.zeros(1 if options.get("mode") == "global" else 4, bool)
    got_flags = np.zeros_like(want_flags)
    want = ref.levels(x, starts, split=True, signed_out=want_flags, **options)
    got = K.levels(x, starts, split=True, signed_out=got_flags, kernel=kernel, **options)
    np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_array_equal(got_flags, want_flags)


def test_split_lut_centre_is_the_diverging_maps_centre():
    from nn3d.colormaps import colour_rule, lut, split_lut

    table = split_lut("viridis", "coolwarm")
    np.testing.assert_array_equal(table[DIV_MID], lut("coolwarm")[127])
    np.testing.assert_array_equal(table[0], lut("viridis")[0])
    np.testing.assert_array_equal(table[SEQ_TOP], lut("viridis")[254])
    assert colour_rule(True) == "diverging, centred at 0, 1–99th pct"
    assert colour_rule(False) == "sequential, 1–99th pct"


def test_percentile_of_a_large_layer_comes_from_a_strided_sample_close_to_the_exact_one():
    from nn3d.kernels import reference
    from nn3d.kernels.normalize import PERCENTILE_SAMPLE, percentile_sample

    v = np.random.default_rng(1).standard_normal(40 * PERCENTILE_SAMPLE).astype(np.float32)
    assert len(percentile_sample(v)) <= 2 * PERCENTILE_SAMPLE and len(percentile_sample(v[:100])) == 100
    lo, hi = reference.percentile_ranges(v, np.array([0]), 1.0)
    # within half a percentile of the exact ranks
    assert np.percentile(v, 0.5) < lo[0] < np.percentile(v, 1.5)
    assert np.percentile(v, 98.5) < hi[0] < np.percentile(v, 99.5)
