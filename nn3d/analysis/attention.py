"""Attention maps: the softmax probabilities of an attention layer, per head.

nn3d's ingest draws an attention core as one (tokens, dim) layer: the probabilities themselves are not neurons.
Two ways to get them, best first:

1. *capture* (:func:`capture`): run the model once with forward hooks on its attention modules. A
   transformers model runs with eager attention and ``output_attentions=True`` (its attention modules then
   return the weights, (batch, heads, tokens, tokens)); a ``torch.nn.MultiheadAttention`` is asked for
   per-head weights (``need_weights=True, average_attn_weights=False``) by a pre-hook.
2. *recompute* (:func:`from_qkv`): with no model (a recording, an ONNX file) but the fused q|k|v projection's
   activations recorded (GPT-2's ``c_attn``, (tokens, 3 * dim)), softmax(q k^T / sqrt(d)) per head with a
   causal mask. The number of heads is not in the Network: the caller gives it.
"""

from __future__ import annotations

import numpy as np

from ..network import Network, NetworkError
from .data import attention_from_qkv


def _attention_modules(model):
    """``nn.MultiheadAttention`` and modules whose class name ends in ``Attention`` (transformers' own)."""
    return [(name, mod) for name, mod in model.named_modules() if name and type(mod).__name__.endswith("Attention")]


def capture(model, inputs) -> dict[str, np.ndarray]:
    """Module name -> attention probabilities float32 (batch, heads, tokens, tokens), from one forward pass."""
    import torch

    found: dict[str, np.ndarray] = {}
    handles = []

    def keep(name):
        def hook(mod, args, kwargs, out):
            outs = out if isinstance(out, (tuple, list)) else (out,)
            for t in outs[1:]:
                if isinstance(t, torch.Tensor) and t.ndim == 4 and t.shape[-1] == t.shape[-2]:
                    found.setdefault(name, t.detach().float().cpu().numpy())
                    return
        return hook

    def ask_heads(mod, args, kwargs):
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

    modules = _attention_modules(model)
    for name, mod in modules:
        if isinstance(mod, torch.nn.MultiheadAttention):
            handles.append(mod.register_forward_pre_hook(ask_heads, with_kwargs=True))
        handles.append(mod.register_forward_hook(keep(name), with_kwargs=True))
    config = getattr(model, "config", None)
    old = getattr(config, "_attn_implementation", None)
    try:
        if config is not None:
            if hasattr(model, "set_attn_implementation"):
                model.set_attn_implementation("eager")
            else:
                config._attn_implementation = "eager"
        args = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
        kwargs = {"output_attentions": True} if config is not None else {}
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
        if config is not None and old is not None:
            if hasattr(model, "set_attn_implementation"):
                model.set_attn_implementation(old)
            else:
                config._attn_implementation = old
    return found


def layer_for_module(net: Network, module: str) -> int | None:
    """The attention layer drawn for attention module ``module`` (named after it, or inside it)."""
    for i, layer in enumerate(net.layers):
        if layer.kind == "attention" and (layer.name == module or layer.name.startswith(module + ".")):
            return i
    return None


def qkv_layer(net: Network, layer: int) -> int | None:
    """The layer feeding attention layer ``layer`` whose last axis is 3x its width (a fused q|k|v projection)."""
    width = net.layers[layer].shape[-1]
    for c in net.connections:
        if c.dst == layer and net.layers[c.src].shape[-1] == 3 * width:
            return c.src
    return None


def from_qkv(net: Network, layer: int, values: np.ndarray, n_heads: int, causal: bool = True) -> np.ndarray:
    """Attention probabilities (heads, tokens, tokens) recomputed from one frame of activations ``values``
    (global neurons) through the fused q|k|v layer feeding attention layer ``layer``."""
    src = qkv_layer(net, layer)
    if src is None:
        raise NetworkError(f"layer {net.layers[layer].name!r}: no recorded q|k|v projection to recompute its "
                           "attention from; give a model (FILE.py:factory) so that it can be captured")
    s = net.layers[src]
    qkv = np.asarray(values[s.neurons], np.float64).reshape(-1, s.shape[-1])
    q, k, _ = np.split(qkv, 3, axis=1)
    return attention_from_qkv(q, k, n_heads, causal)


def token_labels(net: Network, values: np.ndarray | None, n: int, width: int = 6) -> list[str]:
    """One label per token position for an attention map of ``n`` tokens: the token ids of the model's
    input layer (a 1-D integer layer of ``n`` neurons) at this frame, as ``"3:#1045"``; else the positions."""
    ids = None
    if values is not None:
        for layer in net.layers:
            if layer.kind == "input" and layer.size == n:
                v = np.asarray(values[layer.neurons], np.float64)
                if np.all(np.isfinite(v)) and np.all(v == np.rint(v)):
                    ids = v.astype(np.int64)
                break
    if ids is None:
        return [str(i) for i in range(n)]
    return [f"{i}:#{t}"[: width + 3] for i, t in enumerate(ids)]
