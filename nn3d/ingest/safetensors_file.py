"""The safetensors container, read and written with NumPy alone (no pickle, no code, memory-mapped reads).

Layout: 8-byte little-endian header length, a JSON header ``{name: {dtype, shape, data_offsets}, "__metadata__":
{str: str}}``, then the raw little-endian tensor bytes. nn3d reads ``.safetensors`` state dicts with it and
writes its training recordings (``.nn3d``) in it, so a recording opens in any safetensors tool too.
Tensors are written from lists of chunks, so a recording is streamed to disk without being concatenated.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np

from ._base import IngestError

DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
    "I8": "i1", "U8": "u1", "BOOL": "?", "U16": "<u2", "U32": "<u4", "U64": "<u8",
}
CODES = {np.dtype(v): k for k, v in DTYPES.items() if k not in ("BF16",)}
MAX_HEADER = 100 * 2**20


def read_header(path: str | Path) -> tuple[dict, dict, int]:
    """(tensor entries, metadata, byte offset of the data); :class:`IngestError` if not a safetensors file."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise IngestError(f"{path.name} is not a safetensors file (only {size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER, size - 8):
            raise IngestError(f"{path.name} is not a safetensors file (header length {n} for {size} bytes)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise IngestError(f"{path.name} is not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise IngestError(f"{path.name} is not a safetensors file (its header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    start = 8 + n
    for name, e in header.items():
        try:
            begin, end = e["data_offsets"]
            count = math.prod(e["shape"]) * np.dtype(DTYPES[e["dtype"]]).itemsize
        except (KeyError, TypeError, ValueError):
            raise IngestError(f"{path.name}: tensor {name!r} has a malformed entry") from None
        if end - begin != count or start + end > size:
            raise IngestError(f"{path.name}: tensor {name!r} does not fit the file (truncated or corrupt?)")
    return header, meta, start


def read(path: str | Path, names=None) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors as read-only memory maps (BF16 converted to float32), and the metadata."""
    header, meta, start = read_header(path)
    out = {}
    for name, e in header.items():
        if names is not None and name not in names:
            continue
        shape, (begin, _) = tuple(e["shape"]), e["data_offsets"]
        dtype = np.dtype(DTYPES[e["dtype"]])
        if math.prod(shape) == 0:
            arr = np.empty(shape, dtype)
        else:
            arr = np.memmap(path, dtype=dtype, mode="r", offset=start + begin, shape=shape)
        if e["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out, meta


def write(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (name -> array, or a list of arrays to stack along a new first axis) to ``path``."""
    entries, offset, plan = {}, 0, []
    for name, value in tensors.items():
        chunks = [np.ascontiguousarray(v) for v in value] if isinstance(value, list) else None
        if chunks is not None:
            if not chunks:
                raise ValueError(f"tensor {name!r}: no chunks")
            dtype, shape = chunks[0].dtype, (len(chunks), *chunks[0].shape)
            if any(c.shape != chunks[0].shape or c.dtype != dtype for c in chunks):
                raise ValueError(f"tensor {name!r}: chunks differ in shape or dtype")
        else:
            arr = np.ascontiguousarray(value)
            chunks, dtype, shape = [arr], arr.dtype, arr.shape
        nbytes = math.prod(shape) * dtype.itemsize
        entries[name] = {"dtype": CODES[dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype],
                         "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        plan.append(chunks)
        offset += nbytes
    if metadata:
        entries["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    head = json.dumps(entries, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = Path(f"{path}.part")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for chunks in plan:
            for c in chunks:
                f.write(np.ascontiguousarray(c, dtype=c.dtype.newbyteorder("<")).data)
    os.replace(tmp, path)
