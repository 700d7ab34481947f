"""A Network from a bare state dict (tensor names and shapes only), or from a state dict plus a config.

With a transformers ``config.json`` (``model_type`` and ``architectures`` naming a class that ships with
``transformers``), the model is built from the config (random weights, no download, no remote code), the
state dict loaded into it, and it is traced like any module on seeded random token ids. Without one, layers
are inferred from names and shapes, in module order (a torch file's own, or inferred from the names for a
safetensors file sorted by name: :func:`module_order`): a 2-D ``*.weight`` is a dense layer (or an
embedding when its name says so), 3-D/4-D weights are convolutions (one neuron per channel: spatial sizes
are unknown without a forward pass), a 1-D weight after a layer of the same width is a norm. Activations are
then one frame of zeros, and nn3d says so.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np

from ..activations import Activations
from ..memory import BYTES_PER_NEURON, TooLargeError, check_fits
from ..network import Connection, Network
from ._base import IngestError

log = logging.getLogger("nn3d")
EMPTY = np.empty(0, dtype=np.float32)
EMBED = re.compile(r"(embed|wte|wpe|tok_emb|pos_emb)", re.I)


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


HEAD = re.compile(r"^(fc|head|heads|classifier|lm_head|pooler|ln_f|norm|final_norm|final_layer_norm)$")
"""Top-level (sibling) names that come after everything else in a model: heads and final norms."""


def module_order(tensors: dict) -> list[str]:
    """Tensor names in the order their modules most likely run, for files that store them sorted by name
    (safetensors). At each level of the name, siblings sort as: heads and final norms (:data:`HEAD`) last;
    leaf modules (a ``conv1``) before sub-module containers (a ``layer1``); then by the number ending the
    name; a leaf with a 2+-D weight before a 1-D one of the same number (``conv1`` then ``bn1``); then by name."""
    names = list(tensors)
    modules = {n.rpartition(".")[0] for n in names}
    containers = {m.rsplit(".", i)[0] for m in modules for i in range(1, m.count(".") + 1)}
    weight_ndim = {n.rpartition(".")[0]: np.ndim(tensors[n]) for n in names if n.endswith(".weight")}

    def key(name: str):
        prefix = name.rpartition(".")[0]
        comps = prefix.split(".") if prefix else [name]
        out = []
        for i, comp in enumerate(comps):
            path = ".".join(comps[: i + 1])
            leaf = path not in containers
            num = re.findall(r"\d+", comp)
            out.append((bool(HEAD.match(comp)), not leaf, int(num[-1]) if num else -1,
                        weight_ndim.get(path, 2) < 2, _natural(comp)))
        return out, _natural(name)

    return sorted(names, key=key)


def infer(tensors: dict[str, np.ndarray], name: str, ordered: bool = False) -> Network:
    """Layers and connections from parameter names and shapes (see the module docstring); ``ordered``: the
    tensors come in module order (a torch state dict), else in the order :func:`module_order` infers."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key in (tensors if ordered else module_order(tensors)):
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix or leaf, {})[leaf if prefix else "weight"] = tensors[key]
    layers: list[tuple] = []
    conns: list[Connection] = []

    def add(layer_name, kind, shape, conn_kind, weight, src=None, params=None):
        if not layers:
            if conn_kind == "embedding":
                layers.append(("input", "input", (1,)))
            else:
                in_shape = (weight.shape[1],) if conn_kind == "dense" else (
                    weight.shape[1] * (params or {}).get("groups", 1), *([1] * (weight.ndim - 2)))
                layers.append(("input", "input", in_shape))
        src = len(layers) - 1 if src is None else src
        layers.append((layer_name, kind, shape))
        conns.append(Connection(src, len(layers) - 1, conn_kind, weight, None, None, params))

    def size(i):
        return int(np.prod(layers[i][2]))

    for prefix, g in groups.items():
        w = g.get("weight")
        if w is None or not np.issubdtype(w.dtype, np.floating):
            continue
        w = np.asarray(w, dtype=np.float32)
        if w.ndim == 2 and EMBED.search(prefix):
            if not layers:
                add(prefix, "embedding", (w.shape[1],), "embedding", w)
            else:
                layers.append((prefix, "embedding", (w.shape[1],)))
        elif w.ndim == 2:
            src = next((i for i in range(len(layers) - 1, -1, -1) if size(i) == w.shape[1]), None)
            if layers and src is None:
                add(prefix, "dense", (w.shape[0],), "generic", EMPTY)
            else:
                add(prefix, "dense", (w.shape[0],), "dense", w, src)
        elif w.ndim in (3, 4):
            shape = (w.shape[0], *([1] * (w.ndim - 2)))
            n = w.ndim - 2
            params = {"stride": (1,) * n, "padding": (0,) * n, "dilation": (1,) * n, "groups": 1}
            prev = layers[-1][2] if layers else None
            if prev is None or (len(prev) == n + 1 and prev[0] == w.shape[1]):
                add(prefix, "conv", shape, "conv", w, params=params)
            else:
                add(prefix, "conv", shape, "generic", EMPTY)
        elif w.ndim == 1 and layers:
            if size(len(layers) - 1) == w.shape[0]:
                add(prefix, "norm", layers[-1][2], "identity", EMPTY)
            else:
                add(prefix, "norm", (w.shape[0],), "generic", EMPTY)
    if not layers:
        raise IngestError(f"{name}: no weight tensors to draw (an empty or non-model state dict)")
    return Network.build(layers, conns, name=name)


