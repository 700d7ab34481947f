"""Videos are never called written when they are not: the encoded file is decoded again before it gets its
final name, and SIGTERM/SIGINT during ``nn3d record`` remove the temporary file and exit in one line."""

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nn3d import synthetic
from nn3d.render import encoding, video
from nn3d.render.output_files import CaptureError

ROOT = Path(__file__).parent.parent


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_video_cut_short_after_the_encoder_closed_is_refused_and_removed(suffix, tmp_path, monkeypatch):
    """What a full disk does to ffmpeg: it exits without its trailer, and the writer does not say so."""
    close = encoding.VideoFile.close

    def close_then_lose_the_end(self):
        close(self)
        self.path.write_bytes(self.path.read_bytes()[: self.path.stat().st_size // 2])

    monkeypatch.setattr(encoding.VideoFile, "close", close_then_lose_the_end)
    net = synthetic.mlp([6, 4, 3], seed=0)
    out = tmp_path / f"v{suffix}"
    with pytest.raises(CaptureError, match="decodes to .* of its 6 frames") as info:
        video.record(net, None, out, frames=6, size=(32, 32), progress=False)
    assert "\n" not in str(info.value)
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_whole_video_decodes_to_its_frames(suffix, tmp_path):
    net = synthetic.mlp([6, 4, 3], seed=0)
    out = video.record(net, None, tmp_path / f"v{suffix}", frames=5, size=(32, 32), progress=False,
                       animate="forward")
    n = video.decoded_frames(out)
    assert (n == 5) if suffix == ".mp4" else (1 <= n <= 5)
    assert video.decoded_frames(tmp_path / "missing.gif") == 0


def test_mp4_on_a_full_disk_is_an_error_and_leaves_nothing(tmp_path):
    """A file-size limit (inherited by ffmpeg) plays the full disk: the encoder cannot write the whole file."""

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))

    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-m", "nn3d.cli", "record", "synthetic:random:3000,2000", "-o",
                        str(tmp_path / "full.mp4"), "--frames", "30", "--size", "128x128"],
                       env=env, capture_output=True, text=True, timeout=300, preexec_fn=limit, cwd=tmp_path)
    errors = [line for line in r.stderr.splitlines() if line.startswith("nn3d: error:")]
    assert r.returncode == 2 and len(errors) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "full.mp4").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_record_removes_the_temporary_file_and_exits_in_one_line(sig, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = tmp_path / "run.gif"
    p = subprocess.Popen([sys.executable, "-m", "nn3d.cli", "record", "synthetic:mlp:64,32,10", "-o", str(out),
                          "--frames", "2000", "--size", "64x64"], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and p.poll() is None:  # until frames are being written
            parts = [f for f in tmp_path.iterdir() if "partial" in f.name]
            if parts and parts[0].stat().st_size > 2000:
                break
            time.sleep(0.1)
        assert p.poll() is None, p.communicate()[1][-2000:]
        p.send_signal(sig)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    name = signal.Signals(sig).name
    assert p.returncode == 128 + sig, err[-2000:]
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "interrupted" in line] == [
        f"nn3d: recording run.gif interrupted by {name}: nothing was written"]
    assert err.rstrip().splitlines()[-1].startswith("nn3d: recording")
    assert not out.exists() and leftovers(tmp_path) == []
