"""Ingest: turn a user's model into a :class:`~nn3d.network.Network` plus its :class:`Activations`."""

from .torch import from_torch

__all__ = ["from_torch"]
