"""``nn3d shot MODEL -o out.png``: render MODEL to an image of any size, headless."""

from __future__ import annotations

import time

from ..model_argument import FORMS
from .arguments import add_scene_options, count, image_size, load_model, scene_options


def add_parser(sub) -> None:
    s = sub.add_parser("shot", help="render MODEL to an image, headless")
    s.add_argument("model", help=f"MODEL: {FORMS}")
    s.add_argument("-o", "--out", required=True, help="image file to write (.png, .jpg)")
    s.add_argument("--size", type=image_size, default=(1600, 1000),
                   help="image size WxH, any size: tiled past the GL limit (default 1600x1000)")
    s.add_argument("--hud", action="store_true", help="draw the HUD, colour bar and layer labels")
    s.add_argument("--select", type=count, metavar="NEURON", help="select this neuron (global index) first")
    add_scene_options(s)


def run(args) -> int:
    from ..render.explorer import screenshot

    net, acts, t1 = load_model(args)
    screenshot(net, args.out, acts, size=args.size, title=net.name, hud=args.hud, select=args.select,
               **scene_options(args))
    print(f"wrote {args.out} ({args.size[0]}x{args.size[1]}, {time.perf_counter() - t1:.2f} s)")
    return 0
