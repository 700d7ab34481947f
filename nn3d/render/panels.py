"""Analysis panels drawn with VisPy in the same SceneCanvas as the 3D view (or alone, for ``nn3d plot``).

Each panel is a ViewBox with a PanZoom camera over its data and a title in widget pixels. ``update(source,
layer, frame)`` recomputes what changed from :mod:`nn3d.analysis` (per layer: heatmaps and histogram stacks;
per frame: the step cursor, the current histogram, the activations); ``data`` keeps the arrays drawn last, so
tests compare the pixels with them. The panels know nothing of the explorer: it calls them, and asks the
curve panel which step a click falls on (:meth:`CurvesPanel.step_at`).
"""

from __future__ import annotations

import numpy as np
from vispy import scene
from vispy.color import Color

from ..analysis import data as D
from ..analysis.panel_kinds import PANEL_KINDS, column_kinds, default_frame, detail_kind, detail_kinds
from ..colormaps import lut as colormap_lut
from ..network import NetworkError
from .gradflow_panel import GradflowPanel
from .panel_base import PANEL_BG, PANEL_NAN, SERIES_COLORS, TITLE, ImagePanel, Panel, colorize
from .vispy_compat import child_widgets

__all__ = ["PANELS", "PANEL_BG", "PANEL_NAN", "SERIES_COLORS", "TITLE", "ImagePanel", "Panel", "PanelColumn",
           "colorize", "render_panel"]


class WeightsPanel(ImagePanel):
    """The layer's incoming weight matrix at the current frame, pooled to at most 256x256 blocks."""

    kind = "weights"
    stretch = True  # a 10x784 matrix stays readable

    def __init__(self, parent=None):
        super().__init__(parent)
        from vispy.visuals.transforms import STTransform

        # a colour bar below the matrix (data coordinates) and the axes' labels
        self.bar = scene.visuals.Image(colormap_lut("viridis")[None, :255], parent=self.view.scene,
                                       interpolation="nearest")
        self.bar.transform = STTransform()
        self.axes = scene.visuals.Text("", parent=self.view.scene, font_size=7, color="#8892a6")
        self.bar_ends = [scene.visuals.Text("", parent=self.view.scene, font_size=7, color="#8892a6", anchor_x=a)
                         for a in ("left", "right")]
        self.marker = scene.visuals.Line(parent=self.view.scene, color=(1, 1, 1, 1), width=2, antialias=False)
        self.marker.order = 1
        self.marker.set_gl_state("translucent", depth_test=False)  # on top of the image at the same depth
        self.neuron = None

    def mark(self, neuron: int | None) -> None:
        """Outline the heatmap row of the selected neuron's incoming weights (None: no outline)."""
        self.neuron = neuron

    def _update(self, source, layer, frame):
        w = source.weight_matrix(layer, frame)
        hm = D.heatmap(w)
        self.data = {"heatmap": hm, "weights": w}
        self.set_image(colorize(hm.values))
        net = source.network
        row = None
        if self.neuron is not None and net.layer_of(self.neuron) == layer:
            conn = net.connections[source.connection(layer)]
            row = int(np.searchsorted(hm.row_starts, D.matrix_row(net, conn, self.neuron), "right") - 1)
            c = hm.values.shape[1]
            self.marker.set_data(pos=np.array([[0, row], [c, row], [c, row + 1], [0, row + 1], [0, row]], np.float32))
        self.marker.visible = row is not None
        self.data["row"] = row
        pooled = "" if hm.mode == "exact" else f", {hm.mode} of blocks -> {hm.values.shape[0]}x{hm.values.shape[1]}"
        name = source.network.layers[layer].name
        when = (f"step {source.record_steps[frame % source.n_frames]}" if source.weights_over_training(layer)
                else "final weights")
        self.title.text = (f"weights into {name}: {w.shape[0]} out x {w.shape[1]} in{pooled} · {when} · "
                           f"[{w.min():.3g}, {w.max():.3g}]")
        self._axes(hm, w)

    def _axes(self, hm, w) -> None:
        """Axes (input index along x, output index down y) and a colour bar from min to max, below."""
        h, c = hm.values.shape
        self.bar.transform.scale = (c / 255, 0.05 * h)
        self.bar.transform.translate = (0, 1.12 * h)
        lo, hi = float(np.nanmin(hm.values)), float(np.nanmax(hm.values))
        self.axes.text = f"rows: output 0..{w.shape[0] - 1} (top to bottom) · columns: input 0..{w.shape[1] - 1}"
        self.axes.pos = (c / 2, 1.06 * h)
        for end, value, x in zip(self.bar_ends, (lo, hi), (0, c), strict=True):
            end.text, end.pos = f"{value:.3g}", (x, 1.24 * h)
        self.data.update(bar=(lo, hi), axes=self.axes.text)
        self.view.camera.set_range(x=(-0.5, c + 0.5), y=(-0.2 * h - 0.5, 1.3 * h + 0.5), margin=0)


