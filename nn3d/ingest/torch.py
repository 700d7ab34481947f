"""Trace a torch module into a Network and record every layer's output as activations (one frame per sample).

Neurons of a layer are the elements of its output for one sample. The tracing itself lives in
:mod:`._trace` (module hooks + a TorchFunctionMode) and :mod:`.module_handlers` (what each module and op becomes).
Here: batching, recording (in RAM, or streamed chunk by chunk into a memory-mapped ``.npy``; optionally only
a chosen subset of layers), and turning traced nodes into :class:`~nn3d.network.Network` objects.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..activations import Activations
from ..network import Connection, Network
from ..progress import LONG, progress
from . import gradients
from ._base import IngestError

log = logging.getLogger("nn3d")
EMPTY = np.empty(0, dtype=np.float32)


def _keyed(inputs) -> list:
    from ._trace import keyed

    return keyed(inputs)


def _batch_of(inputs, axes: dict | None = None) -> int:
    """The batch size: the first input's first axis, or its ``axes`` entry (1: sequence first, None: unbatched)."""
    tensors = _keyed(inputs)
    key, t = tensors[0] if tensors else (None, None)
    axis = (axes or {}).get(key, 0)
    if axis is None:
        return 1
    if t is None or t.ndim <= axis or t.shape[axis] < 1:
        raise IngestError("example_inputs must hold a batch tensor (samples first) with at least one sample")
    return int(t.shape[axis])


def _slice(inputs, lo: int, hi: int, batch: int, axes: dict | None = None):
    import torch

    def cut(key, t):
        axis = (axes or {}).get(key, 0)
        if not isinstance(t, torch.Tensor) or axis is None or t.ndim <= axis or t.shape[axis] != batch:
            return t
        return t.narrow(axis, lo, hi - lo)

    if isinstance(inputs, dict):
        return {k: cut(k, v) for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(cut(f"input{i}", v) for i, v in enumerate(inputs))
    return cut("input0", inputs)


def trace(model, inputs, record=None, axes: dict | None = None, live: bool = False):
    """Run one traced forward pass; returns the :class:`._trace.Tracer` (nodes in forward order).

    ``live``: with autograd on, keeping the layers' tensors and the output for a backward pass (:mod:`.gradients`).

    ``axes`` maps input keys (``input0``, ... or keywords) to their batch axis when it is not the first; the
    pass finds them itself when a ``batch_first=False`` attention shows it (then it runs again, see
    :class:`._trace.Retrace`), and the tracer's ``input_axes`` says what it used.
    """
    import torch

    from ._trace import Retrace, Tracer

    if not isinstance(model, torch.nn.Module):
        raise IngestError(f"from_torch needs a torch.nn.Module, got {type(model).__name__}")
    axes = dict(axes or {})
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        for _ in range(len(_keyed(inputs)) + 1):  # each retrace fixes at least one more input
            tracer = Tracer(model, _batch_of(inputs, axes), record, axes, live)
            try:
                tracer.run(inputs)
            except Retrace as r:
                axes.update(r.axes)
                continue
            return tracer
        raise IngestError(f"{type(model).__name__}: nn3d could not settle which input axis is the batch")
    except IngestError:
        raise
    except Exception as e:
        raise IngestError(f"{type(model).__name__} failed on example_inputs: {type(e).__name__}: {e}") from e
    finally:
        for m, training in modes.items():
            m.train(training)


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
    chunk: int | None = None, loss_fn=None, target=None,
) -> tuple[Network, Activations]:
    """Trace ``model`` on ``example_inputs`` and record one frame of activations per sample.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; known modules (Linear, Conv, pooling, norms, Embedding, attention, activations) become
        layers with their weights kept as float32 views (shared with the model, never expanded); unknown leaf
        modules become generic layers, listed in one logged line.
    example_inputs : Tensor, tuple of tensors (positional) or dict (keyword, e.g. a tokenizer's output)
        A batch: samples first. Token ids of shape (batch, tokens) give layers with a tokens axis. Inputs that
        reach an ``nn.MultiheadAttention`` with ``batch_first=False`` (PyTorch's default; also inside
        ``nn.Transformer*``) may be (tokens, batch, ...): the trace sees it there and reads their batch from
        axis 1, so layers are (tokens, dim) per sample either way; an unbatched (tokens, dim) query makes the
        input one sample (logged).
    name : str, optional
        The network's name (default: the model's class name).
    layers : list of str, optional
        Record only layers whose names match these fnmatch patterns; other layers' values stay 0.
    memmap : path, optional
        Write activations to this ``.npy`` file (memory-mapped) instead of RAM.
    chunk : int, optional
        Run the batch ``chunk`` samples at a time (with ``memmap``, peak RAM is one chunk's activations).
    loss_fn : callable, optional
        Also record gradients: ``loss_fn(output, target)`` (``loss_fn(output)`` without ``target``) must return
        a scalar tensor; ``Activations.grads[i]`` is then ∂L_batch/∂a_i, the gradient of the batch's loss with
        respect to sample ``i``'s activations, from one backward pass (see :mod:`nn3d.ingest.gradients`: chunks,
        memory). The model runs in eval mode, as for the values (dropout off, norms on their running stats);
        its parameters' ``.grad`` are not touched. With ``memmap``, gradients go to a second memory map beside it
        (``acts.grads.npy``). A non-finite loss or gradient raises :class:`IngestError`.
    target : optional
        The loss's target for the batch (tensors cut along their first axis when chunked).

    Returns
    -------
    (Network, Activations)
        ``Activations.values[i]`` holds every layer's output for sample ``i``, layers in forward order.
    """
    if loss_fn is not None:
        example_inputs = gradients.requiring_grad(example_inputs)
    elif target is not None:
        raise IngestError("from_torch(target=...) needs loss_fn= too (the loss whose gradients are recorded)")
    axes: dict = {}
    for _ in range(3):  # again when the first chunk shows that the batch is not the inputs' first axis
        batch = _batch_of(example_inputs, axes)
        step = batch if not chunk or chunk >= batch else int(chunk)
        whole = step == batch
        tracer0 = trace(model, example_inputs if whole else _slice(example_inputs, 0, step, batch, axes),
                        record=layers, axes=axes, live=loss_fn is not None)
        if whole or tracer0.input_axes == axes:
            break
        axes = tracer0.input_axes
    else:
        raise IngestError(f"{type(model).__name__}: the inputs' batch axis changed between chunks; pass chunk=None")
    if whole:  # the whole batch in one pass, along the batch axis that the pass found
        axes, batch, step = tracer0.input_axes, tracer0.batch, tracer0.batch
    net = network_of(tracer0, name or type(model).__name__)
    keep = _kept(tracer0)
    values = Activations.allocate(batch, net.n_neurons, memmap)
    grads = None if loss_fn is None else Activations.allocate(batch, net.n_neurons, gradients.beside(memmap))
    chunks = range(0, batch, step)  # progress past LONG seconds when the batch runs in several chunks
    for lo in progress(chunks, f"tracing {net.name}", unit="chunk", delay=LONG, enabled=len(chunks) > 1):
        hi = min(batch, lo + step)
        tracer = tracer0 if lo == 0 else trace(model, _slice(example_inputs, lo, hi, batch, axes), layers, axes,
                                               live=loss_fn is not None)
        if [(n.name, n.shape) for n in (tracer.nodes[i] for i in keep)] != [
            (layer.name, layer.shape) for layer in net.layers
        ]:
            raise IngestError(f"{net.name}: the traced graph changed between batch chunks; pass chunk=None")
        if grads is not None:
            t = target if whole else gradients.cut_target(target, lo, hi, batch)
            loss = gradients.loss_of(tracer, loss_fn, t, f"samples {lo}..{hi - 1}")
            gradients.fill(grads, tracer, keep, slice(lo, hi), loss, (hi - lo) / batch)
        _fill(values, tracer, keep, slice(lo, hi))
    if tracer0.unknown:
        log.warning(
            "nn3d: drawn as generic layers (unknown modules): %s",
            ", ".join(f"{n} ({c})" for n, c in tracer0.unknown.items()),
        )
    for note in tracer0.notes:
        log.warning("nn3d: %s", note)
    for buf in (values, grads):
        if isinstance(buf, np.memmap):
            buf.flush()
    return net, Activations(values, tuple(f"sample {i}" for i in range(batch)), grads=grads)


