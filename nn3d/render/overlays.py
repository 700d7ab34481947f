"""Overlays on the 3D scene: layer labels, a colour bar, the HUD, the key help and the picked neuron's card.

Labels live in the 3D scene but are sized in screen points, so they stay readable while flying; everything
else is drawn in canvas pixels on top. None of them takes part in picking.
"""

from __future__ import annotations

import numpy as np
from vispy import scene
from vispy.visuals.transforms import STTransform

from ..layout import Layout
from ..network import Network

MOUSE_HELP = "mouse: drag rotate (fly: look) · scroll zoom · click pick · panels: click a neuron or the curves"


def help_text(keys: str) -> str:
    """The help overlay: the mouse, then the keys (the explorer's keymap writes ``keys``), then Esc (VisPy's)."""
    return f"{MOUSE_HELP}\n{keys}\nEsc  quit"


TEXT = dict(color="white", anchor_x="left", anchor_y="bottom", font_size=9)
CHAR_PX = 6.2  # a generous average character width of TEXT, in canvas pixels


def layer_label(layer) -> str:
    act = f"+{layer.activation}" if layer.activation else ""
    return f"{layer.name}  {layer.kind}{act}  {'×'.join(map(str, layer.shape))}"


class Overlays:
    """All overlay nodes of one scene; ``nodes`` lists them (the picking pass hides them)."""

    def __init__(self, canvas, view, net: Network, layout: Layout, lut: np.ndarray):
        top = layout.boxes[:, 1, 2] + 0.8 * layout.pitch
        pos = np.c_[(layout.boxes[:, 0, :2] + layout.boxes[:, 1, :2]) / 2, top]
        self.labels = scene.visuals.Text([layer_label(layer) for layer in net.layers], pos=pos, color="#c8d0e0",
                                         font_size=8, anchor_x="center", anchor_y="bottom", parent=view.scene)
        self.labels.set_gl_state(depth_test=False, blend=True)
        self.labels.order = 2
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
    finite = part[np.isfinite(part)]
    if finite.size:
        p = scene.percentile or 0.0
        lo, hi = np.percentile(finite, [p, 100 - p])
        if signed:
            lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
    else:
        lo = hi = np.nan
    where = "all layers" if layer is None else layer_name
    return colours, f"{lo:.3g}", f"{hi:.3g}", f"{where}: {rule}"
