"""Trace a torch module into a Network and record every layer's output as activations (one frame per sample).

Neurons of a layer are the elements of its output for one sample. The tracing itself lives in
:mod:`._trace` (module hooks + a TorchFunctionMode) and :mod:`._modules` (what each module and op becomes).
Here: batching, recording (in RAM, or streamed chunk by chunk into a memory-mapped ``.npy``; optionally only
a chosen subset of layers), and turning traced nodes into :class:`~nn3d.network.Network` objects.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..activations import Activations
from ..network import Connection, Network
from ._base import IngestError

log = logging.getLogger("nn3d")
EMPTY = np.empty(0, dtype=np.float32)


def _leaves(inputs) -> list:
    import torch

    if isinstance(inputs, dict):
        inputs = list(inputs.values())
    if not isinstance(inputs, (tuple, list)):
        inputs = [inputs]
    return [t for t in inputs if isinstance(t, torch.Tensor)]


def _batch_of(inputs) -> int:
    tensors = _leaves(inputs)
    if not tensors or tensors[0].ndim < 1 or tensors[0].shape[0] < 1:
        raise IngestError("example_inputs must hold a batch tensor (samples first) with at least one sample")
    return int(tensors[0].shape[0])


def _slice(inputs, lo: int, hi: int, batch: int):
    import torch

    def cut(t):
        return t[lo:hi] if isinstance(t, torch.Tensor) and t.ndim and t.shape[0] == batch else t

    if isinstance(inputs, dict):
        return {k: cut(v) for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(cut(v) for v in inputs)
    return cut(inputs)


def trace(model, inputs, record=None):
    """Run one traced forward pass; returns the :class:`._trace.Tracer` (nodes in forward order)."""
    import torch

    from ._trace import Tracer

    if not isinstance(model, torch.nn.Module):
        raise IngestError(f"from_torch needs a torch.nn.Module, got {type(model).__name__}")
    tracer = Tracer(model, _batch_of(inputs), record)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        tracer.run(inputs)
    except IngestError:
        raise
    except Exception as e:
        raise IngestError(f"{type(model).__name__} failed on example_inputs: {type(e).__name__}: {e}") from e
    finally:
        for m, training in modes.items():
            m.train(training)
    return tracer


def _kept(tracer) -> list[int]:
    """Node ids that become layers: all but model inputs that nothing reads (e.g. an unused mask)."""
    nodes = tracer.nodes
    keep = [i for i, n in enumerate(nodes) if n.kind != "input" or n.consumers > 0]
    if all(nodes[i].kind == "input" for i in keep):
        raise IngestError(
            f"{type(tracer.model).__name__} has no layers nn3d can see (its output is its input, or it is empty)"
        )
    return keep


def network_of(tracer, name: str) -> Network:
    """The Network of a finished trace."""
    keep = _kept(tracer)
    index = {node_id: i for i, node_id in enumerate(keep)}
    layers, conns = [], []
    for node_id in keep:
        node = tracer.nodes[node_id]
        layers.append((node.name, node.kind, node.shape, node.activation))
        for src, kind, weight, params, dst_index in node.inputs:
            if src in index:
                w = EMPTY if weight is None else weight
                conns.append(Connection(index[src], index[node_id], kind, w, None, dst_index, params))
    return Network.build(layers, conns, name=name)


def _fill(out: np.ndarray, tracer, keep: list[int], rows: slice) -> None:
    col = 0
    for node_id in keep:
        node = tracer.nodes[node_id]
        if node.values is not None:
            out[rows, col : col + node.size] = node.values.cpu().numpy()
            node.values = None  # free as we go: the recording never sits in RAM twice
        col += node.size


def from_torch(
    model, example_inputs, name: str | None = None, *, layers=None, memmap: str | Path | None = None,
    chunk: int | None = None,
) -> tuple[Network, Activations]:
    """Trace ``model`` on ``example_inputs`` and record one frame of activations per sample.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; known modules (Linear, Conv, pooling, norms, Embedding, attention, activations) become
        layers with their weights kept as float32 views (shared with the model, never expanded); unknown leaf
        modules become generic layers, listed in one logged line.
    example_inputs : Tensor, tuple of tensors (positional) or dict (keyword, e.g. a tokenizer's output)
        A batch: samples first. Token ids of shape (batch, tokens) give layers with a tokens axis.
    name : str, optional
        The network's name (default: the model's class name).
    layers : list of str, optional
        Record only layers whose names match these fnmatch patterns; other layers' values stay 0.
    memmap : path, optional
        Write activations to this ``.npy`` file (memory-mapped) instead of RAM.
    chunk : int, optional
        Run the batch ``chunk`` samples at a time (with ``memmap``, peak RAM is one chunk's activations).

    Returns
    -------
    (Network, Activations)
        ``Activations.values[i]`` holds every layer's output for sample ``i``, layers in forward order.
    """
    batch = _batch_of(example_inputs)
    chunk = batch if not chunk or chunk >= batch else int(chunk)
    net, values, tracer0 = None, None, None
    for lo in range(0, batch, chunk):
        hi = min(batch, lo + chunk)
        part = example_inputs if chunk == batch else _slice(example_inputs, lo, hi, batch)
        tracer = trace(model, part, record=layers)
        if net is None:
            net = network_of(tracer, name or type(model).__name__)
            keep = _kept(tracer)
            values = Activations.allocate(batch, net.n_neurons, memmap)
            tracer0 = tracer
        elif [(n.name, n.shape) for n in (tracer.nodes[i] for i in keep)] != [
            (layer.name, layer.shape) for layer in net.layers
        ]:
            raise IngestError(f"{net.name}: the traced graph changed between batch chunks; pass chunk=None")
        _fill(values, tracer, keep, slice(lo, hi))
    if tracer0.unknown:
        log.warning(
            "nn3d: drawn as generic layers (unknown modules): %s",
            ", ".join(f"{n} ({c})" for n, c in tracer0.unknown.items()),
        )
    if isinstance(values, np.memmap):
        values.flush()
    return net, Activations(values, tuple(f"sample {i}" for i in range(batch)))


def snapshot(model, inputs, layers=None) -> tuple[Network, np.ndarray]:
    """One traced pass in RAM, logging nothing (for repeated recording, e.g. by the TrainingRecorder)."""
    tracer = trace(model, inputs, record=layers)
    net = network_of(tracer, type(model).__name__)
    values = np.zeros((tracer.batch, net.n_neurons), np.float32)
    _fill(values, tracer, _kept(tracer), slice(None))
    return net, values
