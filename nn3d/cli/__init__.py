"""The ``nn3d`` command: one module per command group (demo, shot, view, record, bench, plot), each with its
``add_parser(subparsers)`` and ``run(args)``. Errors a user can fix are one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import logging
import sys

from ..camera_pose import CameraFileError
from ..model_argument import ModelArgumentError
from ..network import NetworkError
from ..render.backend import BackendError
from ..render.output_files import CaptureError
from . import bench, demo, plot, record, shot, view
from .arguments import Parser, fold, image_size, size

USER_ERRORS = (ModelArgumentError, NetworkError, BackendError, CameraFileError, CaptureError, OSError)
COMMANDS = {"demo": demo, "shot": shot, "view": view, "record": record, "bench": bench, "plot": plot}

__all__ = ["COMMANDS", "USER_ERRORS", "fold", "image_size", "main", "parser", "size"]


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="nn3d", description="Explore neural networks in 3D.")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    logging.getLogger("vispy").setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command].run(args)
    except USER_ERRORS as e:
        print(f"nn3d: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM during `record` (which removes its temporary file)
        print(f"nn3d: {e or 'interrupted'}", file=sys.stderr)
        return 128 + getattr(e, "signum", 2)


if __name__ == "__main__":
    sys.exit(main())
