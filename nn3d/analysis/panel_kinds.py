"""The analysis panel kinds, in one registry: what each shows, which layers it applies to, where the explorer
puts it and which frame it shows by default.

Plain data, no VisPy: :mod:`nn3d.render.panels` draws one view class per kind (and checks at import that it
has one for each), :mod:`nn3d.cli.plot` offers these names to ``nn3d plot --panel``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .data import incoming_weighted


@dataclass(frozen=True)
class PanelKind:
    """One kind of panel.

    ``need``: what a layer must have for it (:meth:`nn3d.analysis.Source.layer`'s ``need``); ``slot``:
    ``"column"`` (always shown in the explorer's panel column) or ``"detail"`` (the column's last slot, the one
    that suits the selected layer); ``recording``: needs curves over training (a training recording or a
    TensorBoard log's scalars: :attr:`nn3d.analysis.Source.has_curves`); ``last_frame``: by default it
    shows the last frame (the weights after training) rather than the first sample; ``grads``: needs recorded
    gradients (:attr:`nn3d.activations.Activations.grads`).
    """

    name: str
    need: str
    slot: str
    recording: bool = False
    last_frame: bool = False
    grads: bool = False


PANEL_KINDS: dict[str, PanelKind] = {k.name: k for k in (
    PanelKind("weights", "weights", "column", last_frame=True),
    PanelKind("hist", "weights", "column"),
    PanelKind("curves", "weights", "column", recording=True),
    PanelKind("gradflow", "grads", "column", grads=True),
    PanelKind("filters", "filters", "detail", last_frame=True),
    PanelKind("attention", "attention", "detail"),
    PanelKind("function", "function", "detail"),
)}
"""Every panel kind by name, in the explorer's order (column top to bottom, then the detail kinds)."""


def column_kinds(recording: bool, grads: bool = False) -> list[str]:
    """The kinds always shown in the explorer's column, top to bottom (``recording``: the source has curves over
    training, :attr:`nn3d.analysis.Source.has_curves`; ``grads``: recorded gradients)."""
    return [k.name for k in PANEL_KINDS.values()
            if k.slot == "column" and (recording or not k.recording) and (grads or not k.grads)]


def detail_kinds() -> list[str]:
    """The kinds that take turns in the column's last slot."""
    return [k.name for k in PANEL_KINDS.values() if k.slot == "detail"]


def detail_kind(source, layer: int) -> str:
    """Which detail kind suits ``layer`` of ``source`` (a :class:`~nn3d.analysis.Source`): attention for an
    attention layer, filters for a conv layer, else its activation function."""
    net = source.network
    if net.layers[layer].kind == "attention":
        return "attention"
    c = incoming_weighted(net, layer)
    if c is not None and net.connections[c].kind == "conv":
        return "filters"
    return "function"


def default_frame(source, kind: str) -> int:
    """The frame a panel of ``kind`` shows when none is asked for: the weights after training (the last
    recorded step) for the kinds marked ``last_frame``, the first sample otherwise."""
    return source.n_frames - 1 if PANEL_KINDS[kind].last_frame else 0
