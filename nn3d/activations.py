"""Activations: per-neuron values over frames (samples, forward-pass steps or training steps)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .memory import BYTES_PER_NEURON, TooLargeError, check_fits, format_bytes

_BLANK_CHUNK = 1 << 22  # values checked at a time by Activations.blank (16 MiB of float32)


@dataclass(frozen=True)
class Activations:
    """``values``: float32 (n_frames, n_neurons), one row per frame, neurons in global order.

    ``labels`` name the frames (e.g. "sample 3, label 7"); empty when there is nothing to say.
    ``meta`` holds per-frame arrays of length n_frames (e.g. ``"loss"``, ``"step"`` for a training replay).
    ``values`` may be a read-only ``np.memmap`` (a ``.npy`` file) when the recording is large.
    ``grads``: ∂loss/∂activation per neuron, float32 of the same shape as ``values`` (may be a memmap), or None
    when not recorded.
    """

    values: np.ndarray
    labels: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)
    grads: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError(f"activations must be (frames, neurons), got shape {self.values.shape}")
        if self.grads is not None and self.grads.shape != self.values.shape:
            raise ValueError(f"activation gradients have shape {self.grads.shape}, the values {self.values.shape}")
        for key, v in self.meta.items():
            if len(v) != self.values.shape[0]:
                raise ValueError(f"activations meta {key!r} has {len(v)} entries for {self.values.shape[0]} frames")

    @property
    def n_frames(self) -> int:
        return self.values.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.values.shape[1]

    def frame(self, i: int) -> np.ndarray:
        return self.values[i]

    @property
    def blank(self) -> bool:
        """One frame with no non-zero value: the placeholder of a weights-only file, which carries no
        activation to rank edges or colour neurons by."""
        if self.n_frames != 1:
            return False
        row = self.values[0]
        for start in range(0, row.shape[0], _BLANK_CHUNK):  # chunks: no frame-sized temporary at 10^8 neurons
            if np.any(np.nan_to_num(np.asarray(row[start:start + _BLANK_CHUNK]))):
                return False
        return True

    @classmethod
    def single(cls, values: np.ndarray, label: str = "") -> Activations:
        v = np.asarray(values, dtype=np.float32).reshape(1, -1)
        return cls(v, (label,) if label else ())

    @staticmethod
    def allocate(n_frames: int, n_neurons: int, path: str | Path | None = None) -> np.ndarray:
        """A zeroed float32 (n_frames, n_neurons) array to record into: in RAM, or a ``.npy`` memory map at
        ``path`` (pages are written to disk as they fill, so a recording never sits in RAM twice).

        Refused up front (:class:`~nn3d.memory.TooLargeError`, with the estimate and what to change) when the
        recording plus what drawing it needs (:data:`~nn3d.memory.BYTES_PER_NEURON`) would not fit in memory,
        or a memory-mapped store would not fit on its disk."""
        check_store(n_frames, n_neurons, path)
        if path is None:
            return np.zeros((n_frames, n_neurons), dtype=np.float32)
        return np.lib.format.open_memmap(Path(path), mode="w+", dtype=np.float32, shape=(n_frames, n_neurons))

    @classmethod
    def open(cls, path: str | Path, labels: tuple[str, ...] = ()) -> Activations:
        """Activations memory-mapped read-only from a ``.npy`` file written through :meth:`allocate`."""
        return cls(np.load(Path(path), mmap_mode="r"), labels)


def check_store(n_frames: int, n_neurons: int, path: str | Path | None = None) -> None:
    """Refuse a recording of ``n_frames`` x ``n_neurons`` float32 values that would not fit: in RAM (with
    ``path`` None) the frames and the drawing's :data:`~nn3d.memory.BYTES_PER_NEURON`; with a memory-mapped
    ``path`` the drawing in RAM and the frames on the disk that holds ``path``."""
    frames = 4.0 * n_frames * n_neurons
    drawing = float(BYTES_PER_NEURON) * n_neurons
    what = f"a recording of {n_frames:,} frame(s) x {n_neurons:,} neurons"
    if path is None:
        check_fits(frames + drawing, what, "record fewer tokens or samples, fewer layers (layers=[...]), or "
                   "record into a memory-mapped store (--memmap acts.npy; from_torch(..., memmap='acts.npy'))")
        return
    check_fits(drawing, f"drawing {n_neurons:,} neurons", "record fewer tokens or a smaller model")

    folder = Path(path).resolve().parent
    free = shutil.disk_usage(folder if folder.exists() else Path.cwd()).free
    if frames > free:
        raise TooLargeError(f"{what} needs about {format_bytes(frames)} on disk, more than the "
                            f"{format_bytes(free)} free in {folder}: record fewer tokens or samples, or put "
                            "the memory-mapped store on a larger disk")
