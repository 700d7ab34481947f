"""Videos rendered as frame shards on Ray (nn3d.render.shards): the same frames as one process, a killed
worker's range retried, the file written only when every range is done, one-line errors. One local Ray
session (2 CPUs) is shared by the module's tests."""

import gc
import sys
import warnings

import numpy as np
import pytest

from nn3d import synthetic
from nn3d.activations import Activations
from nn3d.cli import main
from nn3d.render.encoding import SEGMENT_FRAMES, frame_ranges, segment_ranges
from nn3d.render.output_files import CaptureError
from nn3d.render.shards import FAULT_ENV, record

FRAMES, SIZE = 10, (160, 120)


@pytest.fixture(scope="module")
def ray_session():
    pytest.importorskip("ray")
    from nn3d.render.shards import ray_session

    with ray_session(2, None) as ray:  # the videos below use this session rather than starting their own
        yield ray


@pytest.fixture(scope="module")
def content():
    net = synthetic.mlp([12, 10, 8, 4], seed=0)
    acts = Activations(np.random.default_rng(0).standard_normal((3, net.n_neurons)).astype(np.float32))
    return net, acts


def frames_of(path):
    """All frames of a video (as tests/test_capture.py decodes them: imageio's ffmpeg reader leaves pipes to
    the garbage collector, collected here with their ResourceWarning)."""
    import imageio.v2 as iio2
    import imageio.v3 as iio

    if str(path).endswith(".gif"):
        return iio.imread(path, index=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with iio2.get_reader(path) as reader:
            frames = np.stack([f for f in reader])
        gc.collect()
    return frames


@pytest.fixture(scope="module")
def single(content, tmp_path_factory):
    """The single-process renders the sharded ones must equal: a GIF playing the samples, an MP4 of the
    forward pass."""
    net, acts = content
    d = tmp_path_factory.mktemp("single")
    gif = record(net, acts, d / "one.gif", frames=FRAMES, size=SIZE, animate="samples", progress=False)
    mp4 = record(net, acts, d / "one.mp4", frames=FRAMES, size=SIZE, animate="forward", progress=False)
    return frames_of(gif), frames_of(mp4)


def test_frame_ranges_are_contiguous_and_even():
    assert frame_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert frame_ranges(2, 5) == [(0, 1), (1, 2)]
    for frames, parts in [(1, 1), (7, 2), (120, 8), (5, 5)]:
        r = frame_ranges(frames, parts)
        assert r[0][0] == 0 and r[-1][1] == frames and all(a[1] == b[0] for a, b in zip(r, r[1:]))
        assert max(b - a for a, b in r) - min(b - a for a, b in r) <= 1


def test_two_workers_equal_single_process(ray_session, content, single, tmp_path):
    net, acts = content
    gif = record(net, acts, tmp_path / "two.gif", frames=FRAMES, size=SIZE, animate="samples", progress=False,
                 workers=2)
    mp4 = record(net, acts, tmp_path / "two.mp4", frames=FRAMES, size=SIZE, animate="forward", progress=False,
                 workers=2)
    for got, want in zip((frames_of(gif), frames_of(mp4)), single):
        assert got.shape == want.shape == (FRAMES, SIZE[1], SIZE[0], 3)
        np.testing.assert_array_equal(got, want)
    assert len({f.tobytes() for f in single[0]}) > 1  # the frames differ: a wrong order would show
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.gif", "two.mp4"]  # no segment or temp left


def test_segments_are_cut_by_frame_count_and_size_alone():
    assert segment_ranges(120, (1920, 1080)) == frame_ranges(120, 4)  # 30 frames each: a key frame a second
    assert len(segment_ranges(1000, (1920, 1080))) == -(-1000 // SEGMENT_FRAMES)
    assert max(b - a for a, b in segment_ranges(120, (3840, 2160))) <= 10  # 4K: a worker holds <= 256 MB raw
    assert segment_ranges(10, SIZE) == [(0, 2), (2, 5), (5, 7), (7, 10)]  # short: still shared by 4 workers
    assert segment_ranges(1, SIZE) == [(0, 1)]


def test_sharded_mp4_is_the_single_process_file_byte_for_byte(ray_session, content, tmp_path):
    """Workers encode their own segments and the driver joins them by stream copy: the same bytes as one
    process, which encodes the same segments."""
    net, acts = content
    one = record(net, acts, tmp_path / "one.mp4", frames=FRAMES, size=SIZE, animate="forward", progress=False)
    two = record(net, acts, tmp_path / "two.mp4", frames=FRAMES, size=SIZE, animate="forward", progress=False,
                 workers=2)
    assert one.read_bytes() == two.read_bytes()


def test_more_ranges_than_workers_keep_the_order(ray_session, content, single, tmp_path, monkeypatch):
    """Four ranges (queued 2 per worker, dealt in turn): the same frames as one process, also when a worker
    dies in the middle of the last one."""
    net, acts = content
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv(FAULT_ENV, f"3:exit:{marks}")
    for suffix, kind, want in ((".gif", "samples", single[0]), (".mp4", "forward", single[1])):
        out = record(net, acts, tmp_path / f"four{suffix}", frames=FRAMES, size=SIZE, animate=kind,
                     progress=False, workers=2)
        np.testing.assert_array_equal(frames_of(out), want)
        assert (marks / "range-3.failed").exists()
        (marks / "range-3.failed").unlink()


def test_killed_worker_range_is_retried(ray_session, content, single, tmp_path, monkeypatch):
    net, acts = content
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv(FAULT_ENV, f"1:exit:{marks}")  # range 1's first attempt dies half way
    out = record(net, acts, tmp_path / "retried.gif", frames=FRAMES, size=SIZE, animate="samples",
                 progress=False, workers=2)
    assert (marks / "range-1.failed").exists()  # the fault did happen
    np.testing.assert_array_equal(frames_of(out), single[0])


def test_range_failing_every_attempt_writes_nothing(ray_session, content, tmp_path, monkeypatch):
    net, acts = content
    monkeypatch.setenv(FAULT_ENV, f"0:always:{tmp_path}")
    with pytest.raises(CaptureError, match=r"frames 0\.\.1 failed after 4 attempts: test fault") as e:
        record(net, acts, tmp_path / "never.mp4", frames=FRAMES, size=SIZE, progress=False, workers=2)
    assert "\n" not in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == ["range-0.failed"]  # no video, no temporary file


def test_bad_address_is_one_line(content, tmp_path, capsys):
    pytest.importorskip("ray")
    net, acts = content
    with pytest.raises(CaptureError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        record(net, acts, tmp_path / "x.gif", frames=2, size=SIZE, ray_address="127.0.0.1:1")
    with pytest.raises(CaptureError, match="bad Ray address 'nowhere'"):
        record(net, acts, tmp_path / "x.gif", frames=2, size=SIZE, workers=2, ray_address="nowhere")
    rc = main(["record", "synthetic:mlp:4,3", "-o", str(tmp_path / "x.mp4"), "--frames", "2", "--size", "64x48",
               "--workers", "2", "--ray-address", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("nn3d: error: cannot reach the Ray cluster") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_without_ray_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    rc = main(["record", "synthetic:mlp:4,3", "-o", str(tmp_path / "x.gif"), "--workers", "2"])
    err = capsys.readouterr()
    assert rc == 2 and err.err == "nn3d: error: rendering with --workers needs Ray: pip install nn3d[ray]\n"
    assert "layers" not in err.out  # refused before the model was loaded
    assert not list(tmp_path.iterdir())


def test_workers_must_be_positive(content, tmp_path):
    net, acts = content
    with pytest.raises(CaptureError, match="workers must be a whole number >= 1"):
        record(net, acts, tmp_path / "x.gif", frames=2, size=SIZE, workers=0)


def test_cli_workers_writes_the_same_video(ray_session, tmp_path):
    args = ["record", "synthetic:mlp:6,5,4", "--frames", "6", "--size", "96x64", "--animate", "forward"]
    assert main([*args, "-o", str(tmp_path / "one.gif")]) == 0
    assert main([*args, "-o", str(tmp_path / "two.gif"), "--workers", "2"]) == 0
    np.testing.assert_array_equal(frames_of(tmp_path / "two.gif"), frames_of(tmp_path / "one.gif"))


def test_bench_record_measures_every_run(ray_session, content, tmp_path):
    """``nn3d bench record``'s runs: one process, then each worker count, each writing (then removing) a video."""
    from nn3d.bench.record import measure

    net, acts = content
    records = measure(net, acts, 4, SIZE, [1, 2], str(tmp_path))
    assert [(r["name"], r["workers"]) for r in records] == [("single", 0), ("workers=1", 1), ("workers=2", 2)]
    assert all(r["s"] > 0 and np.isfinite(r["speedup_vs_1_worker"]) for r in records)
    assert records[1]["speedup_vs_1_worker"] == 1.0 and records[0]["speedup_vs_single"] == 1.0
    assert records[1]["parallel_ceiling"] == 1.0 and 0.5 < records[2]["parallel_ceiling"] < 3  # 2 encoders vs 1
    assert not list(tmp_path.iterdir())
