"""Overlays on the 3D scene: layer labels, a colour bar, the HUD, the key help and the picked neuron's card.

Labels live in the 3D scene but are sized in screen points, so they stay readable while flying; everything
else is drawn in canvas pixels on top. None of them takes part in picking.
"""

from __future__ import annotations

import numpy as np
from vispy import scene
from vispy.visuals.transforms import STTransform

from ..kernels.reference import percentile_ranges
from ..layout import Layout
from ..network import Network
from . import labels as screen_labels

MOUSE_HELP = "mouse: drag rotate (fly: look) · scroll zoom · click pick · panels: click a neuron or the curves"


def help_text(keys: str) -> str:
    """The help overlay: the mouse, then the keys (the explorer's keymap writes ``keys``), then Esc (VisPy's)."""
    return f"{MOUSE_HELP}\n{keys}\nEsc  quit"


TEXT = dict(color="white", anchor_x="left", anchor_y="bottom", font_size=9)
CHAR_PX = 6.2  # a generous average character width of TEXT, in canvas pixels


class ScreenLabels(scene.visuals.Text):
    """Labels anchored at 3-D points, placed in canvas pixels each frame and decluttered (no two overlap).

    ``anchors`` (n, 3) world points (the bottom centre of each text), ``texts`` and ``priority`` (n,):
    before each draw the anchors are projected through ``view`` and :func:`labels.declutter` keeps, shifts or
    drops them. ``rects`` holds the (m, 4) rectangles of the labels drawn by the last frame. Skipped in the
    picking pass (drawn on the black ID background), so a label is never read as a neuron.
    """

    def __init__(self, view, anchors, texts, priority, **kwargs):
        super().__init__([""], pos=[(0.0, 0.0)], anchor_x="center", anchor_y="bottom", **kwargs)
        self.unfreeze()
        self._in_view, self._points = view, np.asarray(anchors, float).reshape(-1, 3)
        self._strings, self._prio = list(texts), np.asarray(priority, float)
        self._text_px = np.array([screen_labels.text_size(t) for t in self._strings]).reshape(-1, 2)
        self._placed_for = None
        self.rects = np.zeros((0, 4))
        self.defer_to = None  # another label set that replaces this one while it is visible
        self.freeze()

    def layout(self) -> None:
        """Project, declutter and set the texts (only when the view changed since the last frame)."""
        if len(self._strings) == 0:
            return
        tr = self._in_view.scene.node_transform(self._in_view.canvas.scene)
        key = (tuple(np.round(tr.map(np.zeros((1, 3)))[0], 4)), tuple(self._in_view.canvas.size),
               tuple(np.round(tr.map(np.eye(3))[:, :3].ravel(), 4)))
        if key == self._placed_for:
            return
        self._placed_for = key
        p = tr.map(self._points)
        xy = p[:, :2] / p[:, 3:4]
        front = p[:, 3] > 0
        keep, placed = screen_labels.declutter(xy, self._text_px, np.where(front, self._prio, -1),
                                               bounds=self._in_view.canvas.size)
        keep &= front
        self.rects = placed[keep]
        texts = [t for t, k in zip(self._strings, keep) if k]
        # in canvas pixels (y down) anchor_y="bottom" hangs the text below its position: give the top edge
        with self.events.update.blocker():  # setting the text inside a draw must not ask for another draw
            self.text = texts or [""]
            self.pos = np.c_[(self.rects[:, 0] + self.rects[:, 2]) / 2, self.rects[:, 1]] if texts else [(0, 0)]

    def draw(self):
        if tuple(self._in_view.canvas.bgcolor.rgb) == (0.0, 0.0, 0.0):  # the picking pass
            return
        if self.defer_to is not None and self.defer_to.visible:
            self.rects = np.zeros((0, 4))
            return
        self.layout()
        super().draw()


