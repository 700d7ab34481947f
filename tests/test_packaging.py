import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nn3d.render import shaders

ROOT = Path(__file__).resolve().parent.parent


def test_every_shader_loads_and_documents_itself():
    names = sorted(p.name for p in (ROOT / "shaders").iterdir())
    assert {"neurons.vert", "neurons.frag", "edges.vert", "edges.frag"} <= set(names)
    for name in names:
        source = shaders.load(name)
        assert source.startswith(f"// {name}:"), f"{name} must open with a comment saying what it draws"
        assert "void main" in source
    with pytest.raises(FileNotFoundError, match="nope.frag"):
        shaders.load("nope.frag")


def test_wheel_ships_the_shaders(tmp_path):
    pytest.importorskip("hatchling")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("nn3d-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shader in ("neurons.vert", "neurons.frag", "edges.vert", "edges.frag"):
        assert f"nn3d/shaders/{shader}" in names
    assert "nn3d/cli/__init__.py" in names and "nn3d/cli/shot.py" in names
