"""``--memmap PATH.npy``: a traced MODEL's activations recorded into a memory-mapped store give the same picture
as in RAM; bad paths and MODELs that bring their own activations are one-line errors (exit 2)."""

import numpy as np
import pytest

from nn3d.cli import main
from nn3d.model_argument import resolve

FACTORY = '''
import torch

def make():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    return model, torch.randn(2, 6)
'''


@pytest.fixture
def factory(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(FACTORY)
    return f"{path}:make"


def test_memmap_store_holds_the_recording_and_gives_the_same_shot(factory, tmp_path):
    import imageio.v3 as iio

    store = tmp_path / "acts.npy"
    net, in_ram = resolve(factory)
    _, stored = resolve(factory, memmap=store)
    assert isinstance(stored.values, np.memmap) and not isinstance(in_ram.values, np.memmap)
    np.testing.assert_array_equal(np.load(store), in_ram.values)
    assert np.load(store).shape == (2, net.n_neurons) and np.abs(in_ram.values).sum() > 0

    args = ["shot", factory, "--size", "160x120"]
    assert main([*args, "-o", str(tmp_path / "ram.png")]) == 0
    assert main([*args, "-o", str(tmp_path / "store.png"), "--memmap", str(tmp_path / "b.npy")]) == 0
    ram, stored_png = iio.imread(tmp_path / "ram.png"), iio.imread(tmp_path / "store.png")
    assert (ram[..., :3].max(axis=2) > 40).sum() > 100  # the network is drawn, not a blank frame
    np.testing.assert_array_equal(stored_png, ram)


@pytest.mark.parametrize("where, says", [
    ("missing/acts.npy", "no such folder"),
    ("acts.txt", "needs a .npy file"),
    ("folder.npy", "is a folder"),
])
def test_bad_store_paths_are_one_line(factory, tmp_path, capsys, monkeypatch, where, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.npy").mkdir()
    rc = main(["shot", factory, "-o", "x.png", "--size", "64x48", "--memmap", where])
    err = capsys.readouterr().err
    assert rc == 2 and says in err and err.startswith("nn3d: error: --memmap") and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_memmap_with_a_model_that_brings_its_activations(tmp_path, capsys):
    rc = main(["shot", "synthetic:mlp:4,3", "-o", str(tmp_path / "x.png"), "--memmap", str(tmp_path / "a.npy")])
    err = capsys.readouterr().err
    assert rc == 2 and "records a model traced here" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())
