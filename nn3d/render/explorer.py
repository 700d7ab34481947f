"""Entry points from a Network to pixels: build the scene, take a screenshot, or open the explorer window.

The explorer grows in issue 6 (fly camera, picking, overlays, playback); for now it is the scene with a
turntable camera, a title line, and the window or offscreen canvas that the backend allows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..activations import Activations
from ..layout import grid_layout, select_edges
from ..network import Network, NetworkError
from .backend import has_display, window_possible
from .scene import NetworkScene

log = logging.getLogger("nn3d")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def build_scene(net: Network, activations: Activations | None = None, frame: int = 0, size=(1600, 1000),
                k: int = 4, budget: int = 200_000, rule: str = "contribution", colormap: str = "viridis",
                normalisation: str = "layer", title: str | None = None, show: bool = False) -> NetworkScene:
    """A NetworkScene for ``net``, coloured by ``activations[frame]``, with edges selected by ``rule``."""
    values = None
    if activations is not None:
        if activations.n_neurons != net.n_neurons:
            raise NetworkError(f"activations have {activations.n_neurons} neurons, network {net.n_neurons}")
        if not 0 <= frame < activations.n_frames:
            raise NetworkError(f"frame {frame} out of range: {activations.n_frames} frames")
        values = activations.frame(frame)
        n_nan = int(np.isnan(values).sum())
        if n_nan:
            log.warning("nn3d: %d NaN activation(s), drawn in grey", n_nan)
    if values is None and rule == "contribution":
        rule = "weight"
    edges = select_edges(net, k=k, budget=budget, rule=rule,
                         activations=None if values is None else np.nan_to_num(values, posinf=0, neginf=0))
    if edges.note:
        log.warning("nn3d: %s", edges.note)
    scene = NetworkScene(net, grid_layout(net), edges, size=size, colormap=colormap,
                         normalisation=normalisation, show=show, title=f"nn3d: {net.name}")
    if values is not None:
        scene.set_frame(values)
    if title:
        scene.set_title(title)
    return scene


def _check_image_path(path: Path) -> None:
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise NetworkError(f"cannot write {path.name}: unknown image type; use one of {IMAGE_SUFFIXES}")
    if not path.parent.exists():
        raise NetworkError(f"cannot write {path}: folder {path.parent} does not exist")


def screenshot(net: Network, path, activations: Activations | None = None, size=(1600, 1000),
               **options) -> np.ndarray:
    """Render ``net`` offscreen and write the image to ``path``; returns the (height, width, 4) RGBA array."""
    import imageio.v3 as iio

    path = Path(path)
    _check_image_path(path)
    scene = build_scene(net, activations, size=size, **options)
    try:
        image = scene.render()
    finally:
        scene.close()
    iio.imwrite(path, image if path.suffix.lower() == ".png" else image[..., :3])
    return image


def explore(net: Network, activations: Activations | None = None, run: bool = True, **options):
    """Open a window on ``net`` when there is a display (returns after it closes, unless ``run=False``);
    without a display, return the offscreen scene, whose ``render()`` gives frames."""
    show = has_display() and window_possible()
    scene = build_scene(net, activations, show=show, **options)
    if show and run:
        from vispy import app

        app.run()
    return scene
