"""Biases over training: a TrainingRecorder that also keeps each weighted layer's bias at every record.

The core recorder keeps weights only (a Connection has no bias). This subclass finds, for each weighted
connection, the module whose ``weight`` it is and records that module's ``bias`` beside it, as tensors
``bias/{connection}`` ((records, out_features) float32) in the same ``.nn3d`` file; :class:`nn3d.recorder.
Recording` ignores them and :class:`nn3d.analysis.Source` reads them for the bias histograms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..ingest import safetensors_file
from ..recorder import TrainingRecorder


def _bias_modules(model, network, weighted) -> dict[int, object]:
    """Connection index -> module owning that connection's weight and having a bias."""
    from ..ingest.module_handlers import weight_view

    out = {}
    mods = [m for m in model.modules() if getattr(m, "bias", None) is not None and hasattr(m, "weight")]
    for i in weighted:
        w = network.connections[i].weight
        for m in mods:
            v = weight_view(m.weight)
            for cand in (v, v.T):
                if cand.shape == w.shape and np.array_equal(cand, w):
                    out[i] = m
                    break
            if i in out:
                break
    return out


class BiasRecorder(TrainingRecorder):
    """:class:`~nn3d.recorder.TrainingRecorder` plus biases (see the module docstring)."""

    def __init__(self, model, probe_inputs, every: int = 10, **options):
        super().__init__(model, probe_inputs, every, **options)
        self.bias_modules = _bias_modules(model, self.network, self.weighted)
        self.biases: dict[int, list[np.ndarray]] = {i: [] for i in self.bias_modules}

    def snapshot(self, step: int) -> None:
        super().snapshot(step)
        for i, m in self.bias_modules.items():
            self.biases[i].append(m.bias.detach().float().cpu().numpy().copy())

    def save(self, path: str | Path) -> Path:
        path = super().save(path)
        tensors, meta = safetensors_file.read(path)
        tensors = {k: np.array(v) for k, v in tensors.items()}  # off the memory map before rewriting
        for i, rows in self.biases.items():
            if rows:
                tensors[f"bias/{i}"] = np.stack(rows).astype(np.float32)
        safetensors_file.write(path, tensors, meta)  # written beside, then renamed over the file
        return path
