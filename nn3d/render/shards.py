"""Videos rendered as frame shards on Ray: ``nn3d record ... --workers N [--ray-address ADDR]``.

The frames are split into the video's segments (:func:`~nn3d.render.encoding.segment_ranges`: at most
:data:`~nn3d.render.encoding.SEGMENT_FRAMES` frames each, at least four), dealt in turn to ``N`` workers. A
worker is a Ray actor (:class:`Shard`) that builds the scene once in its own process (its own headless GL
context, software GL on the one CPU it claims) from the same inputs and renders each range it is given
through :class:`nn3d.render.video.FrameSource`, the renderer of the single-process video too, so a frame is
the same whichever process draws it. It then encodes the range itself, on that CPU, into the MP4 segment one
process would have written (:func:`~nn3d.render.encoding.encode_segment`), so the joined file is byte for byte
the single-process file; a GIF's segment comes back as its raw frames, encoded by the driver. The inputs (the
network and its activations) go once into Ray's object store (numpy arrays are read there without a copy);
segments come back through the object store as well, so workers need no shared folder. Each worker has
:data:`IN_FLIGHT` ranges queued, so it renders the next while the driver joins, in order, the segments that
arrived (stream copy, no decoding), once, through :func:`~nn3d.render.video.write_atomically`: the same
temporary file, decode check and rename as a single-process video, so the file appears only when every range
is done.

A range whose worker dies (the actor is restarted, ``max_restarts``) or raises (``retry_exceptions``) is run
again, up to :data:`RETRIES` times. With no address a local Ray of ``N`` CPUs is started for the video and
shut down after it; with an address an existing cluster is joined (and left running). A Ray session the
caller started already is used as it is.
"""

from __future__ import annotations

import gc
import os
import socket
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import camera_pose
from ..memory import available_bytes
from ..progress import progress as make_progress
from . import video
from .encoding import VideoFile, encode_segment, segment_ranges
from .output_files import CaptureError
from .video import FrameSource, write_atomically

RAY_HINT = "pip install nn3d[ray]"
RETRIES = 3  # attempts after the first, per range
OBJECT_STORE_BYTES = 200 * 1024**2  # a local Ray's shared memory for segments, beside the inputs (more spills)
IN_FLIGHT = 2  # ranges queued per worker: the next one waits while the worker renders this one
RAYLET_WAIT_S = 120  # how long a local raylet waits for its Python agents to start (Ray's default: 30 s)
FAULT_ENV = "NN3D_SHARD_FAULT"
"""Test hook, read by the driver: ``RANGE:MODE:FOLDER`` makes the first attempt of range ``RANGE`` fail half
way through (``MODE`` ``exit``: the worker process dies with ``os._exit``; ``raise``: the task raises;
``always``: every attempt raises); the marker file left in ``FOLDER`` tells the retry that the fault has
happened."""


def import_ray():
    """The ``ray`` module, or :class:`CaptureError` saying in one line what to install."""
    try:
        import ray
    except ImportError:
        raise CaptureError(f"rendering with --workers needs Ray: {RAY_HINT}") from None
    return ray


def check_address(address: str) -> None:
    """Refuse, in one line, an address that is not ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``, or whose port
    does not answer within 3 s (Ray itself would retry for minutes)."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise CaptureError(f"bad Ray address {address!r}: use HOST:PORT, ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=3):
            pass
    except OSError as e:
        raise CaptureError(f"cannot reach the Ray cluster at {address}: {e.strerror or e}") from None


def store_bytes(*inputs) -> int:
    """Shared memory for a local Ray that sends ``inputs`` to its workers: the inputs (their pickle, numpy
    buffers included) and :data:`OBJECT_STORE_BYTES` for the segments, at most half the memory available. An
    input spilled to disk costs seconds to write and to read back in every worker (GPT-2 small: 0.5 GB)."""
    import pickle

    buffers = []
    head = len(pickle.dumps(inputs, protocol=5, buffer_callback=buffers.append))  # the arrays are not copied
    size = head + sum(b.raw().nbytes for b in buffers) + OBJECT_STORE_BYTES
    return int(max(OBJECT_STORE_BYTES, min(size, available_bytes() // 2)))


@contextmanager
def ray_session(workers: int, address: str | None, store: int = OBJECT_STORE_BYTES):
    """A Ray session for one video: the caller's if one is running, else the cluster at ``address``, else a
    small local Ray of ``workers`` CPUs (no dashboard, ``store`` bytes of shared memory: :func:`store_bytes`),
    shut down afterwards."""
    ray = import_ray()
    if address is not None:
        check_address(address)
    if ray.is_initialized():
        yield ray
        return
    options = {"address": address} if address is not None else {
        "num_cpus": workers, "include_dashboard": False, "object_store_memory": int(store)}
    if address is None:  # the raylet waits 30 s for its agents' ports: too short on a busy 2-core machine
        os.environ.setdefault("RAY_raylet_start_wait_time_s", str(RAYLET_WAIT_S))
        os.environ.setdefault("RAY_agent_register_timeout_ms", str(RAYLET_WAIT_S * 1000))
    for attempt in range(1 if address is not None else 2):  # a busy machine can miss a local start's timeouts
        try:
            with _quiet_files():
                ray.init(log_to_driver=False, logging_level="ERROR", configure_logging=True, **options)
            break
        except Exception as e:  # noqa: BLE001 - whatever stops Ray from starting, the user gets one line
            with _quiet_files():
                ray.shutdown()
            if attempt == 1 or address is not None:
                where = f"at {address}" if address is not None else "locally"
                raise CaptureError(f"cannot start Ray {where}: {_first_line(e)}") from None
    try:
        yield ray
    finally:
        with _quiet_files():
            ray.shutdown()


@contextmanager
def _quiet_files():
    """Ray starting or stopping drops handles of its processes' log files unclosed; they are collected here,
    their ResourceWarnings ignored, rather than later in the caller's code (where ``-W error`` would fail)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


