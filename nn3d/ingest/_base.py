"""What every reader shares: the error type users see, and the reader protocol of the registry."""

from __future__ import annotations

from ..network import NetworkError


class IngestError(NetworkError):
    """A model or file nn3d cannot read; the message is one line meant for the user."""
