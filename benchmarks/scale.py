"""The 10^8-neuron scene: a TinyLlama-1.1B-shaped decoder (random weights) on 128 tokens, end to end.

Stages timed one after the other in one process, with the peak resident memory after each
(``resource.getrusage``): build the model from a ``transformers`` ``LlamaConfig``, forward pass + record
(:func:`nn3d.from_torch` into the memory-mapped activation store), layout, edge selection, colour levels,
and one 1280x720 ``nn3d shot`` (:func:`nn3d.render.explorer.screenshot`, which lays the network out and selects
its edges again, as the command does); then the offscreen explorer opened on it (:func:`explore`).
``--layers`` / ``--tokens`` shrink the model for a quick run.

    python benchmarks/scale.py --out scale.png --json scale.json          # the full 10^8 scene
    python benchmarks/scale.py --layers 2 --tokens 16 --out small.png     # a smoke run
    python benchmarks/scale.py --curve 1e4 1e5 1e6 1e7 --plot benchmarks/frame_time_neurons.png --json c.json

``--curve``: the camera-moving frame time against neurons of synthetic scenes
(:func:`nn3d.bench.scenes.synthetic`), the new renderer against the current one, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

# The repository first, this folder off the path: its kernels.py would shadow the `kernels` package that
# transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def tinyllama(layers: int = 22, tokens: int = 128, dtype: str = "float32"):
    """``(model, input_ids)``: :func:`nn3d.bench.scenes.tinyllama` (TinyLlama-1.1B's shape) in ``dtype``."""
    import torch

    from nn3d.bench.scenes import tinyllama as make

    model, ids = make(layers, tokens)
    return model.to(getattr(torch, dtype)), ids


def tinyllama_factory():
    """``nn3d shot benchmarks/scale.py:tinyllama_factory``: the full 10^8 scene."""
    return tinyllama()


def run(layers: int = 22, tokens: int = 128, dtype: str = "float32", out: str = "scale.png",
        size=(1280, 720), store: str | None = None) -> dict:
    """Every stage's seconds and peak RSS (GB) after it, plus the scene's neuron, connection and edge counts."""
    import torch

    from nn3d.ingest import from_torch
    from nn3d.kernels import levels
    from nn3d.layout import layout, select_edges
    from nn3d.render.backend import ensure_backend
    from nn3d.render.explorer import screenshot
    from nn3d.render.lod import edge_budget

    ensure_backend()
    torch.set_num_threads(os.cpu_count() or 1)
    stages: dict[str, dict] = {}
    t_all = time.perf_counter()

    def stage(name, fn):
        t0 = time.perf_counter()
        value = fn()
        stages[name] = {"s": round(time.perf_counter() - t0, 2), "peak_rss_gb": round(peak_rss_gb(), 2)}
        print(f"{name:>16}: {stages[name]['s']:8.2f} s, peak RSS {stages[name]['peak_rss_gb']:.2f} GB", flush=True)
        return value

    model, ids = stage("build model", lambda: tinyllama(layers, tokens, dtype))
    with tempfile.TemporaryDirectory() as tmp:
        path = store or os.path.join(tmp, "activations.npy")
        with torch.no_grad():
            net, acts = stage("forward+record", lambda: from_torch(model, ids, name="tinyllama", memmap=path))
        frame = acts.frame(0)
        placed = stage("layout", lambda: layout(net))
        edges = stage("edges", lambda: select_edges(net, k=4, budget=edge_budget(size), activations=frame,
                                                    rule="contribution"))
        stage("levels", lambda: levels(frame, net.starts))
        del placed, edges
        stage("shot", lambda: screenshot(net, out, acts, size=size))
        total = time.perf_counter() - t_all
        explorer = explore(net, acts, size)
    result = {"layers": layers, "tokens": tokens, "dtype": dtype, "neurons": net.n_neurons,
              "n_layers": len(net.layers), "connections": len(net.connections), "stages": stages,
              "total_s": round(total, 1), "shot_s": round(total - stages["layout"]["s"] - stages["edges"]["s"]
                                                        - stages["levels"]["s"], 1),
              "peak_rss_gb": round(peak_rss_gb(), 2), "image": out, "explorer": explorer}
    print(f"{net.n_neurons:,} neurons in {len(net.layers)} layers; nn3d shot (build + record + shot) "
          f"{result['shot_s']} s; peak RSS {result['peak_rss_gb']} GB")
    return result


def explore(net, acts, size=(1280, 720), repeats: int = 3) -> dict:
    """The offscreen explorer opened on the scene: ms to its first frame, then medians of a camera-moving frame
    (half a degree a frame), a forward-pass step (the next layer lit, then drawn), a click (pick at the
    canvas's centre), and the peak RSS (GB) after them."""
    from dataclasses import replace

    import numpy as np

    from nn3d.render.explorer import Explorer

    def ms(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - t0))
        return round(float(np.median(times)), 1)

    t0 = time.perf_counter()
    ex = Explorer(net, acts, size=size)
    try:
        ex.render()
        out = {"first_frame_s": round(time.perf_counter() - t0, 2)}
        home = ex.camera_state
        turn = iter(range(1, 10**6))

        def moving():
            ex.set_camera(replace(home, azimuth=home.azimuth + 0.5 * next(turn)))
            ex.render()

        out["moving_frame_ms"] = ms(moving)
        ex.set_camera(home)
        ex.set_forward_pass(True)
        out["forward_step_ms"] = ms(lambda: (ex.advance(), ex.render()))
        out["click_ms"] = ms(lambda: ex.pick(size[0] / 2, size[1] / 2))
    finally:
        ex.close()
    out["peak_rss_gb"] = round(peak_rss_gb(), 2)
    print(f"        explorer: first frame {out['first_frame_s']} s, moving {out['moving_frame_ms']} ms, forward "
          f"step {out['forward_step_ms']} ms, click {out['click_ms']} ms, peak RSS {out['peak_rss_gb']} GB",
          flush=True)
    return out