def finite(tensors: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """``tensors`` with NaN and infinite weights replaced by 0 (copies of those tensors only), and one warning
    saying how many: a diverged checkpoint still draws, and no kernel ranks edges by a NaN."""
    out, bad = dict(tensors), 0
    for k, v in tensors.items():
        if v.dtype.kind == "f" and v.size:
            ok = np.isfinite(v)
            if not ok.all():
                bad += int(v.size - np.count_nonzero(ok))
                out[k] = np.where(ok, v, 0).astype(v.dtype)
    if bad:
        log.warning("nn3d: %s: %d weights are NaN or infinite: drawn as 0", path.name, bad)
    return out


def zeros(net: Network, path: Path) -> Activations:
    """One frame of zeros, after checking that a network of this size fits (shapes come from the file)."""
    check_fits(BYTES_PER_NEURON * float(net.n_neurons), f"{path.name}'s network of {net.n_neurons:,} neurons",
               "use a smaller model")
    log.warning("nn3d: %s holds weights only: activations are one frame of zeros", path.name)
    return Activations(np.zeros((1, net.n_neurons), np.float32), ("zeros (weights only)",))


def find_config(path: Path, config) -> dict | None:
    """The config dict: given (dict or path), or ``config.json`` beside the weights file."""
    if isinstance(config, dict):
        return config
    cfg_path = Path(config) if config else path.with_name("config.json")
    if not cfg_path.is_file():
        if config:
            raise IngestError(f"no such config file: {cfg_path}")
        return None
    try:
        cfg = json.loads(cfg_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        if config:
            raise IngestError(f"{cfg_path} is not valid JSON: {e}") from None
        cfg = None
    if not isinstance(cfg, dict) or "model_type" not in cfg:
        if config:
            raise IngestError(f"{cfg_path} is not a transformers config (it has no model_type)")
        log.warning("nn3d: ignoring %s: not a transformers config (no model_type)", cfg_path)
        return None
    return cfg


def from_config(tensors: dict[str, np.ndarray], cfg: dict, path: Path, tokens: int = 16):
    """Build the transformers model named by ``cfg``, load ``tensors`` and trace it on seeded random ids."""
    try:
        import torch
        import transformers
    except ImportError:
        raise IngestError("a config.json needs the `transformers` package: pip install transformers") from None
    from .torch import from_torch

    arch = (cfg.get("architectures") or [None])[0]
    cls = getattr(transformers, arch, None) if isinstance(arch, str) else None
    if cls is None or not isinstance(cls, type) or not issubclass(cls, torch.nn.Module):
        cls = transformers.AutoModel
    def build():
        return cls.from_config(config) if cls is transformers.AutoModel else cls(config)

    try:
        config = transformers.AutoConfig.for_model(**cfg)
        with torch.device("meta"):  # the size the config asks for, before any of it is allocated
            n_params = sum(p.numel() for p in build().parameters())
        check_fits(4 * n_params, f"{path.name}: the model its config.json describes ({n_params:,} parameters)",
                   advice="check the config's sizes (hidden_size, num_hidden_layers, vocab_size, ...)")
        model = build()
    except TooLargeError:
        raise
    except Exception as e:
        raise IngestError(f"{path.name}: cannot build a model from its config: {type(e).__name__}: {e}") from e
    state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or len(missing) == len(list(model.state_dict())):
        raise IngestError(f"{path.name} does not match its config ({len(unexpected)} unexpected tensors)")
    vocab = int(getattr(config, "vocab_size", 2) or 2)
    ids = torch.randint(0, vocab, (1, tokens), generator=torch.Generator().manual_seed(0))
    log.warning("nn3d: %s: activations from seeded random token ids (1 x %d)", path.name, tokens)
    return from_torch(model, ids, name=path.stem)
