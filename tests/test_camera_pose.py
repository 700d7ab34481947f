import json

import numpy as np
import pytest

from nn3d import camera_pose, synthetic
from nn3d.camera_pose import CameraFileError, CameraState
from nn3d.layout import EdgeSet, layout


def test_state_roundtrips_through_json(tmp_path):
    a = CameraState((1, 2, 3), 10, 20, 30, 45, 5)
    b = CameraState((0, 0, 0), 350, -10, 3, 0, 0)
    camera_pose.save(a, tmp_path / "one.json")
    camera_pose.save([a, b], tmp_path / "keys.json")
    assert camera_pose.load(tmp_path / "one.json") == [a]
    assert camera_pose.load(tmp_path / "keys.json") == [a, b]
    assert json.loads((tmp_path / "one.json").read_text())["center"] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[]", "non-empty list"),
    ('{"center": [0, 0]}', "3 finite numbers"),
    ('{"zoom": 3}', "unknown camera field"),
    ('{"distance": -1}', "distance > 0"),
])
def test_bad_camera_files_are_one_line_errors(tmp_path, text, message):
    f = tmp_path / "cam.json"
    f.write_text(text)
    with pytest.raises(CameraFileError, match=message):
        camera_pose.load(f)
    with pytest.raises(CameraFileError, match="cannot read"):
        camera_pose.load(tmp_path / "missing.json")


def test_interpolation_takes_the_short_way_round():
    a, b = CameraState(azimuth=350, distance=1), CameraState(azimuth=10, distance=100, center=(2, 0, 0))
    mid = camera_pose.interpolate(a, b, 0.5)
    assert mid.azimuth % 360 == pytest.approx(0) and mid.distance == pytest.approx(10)
    assert mid.center == pytest.approx((1, 0, 0))
    assert camera_pose.interpolate(a, b, 0) == a
    end = camera_pose.interpolate(a, b, 1)
    assert end.azimuth % 360 == pytest.approx(10) and end.distance == pytest.approx(100)


def test_scene_camera_matches_state():
    """The state's eye and forward vector are VisPy's: points along the view axis project to the centre."""
    from nn3d.render.scene import NetworkScene

    net = synthetic.mlp([16, 9, 4])
    lay = layout(net)
    scene = NetworkScene(net, lay, EdgeSet.empty(), size=(400, 300))
    state = CameraState.looking(eye=(-20, -30, 10), center=lay.positions[3], fov=40)
    np.testing.assert_allclose(state.eye, (-20, -30, 10), atol=1e-9)
    scene.set_camera(state)
    assert scene.camera_state == state.replace(fov=40.0)
    tr = scene.neurons.get_transform("visual", "canvas")
    for p in (lay.positions[3], lay.positions[3] + 5 * state.forward, state.eye + 0.5 * state.forward):
        q = tr.map(p)
        np.testing.assert_allclose(q[:2] / q[3], (200, 150), atol=1e-6)
    scene.close()


@pytest.mark.parametrize("field, value", [("azimuth", 1e308), ("roll", 1e13), ("elevation", float("nan")),
                                          ("roll", float("nan")), ("distance", float("inf")),
                                          ("fov", float("-inf")), ("center", [0, 1e300, 0]), ("azimuth", "x")])
def test_hostile_camera_files_are_refused_in_one_line(tmp_path, field, value):
    path = tmp_path / "cam.json"
    path.write_text(json.dumps({field: value}))  # json writes NaN / Infinity, as a hostile file may
    with pytest.raises(camera_pose.CameraFileError) as err:
        camera_pose.load(path)
    assert "\n" not in str(err.value) and field in str(err.value)


def test_angles_are_normalised_with_modular_arithmetic():
    s = camera_pose.CameraState(azimuth=1e11 + 30, roll=-725.0, elevation=400.0)
    assert -180 <= s.azimuth < 180 and s.roll == pytest.approx(-5.0) and s.elevation == 90.0
    assert camera_pose.CameraState(azimuth=398.0).azimuth == pytest.approx(38.0)
    assert np.allclose(camera_pose.CameraState(azimuth=398.0).forward, camera_pose.CameraState(azimuth=38.0).forward)
