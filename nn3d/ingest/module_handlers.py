"""What the tracer does with each module class and each functional op: registries, not isinstance ladders.

A module class maps to a handler that turns (inputs' provenance, output) into one layer and its incoming
connections. Weights are kept as float32 NumPy *views* of the module's parameters (no copy for float32
models), so a 124M-parameter GPT-2 costs no extra weight memory; the Network then shares memory with the
model. Functional ops are grouped by what they mean for the drawing: aliases (reshape, view, dropout) keep a
tensor's layer, additions of two layers and concatenations make a layer, elementwise activations fold into
the layer before them, and everything else leaves the result *pending* (see :mod:`._trace`).
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch.utils._pytree import tree_leaves

ELEMENTWISE = {
    "ReLU": "relu", "LeakyReLU": "leaky_relu", "GELU": "gelu", "SiLU": "silu", "ELU": "elu", "SELU": "selu",
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax", "LogSoftmax": "log_softmax",
    "Softplus": "softplus", "Mish": "mish", "Hardswish": "hardswish", "ReLU6": "relu6", "Hardtanh": "hardtanh",
    "GELUTanh": "gelu_tanh", "NewGELUActivation": "gelu_new", "GELUActivation": "gelu",
}
PASS_THROUGH = {"Flatten", "Unflatten", "Dropout", "Dropout1d", "Dropout2d", "AlphaDropout", "Identity"}
LINEAR = {"Linear", "NonDynamicallyQuantizableLinear"}
CONV = {"Conv1d", "Conv2d", "Conv3d"}
POOL = {
    "MaxPool1d": "max", "MaxPool2d": "max", "AvgPool1d": "avg", "AvgPool2d": "avg",
    "AdaptiveAvgPool1d": "avg", "AdaptiveAvgPool2d": "avg", "AdaptiveMaxPool1d": "max",
    "AdaptiveMaxPool2d": "max",
}
CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}
NORM = re.compile(r"Norm(\dd)?$")

ALIAS_OPS = {
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute", "transpose", "t",
    "contiguous", "squeeze", "unsqueeze", "clone", "detach", "to", "float", "half", "double", "type",
    "type_as", "getitem", "split", "chunk", "unbind", "narrow", "select", "movedim", "swapaxes", "get",
    "dropout", "dropout_", "feature_dropout", "alpha_dropout", "dropout1d", "dropout2d",
}
ADD_OPS = {"add", "add_", "iadd", "radd"}
CAT_OPS = {"cat", "concat", "concatenate", "stack"}
ACT_OPS = {
    "relu": "relu", "relu_": "relu", "gelu": "gelu", "silu": "silu", "silu_": "silu", "sigmoid": "sigmoid",
    "sigmoid_": "sigmoid", "tanh": "tanh", "tanh_": "tanh", "elu": "elu", "elu_": "elu",
    "leaky_relu": "leaky_relu", "leaky_relu_": "leaky_relu", "softplus": "softplus", "mish": "mish",
    "hardswish": "hardswish", "relu6": "relu6", "hardtanh": "hardtanh", "selu": "selu",
    "softmax": "softmax", "log_softmax": "log_softmax",
}


def weight_view(t: torch.Tensor) -> np.ndarray:
    """A float32 NumPy view of a parameter (a copy only when it is not float32 already)."""
    return t.detach().to(torch.float32).cpu().numpy()


def param(tr, mod: torch.nn.Module, name: str = "weight") -> np.ndarray:
    """A module's parameter as float32 NumPy (see :func:`weight_view`); in a model dispatched by accelerate, read
    from where accelerate keeps it when offloaded (left on ``meta`` after the call), and converted on disk when it
    is not float32 on the CPU (:mod:`.accelerate`)."""
    t = getattr(mod, name)
    if tr.host:  # dispatched by accelerate: offloaded ones on meta, others maybe bfloat16 on some GPU
        from . import accelerate

        return accelerate.offloaded(tr.model, mod, name) if t.device.type == "meta" else accelerate.weight(t)
    return weight_view(t)


def kind_of(mod: torch.nn.Module) -> str | None:
    cls = type(mod).__name__
    if cls in LINEAR or (cls == "Conv1D" and hasattr(mod, "nf")):  # transformers' Conv1D is a Linear
        return "dense"
    if cls in CONV:
        return "conv"
    if cls in POOL:
        return "pool"
    if NORM.search(cls):
        return "norm"
    if cls == "Embedding":
        return "embedding"
    if cls == "MultiheadAttention":
        return "attention"
    if cls in ELEMENTWISE or (cls.endswith("Activation") and not list(mod.children())):
        return "elementwise"
    if cls in PASS_THROUGH:
        return "pass"
    if cls.endswith("RotaryEmbedding"):  # position tables (cos, sin), not a layer of neurons
        return "constant"
    if not list(mod.children()) and cls not in CONTAINERS:
        return "generic"
    return None


def is_known(mod: torch.nn.Module) -> bool:
    """Whether the tracer makes (at most) one layer of this module and does not look inside it."""
    return kind_of(mod) is not None


def _float_outputs(out) -> list[torch.Tensor]:
    return [t for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.is_floating_point()]


def _tuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def handle(tr, mod, name: str, ins: list, out) -> None:
    """Make the layer for one call of a known module (``ins``: its tracked inputs with provenance)."""
    outs = _float_outputs(out)
    kind = kind_of(mod)
    if not ins and outs and kind == "embedding":  # e.g. position embeddings looked up by untracked ids
        tr.new_node(name, "embedding", outs[0])
        return
    if not ins or not outs:
        return
    main = outs[0]
    t, p = ins[0]
    if kind == "pass":
        alias(tr, p, outs)
        return
    if kind == "constant":
        return
    if kind == "elementwise":
        act = ELEMENTWISE.get(type(mod).__name__) or type(mod).__name__.lower().removesuffix("activation")
        fold(tr, name, act, t, p, main)
        return
    if kind == "embedding":
        src = tr.materialize(t, p)
        w = param(tr, mod)
        tr.new_node(name, "embedding", main, [(src, "embedding", w, None, None)])
        return
    if kind == "attention":
        srcs = _distinct([tr.materialize(ti, pi) for ti, pi in ins if ti.is_floating_point()])
        tr.new_node(name, "attention", main, [(s, "generic", None, None, None) for s in srcs])
        alias(tr, tr.lookup(main), outs[1:])
        return
    src = tr.materialize(t, p)
    if kind == "dense":
        w = param(tr, mod)
        conn = dense_conn(tr, src, w.T if type(mod).__name__ == "Conv1D" else w, main)
    elif kind == "conv":
        conn = conv_conn(tr, src, param(tr, mod), mod.stride, mod.padding, mod.dilation, mod.groups, main)
    elif kind == "pool":
        sizes = {"output_size": mod.output_size} if hasattr(mod, "output_size") else {
            "kernel_size": mod.kernel_size, "stride": mod.stride, "padding": mod.padding}
        conn = pool_conn(tr, src, POOL[type(mod).__name__], sizes, main)
    elif kind == "norm":
        conn = (src, "identity" if tr.nodes[src].size == tr.size_of(main) else "generic", None, None, None)
    else:  # a leaf module nn3d does not know: one generic layer, listed to the user
        tr.unknown[name] = type(mod).__name__
        srcs = _distinct([src] + [tr.materialize(ti, pi) for ti, pi in ins[1:] if ti.is_floating_point()])
        tr.new_node(name, "generic", main, [(x, "generic", None, None, None) for x in srcs])
        alias(tr, tr.lookup(main), outs[1:])
        return
    tr.new_node(name, kind, main, [conn])


def dense_conn(tr, src: int, w: np.ndarray, main: torch.Tensor) -> tuple:
    """A Linear's connection: ``dense`` between flat layers, ``linear`` along the last axis (tokens)."""
    s = tr.nodes[src]
    dst_shape = tr.sample_shape(main)
    dst_size = int(np.prod(dst_shape))
    if w.ndim == 2 and s.size == w.shape[1] and dst_size == w.shape[0]:
        return (src, "dense", w, None, None)
    if w.ndim == 2 and (s.shape[-1], dst_shape[-1]) == (w.shape[1], w.shape[0]) \
            and s.size * w.shape[0] == dst_size * w.shape[1]:
        return (src, "linear", w, None, None)
    return (src, "generic", None, None, None)


