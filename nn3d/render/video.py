"""Videos along a camera path: MP4 or GIF, with animations.

Animations: ``forward`` lights layers up in order, input first, the last layer on the last frame (``backward``:
the output first, the input last, as the gradient flows); a layer not yet reached is drawn at
:data:`~nn3d.kernels.NAN_LEVEL`, the colormap's "no value" grey, and only the bytes of newly reached layers are
uploaded. ``samples`` plays the activation frames (each held for an equal share of
the video); ``training`` plays a training recording the same way, titled with its ``step`` and ``loss``.

Video: :mod:`nn3d.render.encoding` (MP4: libx264, yuv420p, even sizes only, in segments encoded side by side
and joined; GIF: Pillow). Output goes to a temporary file in the target folder,
decoded again to check that it holds its frames (an encoder out of disk space can exit without an error), then
renamed; on any error, and on SIGTERM or SIGINT, it is removed, so no half-written file is left.
"""

from __future__ import annotations

import math
import numbers
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..activations import Activations
from ..camera_pose import CameraState
from ..kernels import NAN_LEVEL
from ..memory import check_fits
from ..network import Network
from ..progress import progress as make_progress
from .camera_paths import camera_path, parse_path
from .encoding import VideoFile, segment_ranges
from .explorer import Explorer
from .offscreen import render_image
from .output_files import VIDEO_SUFFIXES, CaptureError, check_out, finish, reserve_temp

CAMERA_STATE_BYTES = 600  # one CameraState of the camera path (the path is made before the first frame)

ANIMATIONS = ("forward", "backward", "samples", "training")
NOT_REACHED = NAN_LEVEL  # level of a layer the forward pass has not reached yet: the "no value" grey


LAYER_ORDERS = {"forward": lambda n: list(range(n)), "backward": lambda n: list(range(n - 1, -1, -1))}
"""The order each sweep animation lights the layers in: input to output (forward), output to input (backward)."""


class ForwardPass:
    """Layers light up one after another over the video, in ``LAYER_ORDERS[direction]`` (forward: input first;
    backward: output first, as the gradient flows), every layer by the last frame."""

    def __init__(self, scene, values: np.ndarray, frames: int, direction: str = "forward"):
        self.scene, self.frames, self.direction = scene, frames, direction
        self.levels = scene.frame_levels(values)
        self.order = LAYER_ORDERS[direction](len(scene.net.layers))
        self.reached = 0  # layers currently shown with their levels (the first ``reached`` of ``order``)

    def __call__(self, i: int) -> None:
        net = self.scene.net
        n_layers = len(net.layers)
        reached = 1 + (round(i * (n_layers - 1) / (self.frames - 1)) if self.frames > 1 else n_layers - 1)
        if self.reached == 0:
            shown = np.full(net.n_neurons, NOT_REACHED, np.uint8)
            for la in (net.layers[j] for j in self.order[:reached]):
                shown[la.neurons] = self.levels[la.neurons]
            self.scene.set_levels(shown)
        elif reached != self.reached:
            a, b = sorted((self.reached, reached))
            changed = [net.layers[j] for j in self.order[a:b]]  # contiguous in either order
            lo, hi = min(la.start for la in changed), max(la.stop for la in changed)  # only these layers change
            part = self.levels[lo:hi] if reached > self.reached else np.full(hi - lo, NOT_REACHED, np.uint8)
            self.scene.set_levels(part, lo)
        self.reached = reached
        layer = net.layers[self.order[reached - 1]]
        self.scene.set_title(f"{self.direction} pass: {layer.name} ({reached}/{n_layers})")


