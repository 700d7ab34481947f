"""Videos rendered as frame shards on Ray: ``nn3d record ... --workers N [--ray-address ADDR]``.

The frames are split into ``N`` contiguous ranges; each range is one Ray task, which builds the scene in its
own process (its own headless GL context) from the same inputs and renders its frames through
:func:`nn3d.render.video.render_frames`, the function the single-process video uses too, so a frame is the
same whichever process draws it. The inputs (the network and its activations) go once into Ray's object
store (numpy arrays are read there without a copy); a task returns its frames as PNG bytes, a lossless
segment, through the object store as well, so workers need no shared folder. The driver decodes the segments
in order and encodes the video once, through :func:`~nn3d.render.video.write_atomically`: the same temporary
file, decode check and rename as a single-process video, so the file appears only when every range is done.

A task whose worker dies (``max_retries``) or raises (``retry_exceptions``) is run again, up to
:data:`RETRIES` times. With no address a local Ray of ``N`` CPUs is started for the video and shut down
after it; with an address an existing cluster is joined (and left running). A Ray session the caller
started already is used as it is.
"""

from __future__ import annotations

import gc
import io
import os
import socket
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import camera_pose
from ..progress import progress as make_progress
from . import video
from .output_files import CaptureError
from .video import encode_video, render_frames, write_atomically

RAY_HINT = "pip install nn3d[ray]"
RETRIES = 3  # attempts after the first, per range
OBJECT_STORE_BYTES = 200 * 1024**2  # a local Ray's shared memory: inputs and PNG segments (more spills to disk)
RAYLET_WAIT_S = 120  # how long a local raylet waits for its Python agents to start (Ray's default: 30 s)
FAULT_ENV = "NN3D_SHARD_FAULT"
"""Test hook, read by the driver: ``RANGE:MODE:FOLDER`` makes the first attempt of range ``RANGE`` fail half
way through (``MODE`` ``exit``: the worker process dies with ``os._exit``; ``raise``: the task raises;
``always``: every attempt raises); the marker file left in ``FOLDER`` tells the retry that the fault has
happened."""


def frame_ranges(frames: int, parts: int) -> list[tuple[int, int]]:
    """``frames`` split into at most ``parts`` contiguous, non-empty ``(start, stop)`` ranges, in order, whose
    lengths differ by at most one."""
    parts = max(1, min(parts, frames))
    bounds = [frames * k // parts for k in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


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


@contextmanager
def ray_session(workers: int, address: str | None):
    """A Ray session for one video: the caller's if one is running, else the cluster at ``address``, else a
    small local Ray of ``workers`` CPUs (no dashboard, :data:`OBJECT_STORE_BYTES` of shared memory), shut down
    afterwards."""
    ray = import_ray()
    if address is not None:
        check_address(address)
    if ray.is_initialized():
        yield ray
        return
    options = {"address": address} if address is not None else {
        "num_cpus": workers, "include_dashboard": False, "object_store_memory": OBJECT_STORE_BYTES}
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


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB(A) frame as PNG bytes (lossless; fast compression: the segment only travels to the driver)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[..., :3])).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def png_image(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


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


def render_range(inputs, kind, frames, animate, size, scene_options, index, start, stop, fault=None):
    """Frames ``start .. stop - 1`` as PNG bytes (the body of one Ray task). ``inputs``: (net, activations)."""
    net, activations = inputs
    fail = _fault(fault, index)
    out = []
    for n, image in enumerate(render_frames(net, activations, kind, frames, animate, size, scene_options,
                                            start, stop)):
        if fail and n == (stop - start) // 2:
            if fault.split(":")[1] == "exit":
                os._exit(1)  # the worker process dies mid-range, as if killed
            raise RuntimeError(f"test fault in frames {start}..{stop - 1}")
        out.append(png_bytes(image))
    return out


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
    ranges = frame_ranges(frames, int(workers))
    fault = os.environ.get(FAULT_ENV) or None
    with ray_session(int(workers), ray_address) as ray:
        task = ray.remote(render_range).options(max_retries=RETRIES, retry_exceptions=True, num_cpus=1)
        inputs = ray.put((net, activations))
        refs = [task.remote(inputs, kind, frames, animate, size, scene_options, i, a, b, fault)
                for i, (a, b) in enumerate(ranges)]

        def images():
            for ref, (a, b) in zip(refs, ranges):
                try:
                    segment = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - a range that failed every attempt
                    raise _task_error(e, a, b) from None
                for data in segment:
                    yield png_image(data)
                del segment

        def encode(tmp: Path) -> None:
            bar = make_progress(frames, f"recording {out.name} ({len(ranges)} workers)", unit="frame",
                                enabled=progress)
            failed = True
            try:
                encode_video(tmp, fps, images(), bar.update)
                failed = False
            finally:
                bar.close(failed=failed)
                for ref in refs:  # on an error or interrupt, stop the ranges still rendering
                    ray.cancel(ref, force=True)

        return write_atomically(out, frames, encode)