class FiltersPanel(ImagePanel):
    """A conv layer's kernels as small images: row = output channel, column = input channel."""

    kind = "filters"

    def _update(self, source, layer, frame):
        conn = source.network.connections[source.connection(layer)]
        if conn.kind != "conv":
            raise NetworkError(f"not a conv layer ({conn.kind} weights)")
        k = source.weights(layer, frame)
        mosaic, corners = D.filter_mosaic(k)
        n_out, n_in = corners.shape[:2]
        lim = float(np.abs(k).max()) or 1.0
        self.data = {"mosaic": mosaic, "corners": corners, "kernel": k, "lim": lim}
        self.set_image(colorize(mosaic, "coolwarm", -lim, lim))
        self.title.text = (f"filters of {source.network.layers[layer].name}: {n_out}/{k.shape[0]} out x "
                           f"{n_in}/{k.shape[1]} in, {'x'.join(map(str, k.shape[2:]))} · ±{lim:.3g}")


class AttentionPanel(ImagePanel):
    """The attention probabilities of the current input for one head (``head``; query rows, key columns)."""

    kind = "attention"

    def __init__(self, parent=None, head: int = 0):
        super().__init__(parent)
        self.head = head
        self.rows = scene.visuals.Text([""], parent=self.view.scene, pos=[(0, 0)], font_size=6, color="#8892a6",
                                       anchor_x="right")
        self.cols = scene.visuals.Text([""], parent=self.view.scene, pos=[(0, 0)], font_size=6, color="#8892a6",
                                       anchor_x="center", anchor_y="bottom")

    def _update(self, source, layer, frame):
        probs = source.attention(layer, frame)
        self.head %= probs.shape[0]
        self.data = {"probs": probs, "map": probs[self.head]}
        self.set_image(colorize(probs[self.head], "inferno", 0.0, 1.0))
        self.title.text = (f"attention {source.network.layers[layer].name} · head {self.head + 1}/{probs.shape[0]}"
                           f" · {probs.shape[1]} tokens (query rows, key columns)")
        self._token_labels(source, frame, probs.shape[1])

    def _token_labels(self, source, frame: int, n: int) -> None:
        """Token labels beside the rows (queries) and below the columns (keys); about 24 at most, so they
        stay readable on a long sequence."""
        from ..analysis.attention import token_labels

        values = None if source.activations is None else source.activations.frame(frame % source.n_frames)
        labels = token_labels(source.network, values, n)
        shown = np.unique(np.linspace(0, n - 1, min(n, 24)).round().astype(int))
        self.data["tokens"] = labels
        self.rows.text, self.rows.pos = [labels[i] for i in shown], [(-0.3, i + 0.5) for i in shown]
        self.cols.text, self.cols.pos = [labels[i] for i in shown], [(i + 0.5, n + 0.9) for i in shown]
        self.view.camera.set_range(x=(-0.25 * n - 0.5, n + 0.5), y=(-0.2 * n - 0.5, 1.15 * n + 0.5), margin=0)


