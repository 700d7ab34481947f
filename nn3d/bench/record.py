"""``nn3d bench record``: a video recorded in one process and as frame shards on Ray, same content, same run.

GPT-2 small (:func:`nn3d.bench.scenes.gpt2`: random weights, 16 tokens, traced by :func:`nn3d.from_torch`),
an orbit of ``--frames`` frames at ``--size`` to MP4 through :func:`nn3d.render.shards.record`: once in
this process (no Ray), then with each ``--workers`` count on one local Ray session (started once, its start-up
timed apart: a cluster is already running when a job arrives). Records: wall seconds, frames per second,
the cores the whole machine kept busy meanwhile (``cores_busy``: a worker count can speed the video up only
as far as cores are left idle), and the speed-up of each worker count over one worker and over the single
process; and, measured after them, this machine's ceiling for that speed-up (``parallel_ceiling``: as many MP4
encoders side by side as workers, against one). Needs ``nn3d[ray]`` and ``nn3d[transformers]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from . import machine, print_table, write_json


def content(name: str = "gpt2"):
    """(net, activations) of scene ``name`` of :mod:`nn3d.bench.scenes`, the model dropped once traced."""
    import torch

    from ..ingest import from_torch
    from .scenes import FACTORIES

    model, inputs = FACTORIES[name]()
    with torch.no_grad():
        net, acts = from_torch(model, inputs, name=name)
    return net, acts


def cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot, from ``/proc/stat`` (NaN elsewhere): their change over
    a run, divided by its wall time, is how many cores were busy (every process's, Ray's workers, the encoders
    and other jobs alike)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def parallel_ceiling(n: int, size, frames: int = 30) -> float:
    """How much more work this machine does with ``n`` one-CPU jobs side by side than with one: ``n`` times the
    time of one MP4 segment encoder (one thread, ``frames`` frames of ``size``) over the time of ``n`` of them at
    once. No ``n`` workers can beat one by more; virtual cores that share a physical one, or a busy host, keep
    it below ``n``."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from ..render.encoding import encode_segment

    w, h = size
    ramp = np.add.outer(np.arange(h) // 4, np.arange(w) // 4).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 24, (h, w, 3), dtype=np.uint8)
    images = [np.dstack([ramp + 3 * i, ramp[::-1], ramp + 5 * i]) + noise for i in range(frames)]  # moving

    def seconds(copies: int) -> float:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(copies) as pool:  # each encoder is its own process: threads only feed them
            list(pool.map(lambda _: encode_segment(images, size, 30), range(copies)))
        return time.perf_counter() - t0

    return n * seconds(1) / seconds(n) if n > 1 else 1.0


def measure(net, acts, frames: int, size, workers: list[int], folder: str) -> list[dict]:
    """One record per run: ``single`` (no Ray), then each worker count on one Ray session."""
    from ..render.shards import ray_session, record, store_bytes

    def run(label: str, n: int | None) -> dict:
        out = os.path.join(folder, f"{label}.mp4")
        busy0 = cpu_seconds()
        t0 = time.perf_counter()
        record(net, acts, out, frames=frames, size=size, progress=False, workers=n)
        s = time.perf_counter() - t0
        busy = cpu_seconds() - busy0
        os.remove(out)
        return {"name": label, "workers": n or 0, "frames": frames, "size": f"{size[0]}x{size[1]}", "s": s,
                "frames_per_s": frames / s, "cores_busy": busy / s}

    records = [run("single", None)]
    t0 = time.perf_counter()
    with ray_session(max(workers), None, store_bytes(net, acts)):
        start = time.perf_counter() - t0
        records += [run(f"workers={n}", n) for n in workers]
    one = next((r["s"] for r in records if r["workers"] == 1), float("nan"))
    ceilings = {n: parallel_ceiling(n, size) for n in {1, *workers}}
    for r in records:
        r["parallel_ceiling"] = ceilings.get(r["workers"], 1.0)
        r["speedup_vs_1_worker"] = one / r["s"]
        r["speedup_vs_single"] = records[0]["s"] / r["s"]
        r["ray_start_s"] = start
    return records


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, not {text!r}") from None
    return w, h


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="nn3d bench record", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=120, help="frames of the orbit (default 120)")
    p.add_argument("--size", type=_size, default=(1920, 1080), help="video size WxH (default 1920x1080)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    p.add_argument("--scene", default="gpt2", help="scene of nn3d.bench.scenes (default gpt2)")
    p.add_argument("--json", help="write the records (and the machine) to this JSON file")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    net, acts = content(args.scene)
    print(f"{args.scene}: {net.n_neurons:,} neurons, traced in {time.perf_counter() - t0:.1f} s; "
          f"load average {machine().get('loadavg_1min', '?')}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        records = measure(net, acts, args.frames, args.size, args.workers, folder)
    print_table(records, ["name", "workers", "frames", "size", "s", "frames_per_s", "cores_busy", "speedup_vs_1_worker",
                          "parallel_ceiling", "speedup_vs_single", "ray_start_s"],
                title=f"record: {args.scene} orbit, MP4 (load average after: {machine().get('loadavg_1min', '?')})")
    if args.json:
        write_json(args.json, records, suite="record", scene=args.scene)
