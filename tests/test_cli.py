"""The nn3d command as a user runs it: images written, one-line errors with exit code 2."""

import os
import subprocess
import sys
import textwrap

import imageio.v3 as iio
import numpy as np
import pytest

from nn3d.cli import main

BG = np.array([11, 13, 18])


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "nn3d.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_demo_writes_png_with_digit_and_prediction(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--out", str(out), "--size", "640x400", "--epochs", "3"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "train 3 epochs (test accuracy" in text and "render 640x400" in text
    img = iio.imread(out)
    assert img.shape == (400, 640, 4)
    lit = (img[..., :3] != BG).any(-1)
    assert 0.01 < lit.mean() < 0.5  # a network, not an empty or flooded frame


def test_shot_synthetic(tmp_path, capsys):
    out = tmp_path / "mlp.png"
    assert main(["shot", "synthetic:mlp:784,256,10", "-o", str(out), "--size", "320x200"]) == 0
    assert "1,050 neurons" in capsys.readouterr().out
    assert iio.imread(out).shape == (200, 320, 4)


def test_shot_wider_than_a_window_is_tiled(tmp_path, capsys):
    """20000 px is past every GL limit: the shot is rendered in tiles, and the network spans the image."""
    out = tmp_path / "wide.png"
    assert main(["shot", "synthetic:mlp:64,32,16", "-o", str(out), "--size", "20000x1200"]) == 0
    assert "wrote" in capsys.readouterr().out
    img = iio.imread(out)
    assert img.shape == (1200, 20000, 4)
    lit = (img[..., :3] != BG).any(-1).any(0)  # columns with anything drawn
    assert lit[:10000].any() and lit[10000:].any()
    assert run_cli("shot", "synthetic:mlp:4,3", "-o", "x.png", "--size", "70000x10").returncode == 2


def test_shot_factory_file(tmp_path):
    model_file = tmp_path / "model.py"
    model_file.write_text(textwrap.dedent("""
        import torch
        def factory():
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
            return model, torch.randn(2, 12)
    """))
    out = tmp_path / "m.png"
    assert main(["shot", f"{model_file}:factory", "-o", str(out), "--size", "200x120", "--frame", "1"]) == 0
    assert iio.imread(out).shape == (120, 200, 4)


@pytest.mark.parametrize("args, message", [
    (["shot", "bogus", "-o", "x.png"], "cannot read MODEL 'bogus'"),
    (["shot", "synthetic:mlp:3,x", "-o", "x.png"], "expected comma-separated integers"),
    (["shot", "synthetic:cube:3", "-o", "x.png"], "unknown synthetic network"),
    (["shot", "synthetic:mlp:0,3", "-o", "x.png"], "at least two layer sizes >= 1"),
    (["shot", "synthetic:mlp:4,3", "-o", "/no/such/dir/x.png"], "does not exist"),
    (["shot", "synthetic:mlp:4,3", "-o", "x.mp3"], "unknown image type"),
    (["shot", "synthetic:mlp:4,3", "-o", "x.png", "--frame", "5"], "frame 5 out of range"),
    (["shot", "missing.py:factory", "-o", "x.png"], "no such file"),
])
def test_bad_input_is_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nn3d: error:") and message in err and "\n" not in err
    assert not list(tmp_path.glob("x.*"))


def test_factory_that_raises(tmp_path, capsys):
    f = tmp_path / "bad.py"
    f.write_text("def factory():\n    raise RuntimeError('boom')\n")
    assert main(["shot", f"{f}:factory", "-o", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err.strip() == f"nn3d: error: {f}:factory() raised RuntimeError: boom"


def test_bad_size_is_a_usage_error():
    r = run_cli("shot", "synthetic:mlp:4,3", "-o", "x.png", "--size", "big")
    assert r.returncode == 2 and "size must be WIDTHxHEIGHT" in r.stderr


def test_bad_fold_is_a_usage_error():
    r = run_cli("shot", "synthetic:mlp:4,3", "-o", "x.png", "--fold", "0")
    assert r.returncode == 2 and "--fold: must be auto, none or a number of rows >= 1, not '0'" in r.stderr


def test_fold_reaches_the_layout(tmp_path):
    from nn3d.cli import main

    flat, folded = tmp_path / "flat.png", tmp_path / "folded.png"
    assert main(["shot", "synthetic:mlp:40,30,20,10", "-o", str(flat), "--size", "320x200", "--fold", "none"]) == 0
    assert main(["shot", "synthetic:mlp:40,30,20,10", "-o", str(folded), "--size", "320x200", "--fold", "2"]) == 0
    assert (iio.imread(flat) != iio.imread(folded)).any()


def test_view_without_display_says_so():
    r = run_cli("view", "synthetic:mlp:4,3", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert r.returncode == 2 and r.stderr.strip().startswith("nn3d: error: no display")


def test_no_working_backend_names_what_to_install(tmp_path):
    r = run_cli("shot", "synthetic:mlp:4,3", "-o", str(tmp_path / "x.png"), env={"NN3D_BACKEND": "nosuchgl"})
    assert r.returncode == 2
    err = r.stderr.strip()
    assert "\n" not in err and "no OpenGL backend works: tried nosuchgl" in err and "apt-get install" in err
    assert "Traceback" not in r.stderr


def test_plot_panel_through_the_cli(tmp_path, capsys):
    out = tmp_path / "w.png"
    assert main(["plot", "synthetic:mlp:12,8,3", "--panel", "weights", "--layer", "dense1", "-o", str(out),
                 "--size", "300x200"]) == 0
    assert iio.imread(out).shape[:2] == (200, 300)
    assert main(["plot", "synthetic:mlp:12,8,3", "--panel", "weights", "--layer", "nope", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nn3d: error:") and "nope" in err and "\n" not in err
