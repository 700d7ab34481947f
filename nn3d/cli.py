"""The ``nn3d`` command: demo, shot, view. Errors a user can fix are one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from .camera import CameraFileError
from .capture.files import CaptureError
from .network import NetworkError
from .render.backend import BackendError
from .spec import FORMS, ModelSpecError, resolve

USER_ERRORS = (ModelSpecError, NetworkError, BackendError, CameraFileError, CaptureError, OSError)
BENCHMARKS = ("kernels", "layout", "render")


def size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1600x1000, not {text!r}") from None
    if not (1 <= w <= 16384 and 1 <= h <= 16384):
        raise argparse.ArgumentTypeError(f"size {w}x{h} out of range 1..16384")
    return w, h


def fold(text: str) -> int | str:
    """The --fold value: "auto", "none" or a number of rows >= 1 (see :func:`nn3d.layout.layout`)."""
    key = text.strip().lower()
    if key in ("auto", "none"):
        return key
    if key.isdigit() and int(key) >= 1:
        return int(key)
    raise argparse.ArgumentTypeError(f"must be auto, none or a number of rows >= 1, not {text!r}")


def _scene_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frame", type=int, default=0, help="which frame (sample) of the activations")
    p.add_argument("--colormap", default="viridis", help="VisPy colormap name (default viridis)")
    p.add_argument("--norm", dest="normalisation", choices=("layer", "global"), default="layer",
                   help="normalise activations per layer (default) or over the whole network")
    p.add_argument("--k", type=int, default=4, help="incoming edges drawn per neuron (default 4)")
    p.add_argument("--budget", type=int, default=None,
                   help="most edges drawn in all (default: set by the image size, ~1 per 500 pixels)")
    p.add_argument("--edges", dest="rule", choices=("contribution", "weight"), default="contribution",
                   help="rank edges by |w*a| for this frame (default) or by |w|")
    p.add_argument("--camera", help="camera JSON file to start from (as saved by the explorer's P key)")
    p.add_argument("--spacing", type=float, default=1.0, help="scale the gaps between layers (default 1)")
    p.add_argument("--conv", choices=("tile", "stack"), default="tile",
                   help="conv feature maps tiled in a plane (default) or stacked in depth")
    p.add_argument("--fold", type=fold, default="auto", metavar="auto|none|N",
                   help="wrap a deep model into rows like lines of text: auto (default: only a long, thin "
                        "scene, into rows that fill a 16:9 view), none, or N rows")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nn3d", description="Explore neural networks in 3D.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="train an MLP on the digits and draw it on one test digit")
    d.add_argument("--out", help="write a PNG here (headless) instead of opening a window")
    d.add_argument("--size", type=size, default=(1600, 1000), help="image size WxH (default 1600x1000)")
    d.add_argument("--sample", type=int, default=0, help="which test digit (default 0)")
    d.add_argument("--epochs", type=int, default=30, help="training epochs (default 30, a few seconds)")
    d.add_argument("--hud", action="store_true", help="with --out: overlays on, the predicted class picked")

    s = sub.add_parser("shot", help="render MODEL to an image, headless")
    s.add_argument("model", help=f"MODEL: {FORMS}")
    s.add_argument("-o", "--out", required=True, help="image file to write (.png, .jpg)")
    s.add_argument("--size", type=size, default=(1600, 1000), help="image size WxH (default 1600x1000)")
    s.add_argument("--hud", action="store_true", help="draw the HUD, colour bar and layer labels")
    s.add_argument("--select", type=int, metavar="NEURON", help="select this neuron (global index) first")
    _scene_options(s)

    v = sub.add_parser("view", help="open MODEL in the explorer window")
    v.add_argument("model", help=f"MODEL: {FORMS}")
    v.add_argument("--size", type=size, default=(1280, 800), help="window size WxH (default 1280x800)")
    v.add_argument("--close-after", type=float, metavar="SECONDS", help="close the window by itself (scripts)")
    _scene_options(v)
    v.add_argument("--panels", action=argparse.BooleanOptionalAction, default=None,
                   help="analysis panels beside the 3D view (default: on for a .nn3d training recording)")

    r = sub.add_parser("record", help="render a video (MP4 or GIF) of MODEL along a camera path, headless")
    r.add_argument("model", help=f"MODEL: {FORMS}, or a .nn3d training recording")
    r.add_argument("-o", "--out", required=True, help="video file to write (.mp4, .gif)")
    r.add_argument("--path", default="orbit", help="camera path: orbit, through, or a keyframes JSON file")
    r.add_argument("--frames", type=int, default=120, help="number of frames (default 120)")
    r.add_argument("--fps", type=float, default=30, help="frames per second (default 30)")
    r.add_argument("--animate", choices=("forward", "samples", "training"),
                   help="what changes over the video besides the camera (default: nothing)")
    r.add_argument("--size", type=size, default=(1280, 720), help="video size WxH (default 1280x720)")
    _scene_options(r)

    b = sub.add_parser("bench", help="benchmarks: kernels, layout or render (each prints ratios to a baseline)")
    b.add_argument("suite", choices=BENCHMARKS, help="which benchmark; `nn3d bench SUITE --help` for its options")
    b.add_argument("options", nargs=argparse.REMAINDER, help="the suite's own options")

    from .analysis import cli as plot

    plot.add_parser(sub)
    return p


def _options(args) -> dict:
    keys = ("frame", "colormap", "normalisation", "k", "budget", "rule", "camera", "spacing", "conv", "fold")
    return {k: getattr(args, k) for k in keys}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    logging.getLogger("vispy").setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            from .demo import run

            return run(args.out, args.size, args.sample, args.epochs, args.hud)
        if args.command == "plot":
            from .analysis import cli as plot

            return plot.run(args)
        if args.command == "bench":
            import importlib

            importlib.import_module(f"nn3d.bench.{args.suite}").main(args.options)
            return 0
        t0 = time.perf_counter()
        net, acts = resolve(args.model)
        t1 = time.perf_counter()
        print(f"{net.name}: {len(net.layers)} layers, {net.n_neurons:,} neurons ({t1 - t0:.2f} s)")
        if args.command == "record":
            from .capture import record

            record(net, acts, args.out, path=args.path, frames=args.frames, fps=args.fps, animate=args.animate,
                   size=args.size, title=net.name, **_options(args))
        elif args.command == "shot":
            from .render.explorer import screenshot

            screenshot(net, args.out, acts, size=args.size, title=net.name, hud=args.hud, select=args.select,
                       **_options(args))
            print(f"wrote {args.out} ({args.size[0]}x{args.size[1]}, {time.perf_counter() - t1:.2f} s)")
        else:
            from .render.backend import has_display
            from .render.explorer import explore

            if not has_display():
                raise BackendError("no display for a window (DISPLAY is not set); use `nn3d shot MODEL -o x.png`")
            recording = args.model if args.model.lower().endswith(".nn3d") else None
            panels = recording is not None if args.panels is None else args.panels
            explore(net, acts, size=args.size, title=net.name, close_after=args.close_after, panels=panels,
                    recording=recording, **_options(args))
        return 0
    except USER_ERRORS as e:
        print(f"nn3d: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
