"""The sprite-size formula has one Python owner (offscreen.sprite_px) and one GLSL twin (neurons.vert): the
sizes it computes are those of the sprites GL rasterises, at the canvas scale, at an output scale, and where
the minimum pixel size takes over."""

import numpy as np
import pytest

from nn3d.render import offscreen


def sprite_diameters(scene, size=None) -> np.ndarray:
    """Each neuron's rendered diameter in pixels, from its pixel count in an ID pass (index + 1 as 24-bit
    RGB, as scene.pick renders it). Leaves the scene in that pass: the fixture's scene is the test's own."""
    for node in scene.overlays:
        node.visible = False
    scene.canvas.bgcolor = "black"
    scene.neurons.shared_program["u_picking"] = 1.0
    ids = scene.canvas.render(alpha=False) if size is None else offscreen.render_image(scene, size)
    index = ids[..., :3].astype(np.int64) @ np.array([1, 256, 65536]) - 1
    counts = np.bincount(index[index >= 0], minlength=scene.net.n_neurons)
    return 2 * np.sqrt(counts / np.pi)


@pytest.mark.parametrize("scale", [1, 2])
def test_sprite_px_is_the_size_gl_draws(small_scene, scale):
    scene, _ = small_scene
    w, h = scene.canvas.size
    expected = offscreen.sprite_px(scene.neurons, scene.layout.positions, scale)
    drawn = sprite_diameters(scene, None if scale == 1 else (w * scale, h * scale))
    assert expected.min() > 8 and np.ptp(expected) > 0.5  # big enough to measure; perspective sizes differ
    np.testing.assert_allclose(drawn, expected, rtol=0.06, atol=1.0)
    assert offscreen.largest_sprite_px(scene, scale) == pytest.approx(expected.max(), rel=1e-6)


def test_sprite_px_follows_the_minimum_pixel_size(small_scene):
    scene, _ = small_scene
    program = scene.neurons.shared_program
    radius, min_px = float(program["u_radius"]), float(program["u_min_px"])
    try:
        program["u_radius"], program["u_min_px"] = 1e-4, 9.0  # world size far below a pixel
        expected = offscreen.sprite_px(scene.neurons, scene.layout.positions)
        np.testing.assert_array_equal(expected, 9.0)
        np.testing.assert_allclose(sprite_diameters(scene), 9.0, atol=1.0)
    finally:
        program["u_picking"] = 0.0
        program["u_radius"], program["u_min_px"] = radius, min_px
    assert len(offscreen.sprite_px(scene.neurons, np.zeros((0, 3)))) == 0
