"""Reader for ``.onnx`` graphs through the ``onnx`` package: nodes, initializers as weights, shapes from
shape inference, and activations through ``onnxruntime`` when it is installed (else one frame of zeros).

Ops map to layers as in :mod:`.torch` so that both ingests of one model agree: Conv -> conv, Gemm/MatMul with
a weight -> dense, pooling -> pool, *Normalization -> norm, Gather on a table -> embedding, Add of two
computed values -> add, Concat -> concat; activations fold into the layer before them; reshapes and adds of
constants (biases) keep a value's layer; anything else stays pending until consumed (then ``generic``).
Symbolic input dims are fixed before shape inference: batch 1, other symbolic dims ``SYMBOLIC_DIM``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from ..activations import Activations
from ..memory import BYTES_PER_NEURON, check_fits
from ..network import Connection, Network
from ._base import IngestError
from ._onnx_checks import check_initializers, check_tensor, sorted_nodes

log = logging.getLogger("nn3d")
SUFFIXES = (".onnx",)
SYMBOLIC_DIM = 16
EMPTY = np.empty(0, dtype=np.float32)
ACTIVATIONS = {
    "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "LeakyRelu": "leaky_relu", "Gelu": "gelu",
    "Elu": "elu", "Selu": "selu", "Softmax": "softmax", "LogSoftmax": "log_softmax", "Softplus": "softplus",
    "HardSwish": "hardswish", "Mish": "mish", "HardSigmoid": "hardsigmoid",
}
ALIAS = {"Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Cast"}
POOL = {"MaxPool": "max", "AveragePool": "avg", "GlobalAveragePool": "avg", "GlobalMaxPool": "max"}
NORM = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "InstanceNormalization"}
CONST_ARITH = {"Add", "Sub", "Mul", "Div"}


ELEMENTWISE_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Tanh", "Erf", "Sigmoid", "Exp", "Log", "Sqrt", "Neg", "Abs", "Relu",
    "Softplus", "Clip", "Min", "Max",
})


def _guess_activation(ops: frozenset) -> str:
    if "Erf" in ops:
        return "gelu"
    if "Tanh" in ops and "Pow" in ops:
        return "gelu_new"
    if "Sigmoid" in ops and "Mul" in ops:
        return "silu"
    return "elementwise"


def match(path: Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def _load(path: Path):
    try:
        import onnx
    except ImportError:
        raise IngestError("reading .onnx needs the `onnx` package: pip install onnx") from None
    try:
        model = onnx.load(str(path))
    except Exception as e:
        raise IngestError(f"{path.name} is not a valid ONNX file: {type(e).__name__}") from None
    if not model.graph.node:
        raise IngestError(f"{path.name}: the ONNX graph has no nodes; nothing to draw")
    check_initializers(model.graph, path.name)
    order = sorted_nodes(model.graph, path.name)
    if any(a is not b for a, b in zip(order, model.graph.node)):  # acyclic but out of order: put it in order
        copies = [type(n).FromString(n.SerializeToString()) for n in order]
        del model.graph.node[:]
        model.graph.node.extend(copies)
    inits = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        for i, d in enumerate(inp.type.tensor_type.shape.dim):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                d.dim_value = 1 if i == 0 else SYMBOLIC_DIM
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as e:
        log.warning("nn3d: ONNX shape inference failed (%s); shapes only where the file states them", e)
    return model


class _Graph:
    """Walks the ONNX nodes in order, like the torch tracer walks a forward pass."""

    def __init__(self, model, file: str = "model.onnx"):
        from onnx import numpy_helper

        g = model.graph
        self.file, self.neurons = file, 0  # neurons: in the layers made so far (for the memory check)
        self.consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.shapes = {}
        for v in list(g.value_info) + list(g.input) + list(g.output):
            dims = v.type.tensor_type.shape.dim
            if v.type.tensor_type.HasField("shape"):
                self.shapes[v.name] = tuple(int(d.dim_value) for d in dims)
        self.layers: list[dict] = []
        self.prov: dict[str, tuple] = {}  # value name -> ("node", layer index) or ("pending", sources)
        self.unknown: set[str] = set()
        self.names: dict[str, int] = {}
        first = [v for v in g.input if v.name not in self.consts]
        self.batch = self.shapes.get(first[0].name, (1,))[0] if first else 1

    def per_sample(self, value: str) -> tuple[int, ...]:
        shape = self.shapes.get(value)
        if shape is None or any(d <= 0 for d in shape):
            raise IngestError(f"ONNX value {value!r} has no known shape (shape inference could not resolve it)")
        if shape and shape[0] == self.batch:
            shape = shape[1:]  # else the batch was folded into another axis, e.g. (batch * tokens, dim)
        # a few bytes of protobuf can declare a [1, 3e9] input: refuse before anything of that size is made
        check_fits(BYTES_PER_NEURON * float(self.neurons + math.prod(shape)),
                   f"{self.file}'s value {value!r} of shape {list(shape)[:8]}", "give the model smaller inputs")
        return tuple(shape) or (1,)

    def new(self, name, kind, value, inputs=(), activation=None) -> int:
        n = self.names.get(name, 0)
        self.names[name] = n + 1
        name = name if n == 0 else f"{name}#{n + 1}"
        layer = {"name": name, "kind": kind, "shape": self.per_sample(value), "value": value,
                 "activation": activation, "inputs": list(inputs), "consumers": 0}
        for src, *_ in layer["inputs"]:
            self.layers[src]["consumers"] += 1
        self.layers.append(layer)
        self.neurons += math.prod(layer["shape"])
        self.prov[value] = ("node", len(self.layers) - 1)
        return len(self.layers) - 1

    def size(self, i: int) -> int:
        return math.prod(self.layers[i]["shape"])

    def materialize(self, value: str, where: str) -> int:
        p = self.prov[value]
        if p[0] == "node" and self.size(p[1]) == math.prod(self.per_sample(value)):
            return p[1]
        sources = [p[1]] if p[0] == "node" else sorted(p[1])
        ops = p[2] if p[0] == "pending" else frozenset()
        size = math.prod(self.per_sample(value))
        if len(sources) == 1 and ops and ops <= ELEMENTWISE_OPS:  # a decomposed activation (GELU, SiLU, ...)
            layer = self.layers[sources[0]]
            if layer["kind"] != "input" and layer["activation"] is None and layer["consumers"] == 0 \
                    and self.size(sources[0]) == size:
                layer.update(activation=_guess_activation(ops), value=value)
                self.prov[value] = ("node", sources[0])
                return sources[0]
        if {"Softmax", "MatMul"} <= ops:
            return self.new(f"{where}.attention", "attention", value,
                            [(s, "generic", None, None, None) for s in sources])
        self.unknown.update(ops)
        return self.new(where, "generic", value, [(s, "generic", None, None, None) for s in sources])

    def const(self, value: str):
        return self.consts.get(value)

    def node(self, n) -> None:
        from onnx import helper

        op, name = n.op_type, n.name or f"{n.op_type}_{len(self.layers)}"
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        ins = [v for v in n.input if v in self.prov]
        out = n.output[0] if n.output else None
        if op == "Constant" and "value" in attrs:
            from onnx import numpy_helper

            check_tensor(attrs["value"], self.file, f"constant of node {name!r}")
            self.consts[out] = numpy_helper.to_array(attrs["value"])
            return
        if op == "Identity" and n.input[0] in self.consts:
            self.consts[out] = self.consts[n.input[0]]
            return
        table = self.const(n.input[0]) if op == "Gather" else None
        if table is not None and table.ndim == 2 and np.issubdtype(table.dtype, np.floating):
            w = np.asarray(table, np.float32)
            if n.input[1] in self.prov:
                src = self.materialize(n.input[1], name)
                self.new(name, "embedding", out, [(src, "embedding", w, None, None)])
            elif out in self.shapes:  # e.g. position embeddings looked up by constant positions
                self.new(name, "embedding", out)
            return
        if not ins:
            return
        v0 = ins[0]
        p0 = self.prov[v0]
        if op in ALIAS or (op in CONST_ARITH and len(ins) == 1 and len(n.input) == 2):
            self.alias(p0, n.output, op)
        elif op in ACTIVATIONS:
            self.fold(name, ACTIVATIONS[op], v0, out, op)
        elif op == "Conv" and self.const(n.input[1]) is not None:
            src = self.materialize(v0, name)
            w = np.asarray(self.consts[n.input[1]], np.float32)
            k = w.ndim - 2
            pads = tuple(attrs.get("pads", [0] * 2 * k))[:k]
            params = {"stride": tuple(attrs.get("strides", [1] * k)), "padding": pads,
                      "dilation": tuple(attrs.get("dilations", [1] * k)), "groups": int(attrs.get("group", 1))}
            self.new(name, "conv", out, [(src, "conv", w, params, None)])
        elif op in ("Gemm", "MatMul") and self.const(n.input[1]) is not None:
            src = self.materialize(v0, name)
            w = np.asarray(self.consts[n.input[1]], np.float32)
            if op == "MatMul" or not attrs.get("transB", 0):
                w = w.T
            s, d = self.layers[src]["shape"], self.per_sample(out)
            kind = "dense" if self.size(src) == w.shape[1] and math.prod(d) == w.shape[0] else "linear"
            if kind == "linear" and (s[-1] != w.shape[1] or d[-1] != w.shape[0]):
                kind, w = "generic", None
            self.new(name, "dense", out, [(src, kind, w, None, None)])
        elif op in POOL:
            src = self.materialize(v0, name)
            params = {"op": POOL[op]}
            if "kernel_shape" in attrs:
                k = len(attrs["kernel_shape"])
                params.update(kernel_size=tuple(attrs["kernel_shape"]),
                              stride=tuple(attrs.get("strides", [1] * k)),
                              padding=tuple(attrs.get("pads", [0] * 2 * k))[:k])
            else:  # global pooling, as torch's adaptive pooling to size 1
                params["output_size"] = (1,) * (len(self.layers[src]["shape"]) - 1)
            self.new(name, "pool", out, [(src, "pool", None, params, None)])
        elif op in ("ReduceMean", "ReduceMax") and self.spatial_reduce(n, attrs, v0, out):
            src = self.materialize(v0, name)
            params = {"op": "avg" if op == "ReduceMean" else "max",
                      "output_size": (1,) * (len(self.layers[src]["shape"]) - 1)}
            self.new(name, "pool", out, [(src, "pool", None, params, None)])
        elif op in NORM:
            src = self.materialize(v0, name)
            self.new(name, "norm", out, [(src, "identity", None, None, None)])
        elif op in ("Add", "Sum") and len(set(ins)) >= 2 and not self.self_function(ins):
            srcs = list(dict.fromkeys(self.materialize(v, name) for v in ins))
            self.new(name, "add", out, [(s, "identity", None, None, None) for s in srcs])
        elif op == "Concat" and int(attrs.get("axis", 0)) != 0:
            self.concat(name, n, int(attrs["axis"]), out)
        else:
            sources, ops = set(), {op}
            for v in ins:
                p = self.prov[v]
                sources |= {p[1]} if p[0] == "node" else set(p[1])
                ops |= set(p[2]) if p[0] == "pending" else set()
            for o in n.output:
                self.prov[o] = ("pending", frozenset(sources), frozenset(ops))

    def self_function(self, ins) -> bool:
        """``x + f(x)`` (e.g. a decomposed GELU): an elementwise function of one layer, not a residual add."""
        nodes = {self.prov[v][1] for v in ins if self.prov[v][0] == "node"}
        pending = [self.prov[v][1] for v in ins if self.prov[v][0] == "pending"]
        return len(nodes) == 1 and bool(pending) and all(src <= nodes for src in pending)

    def spatial_reduce(self, n, attrs, v0, out) -> bool:
        """Whether a ReduceMean/ReduceMax averages all spatial axes of an (N, C, *spatial) value: global pooling."""
        shape = self.shapes.get(v0)
        axes = attrs.get("axes")
        if axes is None and len(n.input) > 1 and self.const(n.input[1]) is not None:
            axes = self.consts[n.input[1]].tolist()
        if shape is None or axes is None or len(shape) < 3 or out not in self.shapes:
            return False
        axes = sorted(a % len(shape) for a in axes)
        return axes == list(range(2, len(shape))) and self.prov[v0][0] == "node"

    def alias(self, p, outputs, op) -> None:
        """Reshapes and constant arithmetic (biases, scales) keep a value's layer; on a pending value they
        join its chain (``op`` recorded, so that a decomposed activation can be recognised)."""
        keep = op in ALIAS
        for o in outputs:
            if p[0] == "node" and o in self.shapes and self.size(p[1]) == math.prod(self.per_sample(o)):
                self.prov[o] = p
            elif p[0] == "pending":
                self.prov[o] = p if keep else ("pending", p[1], p[2] | {op})
            else:
                self.prov[o] = ("pending", frozenset([p[1]]), frozenset() if keep else frozenset({op}))

    def fold(self, name, act, v0, out, op) -> None:
        p = self.prov[v0]
        if p[0] == "pending":  # e.g. the softmax inside attention: stays part of the pending chain
            self.prov[out] = ("pending", p[1], p[2] | {op})
            return
        if p[0] == "node":
            layer = self.layers[p[1]]
            if layer["kind"] != "input" and layer["activation"] is None and layer["consumers"] == 0:
                layer.update(activation=act, value=out)
                self.prov[out] = p
                return
        src = self.materialize(v0, name)
        self.new(name, "activation", out, [(src, "identity", None, None, None)], activation=act)

    def concat(self, name, n, axis, out) -> None:
        offsets, idx, srcs = 0, [], []
        for v in n.input:
            shape = self.per_sample(v)
            size = math.prod(shape)
            if v in self.prov:
                srcs.append((self.materialize(v, name), offsets, size))
                idx.append(np.arange(offsets, offsets + size).reshape(shape))
            else:
                idx.append(np.full(shape, -1))
            offsets += size
        flat = np.concatenate(idx, axis=axis - 1 if axis > 0 else axis).ravel()
        conns = []
        for src, off, size in srcs:
            pos = np.flatnonzero((flat >= off) & (flat < off + size))
            dst_index = np.empty(size, np.int32)
            dst_index[flat[pos] - off] = pos
            conns.append((src, "identity", None, None, dst_index))
        self.new(name, "concat", out, conns)


def _network(graph: _Graph, name: str) -> Network:
    layers, conns = [], []
    for i, layer in enumerate(graph.layers):
        layers.append((layer["name"], layer["kind"], layer["shape"], layer["activation"]))
        for src, kind, w, params, dst_index in layer["inputs"]:
            conns.append(Connection(src, i, kind, EMPTY if w is None else w, None, dst_index, params))
    return Network.build(layers, conns, name=name)


def _run(model, graph: _Graph, path: Path) -> Activations:
    """One frame through onnxruntime on a seeded random input, or zeros without it."""
    n = sum(math.prod(layer["shape"]) for layer in graph.layers)
    try:
        import onnxruntime as ort
    except ImportError:
        log.warning("nn3d: %s: onnxruntime is not installed: activations are one frame of zeros", path.name)
        return Activations(np.zeros((1, n), np.float32), ("zeros (no onnxruntime)",))
    g = model.graph
    have = {o.name for o in g.output}
    info = {v.name: v for v in list(g.value_info) + list(g.input)}
    for layer in graph.layers:
        if layer["value"] not in have and layer["value"] in info:
            g.output.append(info[layer["value"]])
            have.add(layer["value"])
    rng = np.random.default_rng(0)
    feeds = {}
    inits = set(graph.consts)
    types = {1: np.float32, 10: np.float16, 11: np.float64, 7: np.int64, 6: np.int32}
    shapes = {inp.name: tuple(d.dim_value for d in inp.type.tensor_type.shape.dim) for inp in g.input
              if inp.name not in inits}
    # random feeds (drawn as float64), the returned values and their float32 copies
    check_fits(16.0 * sum(math.prod(s) for s in shapes.values()) + 8.0 * n, f"running {path.name}",
               "give the model smaller inputs")
    for inp in g.input:
        if inp.name in inits:
            continue
        shape = shapes[inp.name]
        dtype = types.get(inp.type.tensor_type.elem_type, np.float32)
        feeds[inp.name] = (rng.standard_normal(shape) if np.issubdtype(dtype, np.floating)
                           else rng.integers(0, 2, shape)).astype(dtype)
    try:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        results = dict(zip(names, sess.run(names, feeds)))
    except Exception as e:
        log.warning("nn3d: %s: onnxruntime failed (%s): activations are one frame of zeros", path.name, e)
        return Activations(np.zeros((1, n), np.float32), ("zeros (onnxruntime failed)",))
    values = np.zeros((1, n), np.float32)
    col = 0
    for layer in graph.layers:
        size = math.prod(layer["shape"])
        v = results.get(layer["value"])
        if v is None:
            v = feeds.get(layer["value"])
        if v is not None and v.size >= size:
            values[0, col : col + size] = np.asarray(v, np.float32).reshape(-1)[:size]
        col += size
    log.warning("nn3d: %s: activations from a seeded random input (one frame, onnxruntime)", path.name)
    return Activations(values, ("random input",))


def read(path: Path, run: bool = True):
    """(Network, Activations) from an ONNX file; ``run=False`` skips onnxruntime (zeros)."""
    path = Path(path)
    model = _load(path)
    graph = _Graph(model, path.name)
    inputs = [inp.name for inp in model.graph.input if inp.name not in graph.consts]
    for name in inputs:
        graph.new("input" if len(inputs) == 1 else name, "input", name)
    for n in model.graph.node:
        graph.node(n)
    for o in model.graph.output:
        if o.name in graph.prov and graph.prov[o.name][0] == "pending":
            graph.materialize(o.name, o.name)
    if graph.unknown:
        log.warning("nn3d: %s: ONNX ops drawn as generic layers: %s", path.name, ", ".join(sorted(graph.unknown)))
    if all(layer["kind"] == "input" for layer in graph.layers):
        raise IngestError(f"{path.name}: no layers nn3d can draw")
    net = _network(graph, path.stem)
    if not run:
        return net, Activations(np.zeros((1, net.n_neurons), np.float32), ("zeros",))
    return net, _run(model, graph, path)
