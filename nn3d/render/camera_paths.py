"""Camera paths: lists of :class:`~nn3d.camera_pose.CameraState`, one per video frame.

``orbit``: one turn of azimuth from the home view's direction around the middle of the layers, the distance
fitted so that the whole model stays in frame at every angle (frame ``frames`` would equal frame 0, so a
looping video does not stutter). ``through``: the eye flies along +x, the depth axis, from where the first layer
fills the view to just past the last layer, looking ahead, eased in and out (smoothstep); it runs a quarter
pitch off the central axis in y and z, at least 0.35 pitch from every grid position of either parity, so it
never passes through a neuron. ``keys.json``: the explorer's saved camera states, interpolated by a uniform
Catmull-Rom spline through every key (C1-smooth, key i at time i / (n - 1)) in (centre, azimuth unwrapped the
short way, elevation, log distance, fov, roll); elevation is clamped to +-90 and fov to [0, 179] where the
spline overshoots.
"""

from __future__ import annotations

import math

import numpy as np

from ..camera_pose import CameraState
from ..camera_pose import load as load_cameras
from .output_files import CaptureError

PATHS = ("orbit", "through")


def _smoothstep(t: float) -> float:
    return t * t * (3 - 2 * t)


ORBIT_FIT_VIEWS = 36  # azimuths an orbit's distance is fitted on (every 10 degrees; fill leaves the margin)


def orbit_path(home: CameraState, frames: int, turns: float = 1.0) -> list[CameraState]:
    """``turns`` full turns of azimuth around ``home.center``; the frame after the last would be the first."""
    return [home.replace(azimuth=home.azimuth + 360.0 * turns * i / frames) for i in range(frames)]


def fitted_orbit(scene, frames: int) -> list[CameraState]:
    """:func:`orbit_path` from the home view's direction around the middle of the layers, its distance fitted
    to the whole model at every azimuth (sampled every 10 degrees, each sample's need raised to its
    neighbours', interpolated in log distance): the camera eases back as a long model turns end-on, so no
    layer leaves the frame, and comes in again as it turns side-on."""
    home = scene.home_camera()
    start = home.replace(center=scene.layer_middle())
    need = np.log(scene.fitted_distances(orbit_path(start, ORBIT_FIT_VIEWS)))
    need = np.maximum(need, np.maximum(np.roll(need, 1), np.roll(need, -1)))  # no dip between two samples
    at = np.arange(frames) * ORBIT_FIT_VIEWS / frames
    distance = np.exp(np.interp(at, np.arange(ORBIT_FIT_VIEWS + 1), np.append(need, need[0])))
    return [state.replace(distance=float(d)) for state, d in zip(orbit_path(start, frames), distance)]


def through_path(layout, frames: int, fov: float = 60.0) -> list[CameraState]:
    """The eye flies along +x from before the first layer to just past the last, looking ahead (+x). A layout
    folded into rows is flown row after row, like reading lines of text: frames are shared by the rows'
    lengths, and the path cuts from the end of one row to the start of the next."""
    rows = layout.rows if layout.n_rows > 1 else np.zeros(len(layout.boxes), np.int32)
    flights = [_row_flight(layout, np.flatnonzero(rows == r), fov) for r in range(int(rows.max(initial=0)) + 1)]
    lengths = np.array([stop - start for start, stop, *_ in flights])
    counts = _share(frames, lengths)
    out = []
    for (start, stop, y, z), n in zip(flights, counts):
        ahead = max(layout.pitch, 0.05 * (stop - start))  # how far in front the turntable's centre sits
        for i in range(n):
            x = start + (stop - start) * _smoothstep(i / (n - 1) if n > 1 else 0.0)
            out.append(CameraState.looking((x, y, z), (x + ahead, y, z), fov=fov))
    return out


def _row_flight(layout, members: np.ndarray, fov: float) -> tuple[float, float, float, float]:
    """(start x, stop x, y, z) of the straight flight along one row of layers (the whole layout unfolded)."""
    boxes = layout.boxes[members]
    lo, hi = boxes[:, 0].min(axis=0).astype(np.float64), boxes[:, 1].max(axis=0).astype(np.float64)
    first = boxes[np.argmin(boxes[:, 0, 0])]
    half_extent = 0.5 * float(max(first[1, 1] - first[0, 1], first[1, 2] - first[0, 2]))
    start = float(first[0, 0]) - 1.1 * half_extent / math.tan(math.radians(fov / 2)) - layout.pitch
    stop = float(hi[0]) + 0.5 * layout.pitch  # just past the last plane: one empty frame
    return start, stop, 0.5 * (lo[1] + hi[1]) + 0.25 * layout.pitch, 0.5 * (lo[2] + hi[2]) + 0.25 * layout.pitch


def _share(frames: int, lengths: np.ndarray) -> list[int]:
    """``frames`` split in proportion to ``lengths``, at least one each while there are enough."""
    if frames < len(lengths):
        return [1] * frames + [0] * (len(lengths) - frames)
    counts = np.maximum(1, np.floor(frames * lengths / lengths.sum()).astype(int))
    while counts.sum() > frames:
        counts[np.argmax(counts)] -= 1
    counts[np.argsort(-(frames * lengths / lengths.sum() - counts))[: frames - counts.sum()]] += 1
    return counts.tolist()


def _key_params(keys: list[CameraState]) -> np.ndarray:
    rows, az = [], keys[0].azimuth
    for i, k in enumerate(keys):
        if i:
            az += (k.azimuth - keys[i - 1].azimuth + 180.0) % 360.0 - 180.0  # the short way round
        rows.append([*k.center, az, k.elevation, math.log(k.distance), k.fov, k.roll])
    return np.array(rows, np.float64)


def keyframe_path(keys: list[CameraState], frames: int) -> list[CameraState]:
    """A uniform Catmull-Rom spline through every key: key i at video time i / (n_keys - 1)."""
    if len(keys) == 1:
        return [keys[0]] * frames
    p = _key_params(keys)
    p = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])  # reflected end points: the ends get tangents
    n = len(keys)
    out = []
    for i in range(frames):
        u = (i / (frames - 1) if frames > 1 else 0.0) * (n - 1)
        seg = min(int(u), n - 2)
        s = u - seg
        p0, p1, p2, p3 = p[seg : seg + 4]
        q = 0.5 * (2 * p1 + (p2 - p0) * s + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s**2 + (3 * p1 - p0 - 3 * p2 + p3) * s**3)
        out.append(CameraState(tuple(q[:3]), float(q[3]), float(np.clip(q[4], -90, 90)), float(math.exp(q[5])),
                               float(np.clip(q[6], 0, 179)), float(q[7])))
    return out


def parse_path(path) -> str | list[CameraState]:
    """``"orbit"``, ``"through"``, or the keyframes read from a JSON file (errors are one line)."""
    text = str(path)
    if text in PATHS:
        return text
    if text.lower().endswith(".json"):
        return load_cameras(text)  # CameraFileError is a ValueError with a one-line message
    raise CaptureError(f"unknown camera path {text!r}; use orbit, through, or a keyframe file keys.json")


def camera_path(path, scene, frames: int) -> list[CameraState]:
    """One camera state per video frame: ``path`` is "orbit", "through", a keyframe file or a list of states."""
    kind = parse_path(path) if not isinstance(path, list) else path
    if kind == "orbit":
        return fitted_orbit(scene, frames)
    if kind == "through":
        return through_path(scene.layout, frames)
    return keyframe_path(kind, frames)
