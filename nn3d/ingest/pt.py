"""Reader for weights-only torch files (``.pt``/``.pth``/``.bin``): ``torch.load(weights_only=True)``.

A file that pickles a whole model object is refused: unpickling it could run arbitrary code.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

from ..memory import check_fits, format_bytes
from . import _statedict
from ._base import IngestError

SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
NESTED = ("state_dict", "model_state_dict", "model", "module", "net")
EXPORT = (
    "Save weights instead: "
    "torch.save(model.state_dict(), 'weights.pt'), or safetensors.torch.save_file(model.state_dict(), "
    "'model.safetensors'), or torch.onnx.export(model, inputs, 'model.onnx')"
)


def match(path: Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def _flatten(obj, prefix: str = "") -> dict:
    import torch

    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _first_sentence(e: BaseException) -> str:
    """The first sentence of an exception's text, on one line (torch's errors run to a paragraph)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return re.split(r"(?<=[.!?]) ", text, maxsplit=1)[0][:300]


def _plain(path: Path, name: str, v):
    """A dense CPU tensor for ``v``, or :class:`IngestError`: quantized tensors are dequantized, sparse ones made
    dense (their dense size was checked against memory already), meta-device ones refused (no data)."""
    import torch

    if v.is_meta or v.device.type != "cpu":
        raise IngestError(f"{path.name}: tensor {name!r} is on the {v.device.type} device: no data to draw")
    if v.layout != torch.strided:
        v = v.to_dense()
    if v.is_quantized:
        v = v.dequantize()
    return v


def load_state_dict(path: Path) -> dict:
    """Name -> float32 NumPy array, loaded without executing code from the file."""
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"unsupported global:? (?:GLOBAL )?([\w.]+)", str(e), re.IGNORECASE)
        if found:
            raise IngestError(f"{path.name} holds a pickled Python object that names code ({found.group(1)}), "
                              f"which nn3d will not unpickle or run. {EXPORT}") from None
        raise IngestError(f"{path.name} is not a readable torch file: its pickle holds something a weights-only "
                          "load refuses, which nn3d will not run (corrupt, or not made by torch.save)") from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            MemoryError, RecursionError) as e:
        raise IngestError(f"{path.name} is not a readable torch file: {_first_sentence(e)}") from None
    if isinstance(obj, dict):
        for key in NESTED:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    tensors = _flatten(obj)
    if not tensors:
        raise IngestError(f"{path.name} holds no tensors (a {type(obj).__name__}); nothing to draw")
    # a tiny file can declare huge tensors (stride-0 expanded views): their float32 copies would take far more
    # than the file holds. Real weights take at most 4x their file size as float32 (int8 -> float32).
    declared, stored = sum(4.0 * v.numel() for v in tensors.values()), path.stat().st_size
    if declared > 8 * stored + (64 << 20):
        raise IngestError(f"{path.name} declares {format_bytes(declared)} of tensors but stores "
                          f"{format_bytes(stored)} (expanded or overlapping views): save real weights")
    check_fits(declared, f"the tensors of {path.name}", "use a smaller model")
    out = {}
    for k, v in tensors.items():
        v = _plain(path, k, v.detach())
        out[k] = v.float().numpy() if v.is_floating_point() else v.numpy()
    return _statedict.finite(out, path)


def read(path: Path, config=None):
    """(Network, Activations) from a weights-only torch file (see :mod:`._statedict`)."""
    path = Path(path)
    tensors = load_state_dict(path)
    cfg = _statedict.find_config(path, config)
    if cfg is not None:
        return _statedict.from_config(tensors, cfg, path)
    net = _statedict.infer(tensors, path.stem, ordered=True)
    return net, _statedict.zeros(net, path)
