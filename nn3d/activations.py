"""Activations: per-neuron values over frames (samples, forward-pass steps or training steps)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Activations:
    """``values``: float32 (n_frames, n_neurons), one row per frame, neurons in global order.

    ``labels`` name the frames (e.g. "sample 3, label 7"); empty when there is nothing to say.
    """

    values: np.ndarray
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError(f"activations must be (frames, neurons), got shape {self.values.shape}")

    @property
    def n_frames(self) -> int:
        return self.values.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.values.shape[1]

    def frame(self, i: int) -> np.ndarray:
        return self.values[i]

    @classmethod
    def single(cls, values: np.ndarray, label: str = "") -> Activations:
        v = np.asarray(values, dtype=np.float32).reshape(1, -1)
        return cls(v, (label,) if label else ())
