"""Which axis of a traced tensor is the batch axis, when it is not the first one.

The tracer's default is that a tensor's first axis is the batch (when its size is the batch size or 1; else
the tensor is shared by all samples). That holds in batch-first models, and nothing here changes them. It
does not hold for sequence-first ones: ``nn.MultiheadAttention`` and ``nn.Transformer*`` default to
``batch_first=False``, i.e. (tokens, batch, dim), either because the user feeds (tokens, batch, ...) inputs
(PyTorch's own examples) or because the model permutes (batch, tokens, dim) to (tokens, batch, dim) around
its transformer (OpenAI CLIP). So the tracer keeps an explicit batch axis for tensors whose batch axis is not
the default, and this module follows it through modules and ops: unchanged by layers that keep the leading
axes (Linear, norms, activations), moved by transposes and permutes, shifted by indexing, reductions,
reshapes and stacks. ``None`` means "no batch axis" (an unbatched input: the whole input is one sample).
When an op loses the batch axis (e.g. ``view(-1, n)`` merging tokens and batch), the result falls back to the
default and the tracer notes that the layers computed from it show all samples at once.
"""

from __future__ import annotations

import math

import torch

LOST = -1  # the op merged or selected away the batch axis

MOVE_OPS = {"transpose", "transpose_", "swapaxes", "swapdims", "t", "permute", "movedim", "moveaxis"}
RESHAPE_OPS = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as"}
REDUCE_OPS = {
    "mean", "sum", "amax", "amin", "max", "min", "std", "var", "prod", "logsumexp", "norm", "argmax", "argmin",
    "median", "all", "any", "nansum", "nanmean", "unbind", "select",
}


def _dim(d: int, ndim: int) -> int:
    return d + ndim if d < 0 else d


def _arg(args, kwargs, i: int, *keys):
    if len(args) > i:
        return args[i]
    return next((kwargs[k] for k in keys if k in kwargs), None)


def _ints(v) -> list[int] | None:
    if isinstance(v, int):
        return [v]
    if isinstance(v, (tuple, list, torch.Size)) and all(isinstance(x, int) for x in v):
        return list(v)
    return None


def follow(op: str, args, kwargs, src: torch.Tensor, b: int | None, out: torch.Tensor) -> int | None:
    """The batch axis of ``out`` computed by ``op`` from ``src`` whose batch axis is ``b``; LOST if gone."""
    if b is None:
        return None
    n = src.ndim
    if op in MOVE_OPS:
        perm = _permutation(op, args, kwargs, n)
        return perm.index(b) if perm is not None and len(perm) == out.ndim else LOST
    if op in ("getitem", "__getitem__"):
        return _index(args[1] if len(args) > 1 else None, b, n, src, out)
    if op in RESHAPE_OPS:
        return _reshaped(b, src, out)
    if op == "stack":
        d = _arg(args, kwargs, 1, "dim") or 0
        d = _dim(d, out.ndim)
        return b + (d <= b)
    if op in ("cat", "concat", "concatenate"):
        d = _arg(args, kwargs, 1, "dim", "axis") or 0
        return LOST if _dim(d, n) == b else _same(b, src, out)
    if op in REDUCE_OPS and out.ndim < n:
        dims = _ints(_arg(args, kwargs, 1, "dim", "axis"))
        if dims is None:
            return LOST
        dims = [_dim(d, n) for d in dims]
        return LOST if b in dims else b - sum(d < b for d in dims)
    if out.ndim == n:
        return _same(b, src, out)
    if out.ndim > n:  # broadcast against a tensor with more axes: shapes align on the right
        j = b + out.ndim - n
        return j if out.shape[j] == src.shape[b] else LOST
    return LOST


def _same(b: int, src: torch.Tensor, out: torch.Tensor) -> int:
    return b if out.ndim > b and out.shape[b] == src.shape[b] else LOST


def carry(src: torch.Tensor, b: int | None, out: torch.Tensor) -> int | None:
    """A module's output keeps its input's batch axis (Linear, norms, embeddings, convolutions, activations)."""
    return None if b is None else _same(b, src, out)


def _permutation(op: str, args, kwargs, n: int) -> list[int] | None:
    """``out`` axis i is ``src`` axis perm[i]."""
    perm = list(range(n))
    if op == "t":
        return perm[::-1] if n == 2 else perm
    if op == "permute":
        dims = _ints(args[1:]) if len(args) > 2 else _ints(_arg(args, kwargs, 1, "dims"))
        return [_dim(d, n) for d in dims] if dims is not None and len(dims) == n else None
    if op in ("movedim", "moveaxis"):
        s, d = _ints(_arg(args, kwargs, 1, "source")), _ints(_arg(args, kwargs, 2, "destination"))
        if s is None or d is None or len(s) != len(d):
            return None
        s, d = [_dim(x, n) for x in s], [_dim(x, n) for x in d]
        order: list[int | None] = [None] * n
        for si, di in zip(s, d):
            order[di] = si
        rest = iter(i for i in range(n) if i not in s)
        return [next(rest) if o is None else o for o in order]
    d0, d1 = _arg(args, kwargs, 1, "dim0", "axis0"), _arg(args, kwargs, 2, "dim1", "axis1")
    if not isinstance(d0, int) or not isinstance(d1, int):
        return None
    d0, d1 = _dim(d0, n), _dim(d1, n)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return perm


def _index(index, b: int, n: int, src: torch.Tensor, out: torch.Tensor) -> int:
    """``src[index]``: basic indexing (ints, slices, None, Ellipsis); LOST for advanced indexing."""
    items = list(index) if isinstance(index, tuple) else [index]
    if any(not (i is None or i is Ellipsis or isinstance(i, (int, slice))) for i in items):
        return LOST
    if Ellipsis in items:
        k = items.index(Ellipsis)
        used = sum(i is not None and i is not Ellipsis for i in items)
        items[k : k + 1] = [slice(None)] * (n - used)
    dim_in = dim_out = 0
    for item in items:
        if item is None:
            dim_out += 1
            continue
        if dim_in == b:
            if isinstance(item, int):
                return LOST  # one sample picked out of the batch
            return dim_out if out.shape[dim_out] == src.shape[b] else LOST
        dim_in += 1
        dim_out += not isinstance(item, int)
    return dim_out + (b - dim_in)


def _reshaped(b: int, src: torch.Tensor, out: torch.Tensor) -> int:
    """A reshape keeps the batch axis when some ``out`` axis has its size and the same elements before it."""
    before = math.prod(src.shape[:b])
    for j in range(out.ndim):
        if math.prod(out.shape[:j]) == before and out.shape[j] == src.shape[b]:
            return j
    return LOST
