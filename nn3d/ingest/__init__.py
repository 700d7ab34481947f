"""Ingest: turn a user's model into a :class:`~nn3d.network.Network` plus its :class:`Activations`.

Live modules go through :func:`from_torch` (a traced forward pass). Files go through :func:`load`, which asks
each reader in :data:`READERS` (one module per format, Netron's pattern: ``match(path)`` then ``read(path)``)
and never executes code from a file: ONNX graphs are data, safetensors are raw bytes, ``.pt`` files load with
``weights_only=True``, and nn3d's own training recordings are safetensors containers.
"""

from __future__ import annotations

from pathlib import Path

from . import onnx, pt, recording, safetensors
from ._base import IngestError
from .torch import from_torch

READERS = [recording, onnx, safetensors, pt]


def load(path, **options):
    """Read a model file into ``(Network, Activations)``.

    Parameters
    ----------
    path : str or Path
        ``.onnx`` (activations through onnxruntime when installed, else zeros), ``.safetensors`` or a
        weights-only ``.pt``/``.pth`` state dict (optionally with ``config=``, a transformers config dict or
        config.json path; a ``config.json`` beside the file is used by default), or an ``.nn3d`` training
        recording (frames = recorded steps).
    **options
        Passed to the reader (``config=`` for state dicts, ``sample=`` for recordings).

    Raises
    ------
    IngestError
        (a ``ValueError``) with a one-line message: missing file, unknown suffix, corrupt file, pickled model.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"no such model file: {path}")
    for reader in READERS:
        if reader.match(path):
            return reader.read(path, **options)
    suffixes = ", ".join(s for r in READERS for s in r.SUFFIXES)
    raise IngestError(f"{path.name}: unknown model file type {path.suffix!r}; nn3d reads {suffixes}")


__all__ = ["IngestError", "READERS", "from_torch", "load"]
