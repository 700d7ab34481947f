"""Reader for nn3d's own training recordings (``.nn3d``, written by :class:`nn3d.recorder.TrainingRecorder`):
the file format's one reader, :class:`Recording`, and the ingest entry points ``match`` / ``read``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..activations import Activations
from ..network import Connection, Network
from . import safetensors_file
from ._base import IngestError
from .gradients import WEIGHT_GRAD_STATS

log = logging.getLogger("nn3d")
SUFFIXES = (".nn3d",)
FORMAT = "nn3d.recording"


def match(path: Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def read(path: Path, sample: int = 0):
    """(Network with the final weights, Activations with one frame per recorded step for probe ``sample``)."""
    rec = Recording(path)
    act = rec.activations(sample)
    log.info("nn3d: %s: training replay, %d recorded steps of probe sample %d", Path(path).name,
             act.n_frames, sample)
    return rec.network, act


def _params(p):
    if p is None:
        return None
    return {k: tuple(v) if isinstance(v, list) else v for k, v in p.items()}


class Recording:
    """A saved run, memory-mapped: ``network`` (final weights), per-step ``steps``/``loss``/``metrics``,
    per-record ``record_steps``, ``activations(sample)`` and ``weights(r)``.

    Recorded with ``grads=True``: ``grads`` ((records, samples, neurons) ∂loss/∂activation, else None), which
    ``activations(sample).grads`` cuts per sample, and the weights' gradient statistics per record
    (``weight_grad_norms()``, ``weight_grad_stats()``, ``weight_grad_histograms()``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tensors, meta = safetensors_file.read(self.path)
        if meta.get("format") != FORMAT:
            raise IngestError(f"{self.path.name} is not an nn3d training recording")
        try:
            layers = [(n, k, tuple(s), a) for n, k, s, a in json.loads(meta["layers"])]
            conns = []
            for i, e in enumerate(json.loads(meta["connections"])):
                w = self.tensors.get(f"final/{i}", np.empty(0, np.float32))
                conns.append(Connection(e["src"], e["dst"], e["kind"], w, self.tensors.get(f"src_index/{i}"),
                                        self.tensors.get(f"dst_index/{i}"), _params(e["params"])))
            self.network = Network.build(layers, conns, name=meta.get("name", self.path.stem))
            self.frames = self.tensors["activations"]
            self.steps, self.loss = self.tensors["step"], self.tensors["loss"]
            self.record_steps = self.tensors["record_step"]
            self.grads = self.tensors.get("gradients")
        except (KeyError, ValueError, TypeError, RecursionError) as e:
            why = " ".join(f"{type(e).__name__}: {e}".split())[:200]  # one line, whatever the exception says
            raise IngestError(f"{self.path.name}: a damaged nn3d recording ({why})") from None
        self.metrics = {k[len("metric/"):]: v for k, v in self.tensors.items() if k.startswith("metric/")}
        problem = self._check()
        if problem:
            raise IngestError(f"{self.path.name}: a damaged nn3d recording ({problem})")

    def _check(self) -> str | None:
        """What is inconsistent between the recording's arrays and its network (None when nothing): shapes,
        dtypes and the step indices, which are used to index the loss."""
        frames, rec, steps, loss = self.frames, self.record_steps, self.steps, self.loss
        n = self.network.n_neurons
        if frames.ndim != 3 or frames.shape[1] < 1 or frames.shape[2] != n or frames.dtype.kind != "f":
            return f"activations of shape {frames.shape} ({frames.dtype}), expected (records, samples, {n}) floats"
        for key, a in (("record_step", rec), ("step", steps), ("loss", loss)):
            if a.ndim != 1 or (key != "loss" and a.dtype.kind not in "iu"):
                return f"{key} of shape {a.shape} ({a.dtype}), expected a 1-D array"
        if len(rec) != frames.shape[0] or len(rec) == 0:
            return f"{len(rec)} record steps for {frames.shape[0]} recorded frames"
        if len(steps) != len(loss):
            return f"{len(steps)} steps but {len(loss)} losses"
        if len(loss) and (int(rec.min()) < 0 or int(rec.max()) >= len(loss)):
            return f"record steps {int(rec.min())}..{int(rec.max())} outside the {len(loss)} logged steps"
        if self.grads is not None and (self.grads.shape != frames.shape or self.grads.dtype.kind != "f"):
            return f"gradients of shape {self.grads.shape} ({self.grads.dtype}), expected {frames.shape} floats"
        problem = self._check_weight_grads(len(rec))
        if problem:
            return problem
        n_conns = len(self.network.connections)
        for key, v in self.tensors.items():
            kind, _, i = key.partition("/")
            if kind in ("weights", "weight_sample", "weight_stats", "weight_index"):
                if not i.isdigit() or int(i) >= n_conns:
                    return f"tensor {key!r} names no connection"
                if kind != "weight_index" and (v.ndim < 1 or v.shape[0] != len(rec)):
                    return f"tensor {key!r} of shape {v.shape}, expected one row per record ({len(rec)})"
            if kind == "weight_index" and (v.dtype.kind not in "iu" or (v.size and (
                    int(v.min()) < 0 or int(v.max()) >= self.network.connections[int(i)].weight.size))):
                return f"tensor {key!r} holds indices outside connection {i}'s weights"
            if kind == "metric" and (v.ndim != 1 or len(v) != len(steps)):
                return f"tensor {key!r} of shape {v.shape}, expected one value per step ({len(steps)})"
        return None

    def _check_weight_grads(self, n_records: int) -> str | None:
        edges = self.tensors.get("weight_grad_edges")
        if edges is not None and (edges.ndim != 1 or len(edges) < 2 or edges.dtype.kind != "f"
                                  or not np.all(np.diff(edges) > 0)):
            return f"weight_grad_edges of shape {edges.shape} ({edges.dtype}), expected increasing bin edges"
        n_conns = len(self.network.connections)
        for key, v in self.tensors.items():
            kind, _, i = key.partition("/")
            if kind not in ("weight_grad", "weight_grad_hist"):
                continue
            if not i.isdigit() or int(i) >= n_conns:
                return f"tensor {key!r} names no connection"
            if kind == "weight_grad_hist" and edges is None:
                return f"tensor {key!r} without weight_grad_edges"
            width = len(WEIGHT_GRAD_STATS) if kind == "weight_grad" else len(edges) - 1
            if v.shape != (n_records, width) or v.dtype.kind not in "fiu":
                return f"tensor {key!r} of shape {v.shape} ({v.dtype}), expected ({n_records}, {width}) numbers"
        return None

    def _weight_grad(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(connection indices, per-record rows stacked (records, connections, width)) of ``kind``."""
        rows = sorted((int(k.partition("/")[2]), v) for k, v in self.tensors.items() if k.partition("/")[0] == kind)
        index = np.array([i for i, _ in rows], np.int64)
        width = len(WEIGHT_GRAD_STATS) if kind == "weight_grad" else max(len(self.tensors.get(
            "weight_grad_edges", ())) - 1, 0)
        data = np.stack([np.asarray(v) for _, v in rows], axis=1) if rows else np.empty(
            (len(self.record_steps), 0, width))
        return index, data

    def weight_grad_stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(record steps, weighted connection indices, (records, connections, len(WEIGHT_GRAD_STATS)) float32):
        norm, mean, std, min, max, mean |g| of each connection's weight gradient at each record (NaN where the
        training step left no ``.grad``); empty when the run recorded no gradients."""
        index, data = self._weight_grad("weight_grad")
        return np.asarray(self.record_steps), index, data.astype(np.float32)

    def weight_grad_norms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(record steps, weighted connection indices, (records, connections) L2 norms of the weight gradients)."""
        steps, index, stats = self.weight_grad_stats()
        return steps, index, stats[..., 0]

    def weight_grad_histograms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(record steps, connection indices, log10|g| bin edges, (records, connections, bins) int64 counts)."""
        index, data = self._weight_grad("weight_grad_hist")
        edges = np.asarray(self.tensors.get("weight_grad_edges", np.empty(0)), np.float64)
        return np.asarray(self.record_steps), index, edges, data.astype(np.int64)

    def weights(self, r: int) -> dict[int, np.ndarray]:
        """Connection index -> its weights at record ``r`` (full, or the fixed sample for large ones)."""
        out = {}
        for key, v in self.tensors.items():
            kind, _, i = key.partition("/")
            if kind in ("weights", "weight_sample"):
                out[int(i)] = v[r]
        return out

    def activations(self, sample: int = 0) -> Activations:
        """Frames = recorded steps, for one probe sample; ``meta`` holds ``step`` and ``loss`` per frame, ``grads``
        that sample's ∂loss/∂activation per frame when the run recorded gradients (else None)."""
        if not 0 <= sample < self.frames.shape[1]:
            raise IngestError(f"{self.path.name}: sample {sample} outside 0..{self.frames.shape[1] - 1}")
        steps = np.asarray(self.record_steps)
        loss = np.asarray(self.loss)[steps] if len(self.loss) else np.full(len(steps), np.nan)
        labels = tuple(f"step {s}, loss {v:.4g}" for s, v in zip(steps, loss))
        grads = None if self.grads is None else np.asarray(self.grads[:, sample, :])
        return Activations(np.asarray(self.frames[:, sample, :]), labels, {"step": steps, "loss": loss}, grads)
