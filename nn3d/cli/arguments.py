"""Argument types and options shared by the command groups: sizes, --fold, the scene options, MODEL loading."""

from __future__ import annotations

import argparse
import time

from ..model_argument import resolve

WINDOW_LIMIT = 16384  # a side of a window or video canvas
IMAGE_LIMIT = 65536  # a side of a screenshot (tiled); 65536 x 65536 RGBA is 16 GiB
SCENE_KEYS = ("frame", "colormap", "normalisation", "k", "budget", "rule", "camera", "spacing", "conv", "fold",
              "color", "highlight")


def size(text: str, limit: int = WINDOW_LIMIT) -> tuple[int, int]:
    """A WIDTHxHEIGHT argument, each side in 1..``limit`` (a window or video canvas: 16384)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1600x1000, not {text!r}") from None
    if not (1 <= w <= limit and 1 <= h <= limit):
        raise argparse.ArgumentTypeError(f"size {w}x{h} out of range 1..{limit}")
    return w, h


def image_size(text: str) -> tuple[int, int]:
    """An image's WIDTHxHEIGHT: any size, rendered in tiles past the GL limit (each side up to 65536)."""
    return size(text, IMAGE_LIMIT)


def fold(text: str) -> int | str:
    """The --fold value: "auto", "none" or a number of rows >= 1 (see :func:`nn3d.layout.layout`)."""
    key = text.strip().lower()
    if key in ("auto", "none"):
        return key
    if key.isdigit() and int(key) >= 1:
        return int(key)
    raise argparse.ArgumentTypeError(f"must be auto, none or a number of rows >= 1, not {text!r}")


def count(text: str, least: int = 0) -> int:
    """A whole number >= ``least`` (0: --k, --budget, --frame, ...)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {least}, not {text!r}") from None
    if n < least:
        raise argparse.ArgumentTypeError(f"must be >= {least}, not {n}")
    return n


def positive_count(text: str) -> int:
    """A whole number >= 1 (--frames, --epochs)."""
    return count(text, 1)


def positive(text: str) -> float:
    """A finite number > 0 (--spacing, --fps, seconds)."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text!r}") from None
    if not (0 < x < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text}")
    return x


def colormap(text: str) -> str:
    """A colormap name :func:`nn3d.colormaps.lut` knows (checked here, not after the model is loaded)."""
    from ..colormaps import lut

    try:
        lut(text)
    except (ValueError, KeyError) as e:
        raise argparse.ArgumentTypeError(str(e).splitlines()[0]) from None
    return text


def color(text: str) -> str:
    """A colour mode (:data:`nn3d.color_modes.COLOR_MODES`), any spelling, as its display name."""
    from ..color_modes import color_mode

    try:
        return color_mode(text).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def highlight(text: str) -> str:
    """A unit flag to highlight (:data:`nn3d.analysis.units.FLAGS`, or "any")."""
    from ..analysis.units import HIGHLIGHTS

    if text not in HIGHLIGHTS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(HIGHLIGHTS)}, not {text!r}")
    return text


class Parser(argparse.ArgumentParser):
    """argparse with its errors in one line (exit code 2), like every other user error of nn3d."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def add_scene_options(p: argparse.ArgumentParser) -> None:
    """The options of every command that draws a MODEL (shot, view, record): keys of :data:`SCENE_KEYS`, and
    ``--memmap`` (where its activations are recorded)."""
    p.add_argument("--memmap", metavar="PATH.npy",
                   help="record a traced MODEL's activations into this memory-mapped .npy file instead of RAM "
                        "(large models: RAM then holds only the drawing)")
    p.add_argument("--frame", type=count, default=0, help="which frame (sample) of the activations")
    p.add_argument("--colormap", type=colormap, default="viridis", help="VisPy colormap name (default viridis)")
    p.add_argument("--color", "--colour", dest="color", type=color, default="activation",
                   metavar="activation|gradient|gradxact",
                   help="what colours the neurons: activations (default), gradients dloss/dactivation or their "
                        "product (grad*act); the gradient modes need recorded gradients and a diverging colormap")
    p.add_argument("--highlight", type=highlight, metavar="dead|saturated|zero-grad|any",
                   help="mark units flagged over the frames: dead (never active), saturated, zero gradient")
    p.add_argument("--norm", dest="normalisation", choices=("layer", "global"), default="layer",
                   help="normalise activations per layer (default) or over the whole network")
    p.add_argument("--k", type=count, default=4, help="incoming edges drawn per neuron (default 4)")
    p.add_argument("--budget", type=count, default=None,
                   help="most edges drawn in all (default: set by the image size, ~1 per 500 pixels)")
    p.add_argument("--edges", dest="rule", choices=("contribution", "weight"), default="contribution",
                   help="rank edges by |w*a| for this frame (default) or by |w|")
    p.add_argument("--camera", help="camera JSON file to start from (as saved by the explorer's P key)")
    p.add_argument("--spacing", type=positive, default=1.0, help="scale the gaps between layers (default 1)")
    p.add_argument("--conv", choices=("tile", "stack"), default="tile",
                   help="conv feature maps tiled in a plane (default) or stacked in depth")
    p.add_argument("--fold", type=fold, default="auto", metavar="auto|none|N",
                   help="wrap a deep model into rows like lines of text: auto (default: only a long, thin "
                        "scene, into rows that fill a 16:9 view), none, or N rows")


def scene_options(args) -> dict:
    """The scene options of parsed ``args``, as keyword arguments of the explorer."""
    return {k: getattr(args, k) for k in SCENE_KEYS}


def load_model(args):
    """Resolve ``args.model`` and print its one-line summary; returns (net, activations, time resolved)."""
    t0 = time.perf_counter()
    net, acts = resolve(args.model, memmap=args.memmap)
    t1 = time.perf_counter()
    print(f"{net.name}: {len(net.layers)} layers, {net.n_neurons:,} neurons ({t1 - t0:.2f} s)")
    return net, acts, t1
