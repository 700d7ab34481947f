"""Hostile model files, generated at test time, through the command line: each ends in exit code 2 and one
line on stderr (no traceback, no output file), or in a picture; nothing of a declared size is allocated before
it is checked, and no code from a file runs."""

import json
import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from nn3d.cli import main
from nn3d.ingest import IngestError, load, safetensors_file


def refused(capsys, model, tmp_path, match):
    """Run ``nn3d shot MODEL``: exit 2, one error line matching ``match``, no traceback, no picture."""
    out = tmp_path / "out.png"
    try:
        rc = main(["shot", str(model), "-o", str(out), "--size", "64x64"])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("nn3d: error:")]
    assert rc == 2, err
    assert "Traceback" not in err and len(errors) == 1, err
    assert err.rstrip().splitlines()[-1] == errors[0]
    assert __import__("re").search(match, errors[0]), errors[0]
    assert not out.exists()
    return errors[0]


def st(path, header, data=b"", raw_header=None):
    head = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + data)
    return path


def entry(dtype="F32", shape=(2, 2), offsets=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


SAFETENSORS = {
    "header_beyond_file": (None, b"{}", "header length"),
    "not_utf8": (None, b'{"\xff\xfe": 1}', "not UTF-8"),
    "not_json": (None, b"{nope", "not JSON"),
    "deeply_nested": (None, b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    "duplicate_keys": (None, b'{"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, '
                             b'"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}', "twice"),
    "a_list": (None, b"[1, 2]", "not a JSON object"),
    "unknown_dtype": ({"w": entry(dtype="Q4")}, None, "unknown dtype"),
    "dtype_not_a_string": ({"w": entry(dtype=7)}, None, "unknown dtype"),
    "negative_shape": ({"w": entry(shape=(-2, -2))}, None, "malformed shape"),
    "bool_shape": ({"w": entry(shape=(True, 4))}, None, "malformed shape"),
    "float_shape": ({"w": entry(shape=(2.0, 2))}, None, "malformed shape"),
    "too_many_dims": ({"w": entry(shape=(1,) * 100)}, None, "malformed shape"),
    "shape_not_a_list": ({"w": {"dtype": "F32", "shape": "2x2", "data_offsets": [0, 16]}}, None, "malformed"),
    "negative_offsets": ({"w": entry(offsets=(-16, 0))}, None, "negative or reversed"),
    "reversed_offsets": ({"w": entry(offsets=(16, 0))}, None, "negative or reversed"),
    "float_offsets": ({"w": entry(offsets=(0.0, 16.0))}, None, "malformed data_offsets"),
    "three_offsets": ({"w": entry(offsets=(0, 8, 16))}, None, "malformed data_offsets"),
    "offsets_beyond_file": ({"w": entry(offsets=(16, 32))}, None, "does not fit the file"),
    "int64_overflow": ({"w": entry(shape=(2**40, 2**40, 2**40))}, None, "does not fit the file"),
    "huge_shape_small_data": ({"w": entry(shape=(10**6, 10**6))}, None, "does not fit the file"),
    "zero_element_huge_rows": ({"a.weight": entry(), "b.weight": entry(shape=(3 * 10**9, 0), offsets=(16, 16))},
                               None, "with no data"),
    "zero_element_huge_cols": ({"a.weight": entry(), "e.weight": entry(shape=(0, 10**30), offsets=(16, 16))},
                               None, "with no data"),
    "zero_element_huge_conv": ({"c.weight": entry(shape=(10**9, 0, 3, 3), offsets=(0, 0))}, None, "with no data"),
    "overlapping": ({"a.weight": entry(offsets=(0, 16)), "b.weight": entry(offsets=(8, 24))}, None, "overlap"),
    "entry_not_an_object": ({"w": [1, 2]}, None, "not an object"),
    "metadata_a_list": ({"__metadata__": ["x"], "w": entry()}, None, "__metadata__"),
    "metadata_not_strings": ({"__metadata__": {"k": 1}, "w": entry()}, None, "__metadata__"),
}


@pytest.mark.parametrize("case", sorted(SAFETENSORS))
def test_hostile_safetensors_headers_are_one_line(case, tmp_path, capsys):
    header, raw, match = SAFETENSORS[case]
    path = tmp_path / f"{case}.safetensors"
    if case == "header_beyond_file":
        path.write_bytes(struct.pack("<Q", 10**9) + b"{}")
    else:
        st(path, header, b"\0" * 24, raw_header=raw)
    refused(capsys, path, tmp_path, match)


def test_zero_element_tensors_within_the_file_still_load(tmp_path):
    safetensors_file.write(tmp_path / "z.safetensors", {"fc.weight": np.ones((3, 4), np.float32),
                                                       "empty": np.zeros((0, 7), np.float32)})
    tensors, _ = safetensors_file.read(tmp_path / "z.safetensors")
    assert tensors["empty"].shape == (0, 7) and tensors["fc.weight"].sum() == 12


def test_many_tensors_under_the_common_descriptor_limit(tmp_path):
    """1,100 tensors with 1,024 descriptors: one memory map per file, not one per tensor."""
    safetensors_file.write(tmp_path / "many.safetensors",
                           {f"t{i}": np.full(3, i, np.float32) for i in range(1100)})
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)); "
            "from nn3d.ingest import safetensors_file as s; t, _ = s.read(sys.argv[1]); "
            "print(len(t), float(sum(v.sum() for v in t.values())))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "many.safetensors")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1100", str(3.0 * sum(range(1100)))]


