"""``nn3d plot SOURCE --panel KIND [--layer NAME] [--step K] -o out.png``: one analysis panel alone, headless.

Errors are :class:`~nn3d.network.NetworkError`, a ValueError: one line and exit code 2, as for every nn3d
command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..analysis.panel_kinds import PANEL_KINDS
from ..network import NetworkError
from .arguments import count, size


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plot", help="export one analysis panel of SOURCE to a PNG, headless")
    p.add_argument("source", help="SOURCE: a training recording (.nn3d) or a MODEL spec (as for shot)")
    p.add_argument("--panel", required=True, choices=list(PANEL_KINDS), help="which panel")
    p.add_argument("--layer", help="layer name (default: the first layer the panel applies to)")
    p.add_argument("--step", type=count, help="training step (a recording: the nearest recorded one); "
                   "for a model spec, the sample (frame)")
    p.add_argument("--head", type=count, default=0, help="attention head (from 0)")
    p.add_argument("--tensorboard", metavar="LOGDIR", help="a TensorBoard log directory: its scalars join the "
                   "curves panel, its histograms the hist panel of the layer each tag names")
    p.add_argument("-o", "--out", required=True, help="PNG file to write")
    p.add_argument("--size", type=size, default=(900, 520), help="image size WxH (default 900x520)")
    return p


def plot(source_text: str, panel: str, out, layer: str | None = None, step: int | None = None,
         head: int = 0, size=(900, 520), tensorboard=None):
    """Render one panel of ``source_text`` to ``out`` (with ``tensorboard``, a TensorBoard log directory's
    scalars and histograms too); returns the RGBA image."""
    from ..analysis.source import Source
    from ..render.offscreen import write_image
    from ..render.panels import render_panel

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise NetworkError(f"cannot write {out.name}: nn3d plot writes .png files")
    if not out.parent.exists():
        raise NetworkError(f"cannot write {out}: folder {out.parent} does not exist")
    src = Source.open(source_text, tensorboard=tensorboard)
    kind = PANEL_KINDS[panel]
    if kind.recording and not src.has_curves:
        raise NetworkError(f"{src.name} has no training {panel}: give a training recording (.nn3d) or "
                           "--tensorboard LOGDIR")
    index = src.layer(layer, kind.need)
    frame = None if step is None else (src.frame_of_step(step) if src.recording is not None else step)
    if frame is not None and not 0 <= frame < src.n_frames:
        raise NetworkError(f"step {step} out of range: {src.n_frames} frame(s)")
    image = render_panel(src, panel, index, frame, size, head)
    write_image(image, out)  # through a temporary file: a full disk leaves no partial PNG
    return image


def run(args) -> int:
    """Run ``nn3d plot`` from parsed ``args``; NetworkError (one line) propagates to the caller."""
    plot(args.source, args.panel, args.out, args.layer, args.step, args.head, args.size, args.tensorboard)
    print(f"wrote {args.out} ({args.panel}, {args.size[0]}x{args.size[1]})")
    return 0

