"""Resolve a MODEL string from the command line into a Network and its Activations.

``synthetic:mlp:784,256,10``, ``synthetic:random:N,M`` (N neurons, M edges), or ``path/to/file.py:factory``
where ``factory()`` returns ``(model, example_inputs)``: the user's own code, run as they asked. Model files
(``.onnx``, ``.safetensors``, ``.pt``) go to :func:`nn3d.ingest.load`, which never executes code from a file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from . import synthetic
from .activations import Activations
from .network import Network


class ModelSpecError(ValueError):
    """A MODEL string that cannot be turned into a network; the message is one line for the user."""


FORMS = "synthetic:mlp:784,256,10 | synthetic:random:NEURONS,EDGES | path/to/file.py:factory"


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ModelSpecError(f"{what}: expected comma-separated integers, got {text!r}") from None


def _synthetic(rest: str) -> tuple[Network, Activations]:
    kind, _, args = rest.partition(":")
    if kind == "mlp":
        net = synthetic.mlp(_ints(args, "synthetic:mlp"))
    elif kind == "random":
        nums = _ints(args, "synthetic:random")
        if len(nums) != 2:
            raise ModelSpecError(f"synthetic:random needs NEURONS,EDGES, got {args!r}")
        net = synthetic.random_network(*nums)
    else:
        raise ModelSpecError(f"unknown synthetic network {kind!r}; forms: {FORMS}")
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
    except Exception as e:
        raise ModelSpecError(f"{path} failed to import: {type(e).__name__}: {e}") from e
    factory = getattr(module, func, None)
    if not callable(factory):
        raise ModelSpecError(f"{path} has no callable {func!r}")
    try:
        result = factory()
        model, inputs = result
    except Exception as e:
        raise ModelSpecError(f"{path}:{func}() raised {type(e).__name__}: {e}") from e
    return model, inputs


def _factory(path: Path, func: str) -> tuple[Network, Activations]:
    from .ingest import from_torch

    model, inputs = load_factory(path, func)
    return from_torch(model, inputs, name=f"{path.stem}:{func}")


def resolve(text: str) -> tuple[Network, Activations]:
    """Network and activations for a MODEL string; :class:`ModelSpecError` with a one-line message if not."""
    if text.startswith("synthetic:"):
        return _synthetic(text[len("synthetic:") :])
    path, sep, func = text.rpartition(":")
    if sep and path.endswith(".py"):
        if not Path(path).is_file():
            raise ModelSpecError(f"no such file: {path}")
        return _factory(Path(path), func)
    if Path(text).is_file():
        from . import ingest

        load = getattr(ingest, "load", None)
        if load is None:
            raise ModelSpecError(f"model files are not supported yet: {text}")
        return load(text)
    raise ModelSpecError(f"cannot read MODEL {text!r}; forms: {FORMS}")
