"""Gradients: ∂loss/∂activation for every recorded layer (per sample, per neuron) and weight-gradient statistics.

How: the traced forward pass (:class:`._trace.Tracer` with ``live=True``) runs with autograd on and keeps, for
each recorded layer, the tensor its values were copied from. One ``torch.autograd.grad`` of the loss with
respect to all of them is the backward pass: no second forward, and the parameters' ``.grad`` stay untouched
(a training loop around it sees nothing). Each gradient is cut per sample exactly as the values are
(:func:`._trace.rows`), so ``grads[i, j]`` belongs to ``values[i, j]``.

What a row means: ``grads[i]`` is ∂L_batch/∂a_i, the gradient of the loss of the whole batch with respect to
sample ``i``'s activations (with a mean-reduced loss, 1/batch of sample ``i``'s own loss gradient). A chunked
pass (``chunk=``) takes each chunk's loss and scales its gradients by chunk/batch: exactly the whole batch's
for a loss that averages over samples (PyTorch's default ``reduction="mean"``), not for a summed one (pass
``chunk=None`` there). Layers the loss does not depend on, and integer inputs (token ids), get zeros; a tensor
shared by the batch (e.g. a position table) gets the batch's total gradient in every row.

Memory: the backward pass holds one gradient per recorded layer, each the size of that layer's activations,
on the model's device while it is copied out: at most one more activation-sized buffer per recorded layer
(plus the autograd graph of the forward pass, which training holds too).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ._base import IngestError

log = logging.getLogger("nn3d")
# weight-gradient statistics per connection and record, and the fixed log10|∂L/∂w| histogram bins
WEIGHT_GRAD_STATS = ("norm", "mean", "std", "min", "max", "abs_mean")
GRAD_EDGES = np.arange(-12.0, 2.0 + 1e-9, 0.5)  # 28 bins of half a decade, 1e-12 .. 1e2


class NonFiniteError(IngestError):
    """The loss or a gradient is inf/NaN: nothing meaningful to record (the recorder logs it and goes on)."""


def requiring_grad(inputs):
    """``inputs`` with each floating-point tensor a detached alias that requires grad (so the input layer gets
    ∂L/∂x too, and a frozen model still has a graph); the user's tensors are not changed, nothing is copied."""
    import torch

    def one(t):
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            return t.detach().requires_grad_(True)
        return t

    if isinstance(inputs, dict):
        return {k: one(v) for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(one(v) for v in inputs)
    return one(inputs)


def cut_target(target, lo: int, hi: int, batch: int):
    """Samples ``lo:hi`` of ``target``: tensors (also inside tuples, lists, dicts) cut along their first axis."""
    import torch

    if isinstance(target, torch.Tensor):
        if target.ndim == 0 or target.shape[0] != batch:
            raise IngestError(f"target of shape {tuple(target.shape)} has no batch of {batch} first to be cut into "
                              "chunks; pass chunk=None")
        return target[lo:hi]
    if isinstance(target, dict):
        return {k: cut_target(v, lo, hi, batch) for k, v in target.items()}
    if isinstance(target, (tuple, list)):
        return type(target)(cut_target(v, lo, hi, batch) for v in target)
    return target


def loss_of(tracer, loss_fn, target, where: str):
    """The scalar loss ``loss_fn(output, target)`` (``loss_fn(output)`` when ``target`` is None) of a live trace."""
    import torch

    try:
        loss = loss_fn(tracer.output) if target is None else loss_fn(tracer.output, target)
    except Exception as e:
        why = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        raise IngestError(f"loss_fn failed on the model's output: {why}") from None
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise IngestError(f"loss_fn must return a scalar tensor, got {got}")
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteError(f"loss is {value} at {where}; gradients not recorded")
    if not loss.requires_grad:
        raise IngestError("the loss does not depend on anything with a gradient (inside torch.inference_mode?)")
    return loss.reshape(())


def fill(out: np.ndarray, tracer, keep: list[int], rows: slice, loss, scale: float = 1.0) -> None:
    """Backward from ``loss``; write each recorded layer's (batch, size) gradient, times ``scale``, into
    ``out[rows]`` at its columns (the same columns as the values). Frees the trace's graph."""
    import torch

    from ._trace import rows as per_sample

    live, batch = tracer.live, tracer.batch
    entries = [(col, tracer.nodes[i], live.get(tracer.nodes[i].name)) for col, i in zip(_columns(tracer, keep), keep)]
    tensors = list({id(e[0]): e[0] for _, _, e in entries if e is not None and e[0].requires_grad}.values())
    grads = torch.autograd.grad(loss, tensors, allow_unused=True) if tensors else ()
    by_id = {id(t): g for t, g in zip(tensors, grads)}
    del grads, tensors
    changed, first_bad = [], None
    start = rows.start or 0
    for col, node, entry in entries:
        g = None if entry is None else by_id.pop(id(entry[0]), None)
        if g is None:  # not recorded, not reached by the loss, or integer: zeros (the buffer's)
            continue
        if entry[0]._version != entry[2]:
            changed.append(node.name)
        a = per_sample(g, entry[1], batch).detach().to(torch.float32).cpu().numpy()
        if scale != 1.0:
            a = a * np.float32(scale)
        bad = ~np.isfinite(a)
        if bad.any():  # the layer nearest the loss (the last in forward order) is where it starts
            i = int(np.argwhere(bad)[0][0])
            first_bad = (node.name, "NaN" if np.isnan(a[i]).any() else "inf", start + i)
        out[rows, col : col + node.size] = a
    tracer.live.clear()
    tracer.output = None
    if first_bad:
        raise NonFiniteError("the gradient of layer {!r} is {} at sample {}; gradients not recorded".format(*first_bad))
    if changed:
        log.warning("nn3d: changed in place after their values were taken (e.g. by ReLU(inplace=True)), so their "
                    "gradients are those after that op: %s", ", ".join(changed))


def _columns(tracer, keep: list[int]) -> list[int]:
    cols, col = [], 0
    for i in keep:
        cols.append(col)
        col += tracer.nodes[i].size
    return cols


# ---------------------------------------------------------------- weight gradients
def weight_params(model, network, indices) -> dict:
    """Connection index -> the torch parameter its weights are, for weighted connections: the module named by
    the connection's destination layer (``name#2`` is a second call of ``name``), else the parameter whose
    memory the weights share (CPU float32). Connections found neither way are left out."""
    modules = dict(model.named_modules())
    by_ptr = {p.data_ptr(): p for p in model.parameters() if p.device.type == "cpu"}
    found = {}
    for i in indices:
        c = network.connections[i]
        mod = modules.get(network.layers[c.dst].name.partition("#")[0])
        w = getattr(mod, "weight", None) if mod is not None else None
        if w is None or w.numel() != c.weight.size:
            w = by_ptr.get(c.weight.__array_interface__["data"][0]) if c.weight.size else None
        if w is not None and w.numel() == c.weight.size:
            found[i] = w
    return found


def weight_grad_stats(grad) -> tuple[np.ndarray, np.ndarray]:
    """(:data:`WEIGHT_GRAD_STATS` as float32, counts of log10|g| in :data:`GRAD_EDGES`'s bins as int64) of one
    parameter's gradient; values beyond the edges count in the end bins (zeros in the first); NaN rows for None."""
    import torch

    n_bins = len(GRAD_EDGES) - 1
    if grad is None:
        return np.full(len(WEIGHT_GRAD_STATS), np.nan, np.float32), np.zeros(n_bins, np.int64)
    g = grad.detach().to(torch.float32).reshape(-1)
    a = g.abs()
    stats = torch.stack([torch.linalg.vector_norm(g), g.mean(), g.std(correction=0), g.min(), g.max(), a.mean()])
    lo, hi = float(GRAD_EDGES[0]), float(GRAD_EDGES[-1])
    logs = torch.log10(a.clamp_min(10.0**lo)).clamp(lo, hi)
    hist = torch.histc(logs, bins=n_bins, min=lo, max=hi)
    return stats.cpu().numpy().astype(np.float32), hist.cpu().numpy().astype(np.int64)


def beside(memmap):
    """Where the gradients of a memory-mapped recording go: ``acts.npy`` -> ``acts.grads.npy`` (None: RAM)."""
    if memmap is None:
        return None
    from pathlib import Path

    p = Path(memmap)
    return p.with_name(f"{p.name[:-4] if p.suffix == '.npy' else p.name}.grads.npy")
