"""The 10^8-neuron scene: a TinyLlama-1.1B-shaped decoder (random weights) on 128 tokens, end to end.

Stages timed one after the other in one process, with the peak resident memory after each
(``resource.getrusage``): build the model from a ``transformers`` ``LlamaConfig``, forward pass + record
(:func:`nn3d.from_torch` into the memory-mapped activation store), layout, edge selection, colour levels,
and one 1280x720 ``nn3d shot`` (:func:`nn3d.render.explorer.screenshot`, which lays the network out and selects
its edges again, as the command does). ``--layers`` / ``--tokens`` shrink the model for a quick run.

    python benchmarks/scale.py --out scale.png --json scale.json          # the full 10^8 scene
    python benchmarks/scale.py --layers 2 --tokens 16 --out small.png     # a smoke run
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TINYLLAMA = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                 num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048)
"""TinyLlama-1.1B's shape (its ``config.json``), random weights."""


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def tinyllama(layers: int = 22, tokens: int = 128, dtype: str = "float32"):
    """``(model, input_ids)``: a LlamaModel of TinyLlama-1.1B's shape with ``layers`` decoder layers."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    config = LlamaConfig(**{**TINYLLAMA, "num_hidden_layers": layers})
    config._attn_implementation = "eager"  # the attention probabilities are layers nn3d can see
    model = LlamaModel(config).to(getattr(torch, dtype)).eval()
    return model, torch.randint(0, TINYLLAMA["vocab_size"], (1, tokens))


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
    result = {"layers": layers, "tokens": tokens, "dtype": dtype, "neurons": net.n_neurons,
              "n_layers": len(net.layers), "connections": len(net.connections), "stages": stages,
              "total_s": round(total, 1), "shot_s": round(total - stages["layout"]["s"] - stages["edges"]["s"]
                                                        - stages["levels"]["s"], 1),
              "peak_rss_gb": round(peak_rss_gb(), 2), "image": out}
    print(f"{net.n_neurons:,} neurons in {len(net.layers)} layers; nn3d shot (build + record + shot) "
          f"{result['shot_s']} s; peak RSS {result['peak_rss_gb']} GB")
    return result


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=22)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--out", default="scale.png")
    p.add_argument("--json", dest="json_path")
    p.add_argument("--store", help="the memory-mapped activation store (.npy); default a temporary file")
    args = p.parse_args(argv)
    result = run(args.layers, args.tokens, args.dtype, args.out, store=args.store)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
