"""Checks on an ONNX graph before any of it is turned into arrays: initializers hold the data their dims
declare, every value a node reads is produced somewhere, and the nodes form no cycle.

A few kilobytes of protobuf can declare a 10^6 x 10^6 initializer with no data, a node reading a value no one
produces, or two nodes feeding each other; without these checks such a file ends in a NumPy traceback or a
picture of the wrong graph. Each check raises :class:`IngestError` with one line naming the file and the node
or tensor.
"""

from __future__ import annotations

import math
from collections import deque

from ._base import IngestError

# TensorProto data types -> bytes per element (strings and unknown types are not checked)
ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
            17: 1, 18: 1, 19: 1, 20: 1}
# the repeated field that holds each type's values when raw_data is not used, and values per element
TYPED_FIELD = {1: ("float_data", 1), 6: ("int32_data", 1), 2: ("int32_data", 1), 3: ("int32_data", 1),
               4: ("int32_data", 1), 5: ("int32_data", 1), 9: ("int32_data", 1), 10: ("int32_data", 1),
               16: ("int32_data", 1), 7: ("int64_data", 1), 11: ("double_data", 1), 12: ("uint64_data", 1),
               13: ("uint64_data", 1), 14: ("float_data", 2), 15: ("double_data", 2)}


def _short(name: str, limit: int = 60) -> str:
    name = " ".join(str(name).split())  # no newlines from a crafted name reach the one-line error
    return name if len(name) <= limit else name[: limit - 3] + "..."


def check_initializers(graph, file: str) -> None:
    """Each initializer holds the values its dims declare (see :func:`check_tensor`)."""
    for t in graph.initializer:
        check_tensor(t, file, "initializer")


def check_tensor(t, file: str, what: str) -> None:
    """A TensorProto's dims are non-negative and match the number of values it stores (checked before NumPy
    reshapes, or allocates, anything of the declared size)."""
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise IngestError(f"{file}: {what} {_short(t.name)!r} has negative dims {dims[:8]}")
    count = math.prod(dims)  # Python integers: no overflow
    if t.data_type not in ITEMSIZE or t.data_location == 1:  # strings, or external data not loaded
        return
    if t.HasField("raw_data"):
        stored, expected = len(t.raw_data), count * ITEMSIZE[t.data_type]
    else:
        field, per = TYPED_FIELD.get(t.data_type, (None, 1))
        if field is None:
            return
        stored, expected = len(getattr(t, field)), count * per
    if stored != expected:
        unit = "bytes" if t.HasField("raw_data") else "values"
        raise IngestError(f"{file}: {what} {_short(t.name)!r} declares dims {dims[:8]} ({count:,} values) "
                          f"but stores {stored:,} {unit} (truncated or crafted)")


def sorted_nodes(graph, file: str) -> list:
    """The graph's nodes in an order where each comes after the nodes it reads from (the file's order when it
    already is one, as ONNX requires); refuses a node that reads a value nothing provides, and cycles."""
    nodes = list(graph.node)
    available = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    available |= {t.name for t in getattr(graph, "sparse_initializer", ())}
    producer = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if o:
                producer.setdefault(o, i)
    for n in nodes:
        for v in n.input:
            if v not in available and v not in producer:
                raise IngestError(f"{file}: node {_short(n.name or n.op_type)!r} ({n.op_type}) reads "
                                  f"{_short(v)!r}, which no node, graph input or initializer provides")
    for o in graph.output:
        if o.name not in available and o.name not in producer:
            raise IngestError(f"{file}: graph output {_short(o.name)!r} is produced by no node")
    done = set(available)
    if all(_ready(n, done) and not done.update(n.output) for n in nodes):
        return nodes  # already in topological order
    waiting = [sum(1 for v in set(n.input) if v not in available) for n in nodes]
    readers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for v in set(n.input):
            if v not in available:
                readers.setdefault(v, []).append(i)
    queue, order = deque(i for i, w in enumerate(waiting) if w == 0), []
    while queue:
        i = queue.popleft()
        order.append(i)
        for o in set(nodes[i].output):
            if producer.get(o) != i:
                continue
            for j in readers.get(o, ()):
                waiting[j] -= 1
                if waiting[j] == 0:
                    queue.append(j)
    if len(order) < len(nodes):
        stuck = [_short(nodes[i].name or nodes[i].op_type, 30) for i in range(len(nodes)) if waiting[i] > 0]
        raise IngestError(f"{file}: the ONNX graph has a cycle (nodes on or after it: {', '.join(stuck[:4])}"
                          f"{', ...' if len(stuck) > 4 else ''}); a model's graph must be acyclic")
    return [nodes[i] for i in order]


def _ready(n, done: set) -> bool:
    return all(v in done for v in n.input)