def curve(sizes, repeats: int = 3, current_up_to: float = float("inf")) -> list[dict]:
    """``scene_orbit`` records of synthetic scenes of ``sizes`` neurons, new renderer against current (the
    current one only up to ``current_up_to`` neurons)."""
    from nn3d.bench.scenes import compare, synthetic
    from nn3d.render.backend import ensure_backend

    ensure_backend()
    records = []
    for n in sizes:
        t0 = time.perf_counter()
        records += compare(f"synthetic {n:.0e}", *synthetic(int(n)), repeats=1 if n >= 10**8 else repeats,
                           playback=False, current=n <= current_up_to)
        r = records[-1]
        print(f"{r['neurons']:>12,} neurons: new {r['ms']:9.1f} ms, current {r['baseline_ms']:9.1f} ms "
              f"({time.perf_counter() - t0:.0f} s, peak RSS {peak_rss_gb():.2f} GB)", flush=True)
    return records


def plot_curve(records: list[dict], path: str) -> None:
    """Camera-moving frame time against neurons, both renderers, log-log (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["neurons"] for r in records]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.loglog(n, [r["ms"] for r in records], "o-", label="new: far layers as images, near ones as sprites")
    ax.loglog(n, [r["baseline_ms"] for r in records], "s--", label="current: every neuron a sprite, uploaded positions")
    ax.set_xlabel("neurons in the scene (synthetic, 8 layers)")
    ax.set_ylabel("camera-moving frame, median (ms)")
    ax.set_title("1280x720 offscreen, Mesa llvmpipe (software GL), 2 cores", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--curve", type=float, nargs="+", help="synthetic sizes: the frame-time curve instead")
    p.add_argument("--current-up-to", type=float, default=float("inf"),
                   help="with --curve: measure the current renderer up to this many neurons only")
    p.add_argument("--plot", dest="plot_path", help="with --curve: write the plot (PNG) here")
    p.add_argument("--layers", type=int, default=22)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--out", default="scale.png")
    p.add_argument("--json", dest="json_path")
    p.add_argument("--store", help="the memory-mapped activation store (.npy); default a temporary file")
    args = p.parse_args(argv)
    if args.curve:
        records = curve([int(n) for n in args.curve], current_up_to=args.current_up_to)
        if args.plot_path:
            plot_curve(records, args.plot_path)
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(records, indent=1) + "\n")
        return {"curve": records}
    result = run(args.layers, args.tokens, args.dtype, args.out, store=args.store)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
