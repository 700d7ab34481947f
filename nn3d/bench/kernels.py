"""``nn3d bench kernels``: the per-frame activation kernels against the NumPy reference and the copy floor.

For each size and each available kernel, four cases on one float32 frame (standard normal, 0.01 % NaN,
16 equal layers); ``passes`` counts passes over memory of the Numba kernel (torch makes more, with
temporaries):

- ``layer``: per-layer range, uint8 levels: a range pass and a map pass (reads 4 B twice, writes 1 B);
- ``fixed``: fixed range, uint8 levels: the map pass only (reads 4 B, writes 1 B);
- ``running``: lagging :class:`~nn3d.kernels.RunningRange` (playback), uint8 levels: the map pass measures
  the next frame's range as it goes, one pass in the Numba kernel (two in the others);
- ``rgba``: per-layer range, RGBA8 colours: range pass and map pass (reads 4 B twice, writes 4 B).

The floor is :func:`nn3d.bench.copy_floor_ms` of the bytes the case must move at the least (each input
byte read once, each output byte written once): 5 B per neuron for levels, 8 B for RGBA. ``x_floor`` is
``ms / floor_ms``, ``gbps`` that minimum traffic over ``ms``; ``speedup`` is over the NumPy reference on
the same case and input. Every kernel's output is checked against the reference before it is timed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from nn3d.bench import copy_floor_ms, median_ms, print_table, write_json
from nn3d.kernels import RunningRange, available_kernels, levels, reference, rgba
from nn3d.progress import progress

SIZES = [10**4, 10**5, 10**6, 10**7]
CASES = {  # name: (passes over memory of the Numba kernel, output bytes per neuron)
    "layer": (2, 1),
    "fixed": (1, 1),
    "running": (1, 1),
    "rgba": (2, 4),
}
COLUMNS = ["name", "n", "passes", "ms", "floor_ms", "x_floor", "gbps", "baseline_ms", "speedup"]
N_LAYERS = 16


def frame(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A benchmark frame: float32 standard normal with 0.01 % NaN, and the starts of 16 equal layers."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n, dtype=np.float32)
    x[rng.integers(0, n, max(1, n // 10_000))] = np.nan
    return x, np.linspace(0, n, N_LAYERS + 1)[:-1].astype(np.int64)


def _device_kernels(names: Sequence[str]) -> list[str]:
    """Drop ``cuda`` under the simulator: it is a correctness tool, orders of magnitude too slow to time."""
    from numba.core import config

    return [k for k in names if not (k == "cuda" and config.ENABLE_CUDASIM)]


def _runner(kernel: str, case: str, x, starts, lut):
    """A zero-argument call running ``case`` with ``kernel`` on data already where the kernel works."""
    sync = lambda: None  # noqa: E731
    if kernel == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        x = torch.from_numpy(x).to(device)
        if device == "cuda":
            sync = torch.cuda.synchronize
    elif kernel == "cuda":
        from numba import cuda

        x = cuda.to_device(x)
        sync = cuda.synchronize
    if case == "rgba":
        out = rgba(x, lut, starts, kernel=kernel)
        return lambda: (rgba(x, lut, starts, kernel=kernel, out=out), sync())
    opts = {"vrange": (-3.0, 3.0)} if case == "fixed" else {}
    if case == "running":
        opts = {"running": RunningRange(lag=True)}
        levels(x, starts, kernel=kernel, **opts)  # the first frame sets the range (two passes)
    out = levels(x, starts, kernel=kernel, **opts)
    return lambda: (levels(x, starts, kernel=kernel, out=out, **opts), sync())


def _to_numpy(a) -> np.ndarray:
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    return a.cpu().numpy() if hasattr(a, "cpu") else np.asarray(a)


def run(sizes: list[int] | None = None, json_path: str | None = None,
        kernels: list[str] | None = None) -> list[dict]:
    """Time every case of every kernel at every size; print a table and return (and optionally write)
    the records: ``name`` (``kernel:case``), ``n``, ``ms``, ``floor_ms``, ``x_floor``, ``baseline``,
    ``baseline_ms``, ``speedup``, plus ``kernel``, ``case``, ``passes``, ``bytes_per_neuron``, ``gbps``."""
    sizes = list(sizes or SIZES)
    names = [k for k in (kernels or available_kernels()) if k != "numpy"]
    unknown = set(names) - set(available_kernels())
    if unknown:
        raise ValueError(f"kernels not available here: {sorted(unknown)}; available: {available_kernels()}")
    names = _device_kernels(names)
    lut = np.random.default_rng(1).integers(0, 256, (256, 4)).astype(np.uint8)
    records = []
    for n in progress(sizes, "kernels benchmark", unit="size"):
        x, starts = frame(n)
        for case, (passes, out_bytes) in CASES.items():
            bytes_moved = n * (x.itemsize + out_bytes)
            floor = copy_floor_ms(bytes_moved)
            expected = _runner("numpy", case, x, starts, lut)
            base_ms = median_ms(expected, warmup=1, min_time=0.2, min_repeat=3)
            want = reference.rgba(x, lut, starts) if case == "rgba" else \
                reference.levels(x, starts, vrange=(-3.0, 3.0) if case == "fixed" else None)
            if case == "running":  # the same frame twice: the lagging range is this frame's own
                want = reference.levels(x, starts)
            for kernel in names:
                fn = _runner(kernel, case, x, starts, lut)
                got = _to_numpy(fn()[0])
                if not np.array_equal(got, want):
                    raise AssertionError(f"{kernel}:{case} at n={n} differs from the reference")
                ms = median_ms(fn)
                records.append({
                    "name": f"{kernel}:{case}", "kernel": kernel, "case": case, "n": n,
                    "passes": passes if kernel == "numba" or case != "running" else 2,
                    "bytes_per_neuron": x.itemsize + out_bytes, "ms": ms, "floor_ms": floor,
                    "x_floor": ms / floor, "gbps": bytes_moved / ms / 1e6, "baseline": f"numpy:{case}",
                    "baseline_ms": base_ms, "speedup": base_ms / ms,
                })
    print_table(records, COLUMNS, title="activation kernels (ms: median per frame; floor: np.copyto of the "
                                        "same bytes; speedup: over the NumPy reference)")
    if json_path:
        write_json(json_path, records, benchmark="kernels")
    return records


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Command line: ``--sizes 1e4 1e7 --kernels numba torch --json out.json``."""
    p = argparse.ArgumentParser(prog="nn3d bench kernels", description=__doc__.splitlines()[0])
    add_arguments(p)
    a = p.parse_args(argv)
    return run(a.sizes, a.json, a.kernels)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``nn3d bench kernels``, for the CLI to reuse."""
    p.add_argument("--sizes", nargs="+", type=lambda s: int(float(s)), default=None,
                   help="numbers of neurons (default 1e4 1e5 1e6 1e7)")
    p.add_argument("--kernels", nargs="+", default=None, help="kernels to time (default: all available)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the records as JSON")
