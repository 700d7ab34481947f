"""The VisPy internals nn3d relies on, each behind one function (VisPy 0.17; ``tests/test_vispy_compat.py``
pins every one of them, so a VisPy upgrade that removes or changes one fails there, by name, not somewhere
deep in a render).

Why each is needed:

- :func:`draw_scene`: ``SceneCanvas.render(region, size)`` cannot scale a region onto a differently sized
  framebuffer, so the offscreen path pushes its own FBO and draws the scene between push and read.
- :func:`current_target`: the edge layer caches a framebuffer-sized texture; it must know which framebuffer
  and viewport the frame draws into (a window, or ``render``/``push_fbo``'s FBO).
- :func:`set_renderbuffer_format`: gloo's depth render buffers have 16 bits; a window's depth has 24, and the
  edge layer's depth must match the frame's precision.
- :func:`gl_state`: the GL state a visual declared (``set_gl_state``), restored after the edge composite.
- :func:`rotation_matrix`, :func:`set_arcball_rotation`: converting between the turntable and arcball cameras
  needs their rotation, which VisPy keeps private.
- :func:`render_region`: after a full-canvas draw, VisPy's ``TransformSystem.configure`` resets the
  canvas-to-FBO transform without forgetting its cached mapping, so a second ``render(region=R)`` with the
  same region as the last one keeps the identity transform and draws at the wrong place (two picks at the
  same spot: the second found nothing). The cache is cleared first.
- :func:`draw_arrays`: a visual that draws its points in many chunks, each with its own uniforms, issues
  ``glDrawArrays`` itself; ``Program.draw`` draws all of a buffer at once.
- :func:`child_widgets`: the widgets a grid lays out (the panel column takes the 3-D view out of that layout).
- :func:`rfb_module`, :func:`rfb_context`, :func:`rfb_set_size`, :func:`app_with_canvas`, :func:`make_current`:
  the notebook widget (:mod:`nn3d.render.notebook`) is VisPy's jupyter_rfb canvas backend, subclassed: its GL
  context is VisPy's ``OffscreenContext`` (a hidden glfw window, which needs a display), so the subclass is
  built with another one; its size is the browser's last resize event (1x1 in a kernel run headless), so the
  subclass sets it; and an Application whose canvases are that subclass is not something VisPy can be asked for.

Subclass hooks of ``vispy.visuals.Visual`` (``_draw_mode``, ``_prepare_transforms``, ``_compute_bounds``) are
VisPy's documented way to write a visual; the visuals use them directly and the test pins them too.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np


def draw_scene(canvas, bgcolor=None) -> None:
    """Clear the current framebuffer to ``bgcolor`` (None: the canvas's) and draw ``canvas``'s scene into it:
    what ``SceneCanvas.render`` does between ``push_fbo`` and reading the pixels back."""
    canvas._draw_scene(bgcolor=bgcolor)


def render_region(canvas, region, size) -> np.ndarray:
    """``canvas.render(region=region, size=size, alpha=True)``, right even when the last region render had the
    same region (see the module docstring)."""
    mappings = getattr(canvas.transforms, "_mappings", None)
    if isinstance(mappings, dict) and "ct0" in mappings:
        mappings["ct0"] = None
    return canvas.render(region=region, size=size, alpha=True)


def draw_arrays(program, mode: str, counts) -> None:
    """Draw ``program`` (a visual's ``ModularProgram``) once per item of ``counts``: the first ``count``
    vertices of its buffers, with the uniforms as the iterator left them before yielding that count (what
    ``Program.draw`` does for one draw, without its single call's limits)."""

    from vispy.gloo.context import get_current_canvas

    program.build_if_needed()
    program.update_variables()
    canvas = get_current_canvas()
    glir = canvas.context.glir
    glir.associate(program.glir)
    for count in counts:
        glir.command("DRAW", program._id, mode, (0, int(count)), 1)
    canvas.context.flush_commands()


def current_target(canvas):
    """``(fbo, viewport)`` the canvas draws into now: the framebuffer on top of its stack (None: the canvas's
    own) and the viewport on top of its viewport stack (None: the whole framebuffer). None when this VisPy
    does not expose them (callers then skip what needs them)."""
    try:
        fbo, stack = canvas._current_framebuffer()[0], canvas._vp_stack
    except AttributeError:
        return None
    return fbo, (tuple(stack[-1]) if stack else None)


def set_renderbuffer_format(buffer, shape, gl_format: int) -> None:
    """Give a ``gloo.RenderBuffer`` of ``shape`` (height, width) the GL internal format ``gl_format`` (e.g.
    ``GL_DEPTH_COMPONENT24``): gloo's ``resize`` only knows "depth" (16 bits), GLIR takes any GL format."""
    buffer._glir.command("SIZE", buffer.id, tuple(shape), int(gl_format))


def gl_state(visual) -> dict:
    """The GL state ``visual`` declared with ``set_gl_state`` (a dict for ``gloo.set_state``)."""
    return visual._vshare.gl_state


def rotation_matrix(camera) -> np.ndarray:
    """The 4x4 rotation of a turntable or arcball camera (row vectors, as VisPy's transforms)."""
    return camera._get_rotation_tr()


def set_arcball_rotation(camera, quaternion) -> None:
    """Set an ``ArcballCamera``'s rotation to ``quaternion`` (a ``vispy.util.quaternion.Quaternion``) and
    redraw."""
    camera._quaternion = quaternion
    camera.view_changed()


def child_widgets(widget) -> list:
    """The widgets ``widget`` lays out (those added with ``add_widget``/``add_view``), as a new list."""
    return list(widget._widgets)


def rfb_module():
    """VisPy's jupyter_rfb backend module (``CanvasBackend`` is the widget; needs ``jupyter_rfb``)."""
    from vispy.app.backends import _jupyter_rfb

    return _jupyter_rfb


@contextmanager
def rfb_context(factory):
    """Inside, jupyter_rfb canvases being built take their GL context from ``factory()`` (an object with
    ``make_current()`` and ``close()``) instead of VisPy's ``OffscreenContext``."""
    module = rfb_module()
    saved, module.OffscreenContext = module.OffscreenContext, factory
    try:
        yield
    finally:
        module.OffscreenContext = saved


def rfb_set_size(backend, logical, physical) -> None:
    """Give a jupyter_rfb canvas backend its logical and physical (framebuffer) sizes, as its resize event
    handler does, without scheduling the resize event (the caller emits it when the canvas needs it)."""
    backend._logical_size = tuple(logical)
    backend._physical_size = tuple(physical)
    backend._helper.set_physical_size(*physical)


def rfb_sizes(backend) -> tuple[tuple[int, int], tuple[int, int]]:
    """A jupyter_rfb canvas backend's (logical, physical) sizes."""
    return tuple(backend._logical_size), tuple(backend._physical_size)


def app_with_canvas(name: str, canvas_backend):
    """A VisPy Application on backend ``name`` whose canvases are ``canvas_backend`` (a subclass of that
    backend's ``CanvasBackend``); other Applications and VisPy's module are unchanged."""
    import types

    from vispy.app import Application

    application = Application(name)
    real = application.backend_module
    module = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
    module.CanvasBackend = canvas_backend
    application._backend_module = module
    return application


def make_current(canvas) -> None:
    """Make ``canvas``'s GL context current without making it VisPy's current canvas (its backend only: a
    canvas that lends its context to another keeps the other one current for VisPy)."""
    canvas._backend._vispy_set_current()
