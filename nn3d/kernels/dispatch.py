"""One entry point per operation, picking the fastest kernel available for the array it is given.

torch CUDA tensor → ``torch`` (on its device); anything with ``__cuda_array_interface__`` → ``cuda``
(numba.cuda); NumPy arrays and CPU tensors → ``numba`` (a CPU tensor through a zero-copy NumPy view), or the
NumPy reference when the frame is small (:func:`numpy_enough`): there it takes a few milliseconds, while the
Numba kernels take seconds to compile on a fresh install, so a small network never waits for a compiler.
``kernel=`` forces one of :data:`KERNELS`; ``"numpy"`` is the reference. Results come back in the kind of
array that went in (NumPy, torch tensor on the same device, or numba device array), with the input's shape.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from functools import cache

import numpy as np

from . import reference
from .normalize import RunningRange, check_starts, frame

KERNELS = ("numpy", "numba", "torch", "cuda")
_MODULES = {"numba": "cpu", "torch": "torch", "cuda": "cuda"}

NUMPY_BELOW = 1 << 18
"""Work (neurons plus :data:`LAYER_WORK` per layer) under which a host frame takes the NumPy reference by
default: at 2^18 neurons it colours a frame in ~1-2 ms (percentile range, split table) on this 2-core machine,
against ~2-4 s of compiling the Numba kernels (``cache=True`` makes that once per install)."""
LAYER_WORK = 1024
"""The reference loops over layers in Python (~30 us a layer with a percentile range): one layer costs
about as much as this many neurons."""


def numpy_enough(n: int, n_layers: int = 1) -> bool:
    """Whether a host frame of ``n`` values in ``n_layers`` layers is small enough for the NumPy reference."""
    return n + LAYER_WORK * n_layers < NUMPY_BELOW


def _is_torch(values) -> bool:
    return "torch" in sys.modules and isinstance(values, sys.modules["torch"].Tensor)


def _is_device(values) -> bool:
    """A CUDA array that is not a torch tensor: a numba device array (also simulated) or CuPy-like."""
    return hasattr(values, "__cuda_array_interface__") or hasattr(values, "copy_to_host")


@cache
def _backend(name: str):
    if name not in _MODULES:
        raise ValueError(f"unknown kernel {name!r}; choose one of {KERNELS}")
    return importlib.import_module(f"{__package__}.{_MODULES[name]}")


@cache
def available_kernels() -> tuple[str, ...]:
    """The kernels that can run here: ``numpy`` and ``numba`` always, ``torch`` when installed, ``cuda`` when
    numba.cuda sees a GPU (or its simulator, ``NUMBA_ENABLE_CUDASIM=1``)."""
    names = ["numpy", "numba"]
    if importlib.util.find_spec("torch") is not None:
        names.append("torch")
    try:
        if _backend("cuda").available():
            names.append("cuda")
    except Exception:  # noqa: BLE001 - a broken CUDA install means no cuda kernel, not an error
        pass
    return tuple(names)


def choose_kernel(values, kernel: str | None = None, starts=None) -> str:
    """The kernel :func:`levels` runs for ``values``: ``kernel`` if given, else the fastest for its kind and
    size: ``numpy`` for a small host frame (:func:`numpy_enough`, with one layer per entry of ``starts``)."""
    if kernel is not None:
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")
        return kernel
    if _is_torch(values) and values.is_cuda:
        return "torch"
    if not _is_torch(values) and _is_device(values):
        return "cuda"
    n = values.numel() if _is_torch(values) else np.size(values)
    return "numpy" if numpy_enough(n, 1 if starts is None else len(starts)) else "numba"


def _inputs(values, name: str):
    """(array for the kernel, shape, function turning a flat result back into the caller's kind)."""
    shape = tuple(values.shape) if hasattr(values, "shape") else np.shape(values)
    if name in ("numpy", "numba") and _is_torch(values):
        import torch

        device = values.device
        return values.detach().cpu().numpy(), shape, lambda r: torch.from_numpy(r).to(device)
    if name == "cuda" and not _is_device(values):
        return values, shape, lambda r: r.copy_to_host()
    if name == "torch" and not _is_torch(values):
        return values, shape, lambda r: r.cpu().numpy()
    return values, shape, lambda r: r


def _flat_out(out, name: str, width: int = 1):
    """A flat view of the caller's ``out`` that the kernel can write into (never a copy)."""
    if out is None:
        return None
    if name == "cuda":
        return out.reshape(out.size) if width == 1 else out.reshape(out.size // width, width)
    if name == "numba" and _is_torch(out):
        out = out.numpy()  # a CPU tensor: NumPy view of the same memory
    if isinstance(out, np.ndarray) and (out.dtype != np.uint8 or not out.flags.c_contiguous):
        raise ValueError("out must be a C-contiguous uint8 array")
    return out.reshape(-1) if width == 1 else out.reshape(-1, width)


def levels(values, starts=None, mode: str = "layer", *, symmetric=False,
           percentile: float | None = None, vrange=None, running: RunningRange | None = None,
           out=None, kernel: str | None = None, split: bool = False, signed_out=None):
    """Map one frame of activations to uint8 levels (0..254, 255 for NaN) of the same shape.

    Parameters
    ----------
    values : array-like, NumPy array, torch tensor or CUDA array
        One frame, read flat in C order; float32 is the fast path (float64 is computed in float64).
    starts : int array, optional
        Flat index of each layer's first neuron (layers contiguous, covering the frame).
    mode : {"layer", "global"}
        Normalise each layer to its own range, or the whole frame to one.
    symmetric : bool, "auto" or bool array (one per layer)
        Centre the range on zero (for diverging colormaps): zero is level 127. ``"auto"``: the layers whose
        values lie substantially on both sides of zero (:func:`~nn3d.kernels.normalize.signed_layers`).
    percentile : float, optional
        Robust range: the ``p``-th to ``(100 - p)``-th percentile of the finite values (several passes).
    vrange : (lo, hi), optional
        Fixed range, scalars or one per layer: no range pass.
    running : RunningRange, optional
        Merge this frame's range into a running range, so that playback does not flicker.
    out : array, optional
        Where to write the levels (uint8, same shape, same kind as ``values``).
    kernel : {"numpy", "numba", "torch", "cuda"}, optional
        Force a kernel; by default the fastest for ``values`` (see :func:`choose_kernel`).
    split : bool
        Levels for a split colormap table: sequential layers 0..127, symmetric layers 128..254 (zero: 191).
    signed_out : bool NumPy array, optional
        Receives the per-layer symmetric flags (one per layer), e.g. for the colour bar's text.
    """
    name = choose_kernel(values, kernel, None if mode == "global" else starts)
    if name == "numpy":
        x, shape, back = _inputs(values, name)
        res = reference.levels(np.asarray(x), starts, mode, symmetric=symmetric, percentile=percentile,
                               vrange=vrange, running=running, out=_flat_out(out, "numba"), split=split,
                               signed_out=signed_out)
        return out if out is not None else back(res)
    be = _backend(name)
    x, shape, back = _inputs(values, name)
    flat = be.prepare(x)
    s = check_starts(starts, _numel(flat), mode)
    flat_out = _flat_out(out, name)
    fused = getattr(be, "map_levels_ranges", None)
    res = frame(flat, s, _work_dtype(flat), be.ranges, be.percentile_ranges,
                lambda r: be.map_levels(flat, s, r, flat_out),
                None if fused is None else (lambda r: fused(flat, s, r, flat_out)),
                symmetric_range=symmetric, percentile=percentile, vrange=vrange, running=running,
                split_fn=_split_fn(name, s) if split else None, signed_out=signed_out)
    return out if out is not None else back(res).reshape(shape)


def _split_fn(name: str, starts: np.ndarray):
    """The split pass for a kernel's flat levels: NumPy on the host, torch on its device; a numba device
    array makes a round trip through the host (the table lookup is one cheap pass)."""
    if name == "torch":
        return lambda lev, signed: _backend("torch").split_levels(lev, starts, signed)
    if name == "cuda":
        def device(lev, signed):
            host = reference.split_levels(lev.copy_to_host(), starts, signed)
            lev.copy_to_device(host)
            return lev
        return device
    return lambda lev, signed: reference.split_levels(lev, starts, signed)


def rgba(values, lut, starts=None, mode: str = "layer", *, out=None, kernel: str | None = None, **options):
    """RGBA8 colours of one frame, shape ``values.shape + (4,)``: ``lut[levels(values, ...)]`` in one pass.

    ``lut`` is the (256, 4) uint8 table of :func:`nn3d.colormaps.lut` (texel 255 is the NaN colour); the
    other arguments are those of :func:`levels`. For export and picking read-outs, not per-frame drawing.
    """
    name = choose_kernel(values, kernel, None if mode == "global" else starts)
    x, shape, back = _inputs(values, name)
    if name == "numpy":
        res = reference.rgba(np.asarray(x), lut, starts, mode, **options)
        if out is None:
            return back(res)
        _flat_out(out, "numba", 4)[...] = res.reshape(-1, 4)
        return out
    be = _backend(name)
    flat = be.prepare(x)
    s = check_starts(starts, _numel(flat), mode)
    flat_out = _flat_out(out, name, 4)
    res = frame(flat, s, _work_dtype(flat), be.ranges, be.percentile_ranges,
                lambda r: be.map_rgba(flat, s, r, lut, flat_out), **_range_options(options))
    return out if out is not None else back(res).reshape(*shape, 4)


def interpolate(a, b, t: float, *, out=None, kernel: str | None = None):
    """The frame ``t`` of the way from ``a`` to ``b`` (float32, one fused pass): ``a + (b - a) * t``,
    exactly ``a`` at ``t <= 0`` and ``b`` at ``t >= 1``; for smooth playback between recorded frames."""
    name = choose_kernel(a, kernel)
    x, shape, back = _inputs(a, name)
    y = _inputs(b, name)[0]
    if name == "numpy":
        return back(reference.interpolate(np.asarray(x), np.asarray(y), t, out))
    res = _backend(name).interpolate(x, y, t, None if out is None else _flat_out(out, name))
    return out if out is not None else back(res).reshape(shape)


def ranges(values, starts=None, mode: str = "layer", *, kernel: str | None = None):
    """Per-layer finite ``(min, max)`` of one frame as float64 NumPy arrays (NaN: no finite value)."""
    name = choose_kernel(values, kernel, None if mode == "global" else starts)
    x = _inputs(values, name)[0]
    if name == "numpy":
        flat = np.asarray(x).reshape(-1)
        return reference.layer_ranges(flat, check_starts(starts, flat.size, mode))
    be = _backend(name)
    flat = be.prepare(x)
    return be.ranges(flat, check_starts(starts, _numel(flat), mode))


def _range_options(options: dict) -> dict:
    unknown = set(options) - {"symmetric", "percentile", "vrange", "running"}
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}")
    opts = dict(options)
    opts["symmetric_range"] = opts.pop("symmetric", False)
    return opts


def _numel(flat) -> int:
    return flat.numel() if _is_torch(flat) else flat.size


def _work_dtype(flat):
    return np.float64 if str(flat.dtype).endswith("float64") else np.float32
