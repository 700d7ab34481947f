"""The MODEL argument of the command line: parsed in one place (:func:`parse`), resolved into a Network and
its Activations (:func:`resolve`).

``synthetic:mlp:784,256,10``, ``synthetic:random:N,M`` (N neurons, M edges), or ``path/to/file.py:factory``
where ``factory()`` returns ``(model, example_inputs)``: the user's own code, run as they asked. Model files
(``.onnx``, ``.safetensors``, ``.pt``) and training recordings (``.nn3d``) go to :func:`nn3d.ingest.load`,
which never executes code from a file. :meth:`nn3d.analysis.Source.open` reads the same forms.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import synthetic
from .activations import Activations
from .network import Network


class ModelArgumentError(ValueError):
    """A MODEL string that cannot be turned into a network; the message is one line for the user."""


FORMS = "synthetic:mlp:784,256,10 | synthetic:random:NEURONS,EDGES | path/to/file.py:factory"
RECORDING_SUFFIX = ".nn3d"


@dataclass(frozen=True)
class ModelArgument:
    """A parsed MODEL string. ``form``: ``"synthetic"`` (``synthetic`` holds what follows ``synthetic:``),
    ``"factory"`` (``path`` and ``function``), ``"recording"`` (``path``, a ``.nn3d`` file) or ``"file"``
    (``path``, a model file for :func:`nn3d.ingest.load`)."""

    text: str
    form: str
    path: Path | None = None
    function: str = ""
    synthetic: str = ""


def parse(text: str | Path) -> ModelArgument:
    """Which form ``text`` takes; :class:`ModelArgumentError` with a one-line message if none, or if the file
    it names does not exist."""
    text = str(text)
    if text.startswith("synthetic:"):
        return ModelArgument(text, "synthetic", synthetic=text[len("synthetic:") :])
    path, sep, func = text.rpartition(":")
    if sep and path.endswith(".py"):
        if not Path(path).is_file():
            raise ModelArgumentError(f"no such file: {path}")
        return ModelArgument(text, "factory", Path(path), func)
    if text.lower().endswith(RECORDING_SUFFIX):
        if not Path(text).is_file():
            raise ModelArgumentError(f"no such recording: {text}")
        return ModelArgument(text, "recording", Path(text))
    if Path(text).is_file():
        return ModelArgument(text, "file", Path(text))
    raise ModelArgumentError(f"cannot read MODEL {text!r}; forms: {FORMS}")


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ModelArgumentError(f"{what}: expected comma-separated integers, got {text!r}") from None


def _synthetic(rest: str) -> tuple[Network, Activations]:
    kind, _, args = rest.partition(":")
    if kind == "mlp":
        net = synthetic.mlp(_ints(args, "synthetic:mlp"))
    elif kind == "random":
        nums = _ints(args, "synthetic:random")
        if len(nums) != 2:
            raise ModelArgumentError(f"synthetic:random needs NEURONS,EDGES, got {args!r}")
        net = synthetic.random_network(*nums)
    else:
        raise ModelArgumentError(f"unknown synthetic network {kind!r}; forms: {FORMS}")
    return net, synthetic.random_activations(net)


def load_factory(path: Path, func: str):
    """Import the user's ``path`` and call ``func()``: returns its ``(model, example_inputs)``.

    The file's folder is first on ``sys.path`` while it loads and while ``func`` runs, so that it can import
    the modules next to it, as ``python path/to/file.py`` would let it."""
    folder = str(Path(path).resolve().parent)
    sys.path.insert(0, folder)
    try:
        return _load_factory(path, func)
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def _load_factory(path: Path, func: str):
    spec = importlib.util.spec_from_file_location(f"nn3d_user_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as e:
        raise ModelArgumentError(f"{path} called sys.exit({e.code!r}) while being imported") from None
    except Exception as e:
        raise ModelArgumentError(f"{path} failed to import: {type(e).__name__}: {e}") from e
    factory = getattr(module, func, None)
    if not callable(factory):
        raise ModelArgumentError(f"{path} has no callable {func!r}")
    try:
        result = factory()
        model, inputs = result
    except SystemExit as e:  # not a reason to exit 0 with no picture
        raise ModelArgumentError(f"{path}:{func}() called sys.exit({e.code!r}) instead of returning "
                                 "(model, example_inputs)") from None
    except Exception as e:
        raise ModelArgumentError(f"{path}:{func}() raised {type(e).__name__}: {e}") from e
    return model, inputs


def factory_network(path: Path, func: str, memmap: str | Path | None = None):
    """``(network, activations, model, example_inputs)`` of the user's ``path:func`` factory, traced (into
    the memory-mapped store ``memmap``, a ``.npy`` file, when given)."""
    from .ingest import from_torch

    model, inputs = load_factory(path, func)
    net, acts = from_torch(model, inputs, name=f"{path.stem}:{func}", memmap=memmap)
    return net, acts, model, inputs


def check_memmap(path: str | Path) -> Path:
    """``path`` as a store to record into: a ``.npy`` file in a folder that exists and can be written, or
    :class:`ModelArgumentError` in one line."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise ModelArgumentError(f"--memmap needs a .npy file to record into, not {str(path)!r}")
    if path.is_dir():
        raise ModelArgumentError(f"--memmap {path} is a folder: name a .npy file in it")
    folder = path.resolve().parent
    if not folder.is_dir():
        raise ModelArgumentError(f"--memmap {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ModelArgumentError(f"--memmap {path}: cannot write there")
    return path


def resolve(text: str | Path, memmap: str | Path | None = None) -> tuple[Network, Activations]:
    """Network and activations for a MODEL string; :class:`ModelArgumentError` with a one-line message if not.
    ``memmap``: record a traced model (``path/to/file.py:factory``) into this ``.npy`` store instead of RAM."""
    arg = parse(text)
    if memmap is not None:
        memmap = check_memmap(memmap)
        if arg.form != "factory":
            raise ModelArgumentError(f"--memmap records a model traced here (path/to/file.py:factory); {text} "
                                     "brings its activations with it")
        return factory_network(arg.path, arg.function, memmap)[:2]
    if arg.form == "synthetic":
        return _synthetic(arg.synthetic)
    if arg.form == "factory":
        return factory_network(arg.path, arg.function)[:2]
    from .ingest import load

    return load(arg.text)
