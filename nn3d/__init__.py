"""nn3d: every neuron and connection of a neural network in 3D, lit by its activations.

Data flows one way: model -> :class:`Network` (ingest) -> :class:`Layout` + :class:`EdgeSet` (layout) ->
per-frame levels (kernels) -> the VisPy scene (render). Everything before ``render`` is NumPy/torch/Numba
and imports no OpenGL.
"""

from .activations import Activations
from .ingest import from_torch, load
from .network import Connection, Layer, Network, NetworkError
from .recorder import TrainingRecorder

__version__ = "0.1.0"


def explore(net, activations=None, **options):
    """Open the explorer on ``net`` (a window when there is a display, offscreen otherwise); returns it."""
    from .render.explorer import explore as _explore

    return _explore(net, activations, **options)


def screenshot(net, path, activations=None, size=(1600, 1000), **options):
    """Render ``net`` headless to an image file at ``size`` (width, height), any size (tiled past the GL
    limit); returns the RGBA array."""
    from .render.explorer import screenshot as _screenshot

    return _screenshot(net, path, activations, size=size, **options)


def record(net, out, activations=None, path="orbit", frames=120, fps=30, animate=None, size=(1280, 720),
           workers=None, ray_address=None, **options):
    """Render a video of ``net`` to ``out`` (.mp4 or .gif) along the camera ``path`` ("orbit", "through", a
    keyframes JSON file or a list of CameraStates); ``animate``: None, "forward", "samples" or "training".
    ``workers``: render frame ranges as that many Ray tasks (a local Ray, or the cluster at ``ray_address``;
    needs ``nn3d[ray]``), the same video as one process renders. Returns the path written. ``options`` as for
    :func:`explore` (frame, colormap, k, budget, title, ...)."""
    from .render.video import record as _record

    return _record(net, activations, out, path=path, frames=frames, fps=fps, animate=animate, size=size,
                   workers=workers, ray_address=ray_address, **options)


__all__ = [
    "Activations", "Connection", "Layer", "Network", "NetworkError", "TrainingRecorder",
    "explore", "from_torch", "load", "record", "screenshot",
]
