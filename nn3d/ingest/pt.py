"""Reader for weights-only torch files (``.pt``/``.pth``/``.bin``): ``torch.load(weights_only=True)``.

A file that pickles a whole model object is refused: unpickling it could run arbitrary code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from ..memory import check_fits, format_bytes
from . import _statedict
from ._base import IngestError

SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
NESTED = ("state_dict", "model_state_dict", "model", "module", "net")
EXPORT = (
    "nn3d will not unpickle it (that could run code). Save weights instead: "
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


def load_state_dict(path: Path) -> dict:
    """Name -> float32 NumPy array, loaded without executing code from the file."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):
            raise IngestError(f"{path.name} holds a pickled Python object, not a state dict: {EXPORT}") from None
        raise IngestError(f"{path.name} is not a readable torch file (corrupt, or not made by torch.save)") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise IngestError(f"{path.name} is not a readable torch file: {first}") from None
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
    return {k: v.detach().float().numpy() if v.is_floating_point() else v.numpy() for k, v in tensors.items()}


def read(path: Path, config=None):
    """(Network, Activations) from a weights-only torch file (see :mod:`._statedict`)."""
    path = Path(path)
    tensors = load_state_dict(path)
    cfg = _statedict.find_config(path, config)
    if cfg is not None:
        return _statedict.from_config(tensors, cfg, path)
    net = _statedict.infer(tensors, path.stem, ordered=True)
    return net, _statedict.zeros(net, path)
