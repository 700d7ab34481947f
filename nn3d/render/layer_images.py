"""Far layers as images: each tile of a layer whose neuron pitch projects below ~1.5 pixels is one quad.

Past about one neuron per pixel, a sprite per neuron costs vertex work and shows nothing more. So a layer
that is small on screen is drawn as textured quads, one per tile of its :class:`~nn3d.layout.placement.Tiling`
(a dense layer is one tile, a C x H x W feature map C of them, attention one per head), sampling the very
level texture and colormap the neuron sprites use: the fragment shader (``shaders/layer_image.frag``) turns
its cell of the tile into the neuron's index, fetches its level byte and looks up its colour. It also draws
the sprite that neuron would get (a lit disc of the sprite's on-screen size around the neuron's projected
centre), so the switch between sprites and image is seamless; below ~1 pixel of pitch the discs overlap and
the quad is simply the layer's activations as an image.

The switch is per layer and per frame: :func:`far_layers` (pure NumPy, no GL) projects each layer's box
corners and one pitch step from them with the view's 4x4 transform. :class:`LayerImagesVisual` runs it at
draw time (before the neurons), rebuilds its one vertex buffer only when the far set changes, and tells the
neuron visual which neurons remain sprites through its ``draw_ranges``. Picking works on images too: the
quad writes the neurons' picking id (``index + 1``, 32 bits in RGBA) in their picking pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vispy import gloo
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

from .shaders import load
from .visuals import framebuffer_transforms

FAR_PITCH_PX = 1.5
"""A layer whose neuron pitch projects below this many pixels (everywhere on it) is drawn as an image."""
MARGIN = 1.0
"""Cells of margin around each tile's quad: discs of border neurons reach past the tile's cells."""
MODES = ("auto", "sprites", "images")
"""``auto``: per layer by projected pitch; ``sprites``: every layer as sprites; ``images``: every layer as an
image (for comparisons)."""


@dataclass(frozen=True)
class Tiles:
    """Every tile of every layer, one row each (float64 (T,) arrays unless stated).

    ``layer`` int64: the tile's layer. ``base``: global index of the tile's first neuron (row 0, column 0);
    neuron (r, c) of the tile is ``base + r * stride + c``. ``stride``: the layer's columns (a row of the
    tile is a band of them). ``cols``, ``rows``: the tile's cells (``rows`` stops at the last row holding a
    neuron). ``end``: one past the layer's last neuron (ragged last rows are empty). ``origin`` (T, 3): world
    position of neuron (0, 0); columns run along +y, rows along -z, ``pitch`` apart.
    """

    layer: np.ndarray
    base: np.ndarray
    stride: np.ndarray
    cols: np.ndarray
    rows: np.ndarray
    end: np.ndarray
    origin: np.ndarray
    pitch: np.ndarray


def tiles(ip: np.ndarray, fp: np.ndarray) -> Tiles:
    """The tiles of a layout's placement table (``ip`` int64 (L, 8), ``fp`` float64 (L, 7), see
    :func:`nn3d.layout.placement.pack`), laid out as :func:`~nn3d.layout.placement.place_numpy` places them."""
    ip, fp = np.asarray(ip, np.int64).reshape(-1, 8), np.asarray(fp, np.float64).reshape(-1, 7)
    start, n, rows, cols, band, n_bands, tile_cols, stack = ip.T
    x0, y0, z0, s, dy, dz, dx = fp.T
    per_layer = -(-n // (rows * cols)) * n_bands
    layer = np.repeat(np.arange(len(ip)), per_layer)
    t = np.arange(len(layer)) - np.repeat(np.cumsum(per_layer) - per_layer, per_layer)  # tile within its layer
    a, b = np.divmod(t, n_bands[layer])
    c0 = b * band[layer]
    base = start[layer] + a * rows[layer] * cols[layer] + c0
    end = start[layer] + n[layer]
    ty, tx = np.divmod(t, tile_cols[layer])
    st = stack[layer].astype(bool)
    origin = np.stack([x0[layer] + np.where(st, t * dx[layer], 0.0),
                       y0[layer] + np.where(st, 0.0, tx * dy[layer]),
                       z0[layer] - np.where(st, 0.0, ty * dz[layer])], axis=1)
    tile_rows = np.minimum(rows[layer], -(-(end - base) // cols[layer]))
    f = np.float64
    return Tiles(layer, base.astype(f), cols[layer].astype(f), np.minimum(band[layer], cols[layer] - c0).astype(f),
                 tile_rows.astype(f), end.astype(f), origin, s[layer].astype(f))


def layer_boxes(ip: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """float64 (L, 2, 3): min and max corner of each layer's neuron centres (from its placement row)."""
    t = tiles(ip, fp)
    lo = np.full((len(ip), 3), np.inf)
    hi = np.full((len(ip), 3), -np.inf)
    far_corner = t.origin + np.stack([np.zeros_like(t.pitch), (t.cols - 1) * t.pitch, -(t.rows - 1) * t.pitch], 1)
    for corner in (t.origin, far_corner):
        np.minimum.at(lo, t.layer, corner)
        np.maximum.at(hi, t.layer, corner)
    return np.stack([lo, hi], axis=1)


