"""Pins the VisPy internals that nn3d.render.vispy_compat wraps: each test names the private VisPy attribute it
relies on, so that a VisPy upgrade that drops or changes one fails here with a message saying which function of
vispy_compat to update, rather than as a wrong picture somewhere else."""

import math

import numpy as np
import pytest
from vispy import gloo, scene
from vispy.util import transforms
from vispy.util.quaternion import Quaternion
from vispy.visuals import Visual

from nn3d.render import vispy_compat as compat
from nn3d.render.backend import ensure_backend

GL_DEPTH_BITS = 0x0D56
DEPTH_COMPONENT24 = 0x81A6


class Probe(Visual):
    """The smallest visual: what nn3d's visuals are, a shader program and its hooks."""

    def __init__(self):
        super().__init__(vcode="void main() { gl_Position = vec4(0.0); }", fcode="void main() {}")

    def _prepare_transforms(self, view):
        pass


def need(obj, name: str, function: str) -> None:
    """Fail with a clear message unless ``obj`` (a class or instance) has VisPy's private ``name``."""
    if not hasattr(obj, name):
        import vispy

        owner = obj if isinstance(obj, type) else type(obj)
        pytest.fail(f"VisPy {vispy.__version__}: {owner.__name__}.{name} is gone; update "
                    f"nn3d.render.vispy_compat.{function} (and this test) for it")


@pytest.fixture
def canvas():
    ensure_backend()
    c = scene.SceneCanvas(size=(64, 48), show=False, bgcolor="black")
    c.set_current()
    yield c
    c.close()


def fbo_of(size, depth_format=None):
    w, h = size
    depth = gloo.RenderBuffer((h, w), format="depth")
    if depth_format is not None:
        compat.set_renderbuffer_format(depth, (h, w), depth_format)
    return gloo.FrameBuffer(color=gloo.RenderBuffer((h, w)), depth=depth)


def test_draw_scene_clears_and_draws_into_the_pushed_framebuffer(canvas):
    need(canvas, "_draw_scene", "draw_scene")
    view = canvas.central_widget.add_view(bgcolor=None)
    view.camera = scene.PanZoomCamera(rect=(0, 0, 1, 1))
    scene.visuals.Rectangle(center=(0.25, 0.5), width=0.5, height=2, color="white", parent=view.scene)
    fbo = fbo_of(canvas.size)
    canvas.push_fbo(fbo, (0, 0), canvas.size)
    try:
        compat.draw_scene(canvas, (1.0, 0.0, 0.0, 1.0))
        image = np.array(fbo.read())
    finally:
        canvas.pop_fbo()
    np.testing.assert_array_equal(image[24, 60], (255, 0, 0, 255))  # cleared to the colour given
    np.testing.assert_array_equal(image[24, 4], (255, 255, 255, 255))  # and the scene drawn over it


def test_render_region_twice_draws_the_same_region(canvas):
    """VisPy keeps the canvas-to-FBO mapping cached after resetting the transform: the same region rendered
    twice in a row (two picks at one spot) came out wrong the second time without render_region's reset."""
    need(canvas.transforms, "_mappings", "render_region")
    view = canvas.central_widget.add_view(bgcolor=None)
    view.camera = scene.PanZoomCamera(rect=(0, 0, 1, 1))
    scene.visuals.Rectangle(center=(0.25, 0.5), width=0.5, height=2, color="white", parent=view.scene)
    region = (8, 16, 8, 8)  # inside the white left half, away from its border
    images = []
    for _ in range(3):  # back to back, as two picks at one spot are
        images.append(np.array(compat.render_region(canvas, region, (8, 8))))
    for image in images:
        np.testing.assert_array_equal(image[..., :3], 255)


def test_current_target_follows_push_fbo(canvas):
    need(canvas, "_current_framebuffer", "current_target")
    need(canvas, "_vp_stack", "current_target")
    assert compat.current_target(canvas) == (None, None)
    fbo = fbo_of((40, 30))
    canvas.push_fbo(fbo, (0, 0), canvas.size)
    try:
        target, viewport = compat.current_target(canvas)
        assert target is fbo and viewport == (0, 0, 40, 30)
    finally:
        canvas.pop_fbo()
    assert compat.current_target(canvas) == (None, None)


