"""The README's Python example runs as written."""

import re
from pathlib import Path

import imageio.v3 as iio

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has a Python example"
    monkeypatch.delenv("DISPLAY", raising=False)  # explore() must come back with an offscreen explorer
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert iio.imread(tmp_path / "mlp.png").shape == (1000, 1600, 4)
    assert namespace["image"].shape[2] == 4
    assert namespace["activations"].n_frames == 5  # steps 0, 10, 20, 30, 40 recorded
    namespace["explorer"].close()
