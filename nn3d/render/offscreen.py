"""Rendering to pixels at any size (tiled beyond the GL limit), and writing images.

The one path for every caller (``nn3d.screenshot``, ``nn3d shot``, videos, the explorer's screenshots):
:func:`render_image` renders an Explorer or a :class:`~nn3d.render.scene.NetworkScene` at any size. The canvas
keeps a *logical* size with the image's aspect ratio; the image is cut into tiles no larger than the GL
renderbuffer limit, and each tile is the canvas region it covers, rendered at the output scale
(:func:`render_region`). Every tile is rendered with a margin of half the largest neuron
sprite and then cropped: GL drops a point sprite whose centre falls outside the viewport, so without the margin
a sprite straddling a border would be cut. Neurons are sized in world units and lines are 1 px in the
framebuffer, so tiles join without seams and a tiled render equals an untiled one (tests compare them). The
same camera and frame always give the same pixels (llvmpipe is deterministic; nothing here is random).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..progress import LONG, progress
from .output_files import IMAGE_SUFFIXES, CaptureError, check_out, finish, reserve_temp
from .vispy_compat import draw_scene

DEFAULT_TILE = 4096  # tiles are at most this (and the GL limit): bounds the memory of one offscreen render
MAX_CANVAS = 4096  # the canvas of a larger screenshot is scaled down to at most this (text keeps its look)


def gl_limit(scene) -> int:
    """The largest renderbuffer side GL allows here (GL_MAX_RENDERBUFFER_SIZE and the viewport limit)."""
    from vispy.gloo import gl

    scene.canvas.set_current()
    rb = int(gl.glGetParameter(gl.GL_MAX_RENDERBUFFER_SIZE))
    vp = int(np.min(gl.glGetParameter(gl.GL_MAX_VIEWPORT_DIMS)))
    return min(rb, vp)


def _max_point_size(scene) -> float:
    from vispy.gloo import gl

    scene.canvas.set_current()
    return float(np.max(gl.glGetParameter(gl.GL_ALIASED_POINT_SIZE_RANGE)))


def sprite_px(neurons, points: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Diameter in framebuffer pixels of the sprites that the neuron visual ``neurons`` draws at world
    ``points`` (n, 3), when one canvas pixel is ``scale`` framebuffer pixels (an image rendered at ``scale``
    times the canvas size). float64 (n,).

    The one Python owner of the sprite-size formula; its GLSL twin is ``shaders/neurons.vert``'s
    ``gl_PointSize = max(2.0 * u_radius * px_per_unit, u_min_px)``, where ``px_per_unit`` is how many
    framebuffer pixels one world unit covers at the point, measured the same way: map a point 100 pixels to
    the right, at the same depth, back into the visual. ``tests/test_sprite_size.py`` checks the two agree on
    rendered sprites. The tiled path uses it to give each tile a margin of half the largest sprite.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    radius = float(neurons.shared_program["u_radius"])
    min_px = float(neurons.shared_program["u_min_px"])
    if len(pts) == 0:
        return np.zeros(0)
    c = neurons.get_transform("visual", "canvas").map(pts)
    shifted = c + np.c_[100.0 * c[:, 3], np.zeros((len(c), 3))]
    right = neurons.get_transform("canvas", "visual").map(shifted)
    units = np.linalg.norm(right[:, :3] / right[:, 3:4] - pts, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        px = np.where(units > 0, 2 * radius * 100.0 * scale / units, 0.0)
    return np.maximum(np.nan_to_num(px, nan=0.0, posinf=0.0), min_px)


def largest_sprite_px(scene, scale: float = 1.0) -> float:
    """Diameter in framebuffer pixels (canvas pixels times ``scale``) of the largest neuron sprite at the
    current camera: :func:`sprite_px` of the nearest neuron in front of the eye (any one, orthographic)."""
    pos = scene.layout.positions
    if len(pos) == 0:
        return 0.0
    cam = scene.camera_state
    if cam.fov > 0:  # perspective: the nearest neuron in front of the eye draws largest
        depth = (pos - cam.eye.astype(np.float32)) @ cam.forward.astype(np.float32)
        near = cam.distance / 3162.0  # VisPy's turntable near plane: distance / sqrt(10 * depth_value)
        depth[depth <= near] = np.inf
        i = int(np.argmin(depth))
        if not np.isfinite(depth[i]):
            return 0.0
    else:
        i = 0
    return float(sprite_px(scene.neurons, pos[i : i + 1], scale)[0])


def render_region(canvas, region, size, bgcolor=None) -> np.ndarray:
    """Render the canvas rectangle ``region`` (x, y, w, h in logical pixels, y counted from the bottom as GL
    does) into an image of ``size`` (width, height): (height, width, 4) uint8, rows top-down.

    ``canvas.render(region, size)`` cannot do this: VisPy maps the region to the FBO without scaling when
    ``size`` differs from the region's size (the scene lands, unscaled, in the FBO's corner), so the transform
    from canvas to FBO is configured here to scale the region onto the whole FBO.
    """
    from vispy import gloo

    w, h = (int(v) for v in size)
    rect = tuple(float(v) * canvas.pixel_scale for v in region)  # in the canvas framebuffer's (physical) pixels
    canvas.set_current()
    fbo = gloo.FrameBuffer(color=gloo.RenderBuffer((h, w)), depth=gloo.RenderBuffer((h, w)))
    canvas.push_fbo(fbo, rect[:2], rect[2:])
    try:
        canvas.transforms.configure(viewport=(0, 0, w, h), fbo_size=(w, h), fbo_rect=rect)
        draw_scene(canvas, bgcolor)  # what canvas.render does between push_fbo and read
        return np.array(fbo.read())
    finally:
        canvas.pop_fbo()


def render_image(scene, size, transparent: bool = False, max_tile: int | None = None) -> np.ndarray:
    """Render ``scene`` at ``size`` (width, height): (height, width, 4) uint8 RGBA, in tiles when needed.

    ``scene``: a NetworkScene, or an Explorer (its ``.scene`` is rendered).
    ``max_tile`` lowers the tile side below the GL limit (tests use it to tile small images). The canvas is
    resized for the call when its aspect ratio differs from ``size`` (and restored after). ``transparent``
    renders on a transparent background; colours are then un-premultiplied (straight alpha, as PNG wants).
    """
    scene = getattr(scene, "scene", scene)
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise CaptureError(f"image size must be at least 1x1, got {width}x{height}")
    tile = min(gl_limit(scene), max_tile or DEFAULT_TILE)
    canvas = scene.canvas
    old_size = tuple(canvas.size)
    cw, ch = old_size
    if abs(cw / ch - width / height) > 1e-3 * width / height:
        ch = min(ch, height)
        cw = max(1, round(ch * width / height))
        canvas.size = (cw, ch)
    bgcolor = (0, 0, 0, 0) if transparent else None
    try:
        sx, sy = width / cw, height / ch
        if width <= tile and height <= tile:
            image = render_region(canvas, (0, 0, cw, ch), (width, height), bgcolor)
        else:
            sprite = min(largest_sprite_px(scene, max(sx, sy)), _max_point_size(scene))
            margin = int(math.ceil(sprite / 2)) + 2
            step = tile - 2 * margin
            if step < 16:
                raise CaptureError(f"tiles of {tile} px cannot hold neuron sprites of {sprite:.0f} px")
            image = np.empty((height, width, 4), np.uint8)
            tiles = [(y0, x0) for y0 in range(0, height, step) for x0 in range(0, width, step)]
            for y0, x0 in progress(tiles, f"rendering {width}x{height}", unit="tile", delay=LONG):
                x1, y1 = min(x0 + step, width), min(y0 + step, height)
                # the rendered rectangle: the tile and its margin, clipped to the image
                rx0, ry0 = max(0, x0 - margin), max(0, y0 - margin)
                rx1, ry1 = min(width, x1 + margin), min(height, y1 + margin)
                region = (rx0 / sx, (height - ry1) / sy, (rx1 - rx0) / sx, (ry1 - ry0) / sy)
                part = render_region(canvas, region, (rx1 - rx0, ry1 - ry0), bgcolor)
                image[y0:y1, x0:x1] = part[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0]
    finally:
        if tuple(canvas.size) != old_size:
            canvas.size = old_size
    if transparent:
        image = _unpremultiply(image)
    else:
        image[..., 3] = 255
    return image


def _unpremultiply(image: np.ndarray) -> np.ndarray:
    a = image[..., 3:4].astype(np.float32)
    rgb = np.where(a > 0, np.minimum(255.0, np.rint(image[..., :3] * (255.0 / np.maximum(a, 1)))), 0)
    out = image.copy()
    out[..., :3] = rgb.astype(np.uint8)
    return out


def write_image(image: np.ndarray, path) -> Path:
    """Write an RGBA image to ``path`` (its suffix picks the format) through a temporary file."""
    import imageio.v3 as iio

    path = Path(path)
    check_out(path, IMAGE_SUFFIXES, "image")
    keeps_alpha = path.suffix.lower() in (".png", ".tif", ".tiff")
    tmp = reserve_temp(path)
    try:
        iio.imwrite(tmp, image if keeps_alpha else np.ascontiguousarray(image[..., :3]))
        finish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def canvas_size(size) -> tuple[int, int]:
    """The canvas (logical) size for an image of ``size``: the same up to ``MAX_CANVAS`` px a side, else scaled
    down by a whole factor keeping the aspect ratio (the image is then rendered at the output scale, in tiles)."""
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise CaptureError(f"image size must be at least 1x1, got {width}x{height}")
    k = max(1, math.ceil(max(width, height) / MAX_CANVAS))
    return max(1, round(width / k)), max(1, round(height / k))


def check_image_out(path, transparent: bool = False) -> Path:
    """Raise :class:`CaptureError` (one line) unless ``path`` can take an image (with alpha if ``transparent``)."""
    path = Path(path)
    check_out(path, IMAGE_SUFFIXES, "image")
    if transparent and path.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise CaptureError(f"cannot write {path}: a transparent background needs .png or .tif")
    return path