def _ridge(stack: D.HistogramStack, x0: float, width: float, current: int, height: float = 3.0,
           rows: int | None = None):
    """Line vertices and colours of a ridge plot: one outline per step, later steps lower, the current one
    orange, spread over the height of ``rows`` steps (default its own: stacks of different lengths side by
    side span the same height); returns (pos (n, 2), colors (n, 4), connect (n - 1,) bool)."""
    n, bins = stack.counts.shape
    peak = max(float(stack.counts.max()), 1e-12)
    scale = 1.0 if rows is None else rows / n
    centres = x0 + width * (np.arange(bins) + 0.5) / bins
    pos, color, connect = [], [], []
    for r in range(n):
        base = float(n - 1 - r)
        y = base + height * stack.counts[r] / peak
        pos.append(np.c_[np.r_[x0, centres, x0 + width], scale * np.r_[base, y, base]])
        t = 0.35 + 0.65 * r / max(n - 1, 1)
        c = (1.0, 0.62, 0.2, 1.0) if r == current else (0.35 * t, 0.75 * t, 0.95 * t, 0.9)
        color.append(np.tile(c, (bins + 2, 1)))
        connect.append(np.r_[np.ones(bins + 1, bool), False])
    return np.vstack(pos).astype(np.float32), np.vstack(color).astype(np.float32), np.concatenate(connect)[:-1]


class HistPanel(Panel):
    """Weight (left) and bias (right) histograms over the recorded steps, as ridges; the current step orange.
    Then, right of them, one ridge plot per TensorBoard histogram tag that names the layer (its logged steps,
    the one nearest the frame's step orange)."""

    kind = "hist"

    def __init__(self, parent=None, bins: int = 40):
        super().__init__(parent)
        self.bins = bins
        self.lines = scene.visuals.Line(parent=self.view.scene, antialias=False, width=1)
        self.labels = scene.visuals.Text("", parent=self.view.scene, pos=[(0, 0), (1, 0)], font_size=7,
                                         color="#aab3c5", anchor_x="left", anchor_y="top")
        self._stacks = None

    def _update(self, source, layer, frame):
        self._show()
        if self.layer != layer or self._stacks is None:
            steps, ws = source.weight_history(layer)
            biases = source.bias_history(layer)
            self._stacks = (D.histogram_stack(ws, steps, self.bins),
                            None if biases is None else D.histogram_stack(biases[1], biases[0], self.bins),
                            source.tensorboard_histograms(layer, self.bins))
        wst, bst, tb = self._stacks
        current = min(frame, len(wst.steps) - 1) if source.recording is not None else len(wst.steps) - 1
        step = source.cursor_step(frame)
        tb_current = {tag: (len(st.steps) - 1 if step is None else D.nearest(st.steps, step))
                      for tag, st in tb.items()}
        ridges = [(f"weights [{wst.edges[0]:.2g}, {wst.edges[-1]:.2g}]", wst, current)]
        if bst is not None:
            ridges.append((f"biases [{bst.edges[0]:.2g}, {bst.edges[-1]:.2g}]", bst, min(current, len(bst.steps) - 1)))
        ridges += [(f"tb:{tag} [{st.edges[0]:.2g}, {st.edges[-1]:.2g}]", st, tb_current[tag]) for tag, st in tb.items()]
        n = max(len(st.steps) for _, st, _ in ridges)
        parts, labels, lpos = [], [], []
        for i, (label, st, row) in enumerate(ridges):
            parts.append(_ridge(st, 1.15 * i, 1.0, row, rows=n if len(st.steps) != n else None))
            labels.append(label)
            lpos.append((1.15 * i, n + 2.6))
        pos, col = np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])
        con = np.concatenate([np.r_[p[2], False] for p in parts])[:-1]
        self.lines.set_data(pos=pos, color=col, connect=con)
        self.labels.text, self.labels.pos = labels, lpos
        self.data = {"weights": wst, "biases": bst, "current": current, "tensorboard": tb, "tb_current": tb_current}
        self.set_range(0.0, 1.15 * len(ridges) - 0.15, 0.0, n + 3.0)
        bias_note = "" if bst is not None else " (no biases recorded)"
        tb_note = f" · TensorBoard: {', '.join(tb)}" if tb else ""
        name = source.network.layers[layer].name
        self.title.text = (f"histograms of layer {name} over {len(wst.steps)} recorded steps{bias_note} · step "
                           f"{wst.steps[current]} orange{tb_note}" if source.recording is not None
                           else f"histograms of layer {name} (weights now){bias_note}{tb_note}")


