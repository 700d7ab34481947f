"""MP4 segments joined by stream copy (nn3d.render.encoding): every frame, in order, at even timestamps,
whatever the segments' lengths; the encoders stopped and the segments removed on an error."""

import subprocess

import numpy as np
import pytest

from nn3d.render.encoding import VideoFile, _ffmpeg, encode_segment, segment_ranges
from nn3d.render.output_files import CaptureError

SIZE, FPS = (64, 48), 30


def images(n: int) -> list[np.ndarray]:
    """Frames of rising grey levels with a little noise, so each frame is told apart after encoding."""
    rng = np.random.default_rng(0)
    return [np.clip(20 + 20 * i + rng.integers(0, 8, (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8) for i in range(n)]


def packets(path) -> list[tuple[int, int]]:
    """(pts, duration) of each decoded frame, in frames (ffmpeg's framemd5, no frame dropped or repeated)."""
    out = subprocess.run(
        [_ffmpeg(), "-v", "error", "-i", str(path), "-fps_mode", "passthrough", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(",") for line in out.splitlines() if not line.startswith("#")]
    return [(int(r[2]), int(r[3])) for r in rows]


def decoded_levels(path) -> np.ndarray:
    raw = subprocess.run(
        [_ffmpeg(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, SIZE[1] * SIZE[0] * 3).mean(axis=1)


@pytest.mark.parametrize("n", [1, 5, 10, 11])  # segments of 1; 1,1,1,2; 2,3,2,3; 2,3,3,3 frames
def test_joined_segments_hold_every_frame_at_even_timestamps(n, tmp_path):
    frames = images(n)
    with VideoFile(tmp_path / "v.mp4", FPS, SIZE) as file:
        for a, b in segment_ranges(n, SIZE):
            file.encode(frames[a:b])
    assert packets(tmp_path / "v.mp4") == [(i, 1) for i in range(n)]
    levels = decoded_levels(tmp_path / "v.mp4")
    np.testing.assert_allclose(levels, [f.mean() for f in frames], atol=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]  # the segments are gone


def test_segments_encoded_elsewhere_join_into_the_same_file(tmp_path):
    frames = images(10)
    with VideoFile(tmp_path / "here.mp4", FPS, SIZE) as file:
        for a, b in segment_ranges(10, SIZE):
            file.encode(frames[a:b])
    with VideoFile(tmp_path / "there.mp4", FPS, SIZE) as file:
        for a, b in segment_ranges(10, SIZE):
            file.add(encode_segment(frames[a:b], SIZE, FPS))
    assert (tmp_path / "here.mp4").read_bytes() == (tmp_path / "there.mp4").read_bytes()


def test_a_frame_of_another_size_stops_every_encoder_and_leaves_nothing(tmp_path):
    with pytest.raises(CaptureError, match="a frame of 32x48 in a video of 64x48"):
        with VideoFile(tmp_path / "v.mp4", FPS, SIZE) as file:
            file.encode(images(3))
            file.encode([np.zeros((48, 32, 3), np.uint8)])
    assert list(tmp_path.iterdir()) == []
