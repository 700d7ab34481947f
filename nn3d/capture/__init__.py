"""Capture: screenshots at any size (tiled beyond the GL limit), camera paths, animations, and video.

Screenshots. :func:`render_tiled` renders a :class:`~nn3d.render.scene.NetworkScene` at any size. The canvas
keeps a *logical* size with the image's aspect ratio; the image is cut into tiles no larger than the GL
renderbuffer limit, and each tile is the canvas region it covers, rendered at the output scale
(:func:`render_region`). Every tile is rendered with a margin of half the largest neuron
sprite and then cropped: GL drops a point sprite whose centre falls outside the viewport, so without the margin
a sprite straddling a border would be cut. Neurons are sized in world units and lines are 1 px in the
framebuffer, so tiles join without seams and a tiled render equals an untiled one (tests compare them). The
same camera and frame always give the same pixels (llvmpipe is deterministic; nothing here is random).

Camera paths (lists of :class:`~nn3d.camera.CameraState`, one per video frame):
``orbit``: one turn of azimuth around the home camera's centre (frame ``frames`` would equal frame 0, so a
looping video does not stutter). ``through``: the eye flies along +x, the depth axis, from where the first layer
fills the view to just past the last layer, looking ahead, eased in and out (smoothstep); it runs a quarter
pitch off the central axis in y and z, at least 0.35 pitch from every grid position of either parity, so it
never passes through a neuron. ``keys.json``: the explorer's saved camera states, interpolated by a uniform
Catmull-Rom spline through every key (C1-smooth, key i at time i / (n - 1)) in (centre, azimuth unwrapped the
short way, elevation, log distance, fov, roll); elevation is clamped to +-90 and fov to [0, 179] where the
spline overshoots.

Animations: ``forward`` lights layers up in order, input first, the last layer on the last frame; a layer not
yet reached is drawn at :data:`~nn3d.kernels.NAN_LEVEL`, the colormap's "no value" grey, and only the bytes of
newly reached layers are uploaded. ``samples`` plays the activation frames (each held for an equal share of
the video); ``training`` plays a training recording the same way, titled with its ``step`` and ``loss``.

Video: MP4 through imageio-ffmpeg (libx264, yuv420p: even sizes only), GIF through Pillow (Pillow merges
identical consecutive GIF frames into one longer frame). Output goes to a temporary file in the target folder,
renamed at the end; on any error or interrupt it is removed, so no half-written file is left.
"""

from .files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, CaptureError
from .paths import PATHS, camera_path, keyframe_path, orbit_path, through_path
from .tiles import gl_limit, largest_sprite_px, render_region, render_tiled, screenshot_tiled, write_image
from .video import ANIMATIONS, NOT_REACHED, ForwardPass, Playback, Progress, animation, check_record_args, record

__all__ = [
    "ANIMATIONS", "IMAGE_SUFFIXES", "NOT_REACHED", "PATHS", "VIDEO_SUFFIXES", "CaptureError", "ForwardPass",
    "Playback", "Progress", "animation", "camera_path", "check_record_args", "gl_limit", "keyframe_path",
    "largest_sprite_px", "orbit_path", "record", "render_region", "render_tiled", "screenshot_tiled",
    "through_path", "write_image",
]
