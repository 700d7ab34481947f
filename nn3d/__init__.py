"""nn3d: every neuron and connection of a neural network in 3D, lit by its activations.

Data flows one way: model -> :class:`Network` (ingest) -> :class:`Layout` + :class:`EdgeSet` (layout) ->
per-frame levels (kernels) -> the VisPy scene (render). Everything before ``render`` is NumPy/torch/Numba
and imports no OpenGL.
"""

import os
import sys

from .activations import Activations
from .ingest import from_torch, load
from .network import Connection, Layer, Network, NetworkError
from .recorder import TrainingRecorder

__version__ = "0.1.0"


def _network(net, activations):
    """``(Network, Activations)`` from what the public functions take: a Network and its activations, a torch
    model and its example inputs (traced by :func:`from_torch`), or a model file / recording path (:func:`load`)."""
    if isinstance(net, Network):
        return net, activations
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(net, torch.nn.Module):
        if activations is None:
            raise NetworkError("a torch model needs its example inputs: nn3d.explore(model, x)")
        return from_torch(net, activations)
    if isinstance(net, (str, os.PathLike)) and activations is None:
        return load(net)
    raise NetworkError(f"expected a Network, a torch model and its inputs, or a model file; got "
                       f"{type(net).__name__}")


def explore(net, activations=None, **options):
    """Open the explorer on ``net`` (a Network and its activations, or a torch model and its example inputs):
    inside a Jupyter kernel an inline widget (a still image, and what to install, without ``jupyter_rfb``), else
    a window when there is a display, offscreen otherwise; returns the Explorer (see
    :func:`nn3d.render.backend.explorer_target`)."""
    from .render.backend import explorer_target

    net, activations = _network(net, activations)
    target = explorer_target()
    if target in ("notebook", "still"):
        from .render.notebook import explore as _inline

        return _inline(net, activations, still=target == "still", **options)
    from .render.explorer import explore as _explore

    return _explore(net, activations, **options)


def show(net, activations=None, size=(800, 500), **options):
    """A still image of ``net`` (as :func:`explore` takes it) for a notebook cell: an object displayed as PNG
    (``.data`` the PNG bytes, ``.array`` the RGBA pixels), for places without widgets (a rendered notebook, CI).
    ``options`` as for :func:`explore` (frame, colormap, hud, camera, select, ...)."""
    from .render.notebook import show as _show

    return _show(*_network(net, activations), size=size, **options)


def screenshot(net, path, activations=None, size=(1600, 1000), **options):
    """Render ``net`` headless to an image file at ``size`` (width, height), any size (tiled past the GL
    limit); returns the RGBA array."""
    from .render.explorer import screenshot as _screenshot

    net, activations = _network(net, activations)
    return _screenshot(net, path, activations, size=size, **options)


def record(net, out, activations=None, path="orbit", frames=120, fps=30, animate=None, size=(1280, 720),
           workers=None, ray_address=None, **options):
    """Render a video of ``net`` to ``out`` (.mp4 or .gif) along the camera ``path`` ("orbit", "through", a
    keyframes JSON file or a list of CameraStates); ``animate``: None, "forward", "samples" or "training".
    ``workers``: render frame ranges as that many Ray tasks (a local Ray, or the cluster at ``ray_address``;
    needs ``nn3d[ray]``), the same video as one process renders. Returns the path written. ``options`` as for
    :func:`explore` (frame, colormap, k, budget, title, ...)."""
    from .render.shards import record as _record

    net, activations = _network(net, activations)
    return _record(net, activations, out, path=path, frames=frames, fps=fps, animate=animate, size=size,
                   workers=workers, ray_address=ray_address, **options)


__all__ = [
    "Activations", "Connection", "Layer", "Network", "NetworkError", "TrainingRecorder",
    "explore", "from_torch", "load", "record", "screenshot", "show",
]
