"""Video files from RGB frames: an MP4 as fixed segments encoded apart and joined by stream copy, a GIF
through Pillow.

An MP4 is cut into the segments of :func:`segment_ranges`, set by the frame count and size alone. Each
segment is one libx264 process on one thread (same settings every time), so it starts on a key frame and
its bytes do not depend on the process that encoded it or on that machine's cores. No B-frames: x264 delays
a segment's timestamps by its reordering, which depends on the segment's length, and segments of different
delays do not join into even timestamps; without them a 1080p orbit of GPT-2 is 0.1 % larger and encodes
in 81 ms of CPU a frame instead of 132 ms. The segments are then joined without decoding (ffmpeg's concat
demuxer, stream copy). Hence a video rendered as shards on Ray
(:mod:`nn3d.render.shards`, each worker encoding its own ranges) is byte for byte the one-process video,
while one process runs the encoders of consecutive segments side by side with its renderer. The price: a
key frame every :data:`SEGMENT_FRAMES` frames at most.

GIF: Pillow, frames in order (Pillow merges identical consecutive frames into one longer frame); a GIF's
segments are its raw frames.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from .output_files import CaptureError

SEGMENT_FRAMES = 30  # the most frames of a segment: a key frame a second at 30 fps
MIN_SEGMENTS = 4  # a short video is still cut in this many, so that several workers share it
SEGMENT_BYTES = 256 * 1024**2  # raw frames of a segment, at most: what a worker holds before encoding them
CRF = 25  # libx264 quality (imageio's default "quality 5"): 0 lossless .. 51 worst


def frame_ranges(frames: int, parts: int) -> list[tuple[int, int]]:
    """``frames`` split into at most ``parts`` contiguous, non-empty ``(start, stop)`` ranges, in order, whose
    lengths differ by at most one."""
    parts = max(1, min(parts, frames))
    bounds = [frames * k // parts for k in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def segment_ranges(frames: int, size) -> list[tuple[int, int]]:
    """The segments of a video of ``frames`` frames of ``size`` (width, height): even contiguous ranges of at
    most :data:`SEGMENT_FRAMES` frames and :data:`SEGMENT_BYTES` of raw RGB (one frame at least), and at least
    :data:`MIN_SEGMENTS` of them when there are that many frames. Every process cuts a video the same way."""
    longest = max(1, min(SEGMENT_FRAMES, SEGMENT_BYTES // (3 * int(size[0]) * int(size[1]))))
    return frame_ranges(frames, max(MIN_SEGMENTS, -(-frames // longest)))


def _last_line(text: str, fallback: str) -> str:
    """What ffmpeg said last (its error), or ``fallback`` when it said nothing; one line, at most 200 chars."""
    lines = text.strip().splitlines()
    return (lines[-1] if lines else fallback)[:200]


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class _Segment:
    """One libx264 process writing one MP4 segment file, fed RGB frames on its standard input."""

    def __init__(self, path: Path, size, fps: float):
        self.path, self.size = path, (int(size[0]), int(size[1]))
        rate = str(Fraction(fps).limit_denominator())
        cmd = [_ffmpeg(), "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{self.size[0]}x{self.size[1]}", "-r", rate, "-i", "-", "-an", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-crf", str(CRF), "-bf", "0", "-threads", "1", "-f", "mp4", str(path)]
        self.log = open(path.with_suffix(".log"), "wb")  # noqa: SIM115 - closed in wait() or kill()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log)

    def write(self, image: np.ndarray) -> None:
        rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        if rgb.shape != (self.size[1], self.size[0], 3):
            raise CaptureError(f"a frame of {rgb.shape[1]}x{rgb.shape[0]} in a video of "
                               f"{self.size[0]}x{self.size[1]}")
        try:
            self.proc.stdin.write(memoryview(rgb).cast("B"))
        except (BrokenPipeError, OSError):
            self.wait()  # the encoder stopped: its own message
            raise self._error("the encoder stopped reading") from None

    def finish(self) -> None:
        """No more frames: the encoder writes the rest of the segment, in the background."""
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # reported by wait()

    def wait(self) -> None:
        rc = self.proc.wait()
        self.log.close()
        if rc != 0:
            raise self._error(f"exit status {rc}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.log.close()

    def _error(self, fallback: str) -> CaptureError:
        said = self.path.with_suffix(".log").read_text(errors="replace")
        return CaptureError(f"the video encoder failed: {_last_line(said, fallback)}")


def encode_segment(images, size, fps: float) -> bytes:
    """The MP4 segment of ``images`` (a list of frames), encoded now in one thread: the encoder runs after the
    frames are drawn, so a Ray worker that claims one CPU uses one."""
    with tempfile.TemporaryDirectory(prefix="nn3d-segment-") as folder:
        segment = _Segment(Path(folder) / "segment.mp4", size, fps)
        try:
            for image in images:
                segment.write(image)
            segment.finish()
            segment.wait()
        except BaseException:
            segment.kill()
            raise
        return segment.path.read_bytes()


class VideoFile:
    """The video being written to ``path`` (.mp4 or .gif), segment after segment; used as a context manager:
    closed (an MP4's segments joined) when the block ends, everything stopped and removed on an error.

    :meth:`encode` encodes the next segment from frames drawn here (an MP4 segment's encoder goes on in the
    background while the next is drawn, at most one per core); :meth:`add` takes the next segment encoded
    elsewhere (:func:`encode_segment`'s bytes, or a GIF's frames)."""

    def __init__(self, path: Path, fps: float, size):
        self.path, self.fps, self.size = Path(path), fps, size
        self.gif = self.path.suffix.lower() == ".gif"
        self.count, self.running = 0, []
        if self.gif:
            import imageio.v3 as iio

            self.writer = iio.imopen(self.path, "w", plugin="pillow", extension=".gif")
        else:
            self.folder = Path(tempfile.mkdtemp(prefix=f"{self.path.name}.segments-", dir=self.path.parent))

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, kind, _value, _tb) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _next(self) -> Path:
        self.count += 1
        return self.folder / f"{self.count - 1:06d}.mp4"

    def encode(self, images, done=None) -> None:
        """The next segment, from ``images`` (an iterable: one frame held at a time); ``done()`` after each."""
        if self.gif:
            for image in images:
                self.writer.write(np.ascontiguousarray(image[..., :3]), duration=1000.0 / self.fps, loop=0)
                if done is not None:
                    done()
            return
        segment = _Segment(self._next(), self.size, self.fps)
        self.running.append(segment)
        for image in images:
            segment.write(image)
            if done is not None:
                done()
        segment.finish()
        while len(self.running) > (os.cpu_count() or 1):
            self.running.pop(0).wait()

    def add(self, piece) -> None:
        """The next segment, encoded elsewhere: :func:`encode_segment`'s bytes for an MP4, frames for a GIF."""
        if self.gif:
            self.encode(piece)
        else:
            self._next().write_bytes(piece)

    def close(self) -> None:
        """Finish the file: a GIF's trailer, or an MP4's segments (all encoders done) joined into ``path``."""
        if self.gif:
            self.writer.close()
            return
        try:
            while self.running:
                self.running.pop(0).wait()
            listing = self.folder / "segments.txt"
            listing.write_text("".join(f"file '{i:06d}.mp4'\n" for i in range(self.count)))
            join = subprocess.run([_ffmpeg(), "-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                                   "-c", "copy", "-f", "mp4", str(self.path)], capture_output=True, text=True)
            if join.returncode != 0:
                raise CaptureError("joining the video's segments failed: "
                                   + _last_line(join.stderr, f"exit status {join.returncode}"))
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop every encoder and remove the segments (after a failure or an interrupt, and once joined)."""
        if self.gif:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - the file is thrown away; the first error is the one reported
                pass
            return
        while self.running:
            self.running.pop().kill()
        shutil.rmtree(self.folder, ignore_errors=True)
