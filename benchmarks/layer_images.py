"""Frame time with far layers as images against every neuron as a sprite, same scene, same run.

``python benchmarks/layer_images.py [N ...]``: for each size a synthetic network of about N neurons (feature
maps and dense layers, like a convnet's), seen whole from the home camera at 1280x720, the camera orbiting
(a new view each frame); frames alternate between ``mode = "auto"`` (layers whose pitch projects below
1.5 px as images) and ``mode = "sprites"`` (the renderer without images). Edges are hidden: this measures
the neurons' share of a frame. Prints one JSON line per size.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def network(n: int):
    """About ``n`` neurons: an image, six feature-map stages halving in size, two dense layers."""
    from nn3d.network import Layer, Network

    side = max(8, int(round((n / 11) ** 0.5 / 8)) * 8)  # 3 s^2 + 4 s^2 (1 + 1/2 + ...) ~ 11 s^2 neurons
    shapes = [(3, side, side)]
    c, s = 4, side
    for _ in range(6):
        shapes.append((c, s, s))
        c, s = c * 2, max(2, s // 2)
    shapes += [(max(16, n // 100),), (1000,)]
    layers, start = [], 0
    for i, shape in enumerate(shapes):
        layers.append(Layer(f"l{i}", "input" if i == 0 else "conv" if len(shape) == 3 else "dense", shape, start))
        start += layers[-1].size
    return Network(layers)


def measure(n: int, frames: int) -> dict:
    from nn3d.bench.render import FRAME_SIZE, Offscreen
    from nn3d.layout import EdgeSet, layout
    from nn3d.render.scene import NetworkScene

    net = network(n)
    scene = NetworkScene(net, layout(net), EdgeSet.empty(), size=FRAME_SIZE)
    try:
        scene.set_frame(np.random.default_rng(0).standard_normal(net.n_neurons, dtype=np.float32))
        scene.edges.visible = False
        off = Offscreen(scene.canvas)
        home = scene.camera_state
        times = {"auto": [], "sprites": []}
        step = 0
        for mode in ["auto", "sprites"]:  # warm-up: shaders compiled, buffers built
            scene.layer_images.mode = mode
            off.draw()
        far = None
        for _ in range(frames):
            for mode in ["auto", "sprites"]:
                scene.layer_images.mode = mode
                scene.set_camera(home.replace(azimuth=home.azimuth + 0.5 * step))
                step += 1
                t0 = time.perf_counter()
                off.draw()
                times[mode].append(time.perf_counter() - t0)
                if mode == "auto":
                    far = scene.layer_images.far
        drawn = sum(layer.size for layer, f in zip(net.layers, far) if not f)
        return {"neurons": net.n_neurons, "layers": len(net.layers), "far_layers": int(far.sum()),
                "sprites_drawn_with_images": drawn,
                "images_ms": 1e3 * float(np.median(times["auto"])),
                "sprites_ms": 1e3 * float(np.median(times["sprites"])), "frames": frames,
                "size": list(FRAME_SIZE)}
    finally:
        scene.close()


if __name__ == "__main__":
    sizes = [int(float(a)) for a in sys.argv[1:]] or [10**6, 10**7]
    for n in sizes:
        print(json.dumps(measure(n, frames=5 if n <= 2 * 10**6 else 3)), flush=True)
