"""NetworkScene: one VisPy SceneCanvas holding one neuron visual and one edge visual for a network."""

from __future__ import annotations

import numpy as np

from ..camera_pose import VIEWS, CameraState
from ..colormaps import colour_rule, is_diverging, split_lut
from ..colormaps import lut as colormap_lut
from ..kernels import NAN_LEVEL, ROBUST_PERCENTILE
from ..kernels import levels as compute_levels
from ..layout import EdgeSet, Layout
from ..network import Network
from . import camera_controls, edge_bundles, home_view
from .backend import BackendError, ensure_backend
from .vispy_compat import render_region

BACKGROUND = "#0b0d12"
HOME_FOV = 25.0  # degrees: narrow enough that the nearest layers are not drawn much larger than the far ones


def decode_ids(rgba: np.ndarray) -> np.ndarray:
    """Neuron indices (int64, -1 where none) of a picking pass's RGBA pixels: index + 1 =
    R + 256 G + 65536 B + 2^24 (255 - A), so that the opaque black background reads -1."""
    p = rgba.astype(np.int64)
    return p[..., 0] + (p[..., 1] << 8) + (p[..., 2] << 16) + ((255 - p[..., 3]) << 24) - 1


class NetworkScene:
    """A network drawn in 3D: ``set_frame`` recolours it, ``render`` returns the frame as RGBA pixels.

    Parameters
    ----------
    net, layout, edges : the core's data (nothing here reaches back into a model).
    size : (width, height) of the canvas in pixels.
    colormap : name of a VisPy colormap; NaN activations get their own colour. A sequential map colours
        non-negative layers while signed layers (values substantially on both sides of 0) get ``diverging``,
        centred at 0 (one split table, see :func:`nn3d.colormaps.split_lut`); a diverging ``colormap``
        colours every layer, centred at 0.
    normalisation : "layer" (each layer to its own range) or "global"; ranges are the 1st–99th
        percentile (:data:`~nn3d.kernels.ROBUST_PERCENTILE`), so one outlier does not wash out a layer.
    show : open a window (needs a display); otherwise the canvas renders offscreen.
    app : the VisPy Application (or backend name) of the canvas; None: the process's (:func:`ensure_backend`).
        A notebook's widget canvas (:mod:`nn3d.render.notebook`) takes no Escape/F11 keys, which would close it.
    explicit_positions : upload every neuron's position (16 B per neuron: the renderer before positions were
        computed in the vertex shader, kept as the benchmarks' baseline); by default the GPU gets the layout's
        placement rows and one level byte per neuron (:class:`~nn3d.render.visuals.NeuronsVisual`).
    """

    def __init__(self, net: Network, layout: Layout, edges: EdgeSet, size=(1200, 800),
                 colormap: str = "viridis", normalisation: str = "layer", radius: float | None = None,
                 show: bool = False, title: str = "nn3d", bgcolor: str = BACKGROUND, diverging: str = "coolwarm",
                 explicit_positions: bool = False, app=None):
        ensure_backend()
        from vispy import scene

        from .block_frames import BlockFrames
        from .layer_images import LayerImages
        from .visuals import Edges, Neurons

        self.net, self.layout, self.normalisation = net, layout, normalisation
        self.split = not is_diverging(colormap)
        self.lut = split_lut(colormap, diverging) if self.split else colormap_lut(colormap)
        self.percentile = ROBUST_PERCENTILE
        n_ranges = 1 if normalisation == "global" else len(net.starts)
        self.signed = np.full(n_ranges, not self.split)  # per range (layer, or one global): diverging rule
        try:
            self.canvas = scene.SceneCanvas(size=tuple(size), show=show, title=title, bgcolor=bgcolor,
                                            keys="interactive" if app is None else None, app=app)
        except Exception as e:
            raise BackendError(f"could not create a {size[0]}x{size[1]} GL canvas: {e}") from e
        self.esc_quits = app is None  # VisPy's "interactive" keys: Escape closes the canvas
        self.view = self.canvas.central_widget.add_view()
        self.levels = np.full(net.n_neurons, (255 - 1) // 2, dtype=np.uint8)
        self._frame_levels, self._reached = self.levels, None  # the last frame's levels, for show_reached
        table = None if explicit_positions else layout.placement
        self.neurons = Neurons(layout.positions, self.levels, self.lut, radius=radius or 0.32 * layout.pitch,
                               table=table, parent=self.view.scene)
        self.edges_set = edges
        self.frames = BlockFrames(self.view, net, layout)  # a faint outline under each block, the row breaks
        line_ends, signed, grouping = self._edge_arrays(edges)
        self.edges = Edges(line_ends, signed, occluder=self.neurons, grouping=grouping, parent=self.view.scene)
        self.neurons.order, self.edges.order = 0, 1  # opaque first, translucent after
        self.layer_images = None  # far layers as images (render.layer_images): needs the placement table
        if layout.placement is not None and not explicit_positions:
            self.layer_images = LayerImages(self.neurons, *layout.placement, parent=self.view.scene)
            self.layer_images.order = -1  # before the neurons: it decides which layers they draw
            self.edges.also_occluding.append(self.layer_images)
        self.title = scene.visuals.Text("", parent=self.canvas.scene, color="white", font_size=11,
                                        anchor_x="left", anchor_y="bottom", pos=(14, 28))
        self.overlays = [self.edges, self.title, *self.frames.nodes]  # all but the neurons: hidden when picking
        self.view.camera = scene.TurntableCamera(up="+z")
        self.reset_camera()

    def _edge_arrays(self, edges: EdgeSet) -> tuple[np.ndarray, np.ndarray, edge_bundles.Grouping | None]:
        """(line ends, signed strengths, grouping by connection) of the edges drawn."""
        edges = self.frames.drawn_edges(edges)  # those between rows: one path per row break instead
        if len(edges) == 0:  # a degenerate, fully transparent segment keeps the buffers valid
            return np.zeros((2, 3), np.float32), np.zeros(1, np.float32), None
        ends = np.empty((len(edges), 2, 3), np.float32)
        ends[:, 0] = self.layout.positions[edges.src]
        ends[:, 1] = self.layout.positions[edges.dst]
        grouping = edge_bundles.group(edges.src, edges.dst, edges.weight, self.net.starts, self.layout.boxes)
        return ends.reshape(-1, 3), np.copysign(edges.strength, edges.weight), grouping

    def set_title(self, text: str) -> None:
        """One line of text at the top left of the frame."""
        self.title.text = text

    def set_edges(self, edges: EdgeSet) -> None:
        """Replace the edges drawn. An equal set (a forward-pass step selecting the same edges again) uploads
        nothing and keeps the edge layer."""
        old, self.edges_set = self.edges_set, edges
        fields = ("src", "dst", "weight", "strength")
        if len(edges) == len(old) and all(np.array_equal(getattr(edges, f), getattr(old, f)) for f in fields):
            return
        self.edges.set_edges(*self._edge_arrays(edges))

    def set_frame(self, values: np.ndarray, reached: int | None = None) -> None:
        """Colour neurons by one frame of activations (float, (n_neurons,)); with ``reached``, neurons from
        that index on (layers a forward pass has not reached) are drawn in the "no value" grey. One upload."""
        if values.shape != (self.net.n_neurons,):
            raise ValueError(f"frame has shape {values.shape}, expected ({self.net.n_neurons},)")
        levels = self.frame_levels(values)
        self._frame_levels, self._reached = levels, reached  # what show_reached reveals or greys
        if reached is None:
            self.set_levels(levels)
            return
        if reached:
            self.set_levels(levels[:reached])
        if reached < self.net.n_neurons:
            self.set_levels(np.full(self.net.n_neurons - reached, NAN_LEVEL, np.uint8), reached)

    def show_reached(self, reached: int) -> None:
        """The frame :meth:`set_frame` coloured last, grey from neuron ``reached`` on (a forward-pass step):
        only the neurons whose level changes are uploaded, and no level is computed again."""
        old = self.net.n_neurons if self._reached is None else self._reached
        lo, hi = sorted((old, reached))
        if hi > lo:
            part = self._frame_levels[lo:hi] if reached > old else np.full(hi - lo, NAN_LEVEL, np.uint8)
            self.set_levels(part, lo)
        self._reached = reached

    def frame_levels(self, values: np.ndarray) -> np.ndarray:
        """The uint8 levels of one frame as this scene colours it (robust per-layer ranges; signed layers
        centred at 0 in the diverging half of the split table); updates :attr:`signed`."""
        return compute_levels(values, self.net.starts, self.normalisation, percentile=self.percentile,
                              symmetric="auto" if self.split else True, split=self.split,
                              signed_out=self.signed)

    def colour_rule(self, layer: int | None = None) -> str:
        """The colour bar's words for ``layer``'s rule (or the first layer's / the global one)."""
        i = 0 if layer is None or len(self.signed) == 1 else layer
        return colour_rule(bool(self.signed[i]), self.percentile)

    def set_levels(self, levels: np.ndarray, offset: int = 0) -> None:
        """Upload colormap levels (uint8) for neurons ``offset ..``; only these bytes go to the GPU."""
        self.levels[offset : offset + len(levels)] = levels
        self.neurons.set_levels(levels, offset)

    def home_camera(self, fill: float = 0.9, view: str = "home") -> CameraState:
        """The default view: the whole network flowing left to right, from the direction ``VIEWS[view]``
        ("home": layers nearly face-on, turned by :func:`home_view.separating_azimuth` where that keeps
        consecutive layers apart; "three-quarter": the oblique view), at the distance where its
        bounding box fills ``fill`` of the 3-D view (a long, thin network is not left small in the middle of
        a bounding sphere)."""
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; one of {', '.join(VIEWS)}")
        lo, hi = self.layout.bounds
        corners = self._layer_corners()
        fov = HOME_FOV
        azimuth, elevation = VIEWS[view]
        if view == "home":  # turned from face-on just enough that consecutive layers do not overlap
            azimuth = home_view.separating_azimuth(self.layout, azimuth)
        state = CameraState(tuple((lo + hi) / 2), azimuth, elevation,
                            max(float(np.linalg.norm(hi - lo)) / 2, 1e-3) / np.tan(np.radians(fov / 2)), fov)
        saved = self.camera_state if self.view.camera.distance is not None else None  # None: not set up yet
        size = np.asarray(self.view.size, float)
        step = max(float(np.linalg.norm(hi - lo)), 1e-3) * 1e-3
        try:
            for _ in range(8):  # perspective is not linear in distance: a few fixed-point steps converge
                self.set_camera(state)
                p = self._screen(corners)
                mid = (p.min(axis=0) + p.max(axis=0)) / 2
                c = np.asarray(state.center, float)
                moved = []  # how the layers' screen box moves as the camera's center moves along x, y, z
                for axis in np.eye(3):
                    self.set_camera(state.replace(center=tuple(c + step * axis)))
                    q = self._screen(corners)
                    moved.append(((q.min(axis=0) + q.max(axis=0)) / 2 - mid) / step)
                shift = np.linalg.pinv(np.array(moved).T) @ (size / 2 - mid)  # recentre the layers' screen box
                state = state.replace(center=tuple(c + shift))
                self.set_camera(state)
                state = state.replace(distance=state.distance * self._extent(corners) / fill)
        finally:
            if saved is not None:
                self.set_camera(saved)
        return state

    def fitted_distances(self, states: list[CameraState], fill: float = 0.9) -> np.ndarray:
        """For each of ``states``, the distance (along its own direction, around its own centre) at which every
        layer is inside the view, reaching ``fill`` of the way to its nearest edge (within 1 %). A long model
        turned end-on needs the camera further back than its home view does. The current camera is kept."""
        corners, saved = self._layer_corners(), self.camera_state

        def extent(state: CameraState, distance: float) -> float:
            self.set_camera(state.replace(distance=distance))
            return self._extent(corners)

        out = []
        try:
            for state in states:
                low = high = state.distance
                for _ in range(40):  # bracket it: too close at low, far enough at high
                    if extent(state, high) <= fill:
                        break
                    low, high = high, high * 2
                if low == high:  # the distance given fits already: find one that does not
                    for _ in range(40):
                        low /= 2
                        if extent(state, low) > fill:
                            break
                    else:  # no size on screen at any distance (a single point): the distance as it is
                        out.append(state.distance)
                        continue
                for _ in range(8):  # bisection in log distance
                    middle = (low * high) ** 0.5
                    low, high = (middle, high) if extent(state, middle) > fill else (low, middle)
                out.append(high)
        finally:
            self.set_camera(saved)
        return np.array(out)

    def layer_middle(self) -> tuple:
        """The middle of the layers' boxes: what an orbit turns around."""
        corners = self._layer_corners()
        return tuple(float(v) for v in (corners.min(axis=0) + corners.max(axis=0)) / 2)

    def _layer_corners(self) -> np.ndarray:
        """The 8 corners of every layer's box: what a view fits (a folded model's bounding box is mostly
        empty)."""
        boxes = self.layout.boxes
        return np.concatenate([boxes[:, [i, j, k], [0, 1, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])

    def _screen(self, points: np.ndarray) -> np.ndarray:
        p = self.view.scene.transform.map(points)
        return p[:, :2] / p[:, 3:4]

    def _extent(self, points: np.ndarray) -> float:
        """How far ``points`` reach from the view's centre with the current camera: 1 at the nearest edge."""
        half = np.asarray(self.view.size, float) / 2
        return float((np.abs(self._screen(points) - half) / half).max())

    def reset_camera(self) -> None:
        self.set_camera(self.home_camera())

    @property
    def camera_state(self) -> CameraState:
        return camera_controls.state_of(self.view)

    def set_camera(self, state: CameraState) -> None:
        camera_controls.apply(self.view, state)

    def pick(self, x: float, y: float, radius: int = 3) -> int | None:
        """The neuron drawn at canvas pixel (x, y), or the nearest one within ``radius`` pixels; None if none.

        An ID pass (:meth:`id_image`) rendered for the small region around the click: its cost is one draw of
        the neurons on the GPU, whatever the scene's size.
        """
        w, h = self.canvas.size
        x0, y0 = int(np.clip(x - radius, 0, w - 1)), int(np.clip(y - radius, 0, h - 1))
        x1, y1 = int(np.clip(x + radius + 1, 1, w)), int(np.clip(y + radius + 1, 1, h))
        index = self.id_image((x0, y0, x1, y1))
        hits = np.argwhere(index >= 0)
        if len(hits) == 0:
            return None
        d = np.hypot(hits[:, 0] + y0 - int(y), hits[:, 1] + x0 - int(x))
        r, c = hits[np.argmin(d)]
        return int(index[r, c])

    def id_image(self, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """int64 (rows, columns): the neuron drawn at each canvas pixel of ``box`` = (x0, y0, x1, y1) (origin
        top-left; None: the whole canvas), -1 where none. Neurons only, each writing its index + 1 as a 32-bit
        RGBA colour (see ``neurons.frag`` and :func:`decode_ids`)."""
        w, h = self.canvas.size
        x0, y0, x1, y1 = box or (0, 0, w, h)
        hidden = [node for node in self.overlays if node.visible]
        bgcolor = self.canvas.bgcolor
        try:
            for c in hidden:
                c.visible = False
            self.canvas.bgcolor = "black"
            self.neurons.shared_program["u_picking"] = 1.0
            # render(region=...) counts y from the bottom (GL); the rows it returns run top-down
            ids = render_region(self.canvas, (x0, h - y1, x1 - x0, y1 - y0), (x1 - x0, y1 - y0))
        finally:
            self.neurons.shared_program["u_picking"] = 0.0
            self.canvas.bgcolor = bgcolor
            for c in hidden:
                c.visible = True
        return decode_ids(ids)

    def project(self, neurons: np.ndarray) -> np.ndarray:
        """Pixel (x, y) of each neuron's centre in the rendered image (origin top-left)."""
        tr = self.neurons.get_transform("visual", "canvas")
        p = tr.map(self.layout.positions[np.asarray(neurons)])
        return p[:, :2] / p[:, 3:4]

    def render(self, size=None) -> np.ndarray:
        """The current frame as (height, width, 4) uint8 RGBA."""
        return self.canvas.render(size=size, alpha=True)

    def close(self) -> None:
        self.canvas.close()
