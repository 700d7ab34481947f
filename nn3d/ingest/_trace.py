"""One traced forward pass of a torch module: the layer graph and each layer's output for the batch.

Why not torch.fx alone: fx cannot trace data-dependent control flow, which every ``transformers`` model has
(masks, caches), so it fails exactly where nn3d most needs it. Instead we watch one real forward pass twice
over: forward hooks on every module mark module boundaries (a module nn3d knows, e.g. ``nn.Linear``, becomes
one layer and its inside is not looked at), and a :class:`~torch.overrides.TorchFunctionMode` sees the
functional ops between modules (residual ``+``, ``torch.cat``, ``flatten``, ``F.relu``). Each tensor carries
a provenance: *exact* (it holds the neurons of one layer, maybe reshaped) or *pending* (it was computed from
some layers by ops nn3d does not draw one by one, e.g. the softmax-matmul chain inside attention). A pending
tensor becomes one layer (``attention`` inside an attention module, else ``generic``) only when a module, an
addition or a concatenation consumes it, so an attention core is one layer of (tokens, dim) neurons.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from . import _modules as M


@dataclass
class Node:
    """A layer in the making: ``values`` is its (batch, size) float32 snapshot, or None when not recorded."""

    name: str
    kind: str
    shape: tuple[int, ...]
    values: torch.Tensor | None
    activation: str | None = None
    inputs: list = field(default_factory=list)  # (src node id, connection kind, weight, params, dst_index)
    consumers: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class Prov:
    """Where a tensor came from: ``node`` when it holds exactly that layer's neurons, else pending on
    ``sources``, first computed in module ``where`` (``attn``: inside an attention module)."""

    node: int | None
    sources: frozenset
    where: str = ""
    attn: bool = False


class Tracer(TorchFunctionMode):
    """Trace ``model(*args, **kwargs)``; afterwards ``nodes`` lists the layers in forward order."""

    def __init__(self, model: torch.nn.Module, batch: int, record=None):
        super().__init__()
        self.model, self.batch, self.record = model, batch, record
        self.names = {m: n for n, m in model.named_modules()}
        self.nodes: list[Node] = []
        self.prov: dict[int, Prov] = {}
        self.keep: list[torch.Tensor] = []  # tracked tensors stay alive so that their id() stays unique
        self.stack: list[torch.nn.Module] = []
        self.known_depth = 0
        self.entered: list[bool] = []
        self.busy = False
        self.used_names: dict[str, int] = {}
        self.unknown: dict[str, str] = {}

    # ---------------------------------------------------------------- helpers
    def per_sample(self, t: torch.Tensor) -> tuple[tuple[int, ...], torch.Tensor]:
        """Per-sample shape and a (batch, size) view, broadcasting tensors shared by the batch."""
        if t.ndim >= 1 and t.shape[0] in (self.batch, 1):
            shape, flat = tuple(t.shape[1:]), t.reshape(t.shape[0], -1)
        else:
            shape, flat = tuple(t.shape), t.reshape(1, -1)
        shape = shape or (1,)
        return shape, flat.expand(self.batch, flat.shape[1])

    def track(self, t: torch.Tensor, prov: Prov) -> None:
        self.prov[id(t)] = prov
        self.keep.append(t)

    def lookup(self, t) -> Prov | None:
        return self.prov.get(id(t)) if isinstance(t, torch.Tensor) else None

    def unique_name(self, name: str) -> str:
        n = self.used_names.get(name, 0)
        self.used_names[name] = n + 1
        return name if n == 0 else f"{name}#{n + 1}"

    def wanted(self, name: str) -> bool:
        return self.record is None or any(fnmatch.fnmatchcase(name, p) for p in self.record)

    def snapshot(self, name: str, t: torch.Tensor) -> torch.Tensor | None:
        if not self.wanted(name):
            return None
        return self.per_sample(t)[1].detach().to(torch.float32, copy=True)

    def new_node(self, name: str, kind: str, out: torch.Tensor, inputs=(), activation=None) -> int:
        name = self.unique_name(name or kind)
        shape, _ = self.per_sample(out)
        node = Node(name, kind, shape, self.snapshot(name, out), activation, list(inputs))
        for src, *_ in node.inputs:
            self.nodes[src].consumers += 1
        self.nodes.append(node)
        idx = len(self.nodes) - 1
        self.track(out, Prov(idx, frozenset([idx])))
        return idx

    def materialize(self, t: torch.Tensor, prov: Prov) -> int:
        """The layer holding exactly ``t``: its own node, or a new attention/generic layer for a pending one."""
        if prov.node is not None and self.nodes[prov.node].size == self.size_of(t):
            return prov.node
        kind = "attention" if prov.attn else "generic"
        inputs = [(s, "generic", None, None, None) for s in sorted(prov.sources)]
        if kind == "attention":
            where = prov.where.rpartition(":")[0]
            name = f"{where}.attention" if where else "attention"
        else:
            name = prov.where.replace(":", ".").strip(".") or "generic"
        return self.new_node(name, kind, t, inputs)

    def size_of(self, t: torch.Tensor) -> int:
        shape, _ = self.per_sample(t)
        return int(np.prod(shape))

    def context(self) -> tuple[str, bool]:
        names = [self.names.get(m, "") for m in self.stack]
        attn = any("Attention" in type(m).__name__ for m in self.stack)
        return (names[-1] if names else ""), attn

    def pending(self, srcs: list[Prov], op: str) -> Prov:
        sources = frozenset().union(*(p.sources for p in srcs))
        for p in srcs:
            if p.node is not None:
                self.nodes[p.node].consumers += 1
        inherited = [p for p in srcs if p.node is None and p.where]
        if inherited:
            return Prov(None, sources, inherited[0].where, any(p.attn for p in srcs))
        where, attn = self.context()
        return Prov(None, sources, f"{where}:{op}", attn or "attention" in op)

    # ---------------------------------------------------------------- module hooks
    def pre_hook(self, mod, args, kwargs):
        self.stack.append(mod)
        enter = self.known_depth == 0 and M.is_known(mod)
        self.entered.append(enter)
        if enter:
            self.known_depth += 1
            self.busy = True
            try:
                self.inputs_of = [
                    (t, p) for t in tree_leaves((args, kwargs)) if (p := self.lookup(t)) is not None
                ]
            finally:
                self.busy = False

    def post_hook(self, mod, args, kwargs, out):
        self.stack.pop()
        if not self.entered.pop():
            return None
        self.known_depth -= 1
        self.busy = True
        try:
            name = self.names.get(mod) or type(mod).__name__.lower()
            M.handle(self, mod, name, self.inputs_of, out)
        finally:
            self.busy = False
        return None

    # ---------------------------------------------------------------- functional ops
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.busy or self.known_depth:
            return out
        self.busy = True
        try:
            self.functional(func, args, kwargs, out)
        finally:
            self.busy = False
        return out

    def functional(self, func, args, kwargs, out) -> None:
        outs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if not outs:
            return
        ins = [(t, p) for t in tree_leaves((args, kwargs)) if (p := self.lookup(t)) is not None]
        if not ins:
            return
        op = getattr(func, "__name__", str(func)).strip("_")
        M.functional(self, op, func, args, kwargs, ins, outs)

    # ---------------------------------------------------------------- running
    def run(self, inputs) -> object:
        """Call the model on ``inputs`` (tensor, tuple of positional tensors, or dict of keyword tensors)."""
        args, kwargs = (), {}
        if isinstance(inputs, dict):
            kwargs = dict(inputs)
        elif isinstance(inputs, (tuple, list)):
            args = tuple(inputs)
        else:
            args = (inputs,)
        for key, t in [(f"input{i}", t) for i, t in enumerate(args)] + list(kwargs.items()):
            if isinstance(t, torch.Tensor) and id(t) not in self.prov:
                name = "input" if key == "input0" and len(args) == 1 and not kwargs else key
                self.new_node(name, "input", t)
        handles = []
        for m in self.model.modules():
            handles.append(m.register_forward_pre_hook(self.pre_hook, with_kwargs=True))
            handles.append(m.register_forward_hook(self.post_hook, with_kwargs=True))
        try:
            with torch.no_grad(), self:
                out = self.model(*args, **kwargs)
        finally:
            for h in handles:
                h.remove()
        self.busy = True
        for t in _output_tensors(out):
            p = self.lookup(t)
            if p is not None and t.is_floating_point():
                self.materialize(t, p)
        self.busy = False
        self.keep.clear()  # the intermediates can go now: only the snapshots in ``nodes`` are kept
        self.prov.clear()
        return out


def _output_tensors(out) -> list[torch.Tensor]:
    """Tensors of a model's output: a tensor, a tuple/list/dict of them, or a transformers ModelOutput."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _output_tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _output_tensors(v)]
    return []