def conv_conn(tr, src: int, w: np.ndarray, stride, padding, dilation, groups, main) -> tuple:
    """A convolution's connection, keeping the kernel; ``generic`` when the shapes do not fit."""
    s = tr.nodes[src]
    dst_shape = tr.sample_shape(main)
    n = w.ndim - 2
    if len(s.shape) == n + 1 == len(dst_shape) and s.shape[0] == w.shape[1] * int(groups):
        params = {"stride": _tuple(stride, n), "padding": padding if isinstance(padding, str) else _tuple(padding, n),
                  "dilation": _tuple(dilation, n), "groups": int(groups)}
        return (src, "conv", w, params, None)
    return (src, "generic", None, None, None)


def pool_conn(tr, src: int, op: str, sizes: dict, main) -> tuple:
    """A pooling connection: windows (``kernel_size``, ``stride``, ``padding``) or adaptive ``output_size``."""
    s = tr.nodes[src]
    dst_shape = tr.sample_shape(main)
    if len(s.shape) != len(dst_shape) or s.shape[0] != dst_shape[0]:
        return (src, "generic", None, None, None)
    n = len(s.shape) - 1
    params = {"op": op}
    for key, v in sizes.items():
        params[key] = _tuple(v if v is not None else sizes["kernel_size"], n)
    return (src, "pool", None, params, None)