def test_misaligned_tensors_are_copied_and_read_right(tmp_path):
    data = b"\0" + np.arange(4, dtype=np.float32).tobytes() + b"\0" * 3
    st(tmp_path / "m.safetensors", {"x": entry(dtype="U8", shape=(1,), offsets=(0, 1)),
                                    "w": entry(shape=(4,), offsets=(1, 17))}, data)
    tensors, _ = safetensors_file.read(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(tensors["w"], np.arange(4, dtype=np.float32))


def test_a_network_too_large_for_memory_is_refused_before_its_zeros(tmp_path, monkeypatch):
    from nn3d import memory

    safetensors_file.write(tmp_path / "w.safetensors", {"fc.weight": np.ones((1000, 1000), np.float32)})
    monkeypatch.setattr(memory, "available_bytes", lambda: 10_000)
    with pytest.raises(memory.TooLargeError, match="2,000 neurons"):
        load(tmp_path / "w.safetensors")


# ---- ONNX ----

def onnx_model(path, nodes, inputs, inits=(), outputs=None):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    outs = outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs]
    g = helper.make_graph(nodes, "g", ins, outs, list(inits))
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _onnx_case(case, path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    n = helper.make_node
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    if case == "huge_input":
        return onnx_model(path, [n("Relu", ["x"], ["y"], name="r")], [("x", [1, 3_000_000_000])]), "needs about"
    if case == "huge_input_4d":
        return onnx_model(path, [n("MatMul", ["x", "W"], ["y"], name="m")], [("x", [1, 10**6, 10**6, 4])], [w]), \
            "needs about"
    if case == "huge_reshape":
        s = numpy_helper.from_array(np.array([1, 10**12], np.int64), "s")
        return onnx_model(path, [n("Reshape", ["x", "s"], ["h"], name="rs"), n("Relu", ["h"], ["y"], name="r")],
                          [("x", [1, 4])], [s]), "needs about"
    if case in ("huge_initializer", "short_initializer", "negative_dims"):
        t = TensorProto(name="B", data_type=TensorProto.FLOAT)
        t.dims.extend({"huge_initializer": [10**6, 10**6], "short_initializer": [3, 4],
                       "negative_dims": [-3, 4]}[case])
        if case == "short_initializer":
            t.raw_data = b"\0" * 8
        match = "negative dims" if case == "negative_dims" else "declares dims .* but stores"
        return onnx_model(path, [n("MatMul", ["x", "B"], ["y"], name="m")], [("x", [1, 3])], [t]), match
    if case == "huge_constant":
        t = TensorProto(name="c", data_type=TensorProto.FLOAT)
        t.dims.extend([10**6, 10**6])
        return onnx_model(path, [n("Constant", [], ["c"], name="k", value=t), n("Add", ["x", "c"], ["y"], name="a")],
                          [("x", [1, 3])]), "declares dims"
    if case == "cycle":
        return onnx_model(path, [n("Relu", ["b"], ["a"], name="na"), n("Add", ["x", "a"], ["b"], name="nb"),
                                 n("Relu", ["b"], ["y"], name="nc")], [("x", [1, 3])]), "cycle"
    if case == "self_loop":
        return onnx_model(path, [n("Add", ["x", "y"], ["y"], name="loop")], [("x", [1, 3])]), "cycle"
    if case == "missing_input":
        return onnx_model(path, [n("Add", ["x", "ghost"], ["y"], name="a")], [("x", [1, 3])]), "reads 'ghost'"
    if case == "missing_output":
        return onnx_model(path, [n("Relu", ["x"], ["h"], name="r")], [("x", [1, 3])]), "produced by no node"
    raise AssertionError(case)


ONNX_CASES = ["huge_input", "huge_input_4d", "huge_reshape", "huge_initializer", "short_initializer",
              "negative_dims", "huge_constant", "cycle", "self_loop", "missing_input", "missing_output"]


@pytest.mark.parametrize("case", ONNX_CASES)
def test_hostile_onnx_graphs_are_one_line(case, tmp_path, capsys):
    path, match = _onnx_case(case, tmp_path / f"{case}.onnx")
    refused(capsys, path, tmp_path, match)


def test_an_acyclic_graph_out_of_order_is_sorted_and_read_like_the_sorted_one(tmp_path):
    pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"), helper.make_node("Relu", ["h"], ["y"], name="r")]
    onnx_model(tmp_path / "a.onnx", nodes, [("x", [1, 4])], [w])
    onnx_model(tmp_path / "b.onnx", nodes[::-1], [("x", [1, 4])], [w])
    (na, aa), (nb, ab) = load(tmp_path / "a.onnx"), load(tmp_path / "b.onnx")
    assert [(la.name, la.kind, la.shape) for la in na.layers] == [(la.name, la.kind, la.shape) for la in nb.layers]
    np.testing.assert_array_equal(aa.values, ab.values)


# ---- torch files ----

class Payload:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("form", ["zip", "legacy", "raw_pickle"])
def test_pt_with_code_is_refused_and_never_run(form, tmp_path, capsys):
    marker, path = tmp_path / "PWNED", tmp_path / f"{form}.pt"
    obj = {"fc.weight": torch.zeros(3, 4), "x": Payload(marker)}
    if form == "zip":
        torch.save(obj, path)
    elif form == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(Payload(marker)))
    line = refused(capsys, path, tmp_path, "will not" if form != "raw_pickle" else "not a readable torch file")
    if form != "raw_pickle":
        assert "system" in line and "state_dict()" in line
    assert not marker.exists()


