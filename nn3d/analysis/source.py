"""Source: what the analysis panels read, from a model spec or a training recording.

A recording (``.nn3d``) has everything over training: loss and metric curves, weights (and biases, when
written by :class:`~nn3d.analysis.biases.BiasRecorder`) at every record, activations per record. A model spec
has one state: its weights now and its activations per sample; a ``FILE.py:factory`` spec also keeps the
model, so attention probabilities can be captured from it. A TensorBoard log directory
(:mod:`nn3d.ingest.tensorboard_log`) adds its scalars to the curves and its histograms to the histogram panel
of the layer a tag names, on the same step axis as the recording (or, without one, ending at the model's
state now). Asking for data a source lacks raises :class:`~nn3d.network.NetworkError` with a one-line message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..activations import Activations
from ..model_argument import factory_network, parse, resolve
from ..network import Network, NetworkError
from . import attention as attn
from .data import Curves, HistogramStack, as_matrix, bucket_stack, curves, incoming_weighted, weighted_layers
from .gradflow import NO_GRADS


def layer_tags(layer_name: str, tags) -> list[str]:
    """The tags (TensorBoard's, e.g. ``fc1.weight``, ``weights/block.0``) that name layer ``layer_name`` (a
    module path): its dot-separated parts appear in the tag's ``/``- and ``.``-separated parts, in a row."""
    want = layer_name.split(".")
    found = []
    for tag in tags:
        parts = tag.replace("/", ".").split(".")
        if any(parts[i : i + len(want)] == want for i in range(len(parts) - len(want) + 1)):
            found.append(tag)
    return found


def open_log(tensorboard):
    """A TensorBoardLog as given, or read from a log directory; None stays None."""
    if tensorboard is None or hasattr(tensorboard, "scalars"):
        return tensorboard
    from ..ingest.tensorboard_log import read_log

    return read_log(tensorboard)


def _same_curve(a, b) -> bool:
    """Whether two (steps, values) curves are one, up to TensorBoard's float32 storage."""
    return (len(a[0]) == len(b[0]) and np.array_equal(a[0], b[0])
            and np.allclose(a[1], b[1], rtol=1e-6, atol=1e-7))


