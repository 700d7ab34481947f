"""Training recorder: loss and metrics every step; every N steps the probe batch's activations and the weights.

One file per run (``.nn3d``: a safetensors container, see :mod:`nn3d.ingest.safetensors_file`) that ``nn3d view``
replays through :func:`nn3d.load` (frames = recorded steps); its reader, :class:`Recording`, lives with the
other readers in :mod:`nn3d.ingest.recording` (re-exported here). Weights above ``max_weights`` elements are kept
as statistics (mean, std, min, max, mean |w|) plus a fixed sample of ``sample_weights`` positions, so a large
model's run stays small; the final weights are always stored once, in full, to draw the network.

Crash safety: given ``path``, the recorder rewrites the recording there after every recorded step (``autosave``
records), so that a run killed at any moment (SIGKILL, power loss) leaves a readable recording up to its last
recorded step. Each write goes to ``path + ".part"`` beside it, is fsynced, then renamed over ``path``
(:func:`nn3d.ingest.safetensors_file.write`): ``path`` is always the previous or the new complete recording,
never a torn one; a failed write removes its temp file, and a stale one left by a killed write is removed when
the next recorder for that path starts (readers never open it: ``.part`` is not a recording's suffix).
Each save rewrites the whole file (a 784-256-10 MLP: ~4 ms a record kept); for long runs of large models,
``autosave=N`` saves every N records instead, keeping the run up to its last save.

Gradients (``grads=True``, with ``loss_fn`` and ``probe_targets``): each record also holds ∂loss/∂activation
for the probe batch (one live traced pass and one backward, :mod:`nn3d.ingest.gradients`; the parameters'
``.grad`` are not touched) and, per weighted connection, statistics and a log10 histogram of the weights'
gradients as the user's own backward left them in ``p.grad`` at that step: call ``rec.step()`` after
``loss.backward()`` and before ``optimizer.zero_grad()``. It costs one more activation-sized buffer per record.

>>> rec = TrainingRecorder(model, probe_x, every=50, path="run.nn3d")
>>> for batch in data:
...     loss = train_step(batch)
...     rec.step(loss=loss, acc=acc)
>>> rec.save()  # the final weights; also rec.save("elsewhere.nn3d")
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from .ingest import IngestError, gradients, safetensors_file
from .ingest.recording import FORMAT, Recording
from .ingest.torch import from_torch, snapshot, snapshot_grads

__all__ = ["FORMAT", "Recording", "TrainingRecorder"]
log = logging.getLogger("nn3d")
WEIGHTED = ("dense", "linear", "conv", "embedding", "sparse")
STATS = ("mean", "std", "min", "max", "abs_mean")


def _scalar(v) -> float:
    """A Python float from a float, NumPy scalar or (grad-carrying) torch scalar tensor."""
    return float(v.detach()) if hasattr(v, "detach") else float(v)


def _stats(w: np.ndarray) -> np.ndarray:
    return np.array([w.mean(), w.std(), w.min(), w.max(), np.abs(w).mean()], dtype=np.float32)


class TrainingRecorder:
    """Record a training run of ``model`` (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module
    probe_inputs : the fixed batch whose activations are recorded (as for :func:`nn3d.from_torch`)
    every : record probe activations and weights every ``every`` steps (and at the first step)
    max_weights : a connection with more weights than this is kept as statistics plus a fixed sample
    sample_weights : size of that sample
    layers : record only these layers' activations (fnmatch patterns), others stay 0
    path : where the recording is kept up to date during the run (see the module docstring); ``save()``'s default
    autosave : with ``path``, rewrite the recording every ``autosave`` records (0: only at ``save``)
    grads : also record gradients (see the module docstring): ∂loss/∂activation of the probe batch, read back by
        ``Recording.activations(sample).grads``, and weight-gradient statistics (``Recording.weight_grad_norms()``,
        ``weight_grad_stats()``, ``weight_grad_histograms()``)
    loss_fn : with ``grads``: ``loss_fn(output, probe_targets)`` (``loss_fn(output)`` without targets), a scalar
    probe_targets : the probe batch's targets for ``loss_fn``

    A probe loss or gradient that is inf/NaN at a record is logged and recorded as NaN gradients (training goes on).
    writer : a TensorBoard ``SummaryWriter`` (``torch.utils.tensorboard``; anything with ``add_scalar(tag, value,
        step)``): each step's loss and metrics are also written to it at the recorder's step, so one training
        loop feeds TensorBoard and nn3d, and ``nn3d view run.nn3d --tensorboard LOGDIR`` lines them up
    """

    def __init__(self, model, probe_inputs, every: int = 10, *, max_weights: int = 1_000_000,
                 sample_weights: int = 4096, layers=None, seed: int = 0, path: str | Path | None = None,
                 autosave: int = 1, grads: bool = False, loss_fn=None, probe_targets=None,
                 writer=None):
        if grads and loss_fn is None:
            raise ValueError("grads=True needs loss_fn (and probe_targets, the probe batch's targets) to take "
                             "the gradient of the probe's loss")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if autosave < 0:
            raise ValueError(f"autosave must be >= 0, got {autosave}")
        self.path, self.autosave = (Path(path) if path is not None else None), int(autosave)
        if self.path is not None:
            Path(f"{self.path}.part").unlink(missing_ok=True)  # a killed write's temp file, never a recording
        self.model, self.probe, self.every, self.layers = model, probe_inputs, int(every), layers
        self.writer = writer
        self.max_weights, self.sample_weights = int(max_weights), int(sample_weights)
        self.grads, self.loss_fn, self.probe_targets = bool(grads), loss_fn, probe_targets
        self.network, _ = from_torch(model, probe_inputs, layers=["__nothing__"],
                                     loss_fn=loss_fn if grads else None, target=probe_targets)
        self.weighted = [i for i, c in enumerate(self.network.connections) if c.kind in WEIGHTED]
        rng = np.random.default_rng(seed)
        self.sample_index = {
            i: np.sort(rng.choice(self.network.connections[i].weight.size, self.sample_weights, replace=False))
            for i in self.weighted if self.network.connections[i].weight.size > self.max_weights
        }
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.metrics: dict[str, list[float]] = {}
        self.record_steps: list[int] = []
        self.frames: list[np.ndarray] = []
        self.weights: dict[int, list[np.ndarray]] = {i: [] for i in self.weighted}
        self.stats: dict[int, list[np.ndarray]] = {i: [] for i in self.sample_index}
        self.grad_frames: list[np.ndarray] = []
        self.params = gradients.weight_params(model, self.network, self.weighted) if grads else {}
        self.grad_stats: dict[int, list[np.ndarray]] = {i: [] for i in self.params}
        self.grad_hists: dict[int, list[np.ndarray]] = {i: [] for i in self.params}
        self.told: set[str] = set()  # warnings given once per run

    def step(self, loss=None, **metrics) -> None:
        """Log one training step; every ``every`` steps also record activations and weights."""
        n = len(self.steps)
        self.steps.append(n)
        self.loss.append(_scalar(loss) if loss is not None else math.nan)
        for key in set(self.metrics) | set(metrics):
            column = self.metrics.setdefault(key, [math.nan] * n)
            column.append(_scalar(metrics[key]) if metrics.get(key) is not None else math.nan)
        if self.writer is not None:
            self._write_scalars(n, metrics)
        if n % self.every == 0:
            self.snapshot(n)  # (a subclass's snapshot may add to the record: saved only after it returns)
            if self.path is not None and self.autosave and len(self.record_steps) % self.autosave == 0:
                self.save(self.path)

    def _write_scalars(self, n: int, metrics: dict) -> None:
        """This step's loss and metrics to the SummaryWriter (the values just logged; None left out)."""
        if not math.isnan(self.loss[n]):
            self.writer.add_scalar("loss", self.loss[n], n)
        for key in sorted(metrics):
            if metrics[key] is not None:
                self.writer.add_scalar(key, self.metrics[key][n], n)

    def snapshot(self, step: int) -> None:
        """Record the probe activations and the weights now."""
        if self.grads:
            net, values = self.snapshot_grads(step)
        else:
            net, values = snapshot(self.model, self.probe, layers=self.layers)
        if [(la.name, la.shape) for la in net.layers] != [(la.name, la.shape) for la in self.network.layers]:
            raise IngestError("the model's traced graph changed during training; TrainingRecorder needs a fixed one")
        self.record_steps.append(step)
        self.frames.append(values)
        for i in self.weighted:
            w = net.connections[i].weight
            if i in self.sample_index:
                self.stats[i].append(_stats(w))
                self.weights[i].append(w.reshape(-1)[self.sample_index[i]].copy())
            else:
                self.weights[i].append(np.array(w, dtype=np.float32, copy=True))

    def snapshot_grads(self, step: int):
        """(Network, values) of the probe, recording its ∂loss/∂activation and the weights' gradient statistics."""
        try:
            net, values, g = snapshot_grads(self.model, self.probe, self.probe_targets, self.loss_fn, self.layers)
        except gradients.NonFiniteError as e:
            self.tell(f"nn3d: TrainingRecorder: {e} (step {step}); recorded as NaN", "non-finite")
            net, values = e.network, e.values
            g = np.full_like(values, np.nan)
        self.grad_frames.append(g)
        missing = []
        for i, p in self.params.items():
            stats, hist = gradients.weight_grad_stats(p.grad)
            self.grad_stats[i].append(stats)
            self.grad_hists[i].append(hist)
            if p.grad is None:
                missing.append(self.network.layers[self.network.connections[i].dst].name)
        if missing:
            self.tell(f"nn3d: TrainingRecorder: no .grad on the weights of {', '.join(missing)} at step {step} "
                      "(call rec.step() after loss.backward() and before optimizer.zero_grad()); their gradient "
                      "statistics are NaN", "missing")
        return net, values

    def tell(self, message: str, key: str) -> None:
        if key not in self.told:
            self.told.add(key)
            log.warning(message)

    def save(self, path: str | Path | None = None) -> Path:
        """Write the run to ``path`` (default: the constructor's; suffix ``.nn3d`` so that :func:`nn3d.load`
        knows it), atomically: written beside, fsynced, then renamed over ``path``."""
        if path is None:
            if self.path is None:
                raise ValueError("save() needs a path when the recorder was made without one")
            path = self.path
        path = Path(path)
        if not self.record_steps:
            self.snapshot(len(self.steps))
        net, _ = snapshot(self.model, self.probe, layers=["__nothing__"])
        tensors = {
            "activations": self.frames,
            "record_step": np.array(self.record_steps, np.int64),
            "step": np.array(self.steps, np.int64),
            "loss": np.array(self.loss, np.float64),
        }
        for key, column in self.metrics.items():
            tensors[f"metric/{key}"] = np.array(column, np.float64)
        if self.grads:
            tensors["gradients"] = self.grad_frames
            tensors["weight_grad_edges"] = gradients.GRAD_EDGES
            for i in self.params:
                tensors[f"weight_grad/{i}"] = self.grad_stats[i]
                tensors[f"weight_grad_hist/{i}"] = self.grad_hists[i]
        conns = []
        for i, c in enumerate(net.connections):
            entry = {"src": c.src, "dst": c.dst, "kind": c.kind, "params": c.params}
            if c.weight.size:
                tensors[f"final/{i}"] = np.ascontiguousarray(c.weight, dtype=np.float32)
            if c.dst_index is not None:
                tensors[f"dst_index/{i}"] = c.dst_index
            if c.src_index is not None:
                tensors[f"src_index/{i}"] = c.src_index
            if i in self.sample_index:
                tensors[f"weight_stats/{i}"] = self.stats[i]
                tensors[f"weight_sample/{i}"] = self.weights[i]
                tensors[f"weight_index/{i}"] = self.sample_index[i]
            elif i in self.weights:
                tensors[f"weights/{i}"] = self.weights[i]
            conns.append(entry)
        layers = [[la.name, la.kind, list(la.shape), la.activation] for la in net.layers]
        meta = {"format": FORMAT, "version": "1", "every": str(self.every), "name": net.name,
                "layers": json.dumps(layers), "connections": json.dumps(conns),
                "probe_labels": json.dumps([f"sample {i}" for i in range(self.frames[0].shape[0])])}
        safetensors_file.write(path, tensors, meta)
        return path

