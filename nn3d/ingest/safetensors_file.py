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
ZERO_SHAPE_SLACK = 1 << 20  # elements a zero-element tensor may declare beyond the file's bytes
MAX_NDIM = 32  # numpy's limit is 64; no model tensor comes near


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise _Malformed(f"its header names tensor {dup!r} twice")
    return dict(pairs)


class _Malformed(Exception):
    """A header that parses but breaks the format (the message says how); becomes an IngestError."""


def _entry(name: str, e) -> tuple[str, tuple[int, ...], int, int]:
    """(dtype code, shape, begin, end) of one header entry, every field type- and range-checked."""
    if not isinstance(e, dict):
        raise _Malformed(f"tensor {name!r} has a malformed entry (not an object)")
    dtype, shape, offsets = e.get("dtype"), e.get("shape"), e.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise _Malformed(f"tensor {name!r} has an unknown dtype {str(dtype)[:20]!r} "
                         f"(nn3d reads {', '.join(DTYPES)})")

    def whole(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(whole(d) and d >= 0 for d in shape):
        raise _Malformed(f"tensor {name!r} has a malformed shape (a list of at most {MAX_NDIM} "
                         "non-negative integers expected)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(whole(o) for o in offsets)):
        raise _Malformed(f"tensor {name!r} has malformed data_offsets (two integers expected)")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise _Malformed(f"tensor {name!r} has data_offsets {begin}..{end} (negative or reversed)")
    return dtype, tuple(shape), begin, end


def read_header(path: str | Path) -> tuple[dict, dict, int]:
    """(tensor entries, metadata, byte offset of the data); :class:`IngestError` (one line) unless ``path`` is a
    well-formed safetensors file: the header is a UTF-8 JSON object without duplicate names, every entry has a
    known dtype, a shape of non-negative integers and data offsets that lie in the file, match the shape and
    do not overlap another tensor's (so the tensors together never declare more bytes than the file holds)."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise IngestError(f"{path.name} is not a safetensors file (only {size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER, size - 8):
            raise IngestError(f"{path.name} is not a safetensors file (header length {n} for {size} bytes)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise IngestError(f"{path.name} is not a safetensors file (its header is not UTF-8)") from None
    except (json.JSONDecodeError, RecursionError):
        raise IngestError(f"{path.name} is not a safetensors file (its header is not JSON)") from None
    except _Malformed as e:
        raise IngestError(f"{path.name}: {e}") from None
    if not isinstance(header, dict):
        raise IngestError(f"{path.name} is not a safetensors file (its header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise IngestError(f"{path.name}: its __metadata__ is not an object of strings")
    start, data = 8 + n, size - 8 - n
    spans = []
    try:
        for name, e in header.items():
            dtype, shape, begin, end = _entry(name, e)
            count = math.prod(shape)  # Python integers: no overflow, however large the declared shape
            if count == 0 and math.prod(d for d in shape if d) > max(data, ZERO_SHAPE_SLACK):
                raise _Malformed(f"tensor {name!r} declares shape {list(shape)} with no data (a zero-length axis "
                                 "beside axes far larger than the file)")
            if end - begin != count * np.dtype(DTYPES[dtype]).itemsize or end > data:
                raise _Malformed(f"tensor {name!r} does not fit the file (shape {list(shape)[:8]} needs "
                                 f"{count * np.dtype(DTYPES[dtype]).itemsize} bytes at {begin}..{end}, the file "
                                 f"holds {data}: truncated or corrupt?)")
            spans.append((begin, end, name))
    except _Malformed as e:
        raise IngestError(f"{path.name}: {e}") from None
    spans.sort()
    for (_, end_a, a), (begin_b, end_b, b) in zip(spans, spans[1:]):
        if begin_b < end_a and begin_b < end_b:
            raise IngestError(f"{path.name}: tensors {a!r} and {b!r} overlap in the file (corrupt or crafted)")
    return header, meta, start


def read(path: str | Path, names=None) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors as read-only views of one memory map of the file (BF16 converted to float32), and the metadata.

    One map per file, not one per tensor: a map holds a file descriptor, and a model of 1,100 tensors would
    otherwise exceed the common limit of 1,024. A tensor whose offset is not a multiple of its item size is
    copied (compiled kernels want aligned arrays)."""
    header, meta, start = read_header(path)
    size = Path(path).stat().st_size
    whole = np.memmap(path, dtype=np.uint8, mode="r") if size > start else np.empty(0, np.uint8)
    out = {}
    for name, e in header.items():
        if names is not None and name not in names:
            continue
        shape, (begin, end) = tuple(e["shape"]), e["data_offsets"]
        dtype = np.dtype(DTYPES[e["dtype"]])
        arr = whole[start + begin : start + end].view(dtype).reshape(shape)
        if (start + begin) % dtype.itemsize:
            arr = np.array(arr)
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
    tmp = Path(f"{path}.part")  # beside the file, same filesystem; a stale one from a killed write is truncated
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(head)))
            f.write(head)
            for chunks in plan:
                for c in chunks:
                    f.write(np.ascontiguousarray(c, dtype=c.dtype.newbyteorder("<")).data)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename makes it the file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves the previous file and no temp behind
        raise
    _fsync_dir(Path(path).parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