def _arg(args, kwargs, i: int, key: str, default=None):
    return args[i] if len(args) > i else kwargs.get(key, default)


FUNC_POOL = {
    "max_pool1d": "max", "max_pool2d": "max", "avg_pool1d": "avg", "avg_pool2d": "avg",
    "max_pool1d_with_indices": "max", "max_pool2d_with_indices": "max", "adaptive_avg_pool1d": "avg",
    "adaptive_avg_pool2d": "avg", "adaptive_max_pool1d": "max", "adaptive_max_pool2d": "max",
}
FUNC_NORM = {"layer_norm", "batch_norm", "group_norm", "instance_norm", "rms_norm"}


def functional_layer(tr, op: str, args, kwargs, floats: list, out: torch.Tensor) -> bool:
    """Functional forms of known layers (F.linear, F.conv2d, F.max_pool2d, F.layer_norm, F.embedding)."""
    where = tr.context()[0]
    name = f"{where}.{op}" if where else op
    w = _arg(args, kwargs, 1, "weight")
    if op == "embedding" and isinstance(w, torch.Tensor) and w.ndim == 2:
        t, p = next(((t, p) for t, p in ((args[0], tr.lookup(args[0])),) if p is not None), (None, None))
        if t is None:
            return False
        tr.new_node(name, "embedding", out, [(tr.materialize(t, p), "embedding", weight_view(w), None, None)])
        return True
    if not floats:
        return False
    t, p = floats[0]
    if t is not args[0]:
        return False
    if op == "linear" and isinstance(w, torch.Tensor):
        conn = dense_conn(tr, tr.materialize(t, p), weight_view(w), out)
        kind = "dense"
    elif op in ("conv1d", "conv2d") and isinstance(w, torch.Tensor):
        conn = conv_conn(tr, tr.materialize(t, p), weight_view(w), _arg(args, kwargs, 3, "stride", 1),
                         _arg(args, kwargs, 4, "padding", 0), _arg(args, kwargs, 5, "dilation", 1),
                         _arg(args, kwargs, 6, "groups", 1), out)
        kind = "conv"
    elif op in FUNC_POOL:
        if op.startswith("adaptive"):
            sizes = {"output_size": _arg(args, kwargs, 1, "output_size")}
        else:
            k = _arg(args, kwargs, 1, "kernel_size")
            sizes = {"kernel_size": k, "stride": _arg(args, kwargs, 2, "stride") or k,
                     "padding": _arg(args, kwargs, 3, "padding", 0)}
        conn = pool_conn(tr, tr.materialize(t, p), FUNC_POOL[op], sizes, out)
        kind = "pool"
    elif op in FUNC_NORM:
        src = tr.materialize(t, p)
        conn = (src, "identity" if tr.nodes[src].size == tr.size_of(out) else "generic", None, None, None)
        kind = "norm"
    else:
        return False
    tr.new_node(name, kind, out, [conn])
    return True


def _distinct(ids: list[int]) -> list[int]:
    return list(dict.fromkeys(ids))


def alias(tr, p, outs: list[torch.Tensor]) -> None:
    """Outputs that hold the same neurons as ``p`` (reshaped) keep its layer; others become pending on it."""
    for o in outs:
        if id(o) not in tr.prov:
            if p.node is not None and tr.nodes[p.node].size == tr.size_of(o):
                tr.track(o, p)
            else:
                tr.track(o, tr.pending([p], "slice") if p.node is not None else p)


