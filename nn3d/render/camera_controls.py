"""Camera modes over one view: turntable and arcball (VisPy's cameras) and fly (our own handling on top of a
turntable: movement and look-around about the eye). Switching goes through :class:`CameraState`, so the view
does not jump."""

from __future__ import annotations

import math

import numpy as np
from vispy import scene
from vispy.util import transforms
from vispy.util.quaternion import Quaternion

from ..camera_pose import CameraState
from .vispy_compat import rotation_matrix, set_arcball_rotation

MODES = ("turntable", "arcball", "fly")


def _axis_angle(r: np.ndarray) -> tuple[float, np.ndarray]:
    """Angle (degrees) and axis of VisPy's ``transforms.rotate`` that gives the 4x4 rotation ``r``."""
    angle = math.degrees(math.acos(np.clip((np.trace(r[:3, :3]) - 1) / 2, -1, 1)))
    axis = np.array([r[1, 2] - r[2, 1], r[2, 0] - r[0, 2], r[0, 1] - r[1, 0]])
    if np.linalg.norm(axis) < 1e-9:
        if angle < 1:
            return 0.0, np.array([0.0, 0.0, 1.0])
        # 180 degrees: the axis is the eigenvector of eigenvalue 1
        w, v = np.linalg.eigh(r[:3, :3] + r[:3, :3].T)
        axis = v[:, np.argmax(w)]
    axis = axis / np.linalg.norm(axis)
    if not np.allclose(transforms.rotate(angle, axis), r, atol=1e-5):
        axis = -axis
    return angle, axis


def _turntable_rotation(state: CameraState) -> np.ndarray:
    probe = scene.TurntableCamera(up="+z", azimuth=state.azimuth, elevation=state.elevation, roll=state.roll)
    return rotation_matrix(probe)


def apply(view, state: CameraState) -> None:
    """Put ``state`` into the view's camera (turntable or arcball)."""
    cam = view.camera
    cam.fov, cam.center, cam.distance = state.fov, state.center, state.distance
    cam.scale_factor = 2 * state.distance * math.tan(math.radians(max(state.fov, 1.0) / 2))
    if isinstance(cam, scene.ArcballCamera):
        angle, (x, y, z) = _axis_angle(_turntable_rotation(state))
        set_arcball_rotation(cam, Quaternion.create_from_axis_angle(math.radians(angle), x, z, y))  # swaps y, z
    else:
        cam.azimuth, cam.elevation, cam.roll = state.azimuth, state.elevation, state.roll


def state_of(view) -> CameraState:
    """The view's camera as a CameraState (works for any rotation camera)."""
    cam = view.camera
    if isinstance(cam, scene.TurntableCamera):
        return CameraState(tuple(cam.center), cam.azimuth, cam.elevation, cam.distance, cam.fov, cam.roll)
    from scipy.spatial.transform import Rotation

    # VisPy's turntable rotation is rotate(el, -x) . rotate(az, z) . rotate(roll, y) on row vectors, i.e. the
    # intrinsic Y-Z-X Euler angles (roll, az, -el) of its transpose
    roll, azimuth, minus_el = Rotation.from_matrix(rotation_matrix(cam)[:3, :3].T).as_euler("YZX", degrees=True)
    if abs(minus_el) > 90:  # the other solution, with the elevation a turntable can take
        roll, azimuth, minus_el = roll + 180, 180 - azimuth, minus_el + 180

    def wrap(angle):
        return (angle + 180) % 360 - 180

    return CameraState(tuple(cam.center), wrap(azimuth), -wrap(minus_el), cam.distance, cam.fov, wrap(roll))


def make(mode: str):
    if mode not in MODES:
        raise ValueError(f"unknown camera mode {mode!r}; modes: {MODES}")
    if mode == "arcball":
        return scene.ArcballCamera(fov=40)
    cam = scene.TurntableCamera(up="+z", fov=40)
    cam.interactive = mode == "turntable"  # fly: the explorer moves the camera itself
    return cam


def switch(view, mode: str) -> None:
    """Change the camera mode, keeping what is seen."""
    state = state_of(view)
    view.camera = make(mode)
    apply(view, state)


def fly_move(state: CameraState, forward: float = 0.0, right: float = 0.0, up: float = 0.0) -> CameraState:
    """Move the eye (and the point looked at with it) along the view's own axes, in world units."""
    f = state.forward
    r = np.cross(f, (0.0, 0.0, 1.0))
    r = r / (np.linalg.norm(r) or 1.0)
    u = np.cross(r, f)
    return state.replace(center=tuple(np.asarray(state.center) + forward * f + right * r + up * u))


def fly_look(state: CameraState, d_azimuth: float, d_elevation: float) -> CameraState:
    """Turn the view about the eye (not about the center, as a turntable does)."""
    eye = state.eye
    turned = state.replace(azimuth=state.azimuth + d_azimuth,
                           elevation=float(np.clip(state.elevation + d_elevation, -89.0, 89.0)))
    return turned.replace(center=tuple(eye + turned.forward * state.distance))
