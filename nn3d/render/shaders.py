"""Load GLSL from ``shaders/`` by name, from an installed wheel (``nn3d/shaders``) or a checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
SEARCH_PATH = (_PACKAGE / "shaders", _PACKAGE.parent / "shaders")


@cache
def load(name: str) -> str:
    """Source of shader ``name`` (e.g. ``"neurons.vert"``)."""
    for folder in SEARCH_PATH:
        path = folder / name
        if path.is_file():
            return path.read_text()
    raise FileNotFoundError(f"shader {name!r} not found in {[str(p) for p in SEARCH_PATH]}")
