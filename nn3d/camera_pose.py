"""Camera state as plain data: what the explorer saves, bookmarks recall, and capture paths interpolate.

One parametrisation for every camera: the point looked at (``center``), the direction the eye sits in
(``azimuth``, ``elevation`` in degrees, z up, as VisPy's TurntableCamera), its ``distance``, the field of view
``fov`` (degrees; 0 is orthographic) and ``roll``. The fly and arcball cameras convert to and from it, so that
switching cameras keeps the view. Stored as a small JSON object::

    {"center": [0, 0, 0], "azimuth": 38, "elevation": 16, "distance": 40, "fov": 40, "roll": 0}
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

FIELDS = ("center", "azimuth", "elevation", "distance", "fov", "roll")
LIMIT = 1e12  # no camera field is larger: past it float32 transforms lose every digit of the scene


VIEWS = {"home": (48.0, 10.0), "three-quarter": (38.0, 16.0)}
"""Named view directions (azimuth, elevation in degrees) of the home camera. "home" looks at the layers
(planes across +x) nearly face-on, so an image layer reads as an image, from low enough that folded rows
stay apart on screen; "three-quarter" is the earlier, more oblique view along the rows."""
HOME_VIEW = VIEWS["home"]


class CameraFileError(ValueError):
    """A camera file that cannot be read; the message is one line for the user."""


@dataclass(frozen=True)
class CameraState:
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    azimuth: float = VIEWS["three-quarter"][0]
    elevation: float = VIEWS["three-quarter"][1]
    distance: float = 10.0
    fov: float = 40.0
    roll: float = 0.0

    def __post_init__(self) -> None:
        try:
            center = tuple(float(c) for c in self.center)
            values = {f: float(getattr(self, f)) for f in FIELDS[1:]}
        except (TypeError, ValueError):
            raise ValueError(f"camera fields must be numbers, got {self!r}") from None
        if len(center) != 3 or not all(math.isfinite(v) and abs(v) <= LIMIT for v in center):
            raise ValueError(f"camera center must be 3 finite numbers within ±{LIMIT:g}, got {self.center!r}")
        bad = [f for f, v in values.items() if not (math.isfinite(v) and abs(v) <= LIMIT)]
        if bad:
            raise ValueError(f"camera {', '.join(bad)} must be finite and within ±{LIMIT:g}, got "
                             + ", ".join(f"{f}={values[f]!r}" for f in bad))
        if not (values["distance"] > 0 and 0 <= values["fov"] < 180):
            raise ValueError(f"camera needs distance > 0 and 0 <= fov < 180, got {values['distance']}, {values['fov']}")
        # angles normalised here, with modular arithmetic: VisPy wraps them by repeated subtraction, which
        # never ends for 1e308 (and takes minutes for 1e13)
        for f in ("azimuth", "roll"):
            values[f] = (values[f] + 180.0) % 360.0 - 180.0
        values["elevation"] = min(90.0, max(-90.0, values["elevation"]))
        object.__setattr__(self, "center", center)
        for f, v in values.items():
            object.__setattr__(self, f, v)

    @property
    def eye(self) -> np.ndarray:
        """World position of the eye."""
        return np.asarray(self.center) - self.forward * self.distance

    @property
    def forward(self) -> np.ndarray:
        """Unit vector from the eye to the center (VisPy turntable: azimuth 0 looks along +y)."""
        az, el = math.radians(self.azimuth), math.radians(self.elevation)
        return np.array([-math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), -math.sin(el)])

    @classmethod
    def looking(cls, eye, center, fov: float = 40.0, roll: float = 0.0) -> CameraState:
        """The state whose eye is at ``eye`` looking at ``center``."""
        d = np.asarray(center, float) - np.asarray(eye, float)
        dist = float(np.linalg.norm(d))
        if dist == 0:
            raise ValueError("eye and center coincide")
        f = d / dist
        return cls(tuple(center), math.degrees(math.atan2(-f[0], f[1])), math.degrees(math.asin(-f[2])),
                   dist, fov, roll)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["center"] = list(d["center"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CameraState:
        unknown = set(d) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown camera field(s) {sorted(unknown)}; fields: {FIELDS}")
        values = {}
        for k, v in d.items():
            try:
                values[k] = tuple(float(c) for c in v) if k == "center" else float(v)
            except (TypeError, ValueError):
                raise ValueError(f"camera {k} must be {'3 numbers' if k == 'center' else 'a number'}, "
                                 f"got {v!r}") from None
        return cls(**values)

    def replace(self, **changes) -> CameraState:
        return replace(self, **changes)


def save(states: CameraState | list[CameraState], path) -> None:
    """Write one state (a JSON object) or keyframes (a JSON list of objects)."""
    data = states.to_dict() if isinstance(states, CameraState) else [s.to_dict() for s in states]
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def load(path) -> list[CameraState]:
    """Read a camera file: one object or a list of them; :class:`CameraFileError` if it is not valid."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise CameraFileError(f"cannot read camera file {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise CameraFileError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}") from None
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) for i in items):
        raise CameraFileError(f"{path}: expected a camera object or a non-empty list of them")
    try:
        return [CameraState.from_dict(i) for i in items]
    except (TypeError, ValueError) as e:
        raise CameraFileError(f"{path}: {e}") from None


def interpolate(a: CameraState, b: CameraState, t: float) -> CameraState:
    """State at ``t`` in [0, 1] between ``a`` and ``b``: linear in center, angles the short way round,
    distance geometric (so zooming feels even)."""
    daz = (b.azimuth - a.azimuth + 180.0) % 360.0 - 180.0
    return CameraState(
        tuple(np.asarray(a.center) + t * (np.asarray(b.center) - np.asarray(a.center))),
        a.azimuth + t * daz,
        a.elevation + t * (b.elevation - a.elevation),
        a.distance * (b.distance / a.distance) ** t,
        a.fov + t * (b.fov - a.fov),
        a.roll + t * (b.roll - a.roll),
    )
