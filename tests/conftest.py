import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nn3d import synthetic
from nn3d.layout import EdgeSet, layout, select_edges


@pytest.fixture
def small_scene():
    """A 4-3-2 MLP drawn at 480x320 with known activations (edges hidden unless a test shows them)."""
    from nn3d.render.scene import NetworkScene

    net = synthetic.mlp([4, 3, 2], seed=0)
    values = np.array([0.0, 1.0, 2.0, 3.0, 5.0, -1.0, 2.0, 0.25, 0.75], dtype=np.float32)
    scene = NetworkScene(net, layout(net), select_edges(net, k=2), size=(480, 320), radius=0.15)
    scene.set_frame(values)
    scene.edges.visible = False
    yield scene, values
    scene.close()


@pytest.fixture
def under_xvfb():
    """Runs a command (argument list) under Xvfb with no display of ours in its environment: a real glfw window
    on a virtual screen. Skips where xvfb-run is missing, except on CI, which must have it."""
    if not shutil.which("xvfb-run"):
        if os.environ.get("CI"):
            pytest.fail("CI must install xvfb (see .ci/setup)")
        pytest.skip("xvfb-run is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "NN3D_BACKEND")}

    def run(args):
        # xvfb-run -a picks the first free display, racing any other test run on this machine for it: a display
        # number of this process's own first, then -a once more if that one was taken.
        for server in (["-n", str(100 + os.getpid() % 30000)], ["-a"]):
            r = subprocess.run(["xvfb-run", *server, "-s", "-screen 0 1280x1024x24", *args], capture_output=True,
                               text=True, timeout=120, env=env)
            if "Failed to open display" not in r.stderr and "Xvfb failed to start" not in r.stderr:
                return r
        return r

    return run


def _gpt2_source(layers: int, dim: int, heads: int, vocab: int, positions: int, batch: int, tokens: int, seed: int):
    """A GPT-2 language model from a config (random weights, seeded), ingested on random token ids, and its
    analysis Source with the model (skips without transformers): (net, acts, src)."""
    pytest.importorskip("transformers")
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from nn3d import from_torch
    from nn3d.analysis import Source

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=layers, n_embd=dim, n_head=heads, vocab_size=vocab, n_positions=positions,
                     bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg).eval()
    ids = torch.randint(0, vocab, (batch, tokens), generator=torch.Generator().manual_seed(seed))
    net, acts = from_torch(model, ids)
    return net, acts, Source(net, acts, model=model, inputs=ids)


@pytest.fixture
def gpt2_source():
    """:func:`_gpt2_source`, to build a small GPT-2 and its analysis Source."""
    return _gpt2_source


@pytest.fixture
def no_edges():
    return EdgeSet.empty()


BLOCK_OPENGL = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('vispy', 'OpenGL', 'glfw'):
            raise ImportError('imported ' + name)
sys.meta_path.insert(0, Block())
"""


@pytest.fixture
def run_without_opengl():
    """Run Python code in a child process where vispy, OpenGL and glfw cannot be imported; returns stdout."""

    def run(code: str) -> str:
        out = subprocess.run([sys.executable, "-c", BLOCK_OPENGL + code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip()

    return run


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """A short digits training run recorded by examples/train_digits.py (3 epochs, a record every 5 steps)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import train_digits

    out = tmp_path_factory.mktemp("run") / "run.nn3d"
    train_digits.train(str(out), epochs=3, every=5)
    return out


@pytest.fixture
def lone_panel():
    """A canvas holding one panel of each asked kind, as `nn3d plot` draws it."""
    from vispy import scene

    from nn3d.render.backend import ensure_backend
    from nn3d.render.panels import PANELS

    ensure_backend()
    made = []

    def make(kind, source, layer, frame=0, size=(400, 300)):
        canvas = scene.SceneCanvas(size=size, show=False, bgcolor="black")
        panel = PANELS[kind](parent=canvas.scene)
        panel.set_rect(0, 0, *size)
        panel.update(source, layer, frame)
        made.append(canvas)
        return panel, canvas.render(alpha=True)

    yield make
    for c in made:
        c.close()
