"""Legibility of the default shot: how much of the activations the edges leave visible, how much of the frame
the model fills, how much the edges cover, and whether labels overlap.

    python benchmarks/legibility.py [SPEC ...] [--size 1280x720]

Each SPEC (default: the gallery models) is rendered twice with the defaults of ``nn3d shot``, once as is and
once with no edges (budget 0). Neuron pixels are those differing from the background in the edgeless render;
"visible" ones keep their colour (within ``TOL`` per channel) with edges drawn.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

TOL = 24  # per RGB channel, out of 255: a faint edge over a neuron still leaves it readable
GALLERY = tuple(f"benchmarks/gallery.py:{m}" for m in ("bert", "gpt2", "resnet18", "small_mlp", "vit")) + (
    "examples/digits_mlp.py:factory",)


def compare(edgeless: np.ndarray, edged: np.ndarray, background) -> dict:
    """The measures from two RGBA renders of the same view (``edgeless`` with budget 0)."""
    bg = np.asarray(background, float)[:3] * (255 if max(background[:3]) <= 1 else 1)
    a, b = edgeless[..., :3].astype(int), edged[..., :3].astype(int)
    neuron = np.abs(a - bg).max(axis=-1) > TOL
    same = np.abs(a - b).max(axis=-1) <= TOL
    changed = ~same
    h, w = neuron.shape
    drawn = neuron | changed
    ys, xs = np.nonzero(drawn)
    fill = ((xs.max() - xs.min() + 1) / w, (ys.max() - ys.min() + 1) / h) if len(xs) else (0.0, 0.0)
    return {"visible": float(same[neuron].mean()) if neuron.any() else 1.0,
            "fill_w": float(fill[0]), "fill_h": float(fill[1]),
            "edges": float(changed.mean())}


def measure(net, activations=None, size=(1280, 720), **options) -> dict:
    """Render ``net`` with the shot defaults and with no edges; returns ``compare``'s measures plus
    ``overlaps`` (how many pairs of drawn label rectangles intersect) and ``labels`` (how many are drawn)."""
    from vispy.color import Color

    from nn3d.render.explorer import Explorer
    from nn3d.render.labels import overlaps
    from nn3d.render.scene import BACKGROUND

    renders = {}
    for key, extra in (("edged", {}), ("edgeless", {"budget": 0})):
        ex = Explorer(net, activations, size=size, **{**options, **extra})
        try:
            renders[key] = ex.render()
            rects = ex.overlays.label_rects() if hasattr(ex.overlays, "label_rects") else np.zeros((0, 4))
        finally:
            ex.close()
    out = compare(renders["edgeless"], renders["edged"], Color(BACKGROUND).rgba)
    out["labels"], out["overlaps"] = int(len(rects)), int(overlaps(rects))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("specs", nargs="*", default=list(GALLERY))
    p.add_argument("--size", default="1280x720")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    from nn3d.model_argument import resolve
    from nn3d.render.backend import ensure_backend

    ensure_backend()
    size = tuple(int(v) for v in args.size.split("x"))
    rows = {}
    print(f"{'model':40s} visible  fill w  fill h  edges  labels overlaps")
    for spec in args.specs:
        net, acts = resolve(spec)
        r = rows[spec] = measure(net, acts, size=size)
        print(f"{spec:40s} {r['visible']:6.1%}  {r['fill_w']:6.1%}  {r['fill_h']:6.1%}  {r['edges']:5.1%}  "
              f"{r['labels']:6d} {r['overlaps']:8d}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
