"""The model's hierarchy: repeated blocks (transformer layers, ResNet blocks) and their parts, from layer names.

Every nn3d reader names a layer by its module path: torch modules by the traced module tree
(``encoder.layer.3.attention.self.query``, ``h.5.add#2``), ONNX graphs by their node-name scopes
(``/encoder/layer.3/attention/self/query/MatMul``), state dicts by their key prefixes. :func:`module_path`
brings the three to one dotted path, and :func:`blocks_of` groups layers into blocks: a name prefix followed by
an integer index that repeats (``h.5``, ``layers.7``, ``layer2.1``, ``blocks.4``, ``encoder.block.2``) is a
block, at the outermost such index (a T5 ``block.2.layer.0`` is block ``block.2``); every layer outside a
repeated block joins the top-level block of its first name component (``embeddings``, ``conv1``, ``fc``).
Plain data, no GL, no torch: layout (folding), labels and picking read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PART_LABELS = {
    "attn": "attention", "attention": "attention", "self_attn": "attention", "selfattention": "attention",
    "self_attention": "attention", "encdecattention": "cross-attention", "crossattention": "cross-attention",
    "cross_attn": "cross-attention", "mlp": "MLP", "intermediate": "MLP", "output": "MLP", "ffn": "MLP",
    "feed_forward": "MLP", "feedforward": "MLP", "densereludense": "MLP",
}
"""Sub-part names shown in a block's label (``block 3 · attention · MLP``), lower-cased; others are not shown."""
GENERIC_GROUPS = {"h", "layer", "layers", "block", "blocks", "encoder", "decoder", "transformer", "resblocks"}
"""Group names whose blocks are labelled ``block i`` (a ResNet stage ``layer2`` keeps ``layer2.1``)."""
_DUP = re.compile(r"#\d+$")


@dataclass(frozen=True)
class Block:
    """A block of the model: its module path, display label and the layers (indices into ``net.layers``)."""

    name: str  # module path / scope, e.g. "encoder.layer.3", "layer2.1", "h.5"
    label: str  # short display label, e.g. "block 3 · attention · MLP", "layer2.1"
    layers: tuple[int, ...]  # indices into net.layers that belong to it, in order
    group: str = ""  # the repeated group it belongs to, e.g. "encoder.layer" ("" for a top-level block)
    index: int | None = None  # its position within the group
    parts: tuple[str, ...] = ()  # sub-parts in order, e.g. ("attention", "intermediate", "output")


def module_path(name: str) -> str:
    """The dotted module path of a layer name from any reader.

    ``h.0.add#2`` -> ``h.0.add``; ONNX ``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1`` (the last scope
    component is the op; a component that repeats its parent's path as a prefix replaces it; other exporters'
    ``model/conv2d/Conv2D`` -> ``model.conv2d``);
    ``/encoder/layer.3/attention/self/query/MatMul`` -> ``encoder.layer.3.attention.self.query``.
    """
    name = _DUP.sub("", name)
    if "/" not in name:
        return name
    scopes = [c for c in name.split("/") if c][:-1]
    path: list[str] = []
    for comp in scopes:
        if path and comp.startswith(".".join(path) + "."):
            path = [comp]
        elif path and comp.startswith(path[-1] + "."):
            path[-1] = comp
        else:
            path.append(comp)
    joined = ".".join(path)
    return joined or name.strip("/").split("/")[-1].lower()


def _repeated_groups(paths: list[list[str]]) -> set[tuple[str, ...]]:
    """Name prefixes followed by integer indices that repeat: at least two indices under the prefix, or under
    the prefixes that differ from it only by the digits ending it (a ResNet ``layer4`` of one block)."""
    seen: dict[tuple[str, ...], set[str]] = {}
    for comps in paths:
        for i, c in enumerate(comps):
            if c.isdigit():
                seen.setdefault(tuple(comps[:i]), set()).add(c)
    family: dict[tuple[str, ...], int] = {}
    for g, idx in seen.items():
        stem = (*g[:-1], g[-1].rstrip("0123456789")) if g else g
        family[stem] = family.get(stem, 0) + len(idx)
    return {g for g, idx in seen.items()
            if len(idx) >= 2 or family[(*g[:-1], g[-1].rstrip("0123456789")) if g else g] >= 2}


def blocks_of(net) -> tuple[Block, ...]:
    """The blocks of ``net`` recognised from its layer names (see the module docstring), in model order."""
    paths = [module_path(layer.name).split(".") for layer in net.layers]
    groups = _repeated_groups(paths)
    members: dict[tuple[str, ...], list[int]] = {}
    group_of: dict[tuple[str, ...], tuple[str, ...]] = {}
    for i, comps in enumerate(paths):
        key = None
        for j, c in enumerate(comps):
            if c.isdigit() and tuple(comps[:j]) in groups:
                key = tuple(comps[: j + 1])
                group_of[key] = tuple(comps[:j])
                break
        if key is None:
            key = (comps[0],)
        members.setdefault(key, []).append(i)
    used = set(group_of.values())
    out = []
    for key, idx in sorted(members.items(), key=lambda kv: kv[1][0]):
        group = group_of.get(key)
        parts = list(dict.fromkeys(paths[i][len(key)] for i in idx if len(paths[i]) > len(key)))
        containers = {paths[i][len(key)] for i in idx if len(paths[i]) > len(key) + 1}
        if group is None:
            out.append(Block(".".join(key), ".".join(key), tuple(idx), "", None, tuple(parts)))
            continue
        index = int(key[-1])
        shown = list(dict.fromkeys(PART_LABELS[p.lower()] for p in parts
                                   if p in containers and p.lower() in PART_LABELS))
        head = f"block {index}" if (not group or group[-1] in GENERIC_GROUPS) else ".".join(key)
        if not group and len(idx) == 1:  # a bare nn.Sequential child: "2 · dense 32" says more than "block 2"
            layer = net.layers[idx[0]]
            head = f"{key[-1]} · {layer.kind} {'×'.join(map(str, layer.shape))}"
        if group and group[:-1] and group[-1] in GENERIC_GROUPS and sum(
                g[-1:] == group[-1:] for g in used) > 1:
            head = f"{group[-2]} {head}"  # encoder block 2 / decoder block 2 (T5, BART)
        out.append(Block(".".join(key), " · ".join([head, *shown]), tuple(idx), ".".join(group), index,
                         tuple(parts)))
    return tuple(out)