def snapshot(model, inputs, layers=None) -> tuple[Network, np.ndarray]:
    """One traced pass in RAM, logging nothing (for repeated recording, e.g. by the TrainingRecorder)."""
    tracer = trace(model, inputs, record=layers)
    net = network_of(tracer, type(model).__name__)
    values = np.zeros((tracer.batch, net.n_neurons), np.float32)
    _fill(values, tracer, _kept(tracer), slice(None))
    return net, values


def snapshot_grads(model, inputs, target, loss_fn, layers=None) -> tuple[Network, np.ndarray, np.ndarray]:
    """:func:`snapshot` plus ∂loss/∂activation: (Network, values, grads), both (batch, n_neurons) float32. A
    non-finite loss or gradient raises :class:`.gradients.NonFiniteError` carrying ``network`` and ``values``."""
    tracer = trace(model, gradients.requiring_grad(inputs), record=layers, live=True)
    net = network_of(tracer, type(model).__name__)
    keep = _kept(tracer)
    values = np.zeros((tracer.batch, net.n_neurons), np.float32)
    grads = np.zeros_like(values)
    try:
        gradients.fill(grads, tracer, keep, slice(None), gradients.loss_of(tracer, loss_fn, target, "the probe batch"))
    except gradients.NonFiniteError as e:
        _fill(values, tracer, keep, slice(None))
        e.network, e.values = net, values
        raise
    _fill(values, tracer, keep, slice(None))
    return net, values, grads
