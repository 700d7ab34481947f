"""Trace a torch module with forward hooks into a Network, recording every layer's output as activations.

Neurons of a layer are the elements of its output for one sample; each sample of the batch is one frame.
Elementwise activations fold into the layer before them (a dense layer is drawn with its post-activation
values); reshapes and dropout add no layer; a module nn3d does not know becomes a generic layer without
connections, and nn3d says so in one line.
"""

from __future__ import annotations

import logging

import numpy as np

from ..activations import Activations
from ..network import Connection, Network, NetworkError

log = logging.getLogger("nn3d")

ELEMENTWISE = {
    "ReLU": "relu", "LeakyReLU": "leaky_relu", "GELU": "gelu", "SiLU": "silu", "ELU": "elu",
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax", "LogSoftmax": "log_softmax",
    "Softplus": "softplus", "Mish": "mish", "Hardswish": "hardswish", "ReLU6": "relu6",
}
PASS_THROUGH = {"Flatten", "Unflatten", "Dropout", "Identity"}


def from_torch(model, example_inputs, name: str | None = None) -> tuple[Network, Activations]:
    """Run ``model`` on ``example_inputs`` (a batch) and return its Network and one frame per sample."""
    import torch

    x = example_inputs[0] if isinstance(example_inputs, (tuple, list)) else example_inputs
    if not isinstance(x, torch.Tensor) or x.ndim < 1 or x.shape[0] < 1:
        raise NetworkError("example_inputs must be a batch tensor (samples first) with at least one sample")
    calls: list[tuple[str, object, object]] = []
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    hooks = [
        m.register_forward_hook(lambda mod, _inp, out, n=n: calls.append((n, mod, out)))
        for n, m in leaves
    ]
    try:
        with torch.no_grad():
            model.eval()
            model(*example_inputs) if isinstance(example_inputs, (tuple, list)) else model(x)
    finally:
        for h in hooks:
            h.remove()

    batch = x.shape[0]
    layers: list[list] = [["input", "input", tuple(x.shape[1:]), None]]
    values: list[np.ndarray] = [x.detach().reshape(batch, -1).float().numpy()]
    conns: list[Connection] = []
    unknown: list[str] = []
    for mod_name, mod, out in calls:
        kind = type(mod).__name__
        if not isinstance(out, torch.Tensor):
            raise NetworkError(f"module {mod_name} ({kind}) returned {type(out).__name__}, not a tensor")
        flat = out.detach().reshape(batch, -1).float().numpy()
        if kind in PASS_THROUGH and flat.shape[1] == values[-1].shape[1]:
            continue
        if kind in ELEMENTWISE and flat.shape[1] == values[-1].shape[1] and len(layers) > 1:
            layers[-1][3] = ELEMENTWISE[kind]
            values[-1] = flat
            continue
        if kind == "Linear" and mod.in_features == values[-1].shape[1]:
            w = mod.weight.detach().float().numpy().astype(np.float32, copy=True)
            conns.append(Connection(len(layers) - 1, len(layers), "dense", w))
            layers.append([mod_name, "dense", tuple(out.shape[1:]), None])
        else:
            unknown.append(f"{mod_name} ({kind})")
            layers.append([mod_name, "generic", tuple(out.shape[1:]), None])
        values.append(flat)
    if unknown:
        log.warning("nn3d: drawn as generic layers (no connections): %s", ", ".join(unknown))
    net = Network.build([tuple(spec) for spec in layers], conns, name=name or type(model).__name__)
    frames = np.concatenate(values, axis=1).astype(np.float32)
    return net, Activations(frames, tuple(f"sample {i}" for i in range(batch)))
