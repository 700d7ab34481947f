"""Time to the first PNG, cold (a fresh, empty Numba cache: a new install) and warm (the cache filled by the
cold run), for the digits MLP (``nn3d demo``) and GPT-2 small (``nn3d shot benchmarks/gallery.py:gpt2``).

Each run is a fresh ``python -m nn3d.cli`` process with ``NUMBA_CACHE_DIR`` pointing to its own temporary
folder; the time is the process's wall time, interpreter start to PNG written. ``--baseline DIR`` times another
checkout of nn3d (e.g. ``git archive <commit> | tar -x -C DIR``) in the same run, interleaved with this one::

    python benchmarks/coldstart.py --baseline /tmp/nn3d-before --json coldstart.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "benchmarks" / "gallery.py"
CASES = {
    "digits MLP (nn3d demo)": lambda png: ["demo", "--out", png],
    "GPT-2 small (nn3d shot)": lambda png: ["shot", f"{GALLERY}:gpt2", "-o", png],
}


def run(tree: Path, args: list[str], cache: str) -> float:
    """Seconds from process start to exit for ``nn3d ARGS`` with the nn3d of ``tree`` and this Numba cache."""
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": cache}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "nn3d.cli", *args], capture_output=True, text=True, env=env,
                         cwd=tree, timeout=900)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{tree}: nn3d {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return dt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", type=Path, help="another nn3d checkout to time in the same run")
    p.add_argument("--cases", nargs="*", choices=list(CASES), default=list(CASES))
    p.add_argument("--repeat", type=int, default=1, help="runs of each (fresh cache each time); the fastest counts")
    p.add_argument("--json", type=Path, help="write the results here")
    a = p.parse_args(argv)
    trees = {"this": ROOT} if a.baseline is None else {"baseline": a.baseline.resolve(), "this": ROOT}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in a.cases:
            times, cached = {label: [] for label in trees}, {}
            for _ in range(a.repeat):  # interleaved, so that a burst of load hits both trees alike
                for label, tree in trees.items():
                    cache = tempfile.mkdtemp(dir=tmp)
                    png = str(Path(tmp) / f"{label}.png")
                    times[label].append((run(tree, CASES[case](png), cache), run(tree, CASES[case](png), cache)))
                    cached[label] = sum(1 for _ in Path(cache).rglob("*.nbi"))
            for label in trees:
                cold, warm = (min(t[i] for t in times[label]) for i in (0, 1))
                n_cache = cached[label]
                rows.append({"case": case, "tree": label, "cold_s": round(cold, 2), "warm_s": round(warm, 2),
                             "cached_functions": n_cache})
                print(f"{case:26s} {label:9s} cold {cold:6.2f} s  warm {warm:6.2f} s  ({n_cache} functions cached)",
                      flush=True)
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.1f}")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "loadavg_1min": load}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
