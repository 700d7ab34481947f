"""The kernel benchmark and the shared harness: records are complete and consistent, JSON round-trips."""

import json

import numpy as np
import pytest

from nn3d import bench
from nn3d.bench import kernels as kbench


def test_median_ms_times_the_call_and_warms_up():
    calls = []
    ms = bench.median_ms(lambda: calls.append(1), warmup=3, min_time=0.0, min_repeat=5)
    assert len(calls) == 3 + 1 + 5 and 0 <= ms < 1
    slow = bench.median_ms(lambda: np.sort(np.random.default_rng(0).random(200_000)), min_repeat=3,
                           min_time=0.0)
    assert slow > ms


def test_kernel_benchmark_records(tmp_path, capsys):
    path = tmp_path / "k.json"
    records = kbench.run(sizes=[2000], json_path=str(path), kernels=["numba"])
    assert [r["name"] for r in records] == ["numba:layer", "numba:fixed", "numba:running", "numba:rgba"]
    for r in records:
        assert {"name", "n", "ms", "floor_ms", "x_floor", "baseline", "baseline_ms", "speedup"} <= set(r)
        assert r["n"] == 2000 and r["ms"] > 0 and r["floor_ms"] > 0 and r["baseline_ms"] > 0
        assert r["x_floor"] == pytest.approx(r["ms"] / r["floor_ms"])
        assert r["speedup"] == pytest.approx(r["baseline_ms"] / r["ms"])
        assert r["baseline"] == "numpy:" + r["case"]
    assert [r["passes"] for r in records] == [2, 1, 1, 2]
    saved = json.loads(path.read_text())
    assert saved["records"] == records and saved["machine"]["cores"] >= 1
    table = capsys.readouterr().out
    assert "numba:layer" in table and "x_floor" in table


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match="not available"):
        kbench.run(sizes=[100], kernels=["fortran"])


def test_main_parses_sizes_in_scientific_notation(monkeypatch):
    seen = {}
    monkeypatch.setattr(kbench, "run", lambda sizes, json_path, kernels: seen.update(
        sizes=sizes, json=json_path, kernels=kernels))
    kbench.main(["--sizes", "1e4", "20000", "--kernels", "numba", "--json", "x.json"])
    assert seen == {"sizes": [10_000, 20_000], "json": "x.json", "kernels": ["numba"]}
