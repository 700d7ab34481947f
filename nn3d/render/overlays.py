"""Overlays on the 3D scene: layer labels, a colour bar, the HUD, the key help and the picked neuron's card.

Labels live in the 3D scene but are sized in screen points, so they stay readable while flying; everything
else is drawn in canvas pixels on top. None of them takes part in picking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vispy import scene
from vispy.visuals.transforms import STTransform

from ..kernels.reference import percentile_ranges
from ..layout import Layout
from ..network import Network
from . import labels as screen_labels

MOUSE_HELP = "mouse: drag rotate (fly: look) · scroll zoom · click pick · panels: click a neuron or the curves"


def help_text(keys: str, esc_quits: bool = True) -> str:
    """The help overlay: the mouse, then the keys (the explorer's keymap writes ``keys``), then Esc (VisPy's,
    on canvases that have it: not a notebook widget's)."""
    return f"{MOUSE_HELP}\n{keys}" + ("\nEsc  quit" if esc_quits else "")


TEXT = dict(color="white", anchor_x="left", anchor_y="bottom", font_size=9)
CHAR_PX = 6.2  # a generous average character width of TEXT, in canvas pixels


@dataclass(frozen=True)
class LabelItems:
    """What can be labelled: ``anchors`` float (n, 3) world points (each text's bottom centre), ``texts``,
    ``priority`` float (n,); ``layer`` int (n,) the layer a layer label names (-1: a block label); ``block``
    int (n,) the block (index into ``net.structure``) a label belongs to; ``single`` int (n,) for the label of
    a one-layer block, that layer (its own label replaces it when shown), else -1."""

    anchors: np.ndarray
    texts: list
    priority: np.ndarray
    layer: np.ndarray
    block: np.ndarray
    single: np.ndarray


class ScreenLabels(scene.visuals.Text):
    """Labels anchored at 3-D points, placed in canvas pixels each frame and decluttered (no two overlap).

    ``items`` (:class:`LabelItems`); ``boxes`` (n_layers, 2, 3) the layers' boxes. Before each draw the
    anchors are projected through ``view``: block labels are always candidates; a layer's label is one when
    the layer's projected box is large enough (:func:`labels.close_enough`), when its block is ``focus``
    (the selected one), or with ``all_layers`` (the HUD). :func:`labels.declutter` then keeps, shifts or
    drops them, blocks first, around the ``reserved()`` rectangles (title, HUD text). ``rects`` holds the (m, 4)
    rectangles of the labels drawn by the last frame, ``shown`` their indices into ``items``. Skipped in the
    picking pass (drawn on the black ID background), so a label is never read as a neuron.
    """

    def __init__(self, view, items: LabelItems, boxes: np.ndarray, reserved=None, backing=None, **kwargs):
        super().__init__([""], pos=[(0.0, 0.0)], anchor_x="center", anchor_y="bottom", **kwargs)
        self.unfreeze()
        self._backing = backing  # a Mesh drawn before the labels: a dark plate under each, so that a label
        # over a light layer stays readable
        self._in_view, self.items = view, items
        self._points = np.asarray(items.anchors, float).reshape(-1, 3)
        b = np.asarray(boxes, float).reshape(-1, 2, 3)
        self._corners = np.stack([b[:, [i, j, k], [0, 1, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)],
                                 axis=1).reshape(-1, 3)  # (n_layers * 8, 3)
        self._text_px = np.array([screen_labels.text_size(t) for t in items.texts]).reshape(-1, 2)
        self._layer_label = np.zeros(len(b), np.int64)  # each layer's own label's index in ``items``
        self._layer_label[items.layer[items.layer >= 0]] = np.flatnonzero(items.layer >= 0)
        # a one-layer block's label and its layer's own label are alternatives: one of them is drawn
        self._group = np.where(items.single >= 0, items.single, -1)
        self._group[items.layer >= 0] = np.where(np.isin(items.layer[items.layer >= 0], items.single),
                                                 items.layer[items.layer >= 0], -1)
        self._reserved = reserved or (lambda: np.zeros((0, 4)))
        self._placed_for = None
        self.rects, self.shown = np.zeros((0, 4)), np.zeros(0, np.int64)
        self.focus: int | None = None  # the selected block: its layers are labelled
        self.all_layers = lambda: False  # whether every layer's label is a candidate (the HUD)
        self.freeze()

    def candidates(self, tr, size) -> np.ndarray:
        """float (n,) this view's priority of each label, -1 where it is not to be drawn. The label of a
        shown layer that is a block by itself goes just before its block's label (its alternative)."""
        it = self.items
        c = tr.map(self._corners)
        xy = (c[:, :2] / c[:, 3:4]).reshape(-1, 8, 2)
        behind = (c[:, 3] <= 0).reshape(-1, 8).any(axis=1)
        extent = np.where(behind[:, None], 0.0, xy.max(axis=1) - xy.min(axis=1))
        is_layer = it.layer >= 0
        lay = np.where(is_layer, it.layer, 0)
        on = ~is_layer | screen_labels.close_enough(extent, size)[lay] | (it.block == self.focus) | self.all_layers()
        prio = np.where(on, it.priority, -1.0)
        alone = np.flatnonzero(it.single >= 0)
        own = self._layer_label[it.single[alone]]
        prio[own] = np.where(prio[own] >= 0, prio[alone] + 1e-3, -1.0)
        return prio

    def layout(self) -> None:
        """Project, declutter and set the texts (only when the view or the state changed since the last frame)."""
        if len(self.items.texts) == 0:
            return
        tr = self._in_view.scene.node_transform(self._in_view.canvas.scene)
        reserved = np.asarray(self._reserved(), float).reshape(-1, 4)
        key = (tuple(np.round(tr.map(np.zeros((1, 3)))[0], 4)), tuple(self._in_view.canvas.size),
               tuple(np.round(tr.map(np.eye(3))[:, :3].ravel(), 4)), self.focus, self.all_layers(),
               reserved.round(1).tobytes())
        if key == self._placed_for:
            return
        self._placed_for = key
        p = tr.map(self._points)
        xy = p[:, :2] / p[:, 3:4]
        prio = np.where(p[:, 3] > 0, self.candidates(tr, self._in_view.canvas.size), -1.0)
        keep, placed = screen_labels.declutter(xy, self._text_px, prio, bounds=self._in_view.canvas.size,
                                               reserved=reserved, group=self._group)
        self.rects, self.shown = placed[keep], np.flatnonzero(keep)
        texts = [self.items.texts[i] for i in self.shown]
        # in canvas pixels (y down) anchor_y="bottom" hangs the text below its position: give the top edge
        with self.events.update.blocker():  # setting the text inside a draw must not ask for another draw
            self.text = texts or [""]
            self.pos = np.c_[(self.rects[:, 0] + self.rects[:, 2]) / 2, self.rects[:, 1]] if texts else [(0, 0)]
        if self._backing is not None:
            with self._backing.events.update.blocker():
                set_plates(self._backing, self.rects)

    def draw(self):
        if tuple(self._in_view.canvas.bgcolor.rgb) == (0.0, 0.0, 0.0):  # the picking pass
            return
        self.layout()
        super().draw()


LABEL_PLATE = (0.043, 0.051, 0.071, 0.72)
"""The plate under each label: the background's colour, mostly opaque (the layer behind still shows a little)."""


class LabelPlates(scene.visuals.Mesh):
    """The plates under the labels: drawn just before them, it places the labels first (so that the plates
    of this frame's labels are drawn, not the last frame's)."""

    labels: ScreenLabels | None = None

    def draw(self):
        if self.labels is not None:
            self.labels.layout()
        super().draw()


def set_plates(mesh, rects: np.ndarray) -> None:
    """Give ``mesh`` (a Mesh visual in canvas pixels) one :data:`LABEL_PLATE` rectangle per row of ``rects``
    (m, 4: x0, y0, x1, y1); hide it when there are none."""
    r = np.asarray(rects, np.float32).reshape(-1, 4)
    if len(r) == 0:
        r = np.zeros((1, 4), np.float32)  # one empty plate: the mesh stays drawable (and draws nothing)
    vertices = np.stack([r[:, [0, 1]], r[:, [2, 1]], r[:, [2, 3]], r[:, [0, 3]]], axis=1).reshape(-1, 2)
    quads = 4 * np.arange(len(r), dtype=np.uint32)[:, None]
    faces = np.concatenate([quads + [0, 1, 2], quads + [0, 2, 3]]).astype(np.uint32)
    mesh.set_data(vertices=vertices, faces=faces, color=LABEL_PLATE)


def label_items(net: Network, layout: Layout) -> LabelItems:
    """One label per block above its first layer, and one per layer (name, kind, shape) above it at lower
    priority (shown when close, see :class:`ScreenLabels`)."""
    boxes = layout.boxes
    lift = 0.8 * layout.pitch
    anchors, texts, prio, layer_of, block_of, single = [], [], [], [], [], []
    owner = np.full(len(net.layers), -1)
    for j, b in enumerate(net.structure):  # the model's blocks (nn3d.hierarchy)
        idx = np.asarray(b.layers, int)
        owner[idx] = j
        lo, hi = boxes[idx[0]]  # above the block's first layer: where it starts, even if a fold splits it
        anchors.append(((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, boxes[idx, 1, 2].max() + lift))
        texts.append(b.label)
        # repeated blocks first (earlier ones before later ones), then the others
        prio.append(screen_labels.BLOCK_PRIORITY + (0.0 if b.index is None else 1.0 / (1 + b.index)))
        layer_of.append(-1)
        block_of.append(j)
        single.append(int(idx[0]) if len(idx) == 1 else -1)
    for i, layer in enumerate(net.layers):
        lo, hi = boxes[i]
        anchors.append(((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2] + lift))
        texts.append(layer_label(layer))
        prio.append(screen_labels.LAYER_PRIORITY - i / (10 * max(len(net.layers), 1)))
        layer_of.append(i)
        block_of.append(int(owner[i]))
        single.append(-1)
    return LabelItems(np.asarray(anchors, float).reshape(-1, 3), texts, np.asarray(prio, float),
                      np.asarray(layer_of, np.int64), np.asarray(block_of, np.int64), np.asarray(single, np.int64))


def layer_label(layer) -> str:
    act = f"+{layer.activation}" if layer.activation else ""
    kind = "" if layer.name == layer.kind and not act else f"{layer.kind}{act}  "  # "input  8×8"
    return f"{layer.name}  {kind}{'×'.join(map(str, layer.shape))}"


class Overlays:
    """All overlay nodes of one scene; ``nodes`` lists them (the picking pass hides them)."""

    def __init__(self, canvas, view, net: Network, layout: Layout, lut: np.ndarray, title=None):
        # the labels are always drawn (``always`` is not switched by the HUD): blocks, and layers when close,
        # for the selected block, or all of them with the HUD; never over ``title`` (a Text) nor the HUD
        self.title = title
        self.always = scene.Node(parent=canvas.scene)
        plates = LabelPlates(parent=self.always)
        plates.set_gl_state(depth_test=False, blend=True,  # "over" in alpha too: transparent shots stay right
                            blend_func=("src_alpha", "one_minus_src_alpha", "one", "one_minus_src_alpha"))
        self.labels = ScreenLabels(view, label_items(net, layout), layout.boxes, reserved=self.reserved_rects,
                                   backing=plates, color="#c8d0e0", font_size=8, parent=self.always)
        plates.labels = self.labels
        self.labels.set_gl_state(depth_test=False, blend=True)
        self.hud = scene.visuals.Text("", pos=(14, 48), parent=canvas.scene, **TEXT)
        self.labels.all_layers = lambda: self.hud.visible
        self.card = scene.visuals.Text("", parent=canvas.scene, **TEXT)
        self.help = scene.visuals.Text("", parent=canvas.scene, **TEXT)  # the explorer writes help_text()
        self.help.visible = False
        self.bar = scene.visuals.Image(lut[None, :255], parent=canvas.scene, interpolation="nearest")
        self.bar_low = scene.visuals.Text("", parent=canvas.scene, **TEXT)
        self.bar_high = scene.visuals.Text("", parent=canvas.scene, **{**TEXT, "anchor_x": "right"})
        self.bar_title = scene.visuals.Text("", parent=canvas.scene, **{**TEXT, "anchor_y": "top"})
        self.nodes = [self.hud, self.card, self.help, self.bar, self.bar_low, self.bar_high, self.bar_title]
        self.place(canvas.size)

    def label_rects(self) -> np.ndarray:
        """(m, 4) canvas rectangles of the labels the last frame drew."""
        return self.labels.rects

    def focus(self, layer: int | None) -> None:
        """Label every layer of ``layer``'s block (the selected neuron's; None: none)."""
        owner = None
        if layer is not None:
            hit = np.flatnonzero(self.labels.items.layer == layer)
            owner = int(self.labels.items.block[hit[0]]) if len(hit) else None
        self.labels.focus = owner

    def reserved_rects(self) -> np.ndarray:
        """(m, 4) canvas rectangles of the visible 2-D texts (title, HUD, help, card, colour bar) that labels
        must leave free."""
        out = []
        if self.title is not None and self.title.visible:
            out.append(screen_labels.text_rect(self.title.text, self.title.pos[0], self.title.font_size))
        for node in (self.hud, self.help, self.card, self.bar_low):
            if node.visible:
                out.append(screen_labels.text_rect(node.text, node.pos[0], node.font_size))
        if self.bar.visible:
            (x0, y0), (x1, y1) = self.bar_corners
            fs = TEXT["font_size"]
            title_w = 0.82 * fs * len(self.bar_title.text)
            out.append([x0 - 2, y0 - 8 - 1.55 * fs, max(x1, x0 + title_w) + 2, y1 + 8 + 1.55 * fs])
        return np.asarray([r for r in out if r[2] > r[0]], float).reshape(-1, 4)

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
        self.bar_corners = ((x, y), (x + bw, y + bh))
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
