"""Reader for ``.safetensors`` state dicts: weights memory-mapped, layers from names (or from a config.json)."""

from __future__ import annotations

from pathlib import Path

from . import _statedict, safetensors_file

SUFFIXES = (".safetensors",)


def match(path: Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def read(path: Path, config=None):
    """(Network, Activations) from a safetensors state dict; ``config``: dict or path of a config.json
    (default: ``config.json`` beside the file, when there is one)."""
    path = Path(path)
    tensors, _meta = safetensors_file.read(path)
    tensors = _statedict.finite(tensors, path)
    cfg = _statedict.find_config(path, config)
    if cfg is not None:
        return _statedict.from_config(tensors, cfg, path)
    names = list(tensors)
    # Writers that keep the model's order (nn3d's own) are trusted; safetensors' own writer sorts by name.
    net = _statedict.infer(tensors, path.stem, ordered=names != sorted(names))
    return net, _statedict.zeros(net, path)
