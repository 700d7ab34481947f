"""First picture fast: small networks take the NumPy paths (no Numba compile), large ones the compiled kernels,
and both give the same edges, positions, levels and picture; Numba's cache falls back to a user-wide folder when
the package's own folder is read-only."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nn3d
from nn3d import kernels, synthetic
from nn3d.kernels import dispatch
from nn3d.layout import layout, placement, select_edges
from nn3d.layout import topk as K

ROOT = Path(__file__).resolve().parents[1]

# every Numba dispatcher of the package (found by walking its modules) and whether any got a signature, after
# one nn3d command in a child process with an empty cache: a signature is a compile or a cache load
PROBE = r"""
import importlib, json, pkgutil, sys
from numba.core import event
from numba.core.dispatcher import Dispatcher
compiled = []
class Listener(event.Listener):
    def on_start(self, ev):
        pass
    def on_end(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
event.register("numba:compile", Listener())
from nn3d.cli import main
assert main(sys.argv[1:]) == 0
import nn3d
seen = []
for m in pkgutil.walk_packages(nn3d.__path__, "nn3d."):
    if m.name in sys.modules:  # only what the command imported: importing more would not compile either
        mod = sys.modules[m.name]
        for v in vars(mod).values():
            for d in ([v.parallel, v.serial] if hasattr(v, "serial") and hasattr(v, "parallel") else [v]):
                if isinstance(d, Dispatcher):
                    seen.append((d.py_func.__qualname__, len(d.signatures)))
print("PROBE" + json.dumps({"compiled": compiled, "dispatchers": seen}))
"""


def _probe(tmp_path, *args):
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("PROBE"))
    return json.loads(line[5:]), sorted(p.name for p in cache.rglob("*") if p.is_file())


@pytest.mark.parametrize("args", [
    ("demo", "--epochs", "2", "--size", "320x200"),
    ("shot", "synthetic:mlp:784,256,10", "--size", "320x200", "--hud"),
    ("shot", "synthetic:mlp:" + ",".join(["48"] * 40), "--size", "320x200"),  # deep: folded into rows
], ids=["demo", "mlp-shot", "deep-mlp-shot"])
def test_a_small_network_compiles_nothing(tmp_path, args):
    """The digits demo and a small MLP shot, in a fresh process with an empty Numba cache: no dispatcher is
    compiled or loaded from cache, and the cache stays empty."""
    out = tmp_path / "x.png"
    found, cache_files = _probe(tmp_path, *args, "--out" if args[0] == "demo" else "-o", str(out))
    assert out.stat().st_size > 1000
    assert found["compiled"] == []
    assert len(found["dispatchers"]) >= 10  # the probe does see the kernels (cpu, topk, placement, fold)
    assert [name for name, n in found["dispatchers"] if n] == []
    assert cache_files == []


def _cnn():
    from tests.test_edges_kinds import _cnn

    return _cnn()


NETS = {
    "mlp": lambda: synthetic.mlp([64, 64, 32, 10], seed=0),
    "cnn": _cnn,
    "sparse": lambda: synthetic.random_network(3000, 20_000, n_layers=4),
}


def _compiled_everywhere(monkeypatch):
    monkeypatch.setattr(dispatch, "NUMPY_BELOW", 0)
    monkeypatch.setattr(placement, "NUMPY_BELOW", 0)
    monkeypatch.setattr(K, "NUMPY_BELOW", 0)


def _edges(e):
    """Edges as a sorted list of (src, dst, weight, strength): the two paths may order a row differently (and
    a sparse connection may repeat a pair)."""
    return sorted(zip(e.src.tolist(), e.dst.tolist(), e.weight.tolist(), e.strength.tolist()))


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("rule", ["weight", "contribution"])
def test_the_numpy_paths_equal_the_compiled_ones(name, rule, monkeypatch):
    net = NETS[name]()
    acts = np.random.default_rng(1).standard_normal(net.n_neurons).astype(np.float32)
    acts[::97] = 0
    starts = np.array([layer.start for layer in net.layers])
    assert placement.choose_backend(net.n_neurons, len(net.layers)) == "numpy"
    assert kernels.choose_kernel(acts, starts=starts) == "numpy"
    small = (select_edges(net, k=3, activations=acts, rule=rule), layout(net),
             kernels.levels(acts, starts, percentile=1.0, symmetric="auto", split=True))
    _compiled_everywhere(monkeypatch)
    assert kernels.choose_kernel(acts, starts=starts) == "numba"
    big = (select_edges(net, k=3, activations=acts, rule=rule), layout(net),
           kernels.levels(acts, starts, percentile=1.0, symmetric="auto", split=True))
    assert small[0].note == big[0].note and len(small[0]) == len(big[0]) > 0
    assert _edges(small[0]) == _edges(big[0])
    np.testing.assert_array_equal(small[1].positions, big[1].positions)
    np.testing.assert_array_equal(small[1].boxes, big[1].boxes)
    np.testing.assert_array_equal(small[2], big[2])


def test_each_kernel_numpy_twin_matches_on_nan_inf_and_ties():
    """Zero and NaN scores are never kept, infinite ones rank first, ties go to the lower index: the same
    rule in the NumPy twins as in the compiled kernels (serial and parallel)."""
    rng = np.random.default_rng(3)
    w = rng.choice(np.array([0, 1, -1, 2, np.nan, np.inf], np.float32), size=(7, 12))
    a = rng.choice(np.array([0, 1, 0.5, -2], np.float32), size=(2, 12))
    out = {}
    for how in ("numpy", "serial", "parallel"):
        idx, val = np.empty((14, 4), np.int64), np.empty((14, 4), np.float32)
        getattr(K.topk_rows, how)(w, a, 4, idx, val)
        order = np.lexsort((idx, -np.abs(np.nan_to_num(val))), axis=1)  # heap order -> rank order
        out[how] = (np.take_along_axis(idx, order, 1), np.take_along_axis(val, order, 1))
    for how in ("serial", "parallel"):
        np.testing.assert_array_equal(out[how][0], out["numpy"][0])
        np.testing.assert_array_equal(out[how][1], out["numpy"][1])
    assert np.isinf(out["numpy"][1]).any() and not np.isnan(out["numpy"][1]).any()


@pytest.mark.parametrize("fold", ["auto", 3])
@pytest.mark.parametrize("depth", [16, 100])
def test_fold_planning_in_python_equals_the_compiled_one(depth, fold, monkeypatch):
    from nn3d.layout import fold as fold_module
    from nn3d.layout import plan

    net = synthetic.mlp([24] * depth, seed=0)
    python = layout(net, fold=fold)
    assert python.n_rows >= 2
    monkeypatch.setattr(plan, "FOLD_PYTHON_MAX", 0)
    compiled = layout(net, fold=fold)
    assert fold_module._rows.signatures  # the compiled path did run
    np.testing.assert_array_equal(python.rows, compiled.rows)
    np.testing.assert_array_equal(python.positions, compiled.positions)


def test_interpreted_refuses_what_the_module_does_not_define():
    from nn3d.layout import fold as fold_module
    from nn3d.layout.interpreted import interpreted

    for name in ("njit", "AUTO_ELONGATION"):  # imported from Numba; a constant
        with pytest.raises(TypeError, match="neither compiled nor a function"):
            interpreted(fold_module, name)
    twin = interpreted(fold_module, "rows")  # a Python wrapper of a compiled pass: its twin calls the pass's
    assert twin.__globals__["_rows"] is not fold_module._rows


def test_the_choice_follows_size():
    assert K.topk_rows.choose(100) == "numpy"
    assert K.topk_rows.choose(K.NUMPY_BELOW) == "serial"
    assert K.topk_rows.choose(None) == "parallel"
    assert placement.choose_backend(200, 4) == "numpy"
    assert placement.choose_backend(placement.NUMPY_BELOW, 4) == "numba"
    assert placement.choose_backend(1000, 1000) == "numba"  # the reference's per-layer Python loop
    assert kernels.choose_kernel(np.zeros(10, np.float32)) == "numpy"
    assert kernels.choose_kernel(np.zeros(dispatch.NUMPY_BELOW, np.float32)) == "numba"
    assert kernels.choose_kernel(np.zeros(10, np.float32), "numba") == "numba"


def test_the_small_picture_equals_the_compiled_one(tmp_path, monkeypatch):
    """Same picture both ways: identical without edges; with them, equal edges whose lines may be drawn in
    another order (the kernels leave each row's top k in heap order, the NumPy twins in rank order), so a few
    pixels where lines cross blend differently."""
    net = synthetic.mlp([64, 64, 32, 10], seed=0)
    acts = synthetic.random_activations(net)
    shots = {}
    for path in ("numpy", "compiled"):
        if path == "compiled":
            _compiled_everywhere(monkeypatch)
        shots[path] = [nn3d.screenshot(net, tmp_path / f"{path}{b}.png", acts, size=(400, 260), budget=b)
                       for b in (0, 4000)]
    bare, lines = shots["numpy"]
    assert (bare[..., :3] != bare[0, 0, :3]).any(-1).mean() > 0.02  # a picture, not an empty frame
    assert (lines != bare).any(-1).mean() > 0.01  # with its edges
    np.testing.assert_array_equal(shots["compiled"][0], bare)
    diff = np.abs(shots["compiled"][1].astype(int) - lines.astype(int)).max(-1)
    assert (diff > 2).mean() < 5e-3 and diff.max() < 64


READ_ONLY = r"""
import numpy as np
from nn3d.kernels import cpu
x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
cpu.ranges(x, np.array([0, 500]))
stats = cpu._ranges_f32.stats
print("STATS", len(stats.cache_hits), len(stats.cache_misses))
"""


def _read_only(folders, on: bool) -> None:
    """Make ``folders`` read-only (``on``) or writable again: permission bits for a user; for root, which
    writes through those, the immutable attribute (``chattr +i``)."""
    for d in folders:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i" if on else "-i", str(d)], check=True, capture_output=True)
        else:
            mode = d.stat().st_mode
            d.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) if on else mode | stat.S_IWUSR)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_read_only_install_caches_in_the_user_cache(tmp_path):
    """A copy of the package in a read-only folder (as a system-wide install): Numba cannot write its cache
    next to the modules, so it falls back by itself to its user-wide folder (the XDG cache); a second process
    loads the kernel from there instead of compiling it again."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "nn3d", site / "nn3d", ignore=shutil.ignore_patterns("__pycache__"))
    folders = [site, *(p for p in site.rglob("*") if p.is_dir())]
    if os.geteuid() == 0 and not shutil.which("chattr"):
        pytest.skip("running as root without chattr: a read-only folder cannot be made")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(home / ".cache"), HOME=str(home),
               PYTHONDONTWRITEBYTECODE="1")
    _read_only(folders, True)
    try:
        with pytest.raises(OSError):
            (site / "nn3d" / "probe").write_text("x")
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", READ_ONLY], capture_output=True, text=True, env=env,
                                 timeout=600, cwd=tmp_path)
            assert out.returncode == 0, out.stderr[-3000:]
            runs.append(next(x for x in out.stdout.splitlines() if x.startswith("STATS")).split()[1:])
    finally:
        _read_only(folders, False)
    assert runs == [["0", "1"], ["1", "0"]]  # compiled once, then loaded from the cache
    assert not list(site.rglob("*.nbi"))
    assert list((home / ".cache" / "numba").rglob("cpu._ranges_f32*.nbi"))
