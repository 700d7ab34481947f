"""``nn3d bench render --scenes``: real-model scenes, the new renderer against the current one, same run.

Each scene is a model built from a ``transformers`` config (random weights, nothing downloaded), traced by
:func:`nn3d.from_torch` (into a memory-mapped store for the 10^8 scene), laid out by :func:`nn3d.layout.layout`
with the edges the explorer selects for a 1280x720 frame (:func:`nn3d.render.lod.edge_budget`, top 4 incoming
per neuron by contribution). The two renderers draw the same content and camera:

- ``new``: :class:`~nn3d.render.scene.NetworkScene`, positions computed in the vertex shader from each layer's
  placement row (about a byte per neuron on the GPU);
- ``current``: ``NetworkScene(explicit_positions=True)``, every neuron's float32 position uploaded, with all
  the selected edges.

Records: ``scene_orbit`` (the camera turning half a degree per frame) and ``scene_playback`` (a new frame of
activations reaching the GPU, the camera still), frames of the two renderers interleaved.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

SCENES = ("bert", "gpt2", "tinyllama")
DEFAULT_SCENES = ("bert", "gpt2")


def bert():
    """A MiniLM-sized BERT encoder (6 layers, 384 wide) on 16 tokens (also ``benchmarks/gallery.py:bert``)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(num_hidden_layers=6, hidden_size=384, num_attention_heads=6,
                                 intermediate_size=1536)).eval()
    return model, torch.randint(0, 30000, (1, 16))


def gpt2():
    """GPT-2 small (12 layers, 768 wide) on 16 tokens (also ``benchmarks/gallery.py:gpt2``)."""
    import torch
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    return GPT2Model(GPT2Config()).eval(), torch.randint(0, 50000, (1, 16))


TINYLLAMA = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                 num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048)
"""TinyLlama-1.1B's shape (its ``config.json``)."""


def tinyllama(layers: int = 22, tokens: int = 128):
    """A Llama decoder of TinyLlama-1.1B's shape (random float32 weights) on ``tokens`` tokens: ~10^8 neurons."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    config = LlamaConfig(**{**TINYLLAMA, "num_hidden_layers": layers})
    config._attn_implementation = "eager"  # attention probabilities become layers nn3d can see
    return LlamaModel(config).eval(), torch.randint(0, TINYLLAMA["vocab_size"], (1, tokens))


FACTORIES = {"bert": bert, "gpt2": gpt2, "tinyllama": tinyllama}


def content(name: str, size=(1280, 720)):
    """(net, layout, edges, values) of scene ``name``; the model is dropped once traced."""
    import torch

    from ..ingest import from_torch
    from ..layout import layout, select_edges
    from ..render.lod import edge_budget

    model, inputs = FACTORIES[name]()
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        memmap = os.path.join(tmp, "acts.npy") if name == "tinyllama" else None
        net, acts = from_torch(model, inputs, name=name, memmap=memmap)
        values = np.array(acts.frame(0), dtype=np.float32)  # out of the store before it goes
    del model, acts
    edges = select_edges(net, k=4, budget=edge_budget(size), activations=values, rule="contribution")
    return net, layout(net), edges, values


CURRENT_BYTES_PER_NEURON = 100
"""What the current renderer (per-neuron sprites) holds per neuron, estimated from its process at 10^7 neurons
(1.9 GB, growing linearly with the scene): positions, colours, their uploads and VisPy's copies."""


def current_fits(n_neurons: int) -> str | None:
    """None when the current renderer's scene of ``n_neurons`` fits in memory beside the new one, else why not
    (one line, with the estimate)."""
    from ..memory import TooLargeError, check_fits

    try:
        check_fits(CURRENT_BYTES_PER_NEURON * n_neurons, f"the current renderer on {n_neurons:,} neurons",
                   "its column is skipped")
    except TooLargeError as e:
        return str(e)
    return None


def measure(name: str, repeats: int = 5, frame_size=(1280, 720)) -> list[dict]:
    """``scene_orbit`` and ``scene_playback`` records of scene ``name``: new renderer against current (its
    baseline fields NaN, and ``baseline`` saying why, when the current one would not fit in memory)."""
    net, placed, edges, values = content(name, frame_size)
    why = current_fits(net.n_neurons)
    if why is not None:
        print(f"nn3d bench: {why}", flush=True)
    records = compare(name, net, placed, edges, values, repeats=repeats, frame_size=frame_size,
                      current=why is None)
    return records if why is None else [{**r, "baseline": why} for r in records]


