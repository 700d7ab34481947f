"""Colormap tables for the shader and the RGBA kernel, and the kernels' independence from VisPy/OpenGL."""


import numpy as np
import pytest

from nn3d import colormaps


@pytest.mark.parametrize("name", ["viridis", "coolwarm", "RdBu", "grays"])
def test_lut_is_256_rgba8_texels_with_the_nan_colour_last(name):
    table = colormaps.lut(name, nan_color=(1, 2, 3, 4))
    assert table.shape == (256, 4) and table.dtype == np.uint8 and not table.flags.writeable
    assert table[255].tolist() == [1, 2, 3, 4]
    assert (table[:255, 3] == 255).all()
    assert np.abs(table[0, :3].astype(int) - table[254, :3]).sum() > 100  # the ends differ visibly


def test_viridis_matches_vispy_and_reverses():
    from vispy.color import get_colormap

    want = np.rint(np.asarray(get_colormap("viridis").map(np.array([[0.0], [1.0]]))) * 255)
    table = colormaps.lut("viridis")
    np.testing.assert_array_equal(table[[0, 254]], want)
    np.testing.assert_array_equal(colormaps.lut("viridis_r")[:255], table[254::-1])


def test_diverging_maps_are_light_in_the_middle():
    table = colormaps.lut("coolwarm").astype(int)
    assert table[127, :3].sum() > table[0, :3].sum() and table[127, :3].sum() > table[254, :3].sum()
    assert colormaps.is_diverging("RdBu_r") and not colormaps.is_diverging("viridis")


def test_every_listed_map_builds_and_unknown_ones_are_refused():
    for name in colormaps.available():
        assert colormaps.lut(name).shape == (256, 4)
    with pytest.raises(ValueError, match="unknown colormap"):
        colormaps.lut("no-such-map")


def test_perceptual_maps_from_matplotlib_when_installed():
    pytest.importorskip("matplotlib")
    magma = colormaps.lut("magma").astype(int)
    assert magma[0, :3].sum() < 30 and magma[254, :3].sum() > 600  # black to near-white


KERNELS = """
import numpy as np
from nn3d import kernels
from nn3d.kernels import cpu, dispatch, normalize, reference, torch as torch_kernels
from nn3d.bench import kernels as bench_kernels
x = np.linspace(-1, 1, 9, dtype=np.float32)
lut = np.zeros((256, 4), np.uint8)
assert kernels.levels(x).tolist() == kernels.levels(x, kernel='torch').tolist()
assert kernels.rgba(x, lut).shape == (9, 4)
print('ok')
"""


def test_kernels_import_no_vispy_or_opengl(run_without_opengl):
    """The RGBA kernel takes the table as an argument, so nothing in kernels (or its bench) needs VisPy."""
    assert run_without_opengl(KERNELS) == "ok"
