"""Choose where nn3d draws: a VisPy app backend that works here, and where the explorer shows.

The process backend (offscreen canvases, screenshots, videos, and a window): glfw with a display, EGL
surfaceless without one. The explorer's target (:func:`explorer_target`): a ``jupyter_rfb`` widget inside a
Jupyter kernel, a still image in a kernel without ``jupyter_rfb``, else a window when one can open, else
offscreen. ``NN3D_BACKEND`` overrides the choice: any VisPy backend name (``glfw``, ``egl``, ``pyqt6``) for the
process and the window, or ``jupyter_rfb`` for the widget (the process backend is then chosen as usual). The
choice is made once per process, the first time a canvas is needed; when nothing works, :class:`BackendError`
says in one line what was tried and what to install.
"""

from __future__ import annotations

import os
import sys

ENV_VAR = "NN3D_BACKEND"
NOTEBOOK = "jupyter_rfb"  # VisPy's remote-frame-buffer widget backend: the explorer inside a notebook
INSTALL_HINT = (
    "install Mesa's EGL and software GL (Debian/Ubuntu: apt-get install libegl1 libgl1-mesa-dri) for "
    "headless rendering, or run with a display (X11/Wayland; `pip install glfw`) for a window"
)
NOTEBOOK_HINT = "pip install jupyter_rfb"  # what a kernel without the widget needs
TARGETS = ("notebook", "still", "window", "offscreen")  # what explorer_target() returns

_chosen: str | None = None


class BackendError(RuntimeError):
    """No OpenGL backend could be started; the message names what was tried and what to install."""


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _override() -> str:
    return os.environ.get(ENV_VAR, "").strip()


def candidates() -> list[str]:
    """Process backends to try, in order (``NN3D_BACKEND=jupyter_rfb`` names the explorer's, not these)."""
    override = _override()
    if override and override.lower() != NOTEBOOK:
        return [override]
    return ["glfw", "egl"] if has_display() else ["egl"]


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel: IPython is loaded and its shell is a ZMQ (kernel) shell,
    not a terminal IPython. Looks only at modules already imported (never imports IPython)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell is not None and any(c.__name__ == "ZMQInteractiveShell" for c in type(shell).__mro__)


def notebook_available() -> bool:
    """Whether ``jupyter_rfb`` (the widget VisPy's notebook backend draws into) can be imported."""
    try:
        import jupyter_rfb  # noqa: F401
    except ImportError:
        return False
    return True


def explorer_target() -> str:
    """Where :func:`nn3d.explore` shows the explorer, one of :data:`TARGETS`: "notebook" (an inline widget),
    "still" (a kernel without ``jupyter_rfb``: an inline image), "window" or "offscreen"."""
    override = _override().lower()
    if override == NOTEBOOK:
        if not notebook_available():
            raise BackendError(f"{ENV_VAR}={NOTEBOOK} needs jupyter_rfb: {NOTEBOOK_HINT}")
        return "notebook"
    if not override and in_kernel():
        return "notebook" if notebook_available() else "still"
    return "window" if window_possible() else "offscreen"


def _try(name: str) -> None:
    import vispy
    from vispy import app

    if name == "egl":
        # Mesa picks the platform when libEGL loads; without a display only "surfaceless" works.
        os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    vispy.use(app=name)
    app.use_app(name)


def ensure_backend() -> str:
    """Start (once) and return the name of a working VisPy backend, or raise :class:`BackendError`."""
    global _chosen
    if _chosen is not None:
        return _chosen
    tried = []
    for name in candidates():
        try:
            _try(name)
        except Exception as e:  # any failure to load a backend means: try the next one
            first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
            tried.append(f"{name} ({first_line[:120]})")
            continue
        _chosen = name
        return name
    raise BackendError(f"no OpenGL backend works: tried {'; '.join(tried)}. To fix: {INSTALL_HINT}")


def window_possible() -> bool:
    """Whether a visible window can be opened (a display is present and the backend is not EGL)."""
    return has_display() and ensure_backend() != "egl"