@pytest.mark.parametrize("cut", ["half", "end"])
def test_truncated_pt_zip_is_one_line(cut, tmp_path, capsys):
    torch.save(torch.nn.Linear(40, 30).state_dict(), tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2] if cut == "half" else data[:-30])
    line = refused(capsys, tmp_path / "t.pt", tmp_path, "not a readable torch file")
    assert len(line) < 300


def test_meta_tensors_are_refused(tmp_path, capsys):
    torch.save({"fc.weight": torch.zeros(3, 4, device="meta")}, tmp_path / "meta.pt")
    refused(capsys, tmp_path / "meta.pt", tmp_path, "meta device")


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@pytest.mark.parametrize("kind", ["sparse", "qint8"])
def test_sparse_and_quantized_tensors_load_as_their_dense_values(kind, tmp_path):
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 10
    stored = w.to_sparse() if kind == "sparse" else torch.quantize_per_tensor(w, 0.1, 0, torch.qint8)
    torch.save({"fc.weight": stored}, tmp_path / "w.pt")
    net, _ = load(tmp_path / "w.pt")
    np.testing.assert_allclose(net.connections[0].weight, w.numpy(), atol=1e-6)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_state_dict_of_non_finite_weights_draws_them_as_zero(value, tmp_path, caplog):
    w = torch.ones(3, 4)
    w[0, 1] = value
    torch.save({"fc.weight": w, "fc.bias": torch.full((3,), value)}, tmp_path / "w.pt")
    net, _ = load(tmp_path / "w.pt")
    got = net.connections[0].weight
    assert np.isfinite(got).all() and got[0, 1] == 0 and got.sum() == 11
    assert "NaN or infinite" in caplog.text
    rc = main(["shot", str(tmp_path / "w.pt"), "-o", str(tmp_path / "w.png"), "--size", "64x64"])
    assert rc == 0 and (tmp_path / "w.png").stat().st_size > 0


