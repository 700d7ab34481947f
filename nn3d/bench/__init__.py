"""Benchmark harness shared by ``nn3d bench`` and ``benchmarks/``.

Every measurement is the median of repeated calls after a warm-up (JIT compilation and first-touch page
faults stay out of it), and sits beside a baseline and a floor timed in the same run on the same machine,
so that a table says how far a kernel is from the NumPy way and from what the memory allows. Results are
plain dict records (JSON-ready) plus a printed table. Layout, kernel and render benchmarks all use it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["copy_floor_ms", "machine", "median_ms", "print_table", "write_json"]


def median_ms(fn: Callable[[], object], *, warmup: int = 2, min_time: float = 0.3, min_repeat: int = 5,
              max_repeat: int = 200) -> float:
    """Median wall time of ``fn()`` in milliseconds.

    ``warmup`` calls first; then enough calls to fill about ``min_time`` seconds, between ``min_repeat``
    and ``max_repeat``. The median, not the mean, so that one preempted call does not move the result.
    """
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    repeat = int(np.clip(min_time / max(first, 1e-9), min_repeat, max_repeat))
    times = np.empty(repeat)
    for i in range(repeat):
        t0 = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e3)


_FLOORS: dict[int, float] = {}


def copy_floor_ms(bytes_moved: int, *, cache: bool = False) -> float:
    """The memory floor for a pass that moves ``bytes_moved`` bytes (read + written, once each).

    Defined as the median time of ``np.copyto(dst, src)`` between two uint8 arrays of ``bytes_moved // 2``
    bytes: a plain copy that reads and writes the same total number of bytes (NumPy's copy is one thread's
    ``memcpy``). Measured in the calling run; ``cache=True`` reuses a size measured earlier in this process.
    """
    half = max(1, bytes_moved // 2)
    if cache and half in _FLOORS:
        return _FLOORS[half]
    src = np.ones(half, dtype=np.uint8)
    dst = np.empty_like(src)
    dst[...] = 0  # touch the pages before timing
    _FLOORS[half] = median_ms(lambda: np.copyto(dst, src))
    return _FLOORS[half]


def machine() -> dict:
    """What the numbers were measured on: CPU, core count, library versions, UTC date, load average."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    if hasattr(os, "getloadavg"):  # other work on the machine skews timings: say how busy it was
        info["loadavg_1min"] = round(os.getloadavg()[0], 2)
    for mod in ("numba", "torch"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return info


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    if isinstance(v, int) and v >= 10_000 and v % 10 == 0 and str(v).rstrip("0") == "1":
        return f"1e{len(str(v)) - 1}"
    return str(v)


def print_table(records: Sequence[dict], columns: Sequence[str], title: str | None = None) -> str:
    """Print (and return) ``records`` as an aligned text table of ``columns``."""
    rows = [[_fmt(r.get(c, "")) for c in columns] for r in records]
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    lines = [title] if title else []
    lines.append("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def write_json(path: str, records: Sequence[dict], **meta) -> None:
    """Write ``{"machine": ..., **meta, "records": [...]}`` to ``path``."""
    with open(path, "w") as f:
        json.dump({"machine": machine(), **meta, "records": list(records)}, f, indent=1)
        f.write("\n")