class Source:
    """The data behind the panels. ``frames`` index recorded steps for a recording, samples otherwise."""

    def __init__(self, network: Network, activations: Activations | None = None, recording=None,
                 model=None, inputs=None, name: str | None = None, tensorboard=None):
        self.network, self.activations, self.recording = network, activations, recording
        self.model, self.inputs = model, inputs
        self.name = name or network.name
        self._attention: dict[str, np.ndarray] | None = None
        self.tensorboard = open_log(tensorboard)  # a TensorBoardLog (read from a log directory) or None

    @classmethod
    def open(cls, text: str | Path, sample: int = 0, tensorboard=None) -> Source:
        """A recording path (``.nn3d``) or any MODEL string :func:`nn3d.model_argument.parse` takes;
        ``tensorboard``: a TensorBoard log directory (or a read :class:`~nn3d.ingest.tensorboard_log.TensorBoardLog`)
        whose scalars and histograms join the panels."""
        log = open_log(tensorboard)  # first: a wrong log directory is found before a model is loaded
        source = cls._open(text, sample)
        source.tensorboard = log
        return source

    @classmethod
    def _open(cls, text: str | Path, sample: int) -> Source:
        arg = parse(text)
        if arg.form == "recording":
            from ..ingest import IngestError
            from ..recorder import Recording

            try:
                rec = Recording(arg.path)
                return cls(rec.network, rec.activations(sample), rec, name=arg.path.name)
            except IngestError as e:
                raise NetworkError(str(e)) from None
        if arg.form == "factory":  # keep the model: attention probabilities are captured from it
            net, acts, model, inputs = factory_network(arg.path, arg.function)
            return cls(net, acts, model=model, inputs=inputs)
        return cls(*resolve(arg.text))

    # -- frames -------------------------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return 1 if self.activations is None else self.activations.n_frames

    @property
    def record_steps(self) -> np.ndarray:
        """The training step of each frame (a recording), else the frame numbers."""
        if self.recording is not None:
            return np.asarray(self.recording.record_steps)
        return np.arange(self.n_frames)

    @property
    def has_curves(self) -> bool:
        """Whether there are curves over training steps: a recording's, or a TensorBoard log's scalars."""
        return self.recording is not None or bool(self.tensorboard is not None and self.tensorboard.scalars)

    def cursor_step(self, frame: int) -> float | None:
        """The training step frame ``frame`` stands for: its recorded step (a recording); without one, the
        TensorBoard log's last step (a model's state now is the end of its training), else None."""
        if self.recording is not None:
            return float(self.record_steps[frame % self.n_frames])
        if self.tensorboard is not None and self.tensorboard.steps.size:
            return float(self.tensorboard.steps[-1])
        return None

    def frame_of_step(self, step: float) -> int:
        """The recorded frame nearest training step ``step``."""
        return int(np.argmin(np.abs(self.record_steps - step)))

    # -- layers -------------------------------------------------------------------------------------------
    def layer(self, name: str | int | None = None, need: str = "weights") -> int:
        """Index of layer ``name``; by default the first layer that has what ``need`` asks for."""
        net = self.network
        if isinstance(name, int):
            return name
        if name is not None:
            try:
                return net.layer_index(name)
            except KeyError:
                raise NetworkError(f"no layer {name!r} in {net.name}; layers: "
                                   f"{', '.join(la.name for la in net.layers)}") from None
        if need == "grads" and self.grads is None:
            raise NetworkError(f"{self.name} has {NO_GRADS}")
        found = {"weights": weighted_layers(net), "filters": self._kind_layers("conv"),
                 "attention": self._kind_layers("attention"), "grads": list(range(len(net.layers))),
                 "function": [i for i, la in enumerate(net.layers) if la.activation]}[need]
        if not found:
            raise NetworkError(f"{net.name} has no layer with {need}")
        return found[0]

    def _kind_layers(self, kind: str) -> list[int]:
        net = self.network
        if kind == "conv":
            return [i for i in weighted_layers(net) if net.connections[incoming_weighted(net, i)].kind == "conv"]
        return [i for i, la in enumerate(net.layers) if la.kind == kind]

    def connection(self, layer: int) -> int:
        c = incoming_weighted(self.network, layer)
        if c is None:
            la = self.network.layers[layer]
            raise NetworkError(f"layer {la.name!r} ({la.kind}) has no incoming weights")
        return c

    # -- weights ------------------------------------------------------------------------------------------
    def weights(self, layer: int, frame: int | None = None) -> np.ndarray:
        """The layer's incoming weights (their own shape) at ``frame`` (a recording), else the final ones."""
        c = self.connection(layer)
        conn = self.network.connections[c]
        hist = self._history(f"weights/{c}")
        if hist is not None and frame is not None:
            return np.asarray(hist[frame % len(hist)]).reshape(conn.weight.shape)
        return np.asarray(conn.weight)

    def weights_over_training(self, layer: int) -> bool:
        """Whether :meth:`weights` changes with the frame (full weights recorded at every step)."""
        return self._history(f"weights/{self.connection(layer)}") is not None

    def weight_matrix(self, layer: int, frame: int | None = None) -> np.ndarray:
        c = self.connection(layer)
        return as_matrix(self.network.connections[c], self.weights(layer, frame))

    def _history(self, key: str):
        if self.recording is None:
            return None
        return self.recording.tensors.get(key)

    def weight_history(self, layer: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """(steps, one weight array per step): every record of a recording (the fixed sample of a large
        connection), else one entry, the weights now."""
        c = self.connection(layer)
        hist = self._history(f"weights/{c}")
        if hist is None:
            hist = self._history(f"weight_sample/{c}")
        if hist is None:
            return np.array([self.record_steps[-1]]), [np.asarray(self.network.connections[c].weight)]
        return self.record_steps[: len(hist)], [np.asarray(h) for h in hist]

    def bias_history(self, layer: int) -> tuple[np.ndarray, list[np.ndarray]] | None:
        """(steps, one bias vector per step), or None when the source holds no biases for this layer."""
        c = self.connection(layer)
        hist = self._history(f"bias/{c}")
        if hist is not None:
            return self.record_steps[: len(hist)], [np.asarray(h) for h in hist]
        if self.model is not None:
            from .biases import _bias_modules

            mods = _bias_modules(self.model, self.network, [c])
            if c in mods:
                return np.array([0]), [mods[c].bias.detach().float().cpu().numpy()]
        return None

    # -- curves -------------------------------------------------------------------------------------------
    def curves(self, frame: int = 0) -> Curves:
        """Loss and metrics of the recording, then the TensorBoard scalars (a tag the recording also has is
        named ``tb:TAG``, and left out when it is the same curve), the cursor at :meth:`cursor_step`."""
        if not self.has_curves:
            raise NetworkError(f"{self.name} has no training curves: give a training recording (.nn3d) or "
                               "a TensorBoard log (--tensorboard LOGDIR)")
        series = {}
        if self.recording is not None:
            rec = self.recording
            series.update(curves(rec.steps, rec.loss, rec.metrics).series)
        if self.tensorboard is not None:
            for tag, (steps, values) in self.tensorboard.scalars.items():
                keep = np.isfinite(values)
                s, v = steps[keep].astype(np.float64), values[keep]
                if not keep.any() or (tag in series and _same_curve(series[tag], (s, v))):
                    continue  # nothing to draw, or the recording's own curve (TrainingRecorder(writer=...))
                series[f"tb:{tag}" if tag in series else tag] = (s, v)
        if not series:
            raise NetworkError(f"{self.name} has no finite loss or metric values to plot")
        return Curves(series, self.cursor_step(frame))

    def tensorboard_histograms(self, layer: int, bins: int = 40) -> dict[str, HistogramStack]:
        """The TensorBoard histograms whose tag names layer ``layer`` (:func:`layer_tags`), one stack per tag
        over its logged steps (:func:`~nn3d.analysis.data.bucket_stack`); empty without a log."""
        if self.tensorboard is None:
            return {}
        hists = self.tensorboard.histograms
        return {tag: bucket_stack(hists[tag].buckets, hists[tag].steps, bins)
                for tag in layer_tags(self.network.layers[layer].name, hists)}

    # -- activations --------------------------------------------------------------------------------------
    def values(self, layer: int, frame: int = 0) -> np.ndarray:
        """One layer's activations at ``frame`` (flat float32)."""
        if self.activations is None:
            raise NetworkError(f"{self.name} has no activations")
        return np.asarray(self.activations.frame(frame % self.n_frames)[self.network.layers[layer].neurons])

    @property
    def grads(self) -> np.ndarray | None:
        """∂loss/∂activation (frames, n_neurons) when recorded, else None."""
        return None if self.activations is None else self.activations.grads

    # -- attention ----------------------------------------------------------------------------------------
    def attention(self, layer: int, frame: int = 0, n_heads: int | None = None) -> np.ndarray:
        """Attention probabilities (heads, tokens, tokens) of attention layer ``layer`` for ``frame``:
        captured from the model when there is one (frames are batch items), else recomputed from the
        recorded q|k|v activations with ``n_heads`` heads (see :mod:`nn3d.analysis.attention`)."""
        net = self.network
        if net.layers[layer].kind != "attention":
            raise NetworkError(f"layer {net.layers[layer].name!r} is not an attention layer")
        if self.model is not None:
            if self._attention is None:
                self._attention = attn.capture(self.model, self.inputs)
            for m, per_sample in self._attention.items():
                if attn.layer_for_module(net, m) == layer:
                    return per_sample[frame % len(per_sample)]
            raise NetworkError(f"no attention probabilities captured for {net.layers[layer].name!r}")
        if self.activations is None:
            raise NetworkError(f"{self.name} has no activations to recompute attention from")
        width = net.layers[layer].shape[-1]
        heads = n_heads or max(1, width // 64)
        return attn.from_qkv(net, layer, self.activations.frame(frame % self.n_frames), heads)
