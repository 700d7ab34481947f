"""``nn3d view MODEL``: open MODEL in the explorer window."""

from __future__ import annotations

import argparse

from ..model_argument import FORMS
from ..render.backend import BackendError
from .arguments import add_scene_options, load_model, positive, scene_options, size


def add_parser(sub) -> None:
    v = sub.add_parser("view", help="open MODEL in the explorer window")
    v.add_argument("model", help=f"MODEL: {FORMS}")
    v.add_argument("--size", type=size, default=(1280, 800), help="window size WxH (default 1280x800)")
    v.add_argument("--close-after", type=positive, metavar="SECONDS", help="close the window by itself (scripts)")
    add_scene_options(v)
    v.add_argument("--panels", action=argparse.BooleanOptionalAction, default=None,
                   help="analysis panels beside the 3D view (default: on for a .nn3d training recording or "
                        "with --tensorboard)")
    v.add_argument("--tensorboard", metavar="LOGDIR",
                   help="a TensorBoard log directory: its scalars join the curves panel, its histograms the "
                        "histogram panel of the layer each tag names, on the same steps")


def run(args) -> int:
    from ..ingest.tensorboard_log import read_log
    from ..render.backend import has_display
    from ..render.explorer import explore

    log = None if args.tensorboard is None else read_log(args.tensorboard)  # before a long model load
    net, acts, _ = load_model(args)
    if not has_display():
        raise BackendError("no display for a window (DISPLAY is not set); use `nn3d shot MODEL -o x.png`")
    recording = args.model if args.model.lower().endswith(".nn3d") else None
    panels = (recording is not None or log is not None) if args.panels is None else args.panels
    explore(net, acts, size=args.size, title=net.name, close_after=args.close_after, panels=panels,
            recording=recording, tensorboard=log if panels else None, **scene_options(args))
    return 0
