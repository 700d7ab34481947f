"""Every example in examples/ runs headless, and its factory() gives what nn3d view/shot expect."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def run(*args):
    out = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_digits_mlp_trains_records_and_replays(tmp_path):
    out = run(EXAMPLES / "digits_mlp.py", "--epochs", "3", "--out", tmp_path / "run.nn3d")
    assert "recorded steps" in out and (tmp_path / "run.nn3d").stat().st_size > 0
    from nn3d.ingest import load

    net, act = load(tmp_path / "run.nn3d")
    assert [la.shape for la in net.layers] == [(64,), (32,), (16,), (10,)]
    # 3 epochs x 12 minibatches of 128 = 36 steps, recorded every 10 steps
    assert list(act.meta["step"]) == [0, 10, 20, 30] and act.meta["loss"][-1] < act.meta["loss"][0]


def test_small_cnn_runs_and_exports_onnx(tmp_path):
    pytest.importorskip("onnx")
    out = run(EXAMPLES / "small_cnn.py", "--onnx", tmp_path / "cnn.onnx")
    assert "conv" in out and (tmp_path / "cnn.onnx").is_file()


def test_tiny_transformer_runs():
    pytest.importorskip("transformers")
    out = run(EXAMPLES / "tiny_transformer.py", "--tokens", "8")
    assert "attention" in out and "8x1000" in out


@pytest.mark.parametrize("script", ["small_cnn.py", "tiny_transformer.py"])
def test_factories_feed_from_torch(script):
    if script.startswith("tiny"):
        pytest.importorskip("transformers")
    spec = importlib.util.spec_from_file_location(f"_nn3d_example_{Path(script).stem}", EXAMPLES / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from nn3d.ingest import from_torch

    model, inputs = module.factory()
    net, act = from_torch(model, inputs)
    assert act.n_frames == inputs.shape[0] and net.n_neurons == act.n_neurons > 1000
