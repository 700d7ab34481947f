"""The explorer inside Jupyter: VisPy's ``jupyter_rfb`` widget as its canvas, and still images where widgets
are not.

:class:`NotebookExplorer` is the :class:`~nn3d.render.explorer.Explorer` on a canvas whose native widget is a
``jupyter_rfb.RemoteFrameBuffer`` (VisPy's jupyter_rfb backend): the kernel renders each frame offscreen and
sends it to the browser as JPEG/PNG; the browser sends pointer, wheel and key events back, which the backend
turns into VisPy canvas events, so the cameras, the keymap, picking and playback (VisPy timers on the kernel's
asyncio loop) are those of the window. The widget is the cell's output (``_repr_mimebundle_``), with a PNG of
the view beside it for viewers without widgets (a notebook rendered on a website).

Two things differ from VisPy's own backend, in :class:`_WidgetBackend`: the GL context is a hidden canvas of
the process's backend (EGL headless; VisPy's hidden glfw window needs a display, which a Jupyter server
rarely has), and the canvas has its requested size from the start (VisPy's waits for the browser's first
resize event, which a notebook executed headless never sends). Browser key names ("w", "ArrowLeft", " ")
become VisPy's ("W", "Left", "Space"), as the window's backend names them. And its GL work stays on the thread
that made it: JupyterLab sends widget messages through a kernel *subshell*, another thread, where the GL
context (current on the kernel's main thread) cannot be made current; events from there are handed to the main
thread's asyncio loop, and a frame asked for there is drawn on that loop and sent with ``send_frame``.

:func:`show` renders a still image (:class:`StillImage`, displayed as PNG); a kernel without ``jupyter_rfb``
gets one from :func:`explore` too, through :class:`StillExplorer`, with one line saying what to install.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import threading
import traceback

import numpy as np

from ..activations import Activations
from ..network import Network
from . import offscreen
from .backend import NOTEBOOK, NOTEBOOK_HINT, ensure_backend
from .explorer import Explorer
from .vispy_compat import app_with_canvas, make_current, rfb_context, rfb_module, rfb_set_size, rfb_sizes

log = logging.getLogger("nn3d")
SIZE = (800, 500)  # the inline widget's and still image's default (width, height)
BROWSER_KEYS = {" ": "Space", "ArrowLeft": "Left", "ArrowRight": "Right", "ArrowUp": "Up", "ArrowDown": "Down",
                "Esc": "Escape", "Del": "Delete"}  # KeyboardEvent.key -> VisPy's key name where they differ


def vispy_key(name: str) -> str:
    """VisPy's name for a browser ``KeyboardEvent.key``: letters upper case (as the window's backend gives
    them), arrows and space by VisPy's names, anything else unchanged ("+", "Shift", "F1")."""
    if len(name) == 1 and name.isalpha():
        return name.upper()
    return BROWSER_KEYS.get(name, name)


def png_bytes(image: np.ndarray) -> bytes:
    """An RGBA/RGB uint8 image as PNG file bytes."""
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", np.ascontiguousarray(image), extension=".png")


class StillImage:
    """A rendered picture that a notebook displays inline as PNG.

    ``array``: the (height, width, 4) uint8 RGBA pixels; ``data``: the PNG file's bytes (what IPython's
    ``Image`` holds); :meth:`save` writes them."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.data = png_bytes(array)

    def _repr_png_(self) -> bytes:
        return self.data

    def save(self, path) -> None:
        with open(path, "wb") as f:
            f.write(self.data)

    def __repr__(self) -> str:
        h, w = self.array.shape[:2]
        return f"<nn3d still image {w}x{h}>"


class _Snapshots:
    """``snapshot()`` for an explorer: the current view, rendered afresh (not the last frame sent)."""

    def snapshot(self, size=None) -> StillImage:
        """The current view as a :class:`StillImage` (PNG), at the canvas's size or ``size`` (width,
        height; the canvas's aspect ratio is kept for any other size by rendering at that aspect)."""
        if self.hud_on:  # the HUD's text is written before a draw; this render is not one
            self.overlays.hud.text = self._hud_text()
        return StillImage(offscreen.render_image(self, size or tuple(self.canvas.size)))


class StillExplorer(_Snapshots, Explorer):
    """An offscreen explorer that a notebook displays as a PNG of its current view (the fallback where
    ``jupyter_rfb`` is missing): every method of the Explorer works; the cell shows the result."""

    def _repr_png_(self) -> bytes:
        return self.snapshot().data


class _HiddenContext:
    """The GL context of one widget canvas: a 1x1 hidden canvas of the process's backend (EGL without a
    display, glfw with one), made current without becoming VisPy's current canvas."""

    def __init__(self):
        from vispy import app

        ensure_backend()
        self._canvas = app.Canvas(size=(1, 1), show=False)

    def make_current(self):
        make_current(self._canvas)
        return self

    def close(self) -> None:
        self._canvas.close()


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # no loop here (a script, a test): events and draws stay on the calling thread
        return None


