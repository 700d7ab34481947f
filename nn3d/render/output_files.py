"""Output files of a capture: checked before anything is rendered, written through a temporary file."""

from __future__ import annotations

import os
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class CaptureError(ValueError):
    """Bad input to a capture (path, extension, frame count, ...); the message is one line for the user."""


def check_out(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    """Raise :class:`CaptureError` (one line) unless ``path`` can be written as a ``what`` file."""
    if path.suffix.lower() not in suffixes:
        shown = path.suffix or "no extension"
        raise CaptureError(f"cannot write {path}: unknown {what} type ({shown}); use one of {', '.join(suffixes)}")
    parent = path.parent
    if not parent.is_dir():
        why = "does not exist" if not parent.exists() else "is not a folder"
        raise CaptureError(f"cannot write {path}: {parent} {why}")
    if path.is_dir():
        raise CaptureError(f"cannot write {path}: it is a folder")
    if not os.access(parent, os.W_OK):
        raise CaptureError(f"cannot write {path}: folder {parent} is not writable")


def reserve_temp(path: Path) -> Path:
    """Create the temporary file next to ``path`` that the output is written to, proving the folder writable."""
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        with open(tmp, "wb"):
            pass
    except OSError as e:
        raise CaptureError(f"cannot write {path}: {e.strerror or e}") from None
    return tmp


def finish(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as e:
        raise CaptureError(f"cannot write {path}: {e.strerror or e}") from None
