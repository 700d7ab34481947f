"""Choose a VisPy app backend that works here: glfw with a display, EGL surfaceless without one.

``NN3D_BACKEND`` overrides the choice (any VisPy backend name, e.g. ``glfw``, ``egl``, ``pyqt6``). The choice
is made once per process, the first time a canvas is needed; when nothing works, :class:`BackendError` says
in one line what was tried and what to install.
"""

from __future__ import annotations

import os

ENV_VAR = "NN3D_BACKEND"
INSTALL_HINT = (
    "install Mesa's EGL and software GL (Debian/Ubuntu: apt-get install libegl1 libgl1-mesa-dri) for "
    "headless rendering, or run with a display (X11/Wayland; `pip install glfw`) for a window"
)

_chosen: str | None = None


class BackendError(RuntimeError):
    """No OpenGL backend could be started; the message names what was tried and what to install."""


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def candidates() -> list[str]:
    """Backends to try, in order."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return [override]
    return ["glfw", "egl"] if has_display() else ["egl"]


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