def synthetic(n: int, size=(1280, 720)):
    """(net, layout, edges, values): :func:`nn3d.synthetic.random_network` with ``n`` neurons in 8 layers and
    ``min(n, 10^5)`` random edges, standard-normal activations, the explorer's edges for a ``size`` frame."""
    from ..layout import layout, select_edges
    from ..render.lod import edge_budget
    from ..synthetic import random_network

    net = random_network(n, min(n, 10**5), n_layers=8, seed=0)
    values = np.random.default_rng(1).standard_normal(net.n_neurons, dtype=np.float32)
    edges = select_edges(net, k=4, budget=edge_budget(size), activations=values, rule="contribution")
    return net, layout(net), edges, values


def compare(name, net, placed, edges, values, repeats: int = 5, frame_size=(1280, 720),
            playback: bool = True, current: bool = True) -> list[dict]:
    """Camera-moving (and with ``playback``, playback) frames of the new and (with ``current``) the current
    renderer on the same content, interleaved frame by frame; without ``current`` the baseline fields are NaN."""
    from ..kernels import levels
    from ..render.scene import NetworkScene
    from .offscreen_target import Offscreen

    frames = [levels(values, net.starts), levels(values[::-1].copy(), net.starts)]
    scenes = [NetworkScene(net, placed, edges, size=frame_size)]
    if current:
        scenes.append(NetworkScene(net, placed, edges, size=frame_size, explicit_positions=True))
    try:
        for s in scenes:
            s.set_frame(values)
        targets = [Offscreen(s.canvas) for s in scenes]
        home = scenes[0].camera_state
        orbit, still = ([], []), ([], [])
        for i in range(repeats + 1):  # the first round warms up (shaders, the edge layer)
            for j, (s, off) in enumerate(zip(scenes, targets)):
                s.set_camera(home.replace(azimuth=home.azimuth + 0.5 * (i + 1)))
                t0 = time.perf_counter()
                off.draw()
                if i:
                    orbit[j].append((time.perf_counter() - t0) * 1e3)
        for s in scenes:
            s.set_camera(home)
        for i in range(repeats + 2 if playback else 0):  # 2 warm-up rounds: the still edge layer is drawn on the 2nd
            for j, (s, off) in enumerate(zip(scenes, targets)):
                off.canvas.set_current()
                t0 = time.perf_counter()
                s.set_levels(frames[i % 2])
                off.draw()
                if i > 1:
                    still[j].append((time.perf_counter() - t0) * 1e3)
        gpu = [s.neurons.gpu_nbytes() / net.n_neurons for s in scenes] + [float("nan")] * (2 - len(scenes))
        for pair in (orbit, still):
            if not pair[1]:
                pair[1].append(float("nan"))
    finally:
        for s in scenes:
            s.close()
    common = {"n": net.n_neurons, "neurons": net.n_neurons, "edges": len(edges), "repeats": repeats,
              "scene": name, "baseline": "current renderer (uploaded positions, all selected edges)",
              "gpu_bytes_per_neuron": gpu[0], "baseline_gpu_bytes_per_neuron": gpu[1]}

    def record(what, pair):
        ms, bms = float(np.median(pair[0])), float(np.median(pair[1]))
        return {"name": f"{what}:{name}", **common, "ms": ms, "p95_ms": float(np.percentile(pair[0], 95)),
                "baseline_ms": bms, "baseline_p95_ms": float(np.percentile(pair[1], 95)), "speedup": bms / ms,
                "neurons_per_s": net.n_neurons / ms * 1e3}

    return [record("scene_orbit", orbit)] + ([record("scene_playback", still)] if playback else [])


def parse(text: str) -> list[str]:
    """``bert,gpt2,tinyllama`` -> the names, each checked (argparse ``type``)."""
    import argparse

    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in SCENES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scene(s) {', '.join(unknown)}; choose from {', '.join(SCENES)}")
    return names