class Shard:
    """One worker (a Ray actor): the scene built once, on its first range, then any ranges of frames through
    :class:`~nn3d.render.video.FrameSource`, each returned as its segment of the video
    (:func:`~nn3d.render.encoding.encode_segment`'s MP4 bytes, or a GIF's frames). The inputs come with each
    range, not to the constructor, so that a restarted worker needs nothing Ray may have let go."""

    def __init__(self, kind, frames, animate, size, fps, gif, scene_options):
        os.environ.setdefault("LP_NUM_THREADS", "1")  # software GL draws on the one CPU the worker claims
        self.args = (kind, frames, animate, size, scene_options)
        self.size, self.fps, self.gif = size, fps, gif
        self.source = None

    def render(self, inputs, index: int, start: int, stop: int, fault: str | None = None):
        """Frames ``start .. stop - 1``: segment ``index`` of the video. ``inputs``: a one-item list holding the
        object-store reference of (net, activations), fetched by the worker on its first range only."""
        if self.source is None:
            self.source = FrameSource(*import_ray().get(inputs[0]), *self.args)
        fail = _fault(fault, index)
        images = []
        for i in range(start, stop):
            if fail and i - start == (stop - start) // 2:
                if fault.split(":")[1] == "exit":
                    os._exit(1)  # the worker process dies mid-range, as if killed
                raise RuntimeError(f"test fault in frames {start}..{stop - 1}")
            images.append(np.ascontiguousarray(self.source.render(i)[..., :3]))
        return images if self.gif else encode_segment(images, self.size, self.fps)


def _fault(spec: str | None, index: int) -> bool:
    """Whether this attempt of range ``index`` is the one :data:`FAULT_ENV` asks to fail (once per range)."""
    if not spec:
        return False
    which, mode, folder = spec.split(":", 2)
    marker = Path(folder) / f"range-{index}.failed"
    if int(which) != index or (marker.exists() and mode != "always"):
        return False
    marker.touch()
    return True


def _task_error(e: BaseException, start: int, stop: int) -> CaptureError:
    cause = getattr(e, "cause", None) or e
    return CaptureError(f"frames {start}..{stop - 1} failed after {RETRIES + 1} attempts: {_first_line(cause)}")


def record(net, activations, out, path="orbit", frames: int = 120, fps: float = 30, animate=None,
           size=(1280, 720), progress: bool = True, workers: int | None = None, ray_address: str | None = None,
           **scene_options) -> Path:
    """:func:`nn3d.render.video.record`, with ``workers`` Ray tasks rendering contiguous frame ranges (a local
    Ray, or the cluster at ``ray_address``) when either is given: the same frames as in one process."""
    if workers is None and ray_address is None:
        return video.record(net, activations, out, path=path, frames=frames, fps=fps, animate=animate, size=size,
                            progress=progress, **scene_options)
    out = Path(out)
    kind = video.check_record_args(out, path, frames, fps, animate, activations, size)
    return record_sharded(net, activations, out, kind, frames, fps, animate, size, progress, workers, ray_address,
                          scene_options)


def record_sharded(net, activations, out: Path, kind, frames, fps, animate, size, progress, workers,
                   ray_address, scene_options) -> Path:
    """:func:`record` with ``workers`` Ray tasks (arguments already checked)."""
    if workers is None:
        workers = 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise CaptureError(f"workers must be a whole number >= 1, got {workers!r}")
    camera = scene_options.get("camera")
    if isinstance(camera, (str, Path)):  # read here: the workers need not see the driver's files
        scene_options = {**scene_options, "camera": camera_pose.load(camera)[0]}
    workers = int(workers)
    ranges = segment_ranges(frames, size)
    fault = os.environ.get(FAULT_ENV) or None
    with ray_session(workers, ray_address, store_bytes(net, activations)) as ray:
        actor = ray.remote(Shard).options(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)
        inputs = ray.put((net, activations))
        gif = out.suffix.lower() == ".gif"
        shards = [actor.remote(kind, frames, animate, size, fps, gif, scene_options)
                  for _ in range(min(workers, len(ranges)))]
        refs = {}

        def submit(k: int) -> None:
            if k < len(ranges):
                call = shards[k % len(shards)].render.options(retry_exceptions=True, max_task_retries=RETRIES)
                refs[k] = call.remote([inputs], k, *ranges[k], fault)

        window = IN_FLIGHT * len(shards)
        for k in range(window):
            submit(k)

        def encode(tmp: Path) -> None:
            bar = make_progress(frames, f"recording {out.name} ({len(shards)} workers)", unit="frame",
                                enabled=progress)
            failed = True
            try:
                with VideoFile(tmp, fps, size) as file:
                    for k, (a, b) in enumerate(ranges):
                        try:
                            segment = ray.get(refs.pop(k))
                        except Exception as e:  # noqa: BLE001 - a range that failed every attempt
                            raise _task_error(e, a, b) from None
                        submit(k + window)  # the workers render ahead while the driver joins
                        file.add(segment)
                        del segment
                        bar.update(b - a)
                failed = False
            finally:
                bar.close(failed=failed)
                for shard in shards:  # done, failed or interrupted: the workers and their GL contexts go
                    ray.kill(shard)

        return write_atomically(out, frames, encode)