def label_items(net: Network, layout: Layout, hud: bool = False):
    """(anchors (n, 3), texts, priority): one label per block above its first layer; one per layer
    not in a block (always) or in a block (with ``hud``), at lower priority so they appear only where they
    fit."""
    boxes = layout.boxes
    lift = 0.8 * layout.pitch
    anchors, texts, prio = [], [], []
    in_block = np.zeros(len(net.layers), bool)
    for b in net.structure:  # the model's blocks (nn3d.hierarchy)
        idx = np.asarray(b.layers, int)
        in_block[idx] = True
        lo, hi = boxes[idx[0]]  # above the block's first layer: where it starts, even if a fold splits it
        anchors.append(((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, boxes[idx, 1, 2].max() + lift))
        texts.append(b.label)
        prio.append(screen_labels.BLOCK_PRIORITY + 1.0 / (1 + (b.index or 0)))  # None: not a repeated block
    for i, layer in enumerate(net.layers):
        if in_block[i] and not hud:
            continue
        lo, hi = boxes[i]
        anchors.append(((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2] + lift))
        texts.append(layer_label(layer) if hud else layer.name)
        prio.append(screen_labels.LAYER_PRIORITY - i / (10 * max(len(net.layers), 1)))
    return np.asarray(anchors, float).reshape(-1, 3), texts, np.asarray(prio, float)


def layer_label(layer) -> str:
    act = f"+{layer.activation}" if layer.activation else ""
    return f"{layer.name}  {layer.kind}{act}  {'×'.join(map(str, layer.shape))}"


class Overlays:
    """All overlay nodes of one scene; ``nodes`` lists them (the picking pass hides them)."""

    def __init__(self, canvas, view, net: Network, layout: Layout, lut: np.ndarray):
        # block labels, always drawn (``always`` is not switched by the HUD); layer labels with the HUD
        self.always = scene.Node(parent=canvas.scene)
        self.blocks = ScreenLabels(view, *label_items(net, layout), color="#c8d0e0", font_size=8,
                                   parent=self.always)
        self.labels = ScreenLabels(view, *label_items(net, layout, hud=True), color="#c8d0e0", font_size=8,
                                   parent=canvas.scene)
        self.blocks.defer_to = self.labels
        for node in (self.blocks, self.labels):
            node.set_gl_state(depth_test=False, blend=True)
        self.hud = scene.visuals.Text("", pos=(14, 48), parent=canvas.scene, **TEXT)
        self.card = scene.visuals.Text("", parent=canvas.scene, **TEXT)
        self.help = scene.visuals.Text("", parent=canvas.scene, **TEXT)  # the explorer writes help_text()
        self.help.visible = False
        self.bar = scene.visuals.Image(lut[None, :255], parent=canvas.scene, interpolation="nearest")
        self.bar_low = scene.visuals.Text("", parent=canvas.scene, **TEXT)
        self.bar_high = scene.visuals.Text("", parent=canvas.scene, **{**TEXT, "anchor_x": "right"})
        self.bar_title = scene.visuals.Text("", parent=canvas.scene, **{**TEXT, "anchor_y": "top"})
        self.nodes = [self.labels, self.hud, self.card, self.help, self.bar, self.bar_low, self.bar_high,
                      self.bar_title]
        self.place(canvas.size)

    def label_rects(self) -> np.ndarray:
        """(m, 4) canvas rectangles of the labels the last frame drew (the HUD's when it is on)."""
        return self.labels.rects if self.labels.visible else self.blocks.rects

    def place(self, size) -> None:
        """Lay out the 2-D overlays for a canvas of ``size`` (width, height)."""
        self.size = tuple(size)
        self.set_card(self.card.text)
        self.help.pos = (14, 112)

    def set_card(self, text: str) -> None:
        """The picked neuron's description, at the bottom left; the colour bar moves from the bottom right to
        the top right when the card would reach it."""
        w, h = self.size
        self.card.text = text
        self.card.pos = (14, h - 20 - 15 * (text.count("\n") + 1))
        bw, bh = min(260, w // 3), 12
        x = w - bw - 20
        card_right = 14 + CHAR_PX * max((len(line) for line in text.splitlines()), default=0)
        y = 44 if text and card_right + 16 > x else h - 44
        self.bar.transform = STTransform(scale=(bw / 255, bh), translate=(x, y))
        # in canvas pixels (y down) anchor_y="bottom" hangs the text below its position, "top" sets it above
        self.bar_low.pos, self.bar_high.pos, self.bar_title.pos = (x, y + bh + 4), (x + bw, y + bh + 4), (x, y - 4)

    def set_colorbar(self, lut: np.ndarray, low: str, high: str, title: str) -> None:
        """The colour bar: ``lut``'s colours (the 255 value texels, or the part of a split table a layer
        uses, stretched to the bar's 255 texels), its end labels and its title."""
        colours = lut[:255]
        self.bar.set_data(colours[None, np.rint(np.linspace(0, len(colours) - 1, 255)).astype(int)])
        self.bar_low.text, self.bar_high.text, self.bar_title.text = low, high, title


def colorbar(scene, values: np.ndarray | None, layer: int | None, layer_name: str = "") -> tuple:
    """The arguments of :meth:`Overlays.set_colorbar` for a frame of ``values`` and the selected ``layer``
    (None: nothing selected): the colours of the rule that layer follows, its range and the rule in words
    ("diverging, centred at 0, 1–99th pct" or "sequential, 1–99th pct")."""
    from ..colormaps import half

    if values is None:
        return scene.lut, "", "", "no activations"
    signed = bool(scene.signed[0 if layer is None or len(scene.signed) == 1 else layer])
    colours = half(scene.lut, signed) if scene.split else scene.lut
    rule = scene.colour_rule(layer)
    if layer is None and scene.normalisation != "global":
        return colours, "layer low", "layer high", f"activation, each layer: {rule}"
    part = values if layer is None else values[scene.net.layers[layer].neurons]
    # the range the colouring kernels use (the same sampled order statistics), not a second estimate of it
    lo, hi = (float(v[0]) for v in percentile_ranges(part, np.zeros(1, np.int64), scene.percentile or 0.0))
    if signed:
        lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
    where = "all layers" if layer is None else layer_name
    return colours, f"{lo:.3g}", f"{hi:.3g}", f"{where}: {rule}"