def test_renderbuffer_format_reaches_gl(canvas):
    """gloo alone gives 16-bit depth; the GLIR command gives the 24 bits the edge layer needs."""
    from vispy.gloo import gl

    bits = []
    for fmt in (None, DEPTH_COMPONENT24):
        fbo = fbo_of(canvas.size, fmt)
        need(fbo.depth_buffer, "_glir", "set_renderbuffer_format")
        canvas.push_fbo(fbo, (0, 0), canvas.size)
        try:
            canvas.context.flush_commands()
            bits.append(int(gl.glGetParameter(GL_DEPTH_BITS)))
        finally:
            canvas.pop_fbo()
    assert bits == [16, 24]


def test_draw_arrays_draws_each_count_with_the_uniforms_set_before_it(canvas):
    """Two draws of one program: both vertices in red, then the first one only in green. Each draw must use
    its own count and the uniforms set before it, as the chunked neuron draws rely on."""
    from vispy.visuals.shaders import ModularProgram  # what a Visual's ``_program`` is

    program = ModularProgram(
        "attribute float a_x; void main() { gl_Position = vec4(a_x, 0.0, 0.0, 1.0); gl_PointSize = 4.0; }",
        "uniform vec4 u_colour; void main() { gl_FragColor = u_colour; }")
    for name in ("build_if_needed", "update_variables", "glir", "_id"):
        need(program, name, "draw_arrays")
    program["a_x"] = np.array([-0.5, 0.5], np.float32)

    def counts():
        program["u_colour"] = (1.0, 0.0, 0.0, 1.0)
        yield 2
        program["u_colour"] = (0.0, 1.0, 0.0, 1.0)
        yield 1

    fbo = fbo_of(canvas.size)
    canvas.push_fbo(fbo, (0, 0), canvas.size)
    try:
        gloo.clear(color=(0.0, 0.0, 0.0, 1.0))
        compat.draw_arrays(program, "points", counts())
        image = np.array(fbo.read())
    finally:
        canvas.pop_fbo()
    h, w = image.shape[:2]
    np.testing.assert_array_equal(image[h // 2, w // 4, :3], (0, 255, 0))  # redrawn by the second draw
    np.testing.assert_array_equal(image[h // 2, 3 * w // 4, :3], (255, 0, 0))  # the first draw's only


def test_gl_state_is_what_the_visual_declared(canvas):
    v = Probe()
    need(v, "_vshare", "gl_state")
    v.set_gl_state("translucent", depth_test=False, line_width=2.0)
    state = compat.gl_state(v)
    assert state["preset"] == "translucent" and state["depth_test"] is False and state["line_width"] == 2.0
    gloo.set_state(**state)  # what EdgesVisual.draw does with it: gloo takes it as it is


def test_turntable_rotation_matrix():
    cam = scene.TurntableCamera(up="+z", azimuth=30.0, elevation=20.0, roll=5.0)
    need(cam, "_get_rotation_tr", "rotation_matrix")
    expected = (transforms.rotate(20.0, (-1, 0, 0)) @ transforms.rotate(30.0, (0, 0, 1))
                @ transforms.rotate(5.0, (0, 1, 0)))
    np.testing.assert_allclose(compat.rotation_matrix(cam), expected, atol=1e-9)


def test_arcball_rotation_round_trip():
    """Setting an arcball's quaternion is what cameras.apply does; VisPy reads it back with y and z swapped."""
    cam = scene.ArcballCamera()
    need(cam, "_quaternion", "set_arcball_rotation")
    need(cam, "_get_rotation_tr", "rotation_matrix")
    compat.set_arcball_rotation(cam, Quaternion.create_from_axis_angle(math.radians(40.0), 0.0, 0.6, 0.8))
    np.testing.assert_allclose(compat.rotation_matrix(cam), transforms.rotate(40.0, (0.0, 0.8, 0.6)), atol=1e-9)


def test_child_widgets_are_those_a_grid_lays_out(canvas):
    central = canvas.central_widget
    need(central, "_widgets", "child_widgets")
    view = central.add_view()
    assert view in compat.child_widgets(central)
    central.remove_widget(view)
    assert view not in compat.child_widgets(central)


def test_visual_subclass_hooks_exist():
    """The hooks nn3d's visuals override or set (VisPy's way of writing a visual): renamed, they would be
    silently ignored."""
    for name in ("_draw_mode", "_prepare_transforms", "_compute_bounds", "_prepare_draw"):
        need(Visual, name, "(the visuals in nn3d/render/visuals.py)")
    v = Probe()
    v._draw_mode = "points"
    assert v._vshare.draw_mode == "points"  # what Visual.draw draws with
