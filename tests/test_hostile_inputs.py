"""Hostile files: tiny inputs that declare huge data are refused in one line before anything is allocated."""

import pytest
import torch

from nn3d import load
from nn3d.ingest import IngestError


@pytest.mark.parametrize("shape", [(20000, 20000), (1_000_000, 1_000_000)])
def test_pt_with_expanded_tensors_is_refused(tmp_path, shape):
    path = tmp_path / "expanded.pt"
    torch.save({"fc.weight": torch.zeros(1).expand(*shape), "fc.bias": torch.zeros(shape[0])[:1]}, path)
    with pytest.raises(IngestError, match="declares .* but stores"):
        load(path)


def test_pt_with_real_weights_still_loads(tmp_path):
    path = tmp_path / "real.pt"
    torch.save(torch.nn.Linear(300, 200).state_dict(), path)
    net, _ = load(path)
    assert net.layers[0].size == 300 and net.layers[1].size == 200


def test_huge_k_selects_what_a_sane_k_selects():
    from nn3d import synthetic
    from nn3d.layout import select_edges

    net = synthetic.mlp([64, 32, 10], seed=0)
    big, sane = select_edges(net, k=10**9, budget=500, rule="weight"), select_edges(net, k=500, budget=500,
                                                                                     rule="weight")
    assert len(big) == len(sane) > 0 and (big.src == sane.src).all() and (big.dst == sane.dst).all()


def test_a_camera_path_too_long_for_memory_is_refused(tmp_path, monkeypatch):
    from nn3d import memory
    from nn3d.render.video import check_record_args

    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 30)
    with pytest.raises(memory.TooLargeError, match="fewer frames"):
        check_record_args(tmp_path / "x.gif", "orbit", 10**9, 30, None, None, (64, 64))
    assert check_record_args(tmp_path / "x.gif", "orbit", 100, 30, None, None, (64, 64)) == "orbit"


@pytest.mark.parametrize("argv", [
    ["shot", "synthetic:mlp:8,4", "--spacing", "0", "-o", "x.png"],
    ["shot", "synthetic:mlp:8,4", "--spacing", "nan", "-o", "x.png"],
    ["shot", "synthetic:mlp:8,4", "--colormap", "nope", "-o", "x.png"],
    ["shot", "synthetic:mlp:8,4", "--k", "-1", "-o", "x.png"],
    ["shot", "synthetic:mlp:8,4", "--budget", "-5", "-o", "x.png"],
    ["shot", "synthetic:mlp:8,4", "--frame", "-3", "-o", "x.png"],
    ["shot", "synthetic:mlp:8,4", "--select", "x", "-o", "x.png"],
    ["record", "synthetic:mlp:8,4", "--frames", "0", "-o", "x.mp4"],
    ["record", "synthetic:mlp:8,4", "--fps", "inf", "-o", "x.mp4"],
    ["demo", "--epochs", "0"],
    ["nope"],
])
def test_bad_arguments_are_one_line_before_any_work(argv, tmp_path, monkeypatch, capsys):
    """Argument values are checked where they are parsed: one line on stderr, exit 2, nothing written."""
    from nn3d.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_a_bad_output_name_before_training(tmp_path, capsys):
    from nn3d.cli import main

    assert main(["demo", "--out", str(tmp_path / "x.txt")]) == 2
    out = capsys.readouterr()
    assert "unknown image type" in out.err and "train" not in out.out


def test_a_factory_calling_sys_exit_is_an_error_not_a_silent_success(tmp_path, capsys):
    from nn3d.cli import main

    f = tmp_path / "fx.py"
    f.write_text("import sys\n\ndef f():\n    sys.exit(0)\n")
    assert main(["shot", f"{f}:f", "-o", str(tmp_path / "x.png")]) == 2
    assert "sys.exit(0)" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
