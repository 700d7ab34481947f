"""Models dispatched with Hugging Face ``accelerate``: find their weights where accelerate keeps them.

``accelerate.dispatch_model`` (``device_map="auto"``, ``max_memory``), ``cpu_offload``, ``disk_offload`` and
``load_checkpoint_and_dispatch`` wrap each placed module's ``forward`` in an ``AlignDevicesHook`` (the module's
``_hf_hook``): before the call it moves the inputs to the module's execution device and, for an offloaded module,
loads its weights there; after the call it puts them back on the ``meta`` device. nn3d's forward hooks run
outside that wrapper, so they see every layer's output wherever it ran (the tracer copies it to the host at once,
see :mod:`._trace`), but an offloaded module's ``weight`` is an empty ``meta`` tensor by then.

This module reads such a weight from the hook's ``weights_map`` instead, one tensor at a time and without running
the model: a CPU-offloaded weight is a view of accelerate's CPU copy; a disk-offloaded float32 one a read-only
memory map of its ``<name>.dat`` file in the offload folder (or of its tensor in the checkpoint's safetensors file,
for ``load_checkpoint_and_dispatch``); other dtypes one float32 copy of that tensor. :func:`check` looks for every
offloaded tensor before the forward pass, so a missing or truncated offload file is one line, not a traceback.

The ``accelerate`` package is optional: reading a dispatched model only follows the attributes its hooks carry
(a dispatched model cannot exist without it); :func:`dispatch` needs it and says how to install it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ._base import IngestError

INSTALL = "pip install nn3d[accelerate]"
BLOCK = 1 << 22  # elements converted to float32 at a time (16 MiB)
NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64, "bfloat16": np.uint16}


def require():
    """The ``accelerate`` module, or :class:`IngestError` saying in one line how to install it."""
    try:
        import accelerate
    except ImportError:
        raise IngestError(f"models dispatched over devices and disk need Hugging Face accelerate: {INSTALL}") from None
    return accelerate


def dispatch(model, max_memory: dict, offload_folder: str | Path, no_split=None):
    """Spread ``model`` over the devices within ``max_memory`` (e.g. ``{0: "20GiB", "cpu": "30GiB"}``) and disk.

    ``accelerate.infer_auto_device_map`` then ``accelerate.dispatch_model``; modules that fit nowhere go to
    ``offload_folder``. ``no_split`` lists module classes kept whole (e.g. ``["GPT2Block"]``). Returns the model.
    """
    acc = require()
    device_map = acc.infer_auto_device_map(model, max_memory=max_memory, no_split_module_classes=no_split)
    if set(device_map.values()) == {"disk"}:
        raise IngestError(f"max_memory={max_memory} leaves no room on any device for a single module of "
                          f"{type(model).__name__}; raise it")
    return acc.dispatch_model(model, device_map=device_map, offload_dir=str(offload_folder))


def is_dispatched(model) -> bool:
    """Whether accelerate placed ``model`` (a device map, or hooks on its modules)."""
    return hasattr(model, "hf_device_map") or any(hasattr(m, "_hf_hook") for m in model.modules())


def _align_hooks(mod) -> list:
    """The AlignDevicesHooks of one module (a SequentialHook chains several)."""
    hook = getattr(mod, "_hf_hook", None)
    hooks = list(getattr(hook, "hooks", None) or ([hook] if hook is not None else []))
    return [h for h in hooks if hasattr(h, "weights_map") and getattr(h, "offload", False)]


def _owners(model, mod, name: str):
    """(hook, key in its weights_map) pairs that may hold ``mod``'s tensor ``name``: its own hooks first, then an
    ancestor's that places its submodules (accelerate's ``preload_module_classes``)."""
    for h in _align_hooks(mod):
        yield h, name
    for parent in model.modules():
        if parent is mod:
            continue
        for h in _align_hooks(parent):
            if h.place_submodules:
                for child_name, child in parent.named_modules():
                    if child is mod and child_name:
                        yield h, f"{child_name}.{name}"


def _unwrap(weights_map, key: str):
    """Down to the store under accelerate's ``PrefixedDataset`` wrappers: (store, full key)."""
    while hasattr(weights_map, "prefix") and hasattr(weights_map, "dataset"):
        key, weights_map = f"{weights_map.prefix}{key}", weights_map.dataset
    return weights_map, key