def fold(tr, name: str, act: str, t: torch.Tensor, p, out: torch.Tensor) -> None:
    """Fold an elementwise activation into the layer before it when that layer feeds nothing else yet."""
    node = tr.nodes[p.node] if p.node is not None else None
    if (
        node is not None and node.kind != "input" and node.activation is None and node.consumers == 0
        and node.size == tr.size_of(out)
    ):
        node.activation = act
        node.values = None  # freed before the new snapshot: never two copies of a layer
        node.values = tr.snapshot(node.name, out)
        tr.track(out, p)
        return
    src = tr.materialize(t, p)
    tr.new_node(name, "activation", out, [(src, "identity", None, None, None)], activation=act)


def functional(tr, op: str, func, args, kwargs, ins: list, outs: list) -> None:
    """Handle one functional op between modules whose inputs include tracked tensors."""
    if op in ALIAS_OPS:  # token ids keep their layer through views too
        alias(tr, ins[0][1], outs)
        return
    outs = [o for o in outs if o.is_floating_point()]
    if not outs:
        return
    floats = [(t, p) for t, p in ins if t.is_floating_point()]
    if functional_layer(tr, op, args, kwargs, floats, outs[0]):
        alias(tr, tr.lookup(outs[0]), outs[1:])
        return
    if op in ACT_OPS and len(floats) == 1 and len(outs) == 1:
        fold(tr, tr.context()[0] + "." + op if tr.context()[0] else op, ACT_OPS[op], *floats[0], outs[0])
        return
    distinct = list({id(t): (t, p) for t, p in floats}.values())
    size = tr.size_of(outs[0])
    inner_attention = bool(tr.stack) and "Attention" in type(tr.stack[-1]).__name__
    if inner_attention and (op in ADD_OPS or op in CAT_OPS):  # e.g. rotary embeddings: part of the attention core
        op = op + "_in_attention"
    if op in ADD_OPS and len(distinct) >= 2 and all(tr.size_of(t) == size for t, _ in distinct):
        srcs = _distinct([tr.materialize(t, p) for t, p in distinct])
        where = tr.context()[0]
        tr.new_node(f"{where}.add" if where else "add", "add", outs[0],
                    [(s, "identity", None, None, None) for s in srcs])
        return
    if op in CAT_OPS and distinct and _concat(tr, op, func, args, kwargs, outs[0]):
        return
    p = tr.pending([p for _, p in ins], op)
    for o in outs:
        tr.track(o, p)


def _concat(tr, op, func, args, kwargs, out) -> bool:
    """A concat layer with identity connections that say where each input's neurons land."""
    tensors = args[0] if args else kwargs.get("tensors")
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not isinstance(tensors, (list, tuple)) or not isinstance(dim, int) or not tensors:
        return False
    axes = {tr.batch_axis(t) for t in tensors}  # the batch axis: the first, or e.g. 1 for (tokens, batch, dim)
    b = axes.pop() if len(axes) == 1 else None
    if b is None or any(t.ndim <= b or t.shape[b] != tr.batch for t in tensors):
        return False
    dim = dim + tensors[0].ndim if dim < 0 else dim
    if dim == b:
        return False
    pdim = dim - 1 if dim > b else dim
    offsets, idx, srcs = 0, [], []
    for t in tensors:
        shape = tr.sample_shape(t)
        n = int(np.prod(shape))
        p = tr.lookup(t)
        if p is not None and t.is_floating_point():
            srcs.append((tr.materialize(t, p), offsets, n))
            idx.append(torch.arange(offsets, offsets + n).reshape(shape))
        else:
            idx.append(torch.full(shape, -1, dtype=torch.int64))
        offsets += n
    flat = func(idx, pdim).reshape(-1).numpy()
    conns = []
    for src, off, n in srcs:
        pos = np.flatnonzero((flat >= off) & (flat < off + n))
        dst_index = np.empty(n, dtype=np.int32)
        dst_index[flat[pos] - off] = pos
        conns.append((src, "identity", None, None, dst_index))
    where = tr.context()[0]
    tr.new_node(f"{where}.{op}" if where else op, "concat", out, conns)
    return True
