"""The panels' common parts: colours, :func:`colorize`, the :class:`Panel` base class and :class:`ImagePanel`.

Kept apart from :mod:`nn3d.render.panels` (the kinds' views and the column) so that a panel kind can live in
its own module (:mod:`nn3d.render.gradflow_panel`) and ``panels`` stays small.
"""

from __future__ import annotations

import numpy as np
from vispy import scene

from ..colormaps import lut as colormap_lut
from ..kernels import rgba
from ..network import NetworkError

PANEL_BG = "#11141b"
TITLE = dict(color="#d8deea", font_size=8, anchor_x="left", anchor_y="bottom")
SERIES_COLORS = ["#ffb347", "#5fd3f3", "#9be07a", "#f37f9d", "#c59bff"]
PANEL_NAN = (17, 20, 27, 255)  # NaN cells (a filter mosaic's gaps) in the panels' background colour


def colorize(values: np.ndarray, cmap: str = "viridis", lo=None, hi=None) -> np.ndarray:
    """RGBA8 image of a 2-D array through a colormap, ``lo..hi`` (default finite min..max) to its 255 levels:
    the kernels' :func:`~nn3d.kernels.rgba` with one global range (NumPy: a panel is small), NaN in the
    panels' background colour."""
    v = np.asarray(values, np.float64)
    vrange = None if lo is None and hi is None else _filled_range(v, lo, hi)
    return rgba(v, colormap_lut(cmap, PANEL_NAN), mode="global", vrange=vrange, kernel="numpy")


def _filled_range(v: np.ndarray, lo, hi) -> tuple[float, float]:
    finite = v[np.isfinite(v)]
    lo = float(finite.min()) if lo is None and finite.size else (lo or 0.0)
    hi = float(finite.max()) if hi is None and finite.size else (hi or 1.0)
    return lo, max(lo, hi)


class Panel:
    """One panel: ``view`` (a ViewBox), ``title`` (text in widget pixels), ``data`` (what is drawn)."""

    kind = ""

    def __init__(self, parent=None):
        self.view = scene.widgets.ViewBox(parent=parent, bgcolor=PANEL_BG, border_color="#2a3040")
        self.view.camera = scene.PanZoomCamera(aspect=None, interactive=False)
        self.title = scene.visuals.Text("", parent=self.view, pos=(8, 16), **TITLE)
        self.message = scene.visuals.Text("", parent=self.view, pos=(8, 34), **{**TITLE, "color": "#8892a6"})
        self.data: dict = {}
        self.layer = self.frame = None

    @property
    def nodes(self) -> list:
        return [self.view]

    def set_rect(self, x: float, y: float, w: float, h: float) -> None:
        """Place the panel at canvas pixels (x, y) (top-left), w x h."""
        from vispy.geometry import Rect

        self.view.rect = Rect((x, y), (max(w, 1), max(h, 1)))

    def set_range(self, x0, x1, y0, y1, top: float = 0.16, pad: float = 0.04) -> None:
        """Show data x0..x1, y0..y1, leaving ``top`` of the height free for the title."""
        w, h = x1 - x0 or 1.0, y1 - y0 or 1.0
        self.view.camera.set_range(x=(x0 - pad * w, x1 + pad * w), y=(y0 - pad * h, y1 + (top + pad) * h),
                                   margin=0)

    def show_message(self, text: str) -> None:
        self.message.text = text

    def update(self, source, layer: int, frame: int) -> None:
        try:
            self.show_message("")
            self._update(source, layer, frame)
        except NetworkError as e:
            self.data = {}
            self.title.text = f"{self.kind}: {source.network.layers[layer].name}"
            self.show_message(str(e))
            self._hide()
        self.layer, self.frame = layer, frame

    def _hide(self) -> None:
        for node in self.view.scene.children:
            node.visible = False

    def _show(self) -> None:
        for node in self.view.scene.children:
            node.visible = True


class ImagePanel(Panel):
    """An image in data coordinates, row 0 at the top; square pixels unless ``stretch``."""

    stretch = False

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view.camera.aspect = None if self.stretch else 1.0
        self.image = scene.visuals.Image(np.zeros((1, 1, 4), np.uint8), parent=self.view.scene,
                                         interpolation="nearest")
        self.view.camera.flip = (False, True, False)

    def set_image(self, rgba: np.ndarray) -> None:
        self._show()
        self.image.set_data(rgba)
        h, w = rgba.shape[:2]
        self.view.camera.set_range(x=(-0.5, w + 0.5), y=(-0.2 * h - 0.5, h + 0.5), margin=0)

    def pixel_of(self, row: float, col: float) -> np.ndarray:
        """Canvas pixel (x, y) of the centre of image cell (row, col)."""
        p = self.image.get_transform("visual", "canvas").map(np.array([[col + 0.5, row + 0.5]]))
        return p[0, :2] / p[0, 3]