def _source(weights_map, key: str, what: str):
    """Where one offloaded tensor lies, checked but not read: ``("tensor", t)``, ``("dat", path, dtype, shape)``
    or ``("safetensors", path, tensor name)``; :class:`IngestError` when it is missing."""
    store, key = _unwrap(weights_map, key)
    state = getattr(store, "state_dict", None)
    index = getattr(store, "index", None)
    if isinstance(state, dict) and key in state:
        return ("tensor", state[key])
    if index is None:  # a plain mapping (cpu_offload's CPU state dict)
        try:
            return ("tensor", store[key])
        except KeyError:
            raise IngestError(f"{what}: accelerate's offloaded weights hold no {key!r}") from None
    folder = getattr(store, "save_folder", None)
    info = index.get(key)
    if info is None:
        raise IngestError(f"{what}: weight {key!r} is missing from accelerate's offload index ({folder}); "
                          "dispatch the model again")
    if info.get("safetensors_file") is not None:
        path = Path(info["safetensors_file"])
        if not path.is_file():
            raise IngestError(f"{what}: weight {key!r} lies in {path}, which is gone; dispatch the model again")
        return ("safetensors", path, info.get("weight_name", key))
    path = Path(folder or ".") / f"{key}.dat"
    dtype, shape = str(info.get("dtype")), tuple(int(d) for d in info.get("shape", ())) or (1,)
    if dtype not in NUMPY_DTYPES:
        return ("tensor", store[key])  # float8 and integer weights: accelerate's own loader, one tensor
    need = int(np.prod(shape)) * np.dtype(NUMPY_DTYPES[dtype]).itemsize
    size = path.stat().st_size if path.is_file() else -1
    if size < 0:
        raise IngestError(f"{what}: offloaded weight {key!r} is missing from the offload folder {path.parent} "
                          f"(no {path.name}); dispatch the model again")
    if size != need:
        raise IngestError(f"{what}: offloaded weight {path} holds {size} bytes, {need} expected for {dtype} "
                          f"{list(shape)} (truncated or overwritten); dispatch the model again")
    return ("dat", path, dtype, shape)


def _spill(shape: tuple[int, ...], block, folder=None) -> np.ndarray:
    """A float32 array of ``shape`` in an unnamed file on disk (in ``folder``, else the temporary folder; gone
    when the array is), filled ``BLOCK`` elements at a time by ``block(lo, hi)`` (float32 values of the flat range):
    a converted weight costs page cache, not RAM, so a bfloat16 70B model is never all in memory as float32."""
    n = int(np.prod(shape))
    with tempfile.TemporaryFile(dir=folder, prefix="nn3d-f32-") as f:
        out = np.memmap(f, dtype=np.float32, mode="w+", shape=(max(n, 1),))
    for lo in range(0, n, BLOCK):
        out[lo : lo + BLOCK] = block(lo, min(n, lo + BLOCK))
    out.flush()
    return out[:n].reshape(shape)


def weight(t, folder=None) -> np.ndarray:
    """A dispatched model's tensor as float32 NumPy: a view when it is float32 on the CPU, else converted block by
    block into a file (:func:`_spill`), never a whole float32 copy in RAM."""
    import torch

    t = t.detach()
    if t.dtype == torch.float32 and t.device.type == "cpu":
        return t.numpy()
    flat = t.reshape(-1)
    return _spill(tuple(t.shape), lambda lo, hi: flat[lo:hi].to(torch.float32).cpu().numpy(), folder)


def _read(src, folder=None) -> np.ndarray:
    """The float32 values of one located tensor: a memory map of it when it is float32 on disk, else converted
    into a disk-backed float32 array (:func:`weight`)."""
    if src[0] == "tensor":
        return weight(src[1], folder)
    if src[0] == "safetensors":
        from .safetensors_file import read

        arr = read(src[1], names={src[2]})[0][src[2]]  # BF16 comes converted, one tensor
        if arr.dtype == np.float32:
            return arr
        flat = arr.reshape(-1)
        return _spill(arr.shape, lambda lo, hi: flat[lo:hi].astype(np.float32), src[1].parent)
    _, path, dtype, shape = src
    arr = np.memmap(path, dtype=NUMPY_DTYPES[dtype], mode="r", shape=shape)
    if dtype == "float32":
        return arr
    flat = arr.reshape(-1)
    if dtype == "bfloat16":  # stored as its 16 bits: the high half of a float32
        return _spill(shape, lambda lo, hi: (flat[lo:hi].astype(np.uint32) << 16).view(np.float32), path.parent)
    return _spill(shape, lambda lo, hi: flat[lo:hi].astype(np.float32), path.parent)


def offloaded(model, mod, name: str = "weight") -> np.ndarray:
    """Module ``mod``'s tensor ``name`` (on ``meta``: offloaded) as float32, read from where accelerate keeps it."""
    what = f"{type(model).__name__}.{_name_of(model, mod)}"
    for hook, key in _owners(model, mod, name):
        return _read(_source(hook.weights_map, key, what))
    raise IngestError(f"{what}.{name} is on the meta device with no accelerate hook holding its values "
                      "(a model built on meta and never loaded?)")


def _name_of(model, mod) -> str:
    return next((n for n, m in model.named_modules() if m is mod), type(mod).__name__) or type(mod).__name__


def check(model) -> None:
    """Find every tensor accelerate offloaded from ``model`` (no data read); :class:`IngestError` for a missing
    or truncated one, before a forward pass would fail on it deep inside accelerate."""
    for prefix, mod in model.named_modules():
        for hook in _align_hooks(mod):
            if hook.weights_map is None:
                continue
            tensors = list(mod.named_parameters(recurse=hook.place_submodules))
            if hook.offload_buffers:
                tensors += list(mod.named_buffers(recurse=hook.place_submodules))
            for name, t in tensors:
                if t.device.type == "meta":
                    _source(hook.weights_map, name, f"{type(model).__name__}.{prefix or type(mod).__name__}")
