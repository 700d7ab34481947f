"""The two visuals of a network scene: all neurons in one, all edges in another (never one per layer)."""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

from ..memory import TooLargeError
from . import edge_bundles, lod, neuron_draws
from .lod import EdgePlan, edge_alpha
from .shaders import load
from .vispy_compat import current_target, draw_arrays, gl_state, set_renderbuffer_format

DEPTH_COMPONENT24 = 0x81A6


def _bounds(positions: np.ndarray, axis: int) -> tuple[float, float] | None:
    if len(positions) == 0:
        return None
    return float(positions[:, axis].min()), float(positions[:, axis].max())


def framebuffer_transforms(view) -> None:
    """The vertex-shader hooks of the sprite-like visuals (neurons, far-layer images): to and from the
    framebuffer, whose pixels size the sprites, and on to clip space."""
    vert = view.view_program.vert
    vert["visual_to_framebuffer"] = view.get_transform("visual", "framebuffer")
    vert["framebuffer_to_visual"] = view.get_transform("framebuffer", "visual")
    vert["framebuffer_to_render"] = view.get_transform("framebuffer", "render")


class NeuronsVisual(Visual):
    """Point sprites shaded as spheres of radius ``radius`` (world units).

    Each neuron carries one byte, its colormap level (0..254, 255 = NaN), kept in a one-channel uint8
    texture (row-major, ``LEVELS_WIDTH`` wide) that the vertex shader reads by neuron index: VisPy's gloo
    declares every vertex attribute as float, so a texture is how one byte per neuron reaches the GPU. The
    colour is looked up in the 256-texel ``lut`` texture. :meth:`set_levels` uploads only the rows of level
    bytes that changed.

    Positions come from one of two sources, chosen when the visual is made (one shader, two variants):

    - ``table=(ip, fp)``, the layout's placement rows (:attr:`nn3d.layout.Layout.placement`): the vertex
      shader computes each neuron's position from its index and its layer's row, drawn in chunks of one
      layer (:mod:`.neuron_draws`); the GPU holds the level byte per neuron plus a constant-size index
      buffer. ``draw_ranges`` (a list of (start, count) global neuron ranges, or None for all) limits what
      is drawn.
    - ``positions`` (n, 3) otherwise, uploaded as a vertex buffer (the few highlight rings; layouts that
      give positions only; the benchmark's "current renderer" baseline): at most 2^24 neurons.
    """

    LEVELS_WIDTH = 4096
    MAX_TEXTURE = 16384  # the level texture's largest side (GL_MAX_TEXTURE_SIZE of llvmpipe and most GPUs)
    MAX_NEURONS = MAX_TEXTURE**2  # 2^28: the level texture's capacity (picking ids have 32 bits)
    MAX_EXPLICIT = 2**24  # explicit positions: the float a_local is exact up to here

    def __init__(self, positions: np.ndarray | None, levels: np.ndarray, lut: np.ndarray, radius: float,
                 min_px: float = 1.5, ring: float = 0.0, table: tuple[np.ndarray, np.ndarray] | None = None):
        self.explicit = table is None
        define = "#define EXPLICIT_POSITIONS\n" if self.explicit else ""
        super().__init__(vcode=define + load("neurons.vert"), fcode=load("neurons.frag"))
        self._level_texture = gloo.Texture2D(np.zeros((1, 1), np.uint8), interpolation="nearest", format="luminance")
        self.shared_program["u_levels"] = self._level_texture
        self._local = gloo.VertexBuffer(np.zeros(1, np.float32))
        self.shared_program["a_local"] = self._local
        self._draw_ranges = None
        self._draws = None  # (layer rows, Draws) for the current ranges, built on first draw
        if self.explicit:
            self._pos_buffer = gloo.VertexBuffer(np.zeros((1, 3), np.float32))
            self.shared_program["a_position"] = self._pos_buffer
            self.set_positions(positions, levels)
        else:
            self._set_table(*table, levels)
        self._lut_texture = gloo.Texture2D(lut[None], interpolation="nearest")
        self.shared_program["u_lut"] = self._lut_texture
        self.shared_program["u_radius"] = float(radius)
        self.shared_program["u_min_px"] = float(min_px)
        self.shared_program["u_picking"] = 0.0
        self.shared_program["u_ring"] = float(ring)  # > 0: draw flat rings (highlights) instead of spheres
        self._draw_mode = "points"
        self.set_gl_state("opaque", depth_test=True)

    @property
    def n(self) -> int:
        """Number of neurons the visual holds."""
        return self._n

    @property
    def draw_ranges(self) -> list[tuple[int, int]] | None:
        """(start, count) global neuron ranges drawn (None: all); placement-table visuals only."""
        return self._draw_ranges

    @draw_ranges.setter
    def draw_ranges(self, ranges) -> None:
        if ranges is not None and self.explicit:
            raise ValueError("draw_ranges needs a visual placed by a table")
        self._draw_ranges = None if ranges is None else [(int(s), int(c)) for s, c in ranges]
        self._draws = None
        self.update()

    @property
    def geometry_key(self):
        """Changes whenever the set of drawn sprites does (the edge layer redraws its occluder depth then)."""
        ranges = None if self._draw_ranges is None else tuple(self._draw_ranges)
        return self._geometry_version, ranges

    def _check_size(self, n: int, limit: int) -> None:
        if n > limit:
            raise TooLargeError(f"{n:,} neurons to draw, more than the {limit:,} one scene holds: use "
                                "fewer tokens, a smaller input image or batch, or a smaller model")

    def _set_levels_texture(self, levels: np.ndarray) -> None:
        n = self._n
        width = min(self.LEVELS_WIDTH, max(n, 1))
        if -(-n // width) > self.MAX_TEXTURE:
            width = self.MAX_TEXTURE
        self._levels = np.zeros((-(-n // width), width), np.uint8)  # host mirror of the level texture
        self._levels.ravel()[:n] = levels
        self._level_texture.set_data(self._levels)
        self.shared_program["u_levels_shape"] = (float(width), float(self._levels.shape[0]))
        self._geometry_version = getattr(self, "_geometry_version", 0) + 1
        self._draws = None

    def _set_table(self, ip: np.ndarray, fp: np.ndarray, levels: np.ndarray) -> None:
        self._ip, self._fp = np.asarray(ip, np.int64).reshape(-1, 8), np.asarray(fp, np.float64).reshape(-1, 7)
        self._n = int((self._ip[:, 0] + self._ip[:, 1]).max(initial=0))
        self._check_size(self._n, self.MAX_NEURONS)
        self._chunk = neuron_draws.chunk_size(self._n)
        self._local.set_data(np.arange(self._chunk, dtype=np.float32))
        self._layer_rows = neuron_draws.layer_rows(self._ip, self._fp)
        self._bounds = neuron_draws.bounds(self._ip, self._fp) if len(self._ip) else None
        self._set_levels_texture(levels)
        self.update()

    def set_levels(self, levels: np.ndarray, offset: int = 0) -> None:
        """Upload ``levels`` (uint8) for neurons ``offset ..``: only the texture rows they touch."""
        if len(levels) == 0:
            return
        width = self._levels.shape[1]
        self._levels.ravel()[offset : offset + len(levels)] = levels
        r0, r1 = offset // width, (offset + len(levels) - 1) // width + 1
        self._level_texture.set_data(self._levels[r0:r1], offset=(r0, 0))
        self.update()

    def set_positions(self, positions: np.ndarray, levels: np.ndarray) -> None:
        """Replace the neurons drawn, explicit positions and levels (highlight rings; not per frame)."""
        if not self.explicit:
            raise ValueError("this neuron visual is placed by its table; it has no positions to set")
        self._positions = np.ascontiguousarray(positions, dtype=np.float32).reshape(-1, 3)
        self._n = len(self._positions)
        self._check_size(self._n, self.MAX_EXPLICIT)
        self._pos_buffer.set_data(self._positions if self._n else np.zeros((1, 3), np.float32))
        self._local.set_data(np.arange(max(self._n, 1), dtype=np.float32))
        self._set_levels_texture(levels)
        self.update()

    def set_lut(self, lut: np.ndarray) -> None:
        self.shared_program["u_lut"].set_data(lut[None])
        self.update()

    def gpu_nbytes(self) -> int:
        """Bytes this visual keeps on the GPU: its textures and vertex buffers (uniforms aside)."""
        objects = [self._level_texture, self._lut_texture, self._local]
        if self.explicit:
            objects.append(self._pos_buffer)
        return sum(_nbytes(o) for o in objects)

    def _current_draws(self) -> neuron_draws.Draws:
        if self._draws is None:
            if self.explicit:
                params = np.zeros((1, 4, 4), np.float32)
                params[0, 1, 3] = 1.0  # the first picking id
                self._draws = neuron_draws.Draws(np.zeros(1, np.int64), params, np.array([self._n]), np.zeros(1))
            else:
                self._draws = neuron_draws.draws(self._ip, self._chunk, self._levels.shape[1], self._draw_ranges)
        return self._draws

    def draw(self):
        """One GL draw per chunk (see :mod:`.neuron_draws`), each with its layer's row and its own start."""
        if not self.visible or self._prepare_draw(view=self) is False:
            return
        self._configure_gl_state()
        draw_arrays(self._program, "points", self._chunk_counts())

    def _chunk_counts(self):
        """Set each chunk's uniforms, then yield its number of points (:func:`vispy_compat.draw_arrays`)."""
        program, d, layer = self._program, self._current_draws(), -1
        for li, params, count in zip(d.layer.tolist(), d.params, d.count.tolist()):
            if count <= 0:
                continue
            if li != layer and not self.explicit:
                program["u_layer"] = self._layer_rows[li]
                layer = li
            program["u_draw"] = params
            yield count

    _prepare_transforms = staticmethod(framebuffer_transforms)

    def _compute_bounds(self, axis, view):
        if self.explicit:
            return _bounds(self._positions, axis)
        return None if self._bounds is None else (float(self._bounds[0, axis]), float(self._bounds[1, axis]))


def _nbytes(obj) -> int:
    """Size in bytes of a gloo texture or buffer as allocated on the GPU."""
    if isinstance(obj, gloo.Texture2D):
        h, w = obj.shape[:2]
        channels = {"luminance": 1, "alpha": 1, "red": 1, "rg": 2, "rgb": 3, "rgba": 4}[obj.format]
        return int(h * w * channels)
    return int(obj.nbytes)


BUNDLE_MODES = ("auto", "lines", "bundles")
"""How :class:`EdgesVisual` draws connections: by their layers' projected size, all as lines, all as bundles."""
EDGE_FADE = 1.5
"""An edge's opacity is ``alpha * strength ** EDGE_FADE``: weak edges fade out faster than linearly."""


class EdgesVisual(Visual):
    """Line segments between neuron positions, translucent, alpha following |weight|, hue by sign.

    ``positions`` is (2 * n_edges, 3): source and destination of each edge in turn; ``weight`` is
    (n_edges,) in [-1, 1]. Drawn after the neurons with depth test (neurons in front hide them) but no depth
    writes (edges hide nothing drawn after them), blended over what is behind them.

    Edges are most of a frame's work (long thin lines, heavily overdrawn), and while the camera and the edge
    set stay the same they do not change: playback only recolours neurons. So the visual keeps an *edge
    layer*: once two consecutive frames have the same view, it draws the edges once into a framebuffer-sized
    texture (premultiplied RGBA, with ``occluder``'s depth so that neurons still hide the edges behind them)
    and from then on composites that texture "over" the frame, one textured quad, until the view, the
    framebuffer or the edges change. Compositing premultiplied "over" is associative, so the picture is the
    one direct drawing gives (up to 8-bit rounding). ``cache_layer = False`` always draws directly.

    ``motion_budget`` (None: off) is a level of detail for interactive windows on slow GL: while the view
    moves, only the ``motion_budget`` strongest edges are drawn (``reduced`` says a frame was); the full set
    comes back, through the layer, as soon as the view holds still for two frames.

    With a ``grouping`` (:func:`edge_bundles.group`: the edges by connection, strongest first), every draw
    first makes the frame's :attr:`plan` (:func:`lod.plan`, from the layers' projected sizes): a connection
    between two layers small on screen is one bundle (all of them in one draw, :class:`edge_bundles.BundleDraw`,
    before the lines and in their GL state), the others draw their strongest edges within ``segment_budget``
    (None: :func:`lod.segment_budget` of the canvas) through an index buffer rebuilt only when the plan changes.
    ``bundle_mode`` ("auto", "lines", "bundles") forces one or the other; ``segments_drawn`` and
    ``bundles_drawn`` say what the last frame drew (the HUD shows them).
    """

    def __init__(self, positions: np.ndarray, weight: np.ndarray, alpha: float | None = None,
                 pos_color=(1.0, 0.72, 0.35, 1.0), neg_color=(0.35, 0.62, 1.0, 1.0), occluder=None,
                 fade: float = EDGE_FADE, grouping: edge_bundles.Grouping | None = None):
        super().__init__(vcode=load("edges.vert"), fcode=load("edges.frag"))
        self._positions = np.empty((0, 3), np.float32)
        self._pos_buffer = gloo.VertexBuffer(np.zeros((2, 3), np.float32))
        self._weight_buffer = gloo.VertexBuffer(np.zeros(2, np.float32))
        self.shared_program["a_position"] = self._pos_buffer
        self.shared_program["a_weight"] = self._weight_buffer
        self.fixed_alpha = alpha  # None: follows the number of edges (lod.edge_alpha)
        self.shared_program["u_pos_color"] = pos_color
        self.shared_program["u_neg_color"] = neg_color
        self.shared_program["u_min_strength"] = 0.0
        self.shared_program["u_fade"] = float(fade)
        self._draw_mode = "lines"
        self.set_gl_state(depth_test=True, depth_mask=False, blend=True,
                          # alpha composited "over" (not a * a), so that transparent screenshots stay right
                          blend_func=("src_alpha", "one_minus_src_alpha", "one", "one_minus_src_alpha"),
                          cull_face=False, line_width=1.0)  # a panel's wider lines must not leak in
        self.occluder = occluder
        self.also_occluding: list = []  # drawn into the layer's depth with the occluder (far layers' images)
        self.cache_layer = True
        self.layer_draws = 0  # how many times the edge layer was (re)drawn (tests read it)
        self.motion_budget: int | None = None
        self.reduced = False
        self._threshold = (None, 0.0)  # (version, budget) -> the strength of the budget-th strongest edge
        self._version = self._plan_version = self._reduced_count = 0
        self._drawn, self._index_buffer = np.zeros(0, np.int64), None
        self._layer = self._layer_key = self._last_key = None
        self._composite = gloo.Program(load("layer.vert"), load("layer.frag"))
        self._composite["a_position"] = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], np.float32)
        self.bundles = edge_bundles.BundleDraw(pos_color, neg_color)
        self.bundle_mode = "auto"
        self.segment_budget: int | None = None
        self.plan: EdgePlan | None = None
        self._plan_key = None
        self.set_edges(positions, weight, grouping)

    def set_edges(self, positions: np.ndarray, weight: np.ndarray,
                  grouping: edge_bundles.Grouping | None = None) -> None:
        """Replace the edge set (when the selection changes, not per frame). ``grouping``
        (:func:`edge_bundles.group` of these edges) places them in connections between layers, which can then
        be drawn as bundles; without it, every edge is one connection of lines."""
        weight = np.asarray(weight, np.float32)
        if grouping is None:
            grouping = edge_bundles.group(np.zeros(len(weight)), np.zeros(len(weight)), weight)
        self.grouping, order = grouping, grouping.order
        ends = np.ascontiguousarray(positions, dtype=np.float32).reshape(-1, 2, 3)[order]
        self._positions = ends.reshape(-1, 3)
        weight = weight[order]
        self._pos_buffer.set_data(self._positions)
        self._strength = np.abs(weight)
        self._weight_buffer.set_data(np.repeat(weight, 2))
        self._plan_key = None
        self.set_alpha(self.fixed_alpha)
        self._version += 1
        self.update()

    @property
    def segments_drawn(self) -> int:
        """Line segments the last frame drew (the moving view's strongest only, when it was ``reduced``)."""
        if self.plan is None:
            return 0
        return self._reduced_count if self.reduced else self.plan.segments

    @property
    def bundles_drawn(self) -> int:
        """Bundles the last frame drew."""
        return 0 if self.plan is None else self.plan.bundles

    def update_plan(self) -> EdgePlan:
        """Decide, at the current view, which connections are bundles and which strongest edges the others
        draw within the segment budget (:func:`lod.plan`); rebuilds the index and bundle buffers only when that
        changes. ``bundle_mode``: "auto" (by projected size), "lines" (every connection as lines) or "bundles"
        (every connection that is between layers as a bundle)."""
        g, canvas = self.grouping, getattr(self, "canvas", None)
        size = tuple(canvas.size) if canvas is not None else (1280, 720)
        if self.bundle_mode not in BUNDLE_MODES:
            raise ValueError(f"unknown bundle mode {self.bundle_mode!r}; one of {', '.join(BUNDLE_MODES)}")
        if self.bundle_mode == "auto" and len(g.boxes):
            matrix = self.get_transform("visual", "canvas").map(np.eye(4))
            extent = edge_bundles.projected_extent(g.boxes, matrix)
        else:
            extent = np.full(len(g.boxes), np.inf if self.bundle_mode != "bundles" else 0.0)
        plan = lod.plan(extent, g.pairs, g.count, g.total, size, self.segment_budget)
        key = (self._version, plan.lines.tobytes(), plan.count.tobytes())
        if key != self._plan_key:
            self._plan_key, self.plan = key, plan
            starts, counts = g.start[plan.count > 0], plan.count[plan.count > 0]
            edges = (np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
                     if len(counts) else np.zeros(0, np.int64))
            self._drawn = edges = edges[::-1]  # weakest first: the strongest lines are blended on top
            self._index_buffer = (gloo.IndexBuffer(np.stack([2 * edges, 2 * edges + 1], 1).astype(np.uint32).ravel())
                                  if len(edges) else None)
            self.bundles.set_bundles(g, np.flatnonzero(~plan.lines), key)
            self._plan_version += 1
        return self.plan

    def set_alpha(self, alpha: float | None) -> None:
        """The strongest edge's opacity; None: :func:`lod.edge_alpha` of the number of edges (the default)."""
        self.fixed_alpha = alpha
        self.shared_program["u_alpha"] = float(edge_alpha(len(self._strength)) if alpha is None else alpha)
        self._version += 1  # the edge layer is redrawn
        self.update()

    def draw(self):
        self.reduced = False
        if not self.visible:
            return
        self.update_plan()
        key = self._view_key()
        if key is None:
            self._draw_edges()
            return
        if key not in (self._layer_key, self._last_key):  # the view is moving: draw directly
            self._last_key = key
            self._draw_moving()
            return
        self._last_key = key
        if key != self._layer_key:
            self._draw_layer(key)
        gloo.set_state(depth_test=False, blend=True, blend_func=("one", "one_minus_src_alpha"))
        self._composite.draw("triangle_strip")
        gloo.set_state(**gl_state(self))
        gloo.set_depth_mask(True)

    def _draw_edges(self):
        """The bundles (one draw) and then the planned lines, in the edges' GL state."""
        if self.bundles.n_vertices:
            self._configure_gl_state()
            self.bundles.draw(self.get_transform("visual", "render").map(np.eye(4)))
        if self._index_buffer is not None:
            super().draw()
        # GL state outlives the draw: with depth writes left off, the next frame's clear would not clear the
        # depth buffer and every neuron would fail the depth test.
        gloo.set_depth_mask(True)

    def will_reduce(self) -> bool:
        """Whether the next draw, at the current view, draws only the ``motion_budget`` strongest edges (for
        text drawn in the same frame: ``reduced`` only says it after the draw)."""
        if self.motion_budget is None or not self.visible or len(self._drawn_strength()) <= self.motion_budget:
            return False
        key = self._view_key()
        view = (lambda k: None if k is None else k[3:])  # noqa: E731 - the view and edges, not the framebuffer
        return key is not None and view(key) not in (view(self._layer_key), view(self._last_key))

    def _draw_moving(self):
        """Draw directly, only the ``motion_budget`` strongest edges when there are more."""
        budget, strength = self.motion_budget, self._drawn_strength()
        if budget is None or len(strength) <= budget:
            self._draw_edges()
            return
        if self._threshold[0] != (self._version, self._plan_version, budget):
            cut = float(np.partition(strength, len(strength) - budget)[len(strength) - budget])
            self._threshold = ((self._version, self._plan_version, budget), cut)
            self._reduced_count = int((strength >= max(cut, np.finfo(np.float32).tiny)).sum())
        self.shared_program["u_min_strength"] = max(self._threshold[1], np.finfo(np.float32).tiny)
        try:
            self._draw_edges()
        finally:
            self.shared_program["u_min_strength"] = 0.0
        self.reduced = True

    def _drawn_strength(self) -> np.ndarray:
        """|score| of the edges the plan draws as lines (all of them before the first plan)."""
        if self.plan is None:
            if getattr(self, "canvas", None) is None:
                return self._strength
            self.update_plan()
        return self._strength[self._drawn]

    def _view_key(self):
        """What the edges' pixels depend on besides the edges: the transform to clip space, the viewport and
        framebuffer, and the occluder's state; None when the layer cannot be used."""
        canvas = getattr(self, "canvas", None)
        if not self.cache_layer or canvas is None:
            return None
        target = current_target(canvas)  # what canvas.render/push_fbo draw into
        if target is None:  # a VisPy without it: no layer, draw directly
            return None
        fbo, viewport = target
        shape = tuple(fbo.color_buffer.shape[:2]) if fbo is not None else tuple(canvas.physical_size[::-1])
        # the layer's depth must have the frame's precision, or edges that touch a neuron show in one and not in
        # the other: gloo's depth render buffers have 16 bits, a window has its configured depth size
        depth_bits = 16 if fbo is not None else int(canvas.context.config.get("depth_size") or 24)
        viewport = viewport or (0, 0, *canvas.physical_size)
        clip = self.get_transform("visual", "render").map(np.eye(4)).round(9)
        occ = self.occluder
        occluder = (None if occ is None or not occ.visible else
                    (occ.geometry_key, float(occ.shared_program["u_radius"]), float(occ.shared_program["u_min_px"]),
                     tuple(getattr(o, "version", None) for o in self.also_occluding)))
        return shape, depth_bits, viewport, clip.tobytes(), occluder, self._version, self._plan_version

    def _draw_layer(self, key):
        """Draw the edges, hidden by the occluder's depth, into the layer texture (premultiplied RGBA)."""
        shape, depth_bits = key[:2]
        if self._layer is None or self._layer[1:] != (shape, depth_bits):
            texture = gloo.Texture2D(shape + (4,), format="rgba", interpolation="nearest")
            depth = gloo.RenderBuffer(shape, format="depth")
            if depth_bits > 16:  # gloo only knows "depth" (16 bits); GLIR takes a GL format too
                set_renderbuffer_format(depth, shape, DEPTH_COMPONENT24)
            self._layer = gloo.FrameBuffer(color=texture, depth=depth), shape, depth_bits
            self._composite["u_layer"] = texture
            self._composite["u_size"] = (float(shape[1]), float(shape[0]))
        fbo = self._layer[0]
        fbo.activate()  # same size and viewport as the frame's framebuffer: pixels line up one to one
        try:
            gloo.clear(color=(0.0, 0.0, 0.0, 0.0), depth=True)
            if key[4] is not None:
                for occ in (*self.also_occluding, self.occluder):
                    occ.draw()
                gloo.clear(color=(0.0, 0.0, 0.0, 0.0), depth=False)  # keep the neurons' depth only
            self._draw_edges()
        finally:
            fbo.deactivate()
        self._layer_key = key
        self.layer_draws += 1

    def _prepare_transforms(self, view):
        view.view_program.vert["transform"] = view.get_transform()

    def _compute_bounds(self, axis, view):
        return _bounds(self._positions, axis)


Neurons = create_visual_node(NeuronsVisual)
Edges = create_visual_node(EdgesVisual)
