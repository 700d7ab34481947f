"""``nn3d bench render``: whole frames and per-frame recolours, against a naive VisPy scene on the same content.

Content per size ``n``: :func:`nn3d.synthetic.random_network` with ``n`` neurons in 8 layers and ``n`` random
edges, laid out by :func:`nn3d.layout.layout`, *all* edges drawn, one frame of standard-normal
activations; the camera is the scene's home view, the frame 1280x720 offscreen.

- ``frame_playback``: what the explorer does on every frame of playback (the camera still, new activations):
  a new frame of activations reaching the GPU and one draw of the whole scene into an offscreen framebuffer,
  to completion (``glFinish``). Ours: :class:`~nn3d.render.scene.NetworkScene` (one point-sprite neuron
  visual with a byte per neuron; one line visual that, while the view holds still, composites the edge layer
  it drew once instead of drawing every line again). Baseline: the naive VisPy scene, one ``Markers`` (face
  colours per neuron, sized in scene units like ours, no outline) and one ``Line`` (``connect="segments"``,
  a colour per vertex), same camera, recoloured with ``Markers.set_data``. ``neurons_per_s`` and
  ``edges_per_s`` are ``n`` over the median.
- ``frame_orbit``: the camera turns half a degree every frame (activations fixed): every line is drawn again
  in both scenes, the same ``GL_LINES`` work for the GPU.
- ``frame_neurons``: the camera still, edges hidden in both (sprites against Markers alone), one draw.
- ``frame_sprites``: the camera turning, edges hidden: neurons whose positions the vertex shader computes from
  each layer's placement row (a byte per neuron on the GPU) against the current renderer's uploaded positions
  (``NetworkScene(explicit_positions=True)``, 16 B per neuron), interleaved frame by frame; ``gpu_bytes_per_neuron``
  and ``baseline_gpu_bytes_per_neuron`` are what each neuron visual holds on the GPU.
- ``recolour``: a new frame of activations reaching the GPU, to completion. Ours: the level kernel
  (:func:`nn3d.kernels.levels`, the fastest available) plus :meth:`NetworkScene.set_levels` (one byte per
  neuron, one texture upload). Baseline: the same kernel's RGBA colours (:func:`nn3d.kernels.rgba`) as float
  plus ``Markers.set_data(pos, face_color=...)``, which re-packs and re-uploads the whole vertex buffer.
  ``kernel_ms`` and ``upload_ms`` time our two parts alone.

- ``scene_orbit:NAME`` / ``scene_playback:NAME`` (``--scenes bert,gpt2,tinyllama``, default ``bert,gpt2``;
  ``--sizes`` with no value skips the synthetic sizes): real-model scenes, the new renderer against the current
  one (uploaded positions, all selected edges), see :mod:`nn3d.bench.scenes`.

Records follow the other benchmarks (``name``, ``n``, ``ms``, ``baseline``, ``baseline_ms``, ``speedup``) plus
``p95_ms``, ``baseline_p95_ms``, ``neurons``, ``edges``, ``repeats`` (fewer at the largest sizes: llvmpipe
renders on the CPU, and one naive frame of 10^7 neurons takes seconds).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ..progress import progress
from . import machine, print_table, write_json
from .offscreen_target import Offscreen
from .scenes import DEFAULT_SCENES, SCENES

SIZES = [10**4, 10**5, 10**6, 10**7]
FRAME_SIZE = (1280, 720)
COLUMNS = ["name", "n", "ms", "p95_ms", "baseline", "baseline_ms", "baseline_p95_ms", "speedup", "repeats"]
NAMES = ("frame_playback", "frame_orbit", "frame_neurons", "frame_sprites", "recolour")
POS_COLOR, NEG_COLOR, EDGE_ALPHA = (1.0, 0.72, 0.35), (0.35, 0.62, 1.0), 0.6  # as nn3d.render.visuals.Edges


def content(n: int, seed: int = 0):
    """(net, layout, edges, values): ``n`` neurons, ``n`` edges (all kept), one frame of activations."""
    from ..layout import EdgeSet, layout
    from ..synthetic import random_network

    net = random_network(n, n, n_layers=8, seed=seed)
    src, dst, weight, strength = [], [], [], []
    for c in net.connections:
        src.append(net.layers[c.src].start + c.src_index)
        dst.append(net.layers[c.dst].start + c.dst_index)
        weight.append(c.weight)
        strength.append(np.abs(c.weight) / max(float(np.abs(c.weight).max(initial=0)), 1e-30))
    edges = EdgeSet(*(np.concatenate(a).astype(t) for a, t in
                      zip((src, dst, weight, strength), (np.int32, np.int32, np.float32, np.float32))))
    values = np.random.default_rng(seed + 1).standard_normal(net.n_neurons, dtype=np.float32)
    return net, layout(net), edges, values


def ours(net, layout, edges, values, explicit_positions: bool = False):
    from ..render.scene import NetworkScene

    scene = NetworkScene(net, layout, edges, size=FRAME_SIZE, explicit_positions=explicit_positions)
    scene.set_frame(values)
    return scene


def naive(scene, edges, values):
    """The naive VisPy scene with the same content and camera as ``scene``: one Markers, one Line."""
    from vispy import scene as vscene

    from ..kernels import rgba
    from ..render import camera_controls

    canvas = vscene.SceneCanvas(size=FRAME_SIZE, show=False, bgcolor=scene.canvas.bgcolor)
    view = canvas.central_widget.add_view()
    view.camera = vscene.TurntableCamera(up="+z")
    colors = rgba(values, scene.lut, scene.net.starts).astype(np.float32) / 255
    radius = float(scene.neurons.shared_program["u_radius"])
    markers = vscene.visuals.Markers(parent=view.scene, scaling="scene", spherical=True)
    markers.set_data(scene.layout.positions, size=2 * radius, edge_width=0, face_color=colors)
    ends = scene.edges._positions
    signed = np.repeat(np.copysign(edges.strength, edges.weight), 2)  # as NetworkScene gives its edge visual
    edge_colors = np.empty((len(ends), 4), np.float32)
    edge_colors[:, :3] = np.where(signed[:, None] >= 0, POS_COLOR, NEG_COLOR)
    edge_colors[:, 3] = EDGE_ALPHA * np.abs(signed)
    line = vscene.visuals.Line(pos=ends, color=edge_colors, connect="segments", method="gl", parent=view.scene)
    line.set_gl_state("translucent", depth_test=True, depth_mask=False)
    markers.order, line.order = 0, 1
    camera_controls.apply(view, scene.camera_state)
    return canvas, view, markers, line


def _sprites(scene, old, repeats: int):
    """Camera-moving frames of the neurons alone, ``scene`` (shader positions) and ``old`` (uploaded positions,
    closed here) interleaved: ((ms per frame, GPU bytes), same for ``old``)."""
    old.edges.visible = scene.edges.visible = False
    try:
        pair = [(scene, Offscreen(scene.canvas), []), (old, Offscreen(old.canvas), [])]
        home = scene.camera_state
        for i in range(repeats + 1):  # the first round warms up
            for s, offscreen, times in pair:
                s.set_camera(home.replace(azimuth=home.azimuth + 0.5 * i))
                t0 = time.perf_counter()
                offscreen.draw()
                if i:
                    times.append((time.perf_counter() - t0) * 1e3)
        return tuple((np.array(times), s.neurons.gpu_nbytes()) for s, _, times in pair)
    finally:
        scene.set_camera(home)
        old.close()


def _times(fn, repeats: int, warmup: int = 1) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out * 1e3


def _repeats(n: int, quick: bool) -> int:
    if quick:
        return 3
    return 30 if n <= 10**4 else 15 if n <= 10**5 else 5 if n <= 10**6 else 3


def measure(n: int, quick: bool = False) -> list[dict]:
    """The frame and recolour records for one size."""
    from ..kernels import levels, rgba
    from ..render import camera_controls

    net, layout, edges, values = content(n)
    scene = ours(net, layout, edges, values)
    canvas, view, markers, line = naive(scene, edges, values)
    repeats = _repeats(n, quick)
    size = 2 * float(scene.neurons.shared_program["u_radius"])
    frames = [values, values[::-1].copy()]  # alternate two frames: every recolour really changes colours
    k = [0]

    def recolour_ours():
        k[0] ^= 1
        scene.set_levels(levels(frames[k[0]], net.starts))

    def recolour_naive():
        k[0] ^= 1
        face = rgba(frames[k[0]], scene.lut, net.starts).astype(np.float32) / 255
        markers.set_data(layout.positions, size=size, edge_width=0, face_color=face)

    try:
        mine, theirs = Offscreen(scene.canvas), Offscreen(canvas)
        home = scene.camera_state

        def both(state):
            scene.set_camera(state)
            camera_controls.apply(view, state)

        def orbit(offscreen):
            def step():
                both(home.replace(azimuth=home.azimuth + 0.5 * step.i))
                step.i += 1
                offscreen.draw()
            step.i = 0
            return step

        def current(fn, offscreen):
            def frame():
                offscreen.canvas.set_current()
                fn()
                offscreen.draw()
            return frame

        p_ours = _times(current(recolour_ours, mine), repeats, warmup=2)  # the 2nd frame draws the edge layer
        p_base = _times(current(recolour_naive, theirs), repeats)
        o_ours = _times(orbit(mine), repeats)
        o_base = _times(orbit(theirs), repeats)
        both(home)
        scene.edges.visible = line.visible = False  # neurons alone: point sprites against Markers
        n_ours = _times(mine.draw, repeats)
        n_base = _times(theirs.draw, repeats)

        s_ours, s_base = _sprites(scene, ours(net, layout, edges, values, explicit_positions=True), repeats)
        scene.canvas.set_current()
        recolours = repeats if quick or n > 10**6 else 30  # cheap next to a frame: more repeats, steadier medians
        r_ours = _times(lambda: (recolour_ours(), mine.finish()), recolours)
        canvas.set_current()
        r_base = _times(lambda: (recolour_naive(), theirs.finish()), recolours)
        scene.canvas.set_current()
        kernel_ms = float(np.median(_times(lambda: levels(frames[0], net.starts), recolours)))
        lv = levels(frames[1], net.starts)
        upload_ms = float(np.median(_times(lambda: (scene.set_levels(lv), mine.finish()), recolours)))
    finally:
        canvas.close()
        scene.close()
    common = {"n": n, "neurons": net.n_neurons, "edges": len(edges), "repeats": repeats}

    def record(name, mine_ms, base_ms, baseline, **extra):
        ms, bms = float(np.median(mine_ms)), float(np.median(base_ms))
        return {"name": name, **common, "ms": ms, "p95_ms": float(np.percentile(mine_ms, 95)), "baseline": baseline,
                "baseline_ms": bms, "baseline_p95_ms": float(np.percentile(base_ms, 95)), "speedup": bms / ms,
                **{k: v(ms) for k, v in extra.items()}}

    per_s = lambda count: lambda ms: count / ms * 1e3  # noqa: E731
    whole = {"neurons_per_s": per_s(net.n_neurons), "edges_per_s": per_s(len(edges))}
    return [
        record("frame_playback", p_ours, p_base, "vispy Markers.set_data + Line", **whole),
        record("frame_orbit", o_ours, o_base, "vispy Markers + Line", **whole),
        record("frame_neurons", n_ours, n_base, "vispy Markers", neurons_per_s=per_s(net.n_neurons)),
        {**record("frame_sprites", s_ours[0], s_base[0], "uploaded positions (current renderer)",
                  neurons_per_s=per_s(net.n_neurons)),
         "gpu_bytes_per_neuron": s_ours[1] / net.n_neurons, "baseline_gpu_bytes_per_neuron": s_base[1] / net.n_neurons},
        {**record("recolour", r_ours, r_base, "Markers.set_data(face_color)", neurons_per_s=per_s(net.n_neurons)),
         "repeats": recolours, "kernel_ms": kernel_ms, "upload_ms": upload_ms},
    ]


def _n(n: int) -> str:
    e = round(np.log10(n))
    return f"10^{e}" if 10**e == n else f"{n:,}"


def _ms(v: float) -> str:
    if v != v:  # NaN: not measured (a renderer skipped)
        return "—"
    return f"{v:.3g}" if v < 1000 else f"{v:,.0f}"


def markdown(records: list[dict], plot_path: str | None = None, info: dict | None = None) -> str:
    """The records as a Markdown section: the machine (``info``, default this one now), the date, one table,
    the split of our recolour time, the plot."""
    info = info or machine()
    lines = [
        "## Render benchmark", "",
        f"{info['date']}; {info['cpu']}, {info['cores']} cores; OpenGL: Mesa llvmpipe (software) through EGL; "
        f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]} offscreen. Scenes: `n` neurons in 8 layers and `n` random edges, all "
        "drawn. `frame_playback`: new activations and one frame, the camera still (what playback does on every "
        "frame); `frame_orbit`: the camera turning half a degree per frame; `frame_neurons`: edges hidden; "
        "`recolour`: new activations reaching the GPU. Median and 95th percentile (ms) over `repeats`; baselines "
        "measured in the same run on the same content. `python benchmarks/render.py` (or `nn3d bench render`).", "",
        "| measure | n | ours ms | p95 | baseline | baseline ms | p95 | speedup | neurons/s | edges/s |",
        "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|",
    ]
    for r in (r for r in records if "scene" not in r):
        eps = f"{r['edges_per_s']:.3g}" if "edges_per_s" in r else ""
        lines.append(f"| {r['name']} | {_n(r['n'])} | {_ms(r['ms'])} | {_ms(r['p95_ms'])} | {r['baseline']} | "
                     f"{_ms(r['baseline_ms'])} | {_ms(r['baseline_p95_ms'])} | {r['speedup']:.3g}x | "
                     f"{r['neurons_per_s']:.3g} | {eps} |")
    split = [r for r in records if "kernel_ms" in r]
    if split:
        lines += ["", "Our recolour, split: " + "; ".join(
            f"{_n(r['n'])}: kernel {r['kernel_ms']:.3g} ms + upload {r['upload_ms']:.3g} ms" for r in split) + "."]
    real = [r for r in records if "scene" in r]
    if real:
        lines += ["", "Real-model scenes (`--scenes`): the new renderer (positions from each layer's placement row "
                  "in the vertex shader) against the current one (`NetworkScene(explicit_positions=True)`: "
                  "uploaded positions, all selected edges), frames interleaved; edges as the explorer selects "
                  "them for this frame size.", "",
                  "| measure | scene | neurons | edges | new ms | p95 | current ms | p95 | speedup | GPU B/neuron "
                  "new / current |", "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for r in real:
            lines.append(f"| {r['name'].split(':')[0]} | {r['scene']} | {r['neurons']:,} | {r['edges']:,} | "
                         f"{_ms(r['ms'])} | {_ms(r['p95_ms'])} | {_ms(r['baseline_ms'])} | "
                         f"{_ms(r['baseline_p95_ms'])} | {r['speedup']:.3g}x | {r['gpu_bytes_per_neuron']:.3g} / "
                         f"{r['baseline_gpu_bytes_per_neuron']:.3g} |")
    if plot_path:
        lines += ["", f"![frame time against size]({plot_path})"]
    return "\n".join(lines) + "\n"


def run(sizes: list[int] | None = None, json_path: str | None = None, plot_path: str | None = None,
        quick: bool = False, markdown_path: str | None = None, scenes: list[str] | None = None) -> list[dict]:
    """Measure every size (default :data:`SIZES`; ``[]``: none) and every real-model scene of ``scenes``
    (names of :data:`nn3d.bench.scenes.SCENES`, default none here; the command's default is
    :data:`~nn3d.bench.scenes.DEFAULT_SCENES`); print the table, write JSON, the plot and a Markdown table
    when asked."""
    from ..render.backend import ensure_backend
    from . import scenes as real

    ensure_backend()
    records = []
    for n in progress(SIZES if sizes is None else sizes, "render benchmark", unit="size"):
        records += measure(int(n), quick=quick)
        print_table(records[-len(NAMES):], COLUMNS)
    for name in scenes or ():
        records += real.measure(name, repeats=3 if quick or name == "tinyllama" else 5)
        print_table(records[-2:], COLUMNS)
    print_table(records, COLUMNS, title=f"render benchmark, {FRAME_SIZE[0]}x{FRAME_SIZE[1]} offscreen")
    if json_path:
        write_json(json_path, records, frame_size=list(FRAME_SIZE))
    if plot_path:
        plot(records, plot_path)
    if markdown_path:
        with open(markdown_path, "w") as f:
            f.write(markdown(records, plot_path and os.path.relpath(plot_path, os.path.dirname(markdown_path) or ".")))
    return records


def plot(records: list[dict], path: str) -> None:
    """Frame time against size, ours and the naive VisPy scene, log-log (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for name, what, color in (("frame_playback", "playback frame", "C0"), ("frame_orbit", "camera-moving frame", "C1"),
                              ("frame_neurons", "neurons only", "C2")):
        rows = [r for r in records if r["name"] == name]
        if not rows:
            continue
        n = [r["n"] for r in rows]
        ax.loglog(n, [r["ms"] for r in rows], "o-", color=color, label=f"nn3d, {what}")
        ax.loglog(n, [r["baseline_ms"] for r in rows], "s--", color=color, alpha=0.6,
                  label=f"naive VisPy ({rows[0]['baseline'].removeprefix('vispy ')}), {what}")
    ax.set_xlabel("neurons (= edges) in the scene")
    ax.set_ylabel("frame time, median (ms)")
    info = machine()
    ax.set_title(f"1280x720 offscreen, Mesa llvmpipe, {info['cores']} cores", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _size(text: str) -> int:
    return int(float(text))


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="nn3d bench render", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=_size, nargs="*", default=SIZES,
                   help="neurons (= edges) per synthetic scene (none: only the real-model scenes)")
    p.add_argument("--json", dest="json_path", help="write the records here")
    p.add_argument("--plot", dest="plot_path", help="write the frame-time plot (PNG) here")
    p.add_argument("--markdown", dest="markdown_path", help="write the table as Markdown here")
    p.add_argument("--quick", action="store_true", help="3 repeats per size (a smoke run)")
    p.add_argument("--scenes", type=_scenes, default=",".join(DEFAULT_SCENES),
                   help=f"real-model scenes, comma-separated, from {','.join(SCENES)} (default "
                        f"{','.join(DEFAULT_SCENES)}; 'none': none); tinyllama is the 10^8-neuron one")
    args = p.parse_args(argv)
    scenes = args.scenes if isinstance(args.scenes, list) else _scenes(args.scenes)
    return run(args.sizes, args.json_path, args.plot_path, args.quick, args.markdown_path, scenes)


def _scenes(text: str) -> list[str]:
    from .scenes import parse

    return [] if text.strip().lower() == "none" else parse(text)
