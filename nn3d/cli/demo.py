"""``nn3d demo``: train an MLP on the digits and draw it on one test digit."""

from __future__ import annotations

from .arguments import count, image_size, positive_count


def add_parser(sub) -> None:
    d = sub.add_parser("demo", help="train an MLP on the digits and draw it on one test digit")
    d.add_argument("--out", help="write a PNG here (headless) instead of opening a window")
    d.add_argument("--size", type=image_size, default=(1600, 1000), help="image size WxH (default 1600x1000)")
    d.add_argument("--sample", type=count, default=0, help="which test digit (default 0)")
    d.add_argument("--epochs", type=positive_count, default=30, help="training epochs (default 30, a few seconds)")
    d.add_argument("--hud", action="store_true", help="with --out: overlays on, the predicted class picked")


def run(args) -> int:
    from ..demo import run as run_demo

    if args.out:  # a bad name is refused before the training, not after it
        from pathlib import Path

        from ..render.output_files import IMAGE_SUFFIXES, check_out

        check_out(Path(args.out), IMAGE_SUFFIXES, "image")

    return run_demo(args.out, args.size, args.sample, args.epochs, args.hud)
