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

The batch is the first axis unless a tensor says otherwise (see :mod:`._axes`): an ``nn.MultiheadAttention``
with ``batch_first=False`` (PyTorch's default) reads (tokens, batch, dim). When its query descends from model
inputs whose first axis the tracer took for the batch, the pass stops (:class:`Retrace`) and runs again with
those inputs' batch on axis 1 (or with no batch axis, for an unbatched (tokens, dim) query), so layers come
out as (tokens, dim) per sample exactly as for ``batch_first=True``.
"""

from __future__ import annotations

import fnmatch
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from . import _axes as A
from . import module_handlers as M
from ._base import IngestError
from .accelerate import check as check_offloaded
from .accelerate import is_dispatched


class Retrace(Exception):
    """The pass must run again with these model inputs' batch axes (input key -> axis, None: unbatched)."""

    def __init__(self, axes: dict[str, int | None]):
        super().__init__(axes)
        self.axes = axes


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

    def __init__(self, model: torch.nn.Module, batch: int, record=None, axes: dict | None = None,
                 live: bool = False):
        super().__init__()
        self.model, self.batch, self.record = model, batch, record
        # with ``live`` (gradients, see :mod:`.gradients`): the pass runs with autograd on, ``live`` maps each
        # recorded layer's name to (the tensor its values came from, its batch axis, its version then) and
        # ``output`` keeps the model's output
        self.live: dict[str, tuple[torch.Tensor, int | None, int]] | None = {} if live else None
        self.output = None
        self.input_axes: dict[str, int | None] = dict(axes or {})  # model input key -> batch axis, when not 0
        self.input_keys: dict[int, str] = {}  # input node id -> its key
        self.axes: dict[int, int | None] = {}  # id(tensor) -> batch axis, for tensors where it is not the default
        self.notes: list[str] = []  # approximations, logged once by from_torch
        self.names = {m: n for n, m in model.named_modules()}
        self.nodes: list[Node] = []
        self.prov: dict[int, Prov] = {}
        self.held: set[int] = set()  # ids of tracked tensors, forgotten when they are freed (see hold)
        self.stack: list[torch.nn.Module] = []
        self.known_depth = 0
        self.entered: list[bool] = []
        self.busy = False
        self.used_names: dict[str, int] = {}
        self.unknown: dict[str, str] = {}
        self.host = is_dispatched(model)  # spread over devices by accelerate: snapshots go to the host at once

    # ---------------------------------------------------------------- helpers
    def default_axis(self, t: torch.Tensor) -> int | None:
        return 0 if t.ndim >= 1 and t.shape[0] in (self.batch, 1) else None

    def batch_axis(self, t: torch.Tensor) -> int | None:
        """``t``'s batch axis: its own (see :mod:`._axes`), else the first when it fits; None: shared."""
        return self.axes[id(t)] if id(t) in self.axes else self.default_axis(t)

    def set_axis(self, t: torch.Tensor, b: int | None, why: str = "") -> None:
        """Give ``t`` batch axis ``b`` (A.LOST: none any more, noted with ``why`` when the batch has samples)."""
        if b == A.LOST:
            if self.batch > 1 and why and why not in self.notes:
                self.notes.append(why)
            b = None
        elif b is not None and (b >= t.ndim or t.shape[b] not in (self.batch, 1)):
            return
        if b == self.default_axis(t):
            self.axes.pop(id(t), None)
            return
        self.axes[id(t)] = b
        self.hold(t)

    def sample_shape(self, t: torch.Tensor) -> tuple[int, ...]:
        b = self.batch_axis(t)
        shape = tuple(t.shape) if b is None else tuple(t.shape[:b]) + tuple(t.shape[b + 1 :])
        return shape or (1,)

    def per_sample(self, t: torch.Tensor) -> tuple[tuple[int, ...], torch.Tensor]:
        """Per-sample shape and a (batch, size) view, broadcasting tensors shared by the batch."""
        return self.sample_shape(t), rows(t, self.batch_axis(t), self.batch)

    def track(self, t: torch.Tensor, prov: Prov) -> None:
        self.prov[id(t)] = prov
        self.hold(t)

    def hold(self, t: torch.Tensor) -> None:
        """Forget ``t``'s provenance and batch axis when it is freed: its id() may then be a new tensor's, and the
        pass does not hold every intermediate alive (peak memory: the chunk's snapshots plus what the model
        itself holds, not every layer's output twice)."""
        if id(t) not in self.held:
            self.held.add(id(t))
            weakref.finalize(t, self.forget, id(t)).atexit = False

    def forget(self, key: int) -> None:
        self.held.discard(key)
        self.prov.pop(key, None)
        self.axes.pop(key, None)

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
        if self.live is not None:
            self.live[name] = (t, self.batch_axis(t), t._version)
        flat = self.per_sample(t)[1].detach()
        return flat.to("cpu" if self.host else flat.device, torch.float32, copy=True)

    def new_node(self, name: str, kind: str, out: torch.Tensor, inputs=(), activation=None) -> int:
        name = self.unique_name(name or kind)
        shape = self.sample_shape(out)
        node = Node(name, kind, shape, self.snapshot(name, out), activation, list(inputs))
        for src, *_ in node.inputs:
            self.nodes[src].consumers += 1
        self.nodes.append(node)
        idx = len(self.nodes) - 1
        self.track(out, Prov(idx, frozenset([idx])))
        return idx

    def materialize(self, t: torch.Tensor, prov: Prov) -> int:
        """The layer holding exactly ``t``: its own node, or a new attention/generic layer for a pending one."""
        now = self.prov.get(id(t))
        if now is not None and now.node is not None:  # made a layer since (e.g. the same tensor as q, k and v)
            prov = now
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
        return int(np.prod(self.sample_shape(t)))

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
        if self.known_depth == 0 and isinstance(mod, torch.nn.MultiheadAttention):
            self.check_attention(mod, args, kwargs)
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
            self.module_axes(mod, name, args, kwargs, out)
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
        self.follow_axes(op, args, kwargs, ins, outs)
        M.functional(self, op, func, args, kwargs, ins, outs)

    # ---------------------------------------------------------------- batch axes (see ._axes)
    def check_attention(self, mod, args, kwargs) -> None:
        """A ``batch_first=False`` attention reads (tokens, batch, dim); an unbatched one (tokens, dim). When the
        tracer holds its query's batch elsewhere, the inputs it comes from are read that way: :class:`Retrace`."""
        qkv = [args[i] if len(args) > i else kwargs.get(k) for i, k in enumerate(("query", "key", "value"))]
        t = next((t for t in qkv if self.lookup(t) is not None and t.is_floating_point()), None)
        if t is None or t.ndim not in (2, 3):
            return
        want = (0 if mod.batch_first else 1) if t.ndim == 3 else None
        if want == 0 or self.batch_axis(t) == want:
            if want is None:
                self.note(f"{self.names.get(mod, 'attention')}: nn.MultiheadAttention reads an unbatched "
                          f"(tokens, dim) query {tuple(t.shape)}, so the example input is drawn as one sample")
            return
        keys = self.input_keys_of(self.lookup(t))
        fix = {k: want for k in keys if self.input_axes.get(k, 0) != want}
        if fix:
            raise Retrace(fix)
        layout = "(tokens, batch, dim)" if t.ndim == 3 else "unbatched (tokens, dim)"
        raise IngestError(
            f"{self.names.get(mod, 'attention')}: nn.MultiheadAttention(batch_first={mod.batch_first}) reads its "
            f"query {tuple(t.shape)} as {layout}, but nn3d lost the batch axis on the way there from the inputs; "
            "pass batch-first inputs or trace the attention block alone"
        )

    def input_keys_of(self, prov: Prov) -> list[str]:
        """Keys of the model inputs that a tensor was computed from."""
        seen, todo = set(), list(prov.sources)
        while todo:
            i = todo.pop()
            if i not in seen:
                seen.add(i)
                todo.extend(src for src, *_ in self.nodes[i].inputs)
        return [self.input_keys[i] for i in sorted(seen) if i in self.input_keys]

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def module_axes(self, mod, name: str, args, kwargs, out) -> None:
        """Batch axes of a known module's outputs: attention by ``batch_first``, others as their input's."""
        outs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if isinstance(mod, torch.nn.MultiheadAttention):
            q = args[0] if args else kwargs.get("query")
            if isinstance(q, torch.Tensor) and outs:
                batched = q.ndim == 3
                self.set_axis(outs[0], (0 if mod.batch_first else 1) if batched else None)
                for w in outs[1:]:  # attention weights are (batch, [heads,] tokens, tokens) either way
                    self.set_axis(w, 0 if batched else None)
            return
        src = next((t for t, _ in self.inputs_of if id(t) in self.axes), None)
        if src is None:
            return
        b = self.batch_axis(src)
        for o in outs:
            self.set_axis(o, A.carry(src, b, o), self.lost(name, type(mod).__name__, src, b, o))

    def follow_axes(self, op: str, args, kwargs, ins: list, outs: list) -> None:
        """Batch axes of a functional op's outputs, when its input's is not the default or the op moves axes."""
        src = args[0] if args and self.lookup(args[0]) is not None else ins[0][0]
        explicit = id(src) in self.axes
        if not explicit and op not in A.MOVE_OPS:
            return
        b = self.batch_axis(src)
        if b is None and not explicit:
            return
        for o in outs:
            b_out = A.follow(op, args, kwargs, src, b, o)
            if b_out == A.LOST and not explicit:
                continue  # a batch-first tensor nn3d cannot follow: the default, as before
            self.set_axis(o, b_out, self.lost(self.context()[0], op, src, b, o))

    @staticmethod
    def lost(where: str, op: str, src: torch.Tensor, b, out: torch.Tensor) -> str:
        return (f"{where + ': ' if where else ''}{op} turns {tuple(src.shape)} (batch on axis {b}) into "
                f"{tuple(out.shape)} without a batch axis; layers computed from it show the whole batch in each frame")

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
        for key, t in keyed(inputs):
            if id(t) not in self.prov:
                name = "input" if key == "input0" and len(args) == 1 and not kwargs else key
                if key in self.input_axes:
                    self.set_axis(t, self.input_axes[key])
                self.input_keys[self.new_node(name, "input", t)] = key
        if self.host:
            check_offloaded(self.model)  # a missing offload file: one line now, not a traceback inside accelerate
        handles = []
        for m in self.model.modules():
            handles.append(m.register_forward_pre_hook(self.pre_hook, with_kwargs=True))
            handles.append(m.register_forward_hook(self.post_hook, with_kwargs=True))
        try:
            with torch.set_grad_enabled(self.live is not None), self:
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
        self.held.clear()  # only the snapshots in ``nodes`` are kept
        self.prov.clear()
        self.axes.clear()
        if self.live is not None:
            self.output = out
        return out


def rows(t: torch.Tensor, b: int | None, batch: int) -> torch.Tensor:
    """``t`` as a (batch, size) view with its batch axis ``b`` first; a tensor shared by the batch (``b`` None)
    is broadcast to every row."""
    flat = t.reshape(1, -1) if b is None else (t if b == 0 else t.movedim(b, 0)).reshape(t.shape[b], -1)
    return flat.expand(batch, flat.shape[1])


def keyed(inputs) -> list[tuple[str, torch.Tensor]]:
    """Model inputs by key: ``input0``, ``input1``, ... for positional ones, the keyword for keyword ones."""
    if isinstance(inputs, dict):
        items = list(inputs.items())
    elif isinstance(inputs, (tuple, list)):
        items = [(f"input{i}", t) for i, t in enumerate(inputs)]
    else:
        items = [("input0", inputs)]
    return [(k, t) for k, t in items if isinstance(t, torch.Tensor)]


def _output_tensors(out) -> list[torch.Tensor]:
    """Tensors of a model's output: a tensor, a tuple/list/dict of them, or a transformers ModelOutput."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _output_tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _output_tensors(v)]
    return []