# ---- recordings ----

def recording(tmp_path):
    from nn3d.recorder import TrainingRecorder

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    rec = TrainingRecorder(model, torch.randn(3, 4), every=1)
    for _ in range(3):
        rec.step(loss=1.0)
    return rec.save(tmp_path / "run.nn3d")


def rewrite(path, change):
    tensors, meta = safetensors_file.read(path)
    tensors = {k: np.array(v) for k, v in tensors.items()}
    change(tensors, meta)
    safetensors_file.write(path, tensors, meta)


RECORDING_CASES = {
    "truncated": (None, "does not fit the file"),
    "activations_2d": (lambda t, m: t.update(activations=t["activations"][:, 0, :]), "activations of shape"),
    "activations_too_few_neurons": (lambda t, m: t.update(activations=t["activations"][..., :3]),
                                    "activations of shape"),
    "record_step_out_of_range": (lambda t, m: t.update(record_step=t["record_step"] + 100), "outside"),
    "record_step_negative": (lambda t, m: t.update(record_step=t["record_step"] - 100), "outside"),
    "record_step_float": (lambda t, m: t.update(record_step=t["record_step"].astype(np.float32)), "1-D"),
    "fewer_record_steps": (lambda t, m: t.update(record_step=t["record_step"][:1]), "record steps for"),
    "weights_wrong_rows": (lambda t, m: t.update({k: v[:1] for k, v in t.items() if k.startswith("weights/")}),
                           "one row per record"),
    "weights_bad_name": (lambda t, m: t.update({"weights/99": t["final/0"][None].repeat(3, 0)}), "names no"),
    "layers_a_dict": (lambda t, m: m.update(layers='{"a": 1}'), "damaged"),
    "layers_deep": (lambda t, m: m.update(layers="[" * 100_000 + "]" * 100_000), "damaged"),
    "connections_not_json": (lambda t, m: m.update(connections="nope\nnope"), "damaged"),
}


@pytest.mark.parametrize("case", sorted(RECORDING_CASES))
def test_hostile_recordings_are_one_line(case, tmp_path, capsys):
    path = recording(tmp_path)
    change, match = RECORDING_CASES[case]
    if change is None:
        path.write_bytes(path.read_bytes()[:-40])
    else:
        rewrite(path, change)
    line = refused(capsys, path, tmp_path, match)
    assert "\n" not in line


def test_an_intact_recording_still_loads(tmp_path):
    net, acts = load(recording(tmp_path))
    assert acts.n_frames == 3 and acts.values.shape == (3, net.n_neurons)
    with pytest.raises(IngestError):
        load(recording(tmp_path), sample=5)