@functools.lru_cache(maxsize=1)
def _widget_backend():
    """The widget canvas backend class (built on first use: it needs jupyter_rfb)."""
    base = rfb_module().CanvasBackend

    class _WidgetBackend(base):
        __doc__ = f"VisPy's {NOTEBOOK} canvas backend with a context of our own, its size from the start, " \
                  "VisPy's key names, and its GL work on the thread that made it (see the module docstring)."

        def __init__(self, vispy_canvas, **kwargs):
            self._home = threading.current_thread(), _running_loop()
            self._deferred_draw = False  # a frame asked for from another thread, queued on the home loop
            with rfb_context(_HiddenContext):
                super().__init__(vispy_canvas, **kwargs)

        def _vispy_set_size(self, w, h):
            super()._vispy_set_size(w, h)  # the widget's CSS size
            (lw, _), (pw, _) = rfb_sizes(self)
            ratio = pw / max(lw, 1)
            rfb_set_size(self, (int(w), int(h)), (max(1, round(w * ratio)), max(1, round(h * ratio))))

        def _away(self) -> bool:
            """Whether this call came on another thread than the widget's (a kernel subshell's)."""
            thread, loop = self._home
            return loop is not None and threading.current_thread() is not thread and not loop.is_closed()

        def _at_home(self, call, *args) -> None:
            """Run ``call(*args)`` on the home thread's loop; its errors go to the widget's output area."""

            def run():
                try:
                    call(*args)
                except Exception:
                    self.print(traceback.format_exc())

            self._home[1].call_soon_threadsafe(run)

        def handle_event(self, event):
            if event.get("type", event.get("event_type")) in ("key_down", "key_up") and "key" in event:
                event = {**event, "key": vispy_key(event["key"])}
            if self._away():
                self._at_home(base.handle_event, self, event)
            else:
                base.handle_event(self, event)

        def get_frame(self):
            if not self._away():
                return base.get_frame(self)
            if not self._deferred_draw:  # one queued at a time: it draws the latest state
                self._deferred_draw = True
                self._at_home(self._draw_at_home)
            return None  # jupyter_rfb's asynchronous use: the frame comes through send_frame

        def _draw_at_home(self):
            self._deferred_draw = False
            frame = base.get_frame(self)
            if frame is not None:
                self.send_frame(frame)

    return _WidgetBackend


@functools.lru_cache(maxsize=1)
def notebook_app():
    """The VisPy Application whose canvases are notebook widgets (one per process)."""
    return app_with_canvas(NOTEBOOK, _widget_backend())


class NotebookExplorer(_Snapshots, Explorer):
    """The explorer drawn into an inline ``jupyter_rfb`` widget (see the module docstring). ``widget`` is the
    ipywidget; the explorer displays as it (with a PNG of the view for viewers without widgets)."""

    def __init__(self, net: Network, activations: Activations | None = None, size=SIZE, **options):
        options.setdefault("hud", True)
        super().__init__(net, activations, size=size, show=True, app=notebook_app(), **options)

    @property
    def widget(self):
        """The ``jupyter_rfb.RemoteFrameBuffer`` widget the canvas draws into."""
        return self.canvas.native

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data or {})
        data["image/png"] = base64.b64encode(self.snapshot().data).decode("ascii")
        return data, metadata


def explore(net: Network, activations: Activations | None = None, still: bool = False, size=SIZE,
            **options) -> Explorer:
    """The explorer inline in a notebook: a :class:`NotebookExplorer` (a widget), or with ``still`` (no
    ``jupyter_rfb``) a :class:`StillExplorer` (a PNG) and one line saying what to install. ``options`` as for
    :class:`~nn3d.render.explorer.Explorer`; the window's ``run``, ``close_after`` and ``show`` mean nothing here."""
    for window_only in ("run", "close_after", "show"):
        options.pop(window_only, None)
    if still:
        log.warning("nn3d: no interactive widget without jupyter_rfb, showing a still image: %s", NOTEBOOK_HINT)
        return StillExplorer(net, activations, size=size, hud=options.pop("hud", True), **options)
    return NotebookExplorer(net, activations, size=size, **options)


def show(net: Network, activations: Activations | None = None, size=SIZE, select: int | None = None,
         **options) -> StillImage:
    """A still image of ``net`` at ``size`` (width, height) for a notebook cell (any size, tiled past the GL
    limit); ``options`` as for :class:`~nn3d.render.explorer.Explorer` (frame, colormap, hud, camera...)."""
    explorer = Explorer(net, activations, size=offscreen.canvas_size(size), **options)
    try:
        if select is not None:
            explorer.select(select)
        return StillImage(offscreen.render_image(explorer, size))
    finally:
        explorer.close()