class CurvesPanel(Panel):
    """Loss and metrics over training steps, each on its own labelled y axis (the first series' on the left,
    the second's on the right, each in its colour: twin axes), a cursor at the current frame's step;
    :meth:`step_at` turns a click into a step."""

    kind = "curves"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.lines = scene.visuals.Line(parent=self.view.scene, antialias=False, width=1.5)
        self.cursor = scene.visuals.Line(parent=self.view.scene, color=(1, 1, 1, 1), width=1.5)
        self.legend = scene.visuals.Text("", parent=self.view, pos=(8, 34), **{**TITLE, "font_size": 7})
        self.ticks = scene.visuals.Text("", parent=self.view.scene, pos=[(0, 0)], font_size=7, color="#8892a6",
                                        anchor_y="top")
        self.yaxes = [scene.visuals.Text("", parent=self.view.scene, font_size=7, anchor_x=a)
                      for a in ("right", "left")]
        self.cursor.order = 1
        self.cursor.set_gl_state("translucent", depth_test=False)

    def _update(self, source, layer, frame):
        self._show()
        cv = source.curves(frame)
        pos, col, con = [], [], []
        legend = []
        x0, x1 = min(s[0] for s, _ in cv.series.values()), max(s[-1] for s, _ in cv.series.values())
        for i, (name, (s, v)) in enumerate(cv.series.items()):
            lo, hi = float(v.min()), float(v.max())
            y = (v - lo) / (hi - lo) if hi > lo else np.full_like(v, 0.5)
            pos.append(np.c_[s, y])
            c = SERIES_COLORS[i % len(SERIES_COLORS)]
            col.append(np.tile(Color(c).rgba, (len(s), 1)))
            con.append(np.r_[np.ones(len(s) - 1, bool), False])
            legend.append(f"{name} {cv.at(name, cv.cursor):.4g} (range {lo:.3g}..{hi:.3g})")
        self.lines.set_data(pos=np.vstack(pos).astype(np.float32), color=np.vstack(col).astype(np.float32),
                            connect=np.concatenate(con)[:-1])
        self.cursor.set_data(pos=np.array([[cv.cursor, -0.05], [cv.cursor, 1.05]], np.float32))
        self.legend.text = legend  # one entry per series, in its colour
        per_row = max(1, int((self.view.size[0] - 16) // 250))  # wrapped: TensorBoard logs bring many series
        self.legend.pos = [(8 + 250 * (i % per_row), 34 + 12 * (i // per_row)) for i in range(len(legend))]
        rows = -(-len(legend) // per_row)
        self.legend.color = np.array([Color(SERIES_COLORS[i % len(SERIES_COLORS)]).rgba for i in range(len(legend))])
        self.ticks.text, self.ticks.pos = [f"step {x0:g}", f"{x1:g}"], [(x0, -0.03), (x1 - 0.03 * (x1 - x0), -0.03)]
        self.data = {"curves": cv, "cursor": cv.cursor, "axes": self._yaxes(cv, x0, x1)}
        self.set_range(x0 - 0.12 * (x1 - x0), x1 + 0.12 * (x1 - x0), -0.08, 1.0, top=0.35 + 0.08 * (rows - 1))
        self.title.text = (f"training curves · step {cv.cursor:g} (click a step to jump there)" if source.recording
                           is not None else f"training curves (TensorBoard) · the model now: step {cv.cursor:g}")

    def _yaxes(self, cv, x0: float, x1: float) -> list[str]:
        """Labels of the twin y axes: each of the first two series' name and its low and high values, beside
        the plot (left, right) in the series' colour. Returns the labels drawn."""
        text = []
        gap = 0.02 * (x1 - x0 or 1.0)
        series = list(cv.series.items())[:2]
        for i, axis in enumerate(self.yaxes):
            axis.visible = i < len(series)
            if i >= len(series):
                continue
            name, (_, v) = series[i]
            x = x0 - gap if i == 0 else x1 + gap
            lo, hi = float(v.min()), float(v.max())
            labels = [f"{hi:.3g}", name, f"{lo:.3g}"]
            axis.text, axis.pos, axis.color = labels, [(x, 1.0), (x, 0.5), (x, 0.08)], Color(SERIES_COLORS[i]).rgba
            text += labels
        return text

    def canvas_x(self, step: float) -> float:
        """Canvas pixel x of training step ``step``."""
        p = self.lines.get_transform("visual", "canvas").map(np.array([[step, 0.5]]))
        return float(p[0, 0] / p[0, 3])

    def step_at(self, x: float, y: float) -> float | None:
        """The training step under canvas pixel (x, y), or None outside this panel."""
        if not self.contains(x, y) or "curves" not in self.data:
            return None
        p = self.lines.get_transform("canvas", "visual").map(np.array([[x, y]]))
        return float(p[0, 0] / p[0, 3])

    def contains(self, x: float, y: float) -> bool:
        px, py = self.view.pos
        w, h = self.view.size
        return bool(px <= x < px + w and py <= y < py + h)


class FunctionPanel(Panel):
    """The layer's activation function f(x) (line), and the current activations' distribution over its output
    axis (bars to the left): the recorded values are f's outputs."""

    kind = "function"

    def __init__(self, parent=None, bins: int = 30):
        super().__init__(parent)
        self.bins = bins
        self.bars = scene.visuals.Mesh(parent=self.view.scene, color=(0.37, 0.83, 0.95, 0.55))
        self.curve = scene.visuals.Line(parent=self.view.scene, color="#ffb347", width=2, antialias=False)
        self.axes = scene.visuals.Line(parent=self.view.scene, color="#505a70", connect="segments")
        self.bars.order, self.curve.order = 0, 1

    def _update(self, source, layer, frame):
        la = source.network.layers[layer]
        if not la.activation:
            raise NetworkError(f"{la.name} applies no activation function")
        self._show()
        values = source.values(layer, frame).astype(np.float64)
        finite = values[np.isfinite(values)]
        x, y = D.activation_curve(la.activation)
        counts, edges = np.histogram(finite, self.bins)
        y_lo, y_hi = min(y.min(), edges[0]), max(y.max(), edges[-1])
        self.curve.set_data(pos=np.c_[x, y].astype(np.float32))
        width = 0.45 * (x[-1] - x[0]) * counts / max(counts.max(), 1)
        verts, faces = [], []
        for i, (c, w) in enumerate(zip(counts, width)):
            if c:
                b = len(verts)
                verts += [(x[0], edges[i]), (x[0] + w, edges[i]), (x[0] + w, edges[i + 1]), (x[0], edges[i + 1])]
                faces += [(b, b + 1, b + 2), (b, b + 2, b + 3)]
        if verts:
            self.bars.set_data(vertices=np.asarray(verts, np.float32), faces=np.asarray(faces, np.uint32))
        self.axes.set_data(pos=np.array([[x[0], 0], [x[-1], 0], [0, y_lo], [0, y_hi]], np.float32))
        self.data = {"x": x, "y": y, "counts": counts, "edges": edges}
        self.set_range(x[0], x[-1], y_lo, y_hi)
        self.title.text = (f"{la.activation}(x) of {la.name} · bars: its {finite.size} activations now, "
                           f"in [{finite.min():.3g}, {finite.max():.3g}]" if finite.size else "")


PANELS: dict[str, type[Panel]] = {cls.kind: cls for cls in (WeightsPanel, HistPanel, CurvesPanel, GradflowPanel,
                                                            FiltersPanel, AttentionPanel, FunctionPanel)}
"""The view class of each kind of :data:`nn3d.analysis.panel_kinds.PANEL_KINDS` (the registry of kinds)."""
if list(PANELS) != list(PANEL_KINDS):  # a kind without a view, or a view of no kind: fail at import
    raise ImportError(f"panel views {sorted(PANELS)} do not match the panel kinds {sorted(PANEL_KINDS)}")


class PanelColumn:
    """A column of panels at the right of the explorer's canvas, the 3D view to their left.

    Top to bottom: weights heatmap, weight/bias histograms, training curves (recordings only), and one detail
    panel that suits the layer (conv filters, attention map or activation function). ``update`` follows the
    explorer's selected layer and frame; ``step_at`` turns a click on the curves into a training step.
    """

    def __init__(self, canvas, view, source, fraction: float = 0.42, layer: int | None = None):
        self.canvas, self.view, self.source, self.fraction = canvas, view, source, fraction
        central = canvas.central_widget
        if view in child_widgets(central):  # the explorer places the 3D view itself from now on
            central.remove_widget(view)
            view.parent = central
        self.column = [PANELS[k](parent=central) for k in column_kinds(source.has_curves, source.grads is not None)]
        self.details = {k: PANELS[k](parent=central) for k in detail_kinds()}
        self.by_kind = {p.kind: p for p in self.column} | self.details
        self.layer = self._default_layer() if layer is None else layer
        self.frame = 0
        self.place(canvas.size)

    def _default_layer(self) -> int:
        try:
            return self.source.layer(None, "weights")
        except NetworkError:
            return len(self.source.network.layers) - 1

    @property
    def nodes(self) -> list:
        return [p.view for p in self.by_kind.values()]

    @property
    def detail(self) -> Panel:
        return self.details[detail_kind(self.source, self.layer)]

    @property
    def visible(self) -> list[Panel]:
        return self.column + [self.detail]

    def view_width(self, width: int) -> int:
        return int(round(width * (1 - self.fraction)))

    def place(self, size) -> None:
        """Lay out the 3D view and the panels for a canvas of ``size`` (width, height)."""
        from vispy.geometry import Rect

        w, h = size
        x = self.view_width(w)
        self.view.rect = Rect((0, 0), (max(x, 1), max(h, 1)))
        shown = self.visible
        for p in self.details.values():
            p.view.visible = p in shown
        ph = h / len(shown)
        for i, p in enumerate(shown):
            p.set_rect(x, round(i * ph), w - x, round((i + 1) * ph) - round(i * ph))

    def update(self, layer: int | None = None, frame: int | None = None, neuron: int | None = -1) -> None:
        """Follow a new layer, frame and/or selected neuron (None: none; -1: unchanged); only the panels that
        depend on what changed are redrawn."""
        weights = self.by_kind["weights"]
        if neuron != -1 and neuron != weights.neuron:
            weights.mark(neuron)
            weights.frame = None  # redraw
        changed_layer = layer is not None and layer != self.layer
        if layer is not None:
            self.layer = layer
        if frame is not None:
            self.frame = frame
        if changed_layer:
            self.place(self.canvas.size)
        for p in self.visible:
            if changed_layer or p.frame != self.frame or p.layer != self.layer:
                p.update(self.source, self.layer, self.frame)

    def contains(self, x: float, y: float) -> bool:
        return x >= self.view_width(self.canvas.size[0])

    def step_at(self, x: float, y: float) -> float | None:
        """The training step a click at canvas pixel (x, y) falls on: on the curves or the gradient flow."""
        steps = (p.step_at(x, y) for k, p in self.by_kind.items() if k in ("curves", "gradflow"))
        return next((s for s in steps if s is not None), None)

    def layer_at(self, x: float, y: float) -> int | None:
        """The layer a click at canvas pixel (x, y) picks: a row of the gradient flow, else None."""
        flow = self.by_kind.get("gradflow")
        return None if flow is None else flow.layer_at(x, y)

    def next_head(self) -> None:
        panel = self.details["attention"]
        panel.head += 1
        panel.frame = None  # redraw
        self.update()


def render_panel(source, kind: str, layer: int, frame: int | None = None, size=(900, 520),
                 head: int = 0) -> np.ndarray:
    """One panel alone, offscreen: (height, width, 4) uint8. NetworkError when the source lacks its data.
    ``frame`` None: :func:`default_frame`."""
    from .backend import ensure_backend

    frame = default_frame(source, kind) if frame is None else frame
    ensure_backend()
    canvas = scene.SceneCanvas(size=tuple(size), show=False, bgcolor=PANEL_BG)
    try:
        panel = PANELS[kind](parent=canvas.scene, **({"head": head} if kind == "attention" else {}))
        panel.set_rect(0, 0, *size)
        panel._update(source, layer, frame)  # errors go to the caller, not onto the image
        return canvas.render(alpha=True)
    finally:
        canvas.close()