class Playback:
    """Activation frames played in order, each held for an equal share of the video (samples or training).

    With an Explorer, frames go through its ``show_frame`` (edges re-ranked per frame, as in the window)."""

    def __init__(self, holder, activations: Activations, frames: int, training: bool = False):
        self.holder, self.scene = holder, getattr(holder, "scene", holder)
        self.acts, self.frames, self.training = activations, frames, training
        self.current = -1

    def title(self, j: int) -> str:
        n, meta = self.acts.n_frames, self.acts.meta
        if self.training:
            step = int(meta["step"][j]) if "step" in meta else j
            loss = f", loss {float(meta['loss'][j]):.4g}" if "loss" in meta else ""
            return f"training: step {step}{loss} ({j + 1}/{n})"
        label = self.acts.labels[j] if j < len(self.acts.labels) and self.acts.labels[j] else f"sample {j + 1}"
        return f"{label} ({j + 1}/{n})"

    def __call__(self, i: int) -> None:
        j = min(self.acts.n_frames - 1, i * self.acts.n_frames // self.frames)
        if j != self.current:
            if hasattr(self.holder, "show_frame"):
                self.holder.show_frame(j)
            else:
                self.scene.set_frame(np.asarray(self.acts.frame(j), np.float32))
            self.scene.set_title(self.title(j))
            self.current = j


def animation(kind: str | None, holder, activations: Activations | None, frames: int, frame: int = 0):
    """A callable ``(video_frame) -> None`` that updates ``holder`` (an Explorer or a NetworkScene), or None
    for a still network."""
    if kind is None:
        return None
    scene = getattr(holder, "scene", holder)
    if kind in LAYER_ORDERS:  # coloured as the Explorer's colour mode colours (a bare scene: the activations)
        colour = getattr(holder, "colour_values", lambda j: None if activations is None else activations.frame(j))
        values = colour(frame)
        values = np.zeros(scene.net.n_neurons, np.float32) if values is None else values
        return ForwardPass(scene, np.asarray(values, np.float32), frames, kind)
    return Playback(holder, activations, frames, training=kind == "training")


def decoded_frames(path: Path) -> int:
    """Frames a video file decodes to (0 when it does not decode): an MP4 through ffmpeg, a GIF through Pillow,
    which also needs the GIF trailer. An encoder that runs out of disk can exit without raising; this is the
    check that the file is whole before it gets its final name."""
    try:
        if path.suffix.lower() == ".gif":
            from PIL import Image

            with open(path, "rb") as f:
                f.seek(-1, 2)
                if f.read(1) != b";":  # no trailer: the file was cut short
                    return 0
            with Image.open(path) as im:
                n = int(getattr(im, "n_frames", 1))
                for i in range(n):
                    im.seek(i)
                    im.load()
            return n
        import imageio_ffmpeg

        n, _secs = imageio_ffmpeg.count_frames_and_secs(str(path))
        return int(n or 0)
    except Exception:  # noqa: BLE001 - any failure to decode means the same: not a whole video
        return 0


def check_video(tmp: Path, out: Path, frames: int) -> None:
    """Raise :class:`CaptureError` unless ``tmp`` decodes to the ``frames`` written (a GIF: 1..frames, as Pillow
    merges identical consecutive frames)."""
    n = decoded_frames(tmp)
    ok = 1 <= n <= frames if tmp.suffix.lower() == ".gif" else n == frames
    if not ok:
        raise CaptureError(f"cannot write {out}: the encoded video decodes to {n} of its {frames} frames "
                           "(disk full, or the encoder failed); nothing was written")


class RecordingInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived while recording; the temporary file was removed. ``signum``: the signal."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


@contextmanager
def _signals_interrupt(out: Path):
    """While recording, SIGTERM and SIGINT raise :class:`RecordingInterrupted` (once: a second signal during
    the clean-up is ignored), so the ``except`` that removes the temporary file runs; Python's default for
    SIGTERM would end the process on the spot and leave it. Only the main thread can set signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, _frame):
        if fired:
            return
        fired.append(signum)
        raise RecordingInterrupted(f"recording {out.name} interrupted by {signal.Signals(signum).name}: "
                                   "nothing was written", signum)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)


def check_record_args(out, path, frames, fps, animate, activations, size) -> str | list[CameraState]:
    """Validate :func:`record`'s input before anything is rendered; returns the parsed camera path."""
    out = Path(out)
    check_out(out, VIDEO_SUFFIXES, "video")
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
        raise CaptureError(f"frames must be a whole number >= 1, got {frames!r}")
    check_fits(CAMERA_STATE_BYTES * float(frames), f"a camera path of {frames:,} frames", "record fewer frames")
    if isinstance(fps, bool) or not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise CaptureError(f"fps must be a positive number, got {fps!r}")
    width, height = (int(v) for v in size)
    if width < 2 or height < 2:
        raise CaptureError(f"video size must be at least 2x2, got {width}x{height}")
    if out.suffix.lower() == ".mp4":
        if width % 2 or height % 2:
            raise CaptureError(f"MP4 needs an even width and height, got {width}x{height}")
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise CaptureError("writing MP4 needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
    if animate is not None and animate not in ANIMATIONS:
        raise CaptureError(f"unknown animation {animate!r}; use one of {', '.join(ANIMATIONS)}")
    if animate in ("samples", "training") and activations is None:
        raise CaptureError(f"--animate {animate} needs activations (a model with inputs, or a training recording)")
    return parse_path(path) if not isinstance(path, list) else path


def record(net: Network, activations: Activations | None, out, path="orbit", frames: int = 120, fps: float = 30,
           animate: str | None = None, size=(1280, 720), progress: bool = True, **scene_options) -> Path:
    """Render a video of ``net`` along a camera ``path`` to ``out`` (.mp4 or .gif); returns the path written.

    ``path``: "orbit", "through", a keyframe JSON file (saved camera states) or a list of CameraStates.
    ``animate``: None (still activations of ``scene_options["frame"]``), "forward", "backward", "samples" or
    "training".
    (:func:`nn3d.render.shards.record` is this with frame ranges rendered in Ray tasks.)
    ``scene_options`` go to :class:`~nn3d.render.explorer.Explorer` (frame, colormap, k, budget, title, ...).
    Bad input raises :class:`CaptureError` (or :class:`~nn3d.camera_pose.CameraFileError`), both ValueErrors with a
    one-line message, before anything is rendered; nothing is left behind on failure.
    """
    out = Path(out)
    kind = check_record_args(out, path, frames, fps, animate, activations, size)

    def encode(tmp: Path) -> None:
        bar = make_progress(frames, f"recording {out.name}", unit="frame", enabled=progress)
        failed, source = True, None
        try:
            source = FrameSource(net, activations, kind, frames, animate, size, scene_options)
            with VideoFile(tmp, fps, size) as file:
                for a, b in segment_ranges(frames, size):
                    file.encode((source.render(i) for i in range(a, b)), bar.update)
            failed = False
        finally:
            if source is not None:
                source.close()
            bar.close(failed=failed)

    return write_atomically(out, frames, encode)


def write_atomically(out: Path, frames: int, encode) -> Path:
    """Run ``encode(tmp)`` into a temporary file next to ``out``, check that it decodes to its ``frames``, then
    rename it to ``out``; on any error, SIGTERM or SIGINT the temporary file is removed (no half-written video)."""
    with _signals_interrupt(out):
        tmp = reserve_temp(out)
        try:
            encode(tmp)
            check_video(tmp, out, frames)
            finish(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return out


class FrameSource:
    """The one owner of frame rendering, for the single-process video and for every shard of
    :mod:`nn3d.render.shards` alike: the explorer built once, then any frame of the video by its index, in any
    order. A frame shows what the whole video shows there: the camera path is made for all ``frames``, and the
    animations set a frame's state from its index alone."""

    def __init__(self, net, activations, kind, frames, animate, size, scene_options):
        self.size = tuple(size)
        self.explorer = Explorer(net, activations, size=self.size, **scene_options)
        try:
            self.cameras = camera_path(kind, self.explorer.scene, frames)
            self.animate = animation(animate, self.explorer, activations, frames, scene_options.get("frame", 0))
        except BaseException:
            self.explorer.close()
            raise

    def render(self, i: int) -> np.ndarray:
        """The RGBA image of frame ``i``."""
        if self.animate is not None:
            self.animate(i)
        self.explorer.scene.set_camera(self.cameras[i])
        return render_image(self.explorer.scene, self.size)

    def close(self) -> None:
        self.explorer.close()