def projected_pitch(ip: np.ndarray, fp: np.ndarray, to_framebuffer: np.ndarray,
                    boxes: np.ndarray | None = None) -> np.ndarray:
    """float64 (L,): the largest on-screen length, in framebuffer pixels, of one neuron step (along the
    columns or the rows) anywhere on each layer; ``inf`` for a layer that reaches behind the camera.

    ``to_framebuffer`` is the 4x4 visual-to-framebuffer matrix in VisPy's row-vector convention
    (``p_fb = p @ M``, homogeneous). The depth ``w`` is affine in position, so the nearest point of a layer's
    box, where a step is longest, is one of its 8 corners: the steps are projected from those. ``boxes``:
    :func:`layer_boxes` of the table, when the caller keeps them.
    """
    m = np.asarray(to_framebuffer, np.float64)
    box = layer_boxes(ip, fp) if boxes is None else boxes  # (L, 2, 3)
    s = np.asarray(fp, np.float64).reshape(-1, 7)[:, 3]
    sel = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])  # (8, 3) which end per axis
    corners = box[:, sel, [0, 1, 2]]  # (L, 8, 3)
    steps = np.zeros((len(s), 3, 3))
    steps[:, 1, 1], steps[:, 2, 2] = s, -s  # no step, one column, one row
    pts = corners[:, :, None, :] + steps[:, None, :, :]  # (L, 8, 3, 3)
    h = np.concatenate([pts, np.ones(pts.shape[:-1] + (1,))], axis=-1) @ m
    w = h[..., 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = h[..., :2] / w[..., None]
        length = np.linalg.norm(xy[:, :, 1:] - xy[:, :, :1], axis=-1)  # (L, 8, 2)
    pitch = length.reshape(len(s), -1).max(axis=1)
    pitch[(w <= 0).any(axis=(1, 2))] = np.inf
    pitch[(w <= 0).all(axis=(1, 2))] = 0.0  # wholly behind the camera: nothing of it is drawn, an image clips for free
    return pitch


def far_layers(ip: np.ndarray, fp: np.ndarray, to_framebuffer: np.ndarray,
               threshold: float = FAR_PITCH_PX, boxes: np.ndarray | None = None) -> np.ndarray:
    """bool (L,): the layers to draw as images at this view, those whose pitch projects below ``threshold``
    pixels everywhere on them (:func:`projected_pitch`)."""
    return projected_pitch(ip, fp, to_framebuffer, boxes) < threshold


def near_ranges(ip: np.ndarray, far: np.ndarray) -> list[tuple[int, int]]:
    """(start, count) global neuron ranges of the layers not in ``far``, adjacent layers merged."""
    ip = np.asarray(ip, np.int64).reshape(-1, 8)
    out: list[tuple[int, int]] = []
    for (start, n), is_far in zip(ip[:, :2].tolist(), np.asarray(far, bool).tolist()):
        if is_far or n == 0:
            continue
        if out and out[-1][0] + out[-1][1] == start:
            out[-1] = (out[-1][0], out[-1][1] + n)
        else:
            out.append((start, n))
    return out


VERTEX = np.dtype([("a_position", np.float32, 3), ("a_cell", np.float32, 2), ("a_base", np.float32, 2),
                   ("a_tile", np.float32, 4), ("a_pitch", np.float32)])
"""One vertex of a tile's quad: world position, cell coordinates (neuron (r, c)'s centre at (c + 0.5,
r + 0.5)), the tile's first neuron index as (high, low) 16-bit halves (a float is exact only below 2^24),
the tile's (last neuron relative to its first, stride, cols, rows) and its pitch."""


def quad_vertices(t: Tiles, which: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """Two triangles per selected tile (``which``: bool (T,) or indices), as a :data:`VERTEX` array."""
    idx = np.flatnonzero(which) if np.asarray(which).dtype == bool else np.asarray(which, np.int64)
    corner_u = np.array([0, 1, 0, 0, 1, 1])  # triangles (0, 1, 2) and (2, 1, 3) of the quad's corners
    corner_v = np.array([0, 0, 1, 1, 0, 1])
    u = np.where(corner_u, t.cols[idx, None] + margin, -margin)  # (k, 6)
    v = np.where(corner_v, t.rows[idx, None] + margin, -margin)
    s = t.pitch[idx, None]
    out = np.empty((len(idx), 6), VERTEX)
    out["a_position"][..., 0] = t.origin[idx, None, 0]
    out["a_position"][..., 1] = t.origin[idx, None, 1] + (u - 0.5) * s
    out["a_position"][..., 2] = t.origin[idx, None, 2] - (v - 0.5) * s
    out["a_cell"] = np.stack([u, v], axis=-1)
    high, low = np.divmod(t.base[idx], 65536.0)
    out["a_base"] = np.stack([high, low], axis=-1)[:, None, :]
    out["a_tile"] = np.stack([t.end - 1 - t.base, t.stride, t.cols, t.rows], axis=-1)[idx, None, :]
    out["a_pitch"] = s
    return out.reshape(-1)


SHARED = ("u_levels", "u_levels_shape", "u_lut", "u_radius", "u_min_px", "u_picking")
"""Uniforms read from the neuron visual at every draw: the same level texture, colormap, sprite size and
picking pass."""


class LayerImagesVisual(Visual):
    """The far layers of ``neurons`` (a :class:`~nn3d.render.visuals.NeuronsVisual`), one quad per tile.

    ``ip``/``fp`` is the layout's placement table. Draw it before the neurons (a lower ``order``): its draw
    decides the far set for the frame and sets ``neurons.draw_ranges`` to the rest. ``mode`` is one of
    :data:`MODES`; ``threshold`` the switch pitch in pixels. ``far`` is the last frame's far set (bool (L,)),
    ``rebuilds`` counts vertex-buffer rebuilds (tests read them); ``version`` changes with what it draws.
    Turn images off with ``mode = "sprites"``, not by hiding the visual (its hidden draw would not hand the
    far layers back to the sprites).
    """

    def __init__(self, neurons, ip: np.ndarray, fp: np.ndarray, threshold: float = FAR_PITCH_PX):
        super().__init__(vcode=load("layer_image.vert"), fcode=load("layer_image.frag"))
        self.neurons = neurons
        self.ip, self.fp = np.asarray(ip, np.int64).reshape(-1, 8), np.asarray(fp, np.float64).reshape(-1, 7)
        self.tiles = tiles(self.ip, self.fp)
        self.boxes = layer_boxes(self.ip, self.fp)
        self.threshold = float(threshold)
        self.mode = "auto"
        self.far = np.zeros(len(self.ip), bool)
        self.rebuilds = 0
        self.version = 0
        self._buffer = gloo.VertexBuffer(quad_vertices(self.tiles, np.zeros(0, np.int64)))
        self.shared_program.bind(self._buffer)
        self._n_vertices = 0
        self._draw_mode = "triangles"
        self.set_gl_state("opaque", depth_test=True, cull_face=False)

    def decide(self) -> np.ndarray:
        """The far set at the current view and framebuffer (bool (L,)), by :attr:`mode`."""
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; one of {', '.join(MODES)}")
        if self.mode != "auto":
            return np.full(len(self.ip), self.mode == "images")
        matrix = self.get_transform("visual", "framebuffer").map(np.eye(4))
        return far_layers(self.ip, self.fp, matrix, self.threshold, self.boxes)

    def update_far(self, far: np.ndarray) -> None:
        """Draw the layers in ``far`` as images and the others as sprites; the vertex buffer is rebuilt only
        when the set changes."""
        far = np.asarray(far, bool)
        if np.array_equal(far, self.far) and self.rebuilds:
            return
        self.far = far.copy()
        verts = quad_vertices(self.tiles, far[self.tiles.layer])
        self._n_vertices = len(verts)
        if len(verts):
            self._buffer.set_data(verts)
            self.shared_program.bind(self._buffer)  # the attributes are views: they take the new size
        self.neurons.draw_ranges = near_ranges(self.ip, far) if far.any() else None
        self.rebuilds += 1
        self.version += 1

    def draw(self):
        self.update_far(self.decide())
        if self._n_vertices == 0 or not self.neurons.visible:
            return
        for name in SHARED:
            self.shared_program[name] = self.neurons.shared_program[name]
        super().draw()

    _prepare_transforms = staticmethod(framebuffer_transforms)

    def _compute_bounds(self, axis, view):
        return None  # the neuron visual bounds the scene


LayerImages = create_visual_node(LayerImagesVisual)
