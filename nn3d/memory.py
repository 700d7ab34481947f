"""Memory a request needs, estimated before it is allocated, and refused up front when it cannot fit.

A tiny input can ask for a huge allocation (``synthetic:random:8,1000000000``, a 1 KB file declaring a
10^6 x 10^6 tensor): failing after minutes of swapping, or with a MemoryError traceback, is worse than one line
that says how much was asked for and what to change.
"""

from __future__ import annotations

import os

from .network import NetworkError

BYTES_PER_NEURON = 48
"""What nn3d holds per neuron of a drawn network, all stages together: positions (12), a frame of activations
(4), levels (1), layout and picking scratch, rounded up."""


class TooLargeError(NetworkError):
    """A request estimated not to fit in memory; the message gives the estimate and what to change."""


def available_bytes() -> int:
    """Memory this process can still take: MemAvailable on Linux, else physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 1 << 62


def check_fits(n_bytes: float, what: str, advice: str, fraction: float = 0.8) -> None:
    """Raise :class:`TooLargeError` when ``n_bytes`` exceeds ``fraction`` of the available memory."""
    limit = fraction * available_bytes()
    if n_bytes > limit:
        raise TooLargeError(f"{what} needs about {format_bytes(n_bytes)}, more than the {format_bytes(limit)} "
                            f"of memory available: {advice}")


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"  # unreachable; keeps type checkers calm
