"""The gradient-flow panel: each layer's gradient norm (rows, input at the top) over the recorded steps
(columns), log colour; a cursor on the current step's column and an outline on the selected layer's row.

A click on it gives a step (:meth:`GradflowPanel.step_at`) and a layer (:meth:`GradflowPanel.layer_at`), so the
explorer's timeline and layer selection follow it as they follow the curves. Data: :mod:`nn3d.analysis.gradflow`.
"""

from __future__ import annotations

import numpy as np
from vispy import scene

from ..analysis.gradflow import gradflow
from .panel_base import ImagePanel, colorize

GRADFLOW_CMAP = "viridis"


class GradflowPanel(ImagePanel):
    """``data``: ``flow`` (:class:`~nn3d.analysis.gradflow.GradFlow`), ``log`` (the log10 image drawn, layers x
    steps), ``range`` (its colour range), ``column`` (the current step's) and ``row`` (the selected layer's)."""

    kind = "gradflow"
    stretch = True  # a few layers over many steps stays readable

    def __init__(self, parent=None):
        super().__init__(parent)
        self.marks = scene.visuals.Line(parent=self.view.scene, color=(1, 1, 1, 1), width=2, antialias=False,
                                        connect="segments")
        self.marks.order = 1
        self.marks.set_gl_state("translucent", depth_test=False)  # on top of the image at the same depth
        self.rows = scene.visuals.Text([""], parent=self.view.scene, pos=[(0, 0)], font_size=7, color="#aab3c5",
                                       anchor_x="right")
        self.cols = scene.visuals.Text([""], parent=self.view.scene, pos=[(0, 0)], font_size=7, color="#8892a6",
                                       anchor_x="center", anchor_y="top")
        self._flow = self._for = None

    def _update(self, source, layer, frame):
        if self._for is not source:  # the norms do not change with the frame or the layer: computed once
            self._flow, self._for = gradflow(source.network, source.activations, source.record_steps), source
        flow = self._flow
        log = flow.log_norms()
        finite = log[np.isfinite(log)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self.set_image(colorize(log, "viridis", lo, hi))
        n_layers, n_steps = log.shape
        column = frame % n_steps
        self.marks.set_data(pos=np.array([[column, 0], [column, n_layers], [column + 1, 0], [column + 1, n_layers],
                                          [0, layer], [n_steps, layer], [0, layer + 1], [n_steps, layer + 1]],
                                         np.float32))
        self.data = {"flow": flow, "log": log, "range": (lo, hi), "column": column, "row": layer}
        self._axes(flow, n_layers, n_steps)
        name = source.network.layers[layer].name
        self.title.text = (f"gradient flow: log10 L2 norm of ∂L/∂a, {lo:.2f} (dark) to {hi:.2f} · "
                           f"{name} at step {flow.steps[column]}: {flow.norms[layer, column]:.3g}")

    def _axes(self, flow, n_layers: int, n_steps: int) -> None:
        """Layer names left of the rows (at most ~24), a few step numbers under the columns; room for both."""
        rows = np.unique(np.linspace(0, n_layers - 1, min(n_layers, 24)).round().astype(int))
        self.rows.text, self.rows.pos = [flow.layers[i] for i in rows], [(-0.01 * n_steps, i + 0.5) for i in rows]
        cols = np.unique(np.linspace(0, n_steps - 1, min(n_steps, 6)).round().astype(int))
        self.cols.text = [f"step {flow.steps[c]}" if c == cols[0] else str(flow.steps[c]) for c in cols]
        self.cols.pos = [(c + 0.5, n_layers + 0.08 * n_layers) for c in cols]
        self.data["axes"] = (self.rows.text, self.cols.text)
        self.view.camera.set_range(x=(-0.16 * n_steps - 0.5, n_steps + 0.5),
                                   y=(-0.2 * n_layers - 0.5, 1.15 * n_layers + 0.5), margin=0)

    def _cell_at(self, x: float, y: float) -> tuple[float, float] | None:
        """(column, row) in image cells under canvas pixel (x, y), or None outside the image."""
        if "log" not in self.data:
            return None
        px, py = self.view.pos
        w, h = self.view.size
        if not (px <= x < px + w and py <= y < py + h):
            return None
        p = self.image.get_transform("canvas", "visual").map(np.array([[x, y]]))
        col, row = p[0, 0] / p[0, 3], p[0, 1] / p[0, 3]
        rows, cols = self.data["log"].shape
        return (col, row) if 0 <= col < cols and 0 <= row < rows else None

    def step_at(self, x: float, y: float) -> float | None:
        """The recorded step of the column under canvas pixel (x, y), or None off the image."""
        cell = self._cell_at(x, y)
        return None if cell is None else float(self.data["flow"].steps[int(cell[0])])

    def layer_at(self, x: float, y: float) -> int | None:
        """The layer of the row under canvas pixel (x, y), or None off the image."""
        cell = self._cell_at(x, y)
        return None if cell is None else int(cell[1])
