"""Fuzzing, bounded in time: safetensors headers, recording metadata and camera JSON raise nothing but their
reader's own one-line error, whatever they hold."""

import json
import struct
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nn3d import camera_pose  # noqa: E402
from nn3d.ingest import IngestError, load, safetensors_file  # noqa: E402
from nn3d.network import NetworkError  # noqa: E402

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                            st.dictionaries(st.text(max_size=6), inner, max_size=5)),
                           max_leaves=20)
entries = st.fixed_dictionaries({}, optional={
    "dtype": st.one_of(st.sampled_from(sorted(safetensors_file.DTYPES)), scalars),
    "shape": st.one_of(st.lists(st.integers(min_value=-3, max_value=2**64), max_size=5), json_values),
    "data_offsets": st.one_of(st.lists(st.integers(min_value=-20, max_value=2**64), max_size=3), json_values)})
headers = st.dictionaries(st.text(max_size=6), st.one_of(entries, json_values), max_size=4)


def one_line(e: BaseException) -> None:
    assert isinstance(e, ValueError) and "\n" not in str(e)


def write(path: Path, head: bytes, data: bytes) -> Path:
    path.write_bytes(struct.pack("<Q", len(head)) + head + data)
    return path


@FUZZ
@given(header=headers, data=st.binary(max_size=64))
def test_safetensors_headers(tmp_path_factory, header, data):
    path = write(tmp_path_factory.mktemp("st") / "f.safetensors", json.dumps(header).encode(), data)
    try:
        tensors, _ = safetensors_file.read(path)
    except IngestError as e:
        one_line(e)
    else:
        for v in tensors.values():
            assert v.nbytes <= len(data)


@FUZZ
@given(head=st.binary(max_size=64), data=st.binary(max_size=32))
def test_safetensors_header_bytes(tmp_path_factory, head, data):
    try:
        safetensors_file.read(write(tmp_path_factory.mktemp("sb") / "f.safetensors", head, data))
    except IngestError as e:
        one_line(e)


@FUZZ
@given(layers=st.one_of(json_values, st.text(max_size=20)), conns=st.one_of(json_values, st.text(max_size=20)),
       drop=st.sampled_from(["", "activations", "record_step", "step", "loss"]))
def test_recording_metadata(tmp_path_factory, layers, conns, drop):
    tensors = {"activations": np.zeros((1, 1, 3), np.float32), "record_step": np.zeros(1, np.int64),
               "step": np.zeros(1, np.int64), "loss": np.zeros(1)}
    tensors.pop(drop, None)
    meta = {"format": "nn3d.recording", "layers": layers if isinstance(layers, str) else json.dumps(layers),
            "connections": conns if isinstance(conns, str) else json.dumps(conns)}
    path = tmp_path_factory.mktemp("rec") / "r.nn3d"
    safetensors_file.write(path, tensors, meta)
    try:
        load(path)
    except NetworkError as e:  # IngestError, or NetworkError for a network that cannot be built
        one_line(e)


@FUZZ
@given(state=st.one_of(json_values, st.dictionaries(st.sampled_from(
    ["azimuth", "elevation", "roll", "distance", "center", "fov", "mode"]), json_values, max_size=7)))
def test_camera_json(tmp_path_factory, state):
    path = tmp_path_factory.mktemp("cam") / "c.json"
    path.write_text(json.dumps(state))
    try:
        camera_pose.load(path)
    except camera_pose.CameraFileError as e:
        one_line(e)
