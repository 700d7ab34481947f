"""Dead and saturated units: neurons that, over every recorded frame, never activate, sit in the flat part of
their activation function, or get no gradient. Plain NumPy.

What "dead" and "saturated" mean depends on the layer's activation function (``Layer.activation``, set by
ingest when it folds the function into the layer, or on an ``activation`` layer): :data:`RULES` holds one rule
per function, so a new function is one entry. A layer without a known function gets only the gradient flag.
Over a training recording the frames are the recorded steps, so a unit is flagged when it was dead (or
saturated) at every one of them; over samples, when it was for every sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..activations import Activations
from ..network import Network

SATURATION = 0.02
"""How close to its asymptote a sigmoid (< 0.02 or > 0.98) or tanh (|x| > 0.98) output counts as saturated."""
CHUNK = 1 << 22  # values read at a time: a memory-mapped recording is streamed, never loaded whole


@dataclass(frozen=True)
class Rule:
    """Per-value tests of one activation function's output, each a vectorised ``x -> bool array``: ``dead``
    (no output, so no gradient through it) and ``saturated`` (in a flat part, where the gradient vanishes)."""

    dead: Callable[[np.ndarray], np.ndarray] | None = None
    saturated: Callable[[np.ndarray], np.ndarray] | None = None


RULES: dict[str, Rule] = {
    "relu": Rule(dead=lambda x: x <= 0),
    "relu6": Rule(dead=lambda x: x <= 0, saturated=lambda x: x >= 6),
    "sigmoid": Rule(saturated=lambda x: (x < SATURATION) | (x > 1 - SATURATION)),
    "hardsigmoid": Rule(saturated=lambda x: (x <= 0) | (x >= 1)),
    "tanh": Rule(saturated=lambda x: np.abs(x) > 1 - SATURATION),
    "hardtanh": Rule(saturated=lambda x: np.abs(x) >= 1),
}
"""The rule of each activation function (``Layer.activation``) that can leave a unit dead or saturated."""

FLAGS = ("dead", "saturated", "zero-grad")
HIGHLIGHTS = (*FLAGS, "any")
"""What ``--highlight`` marks: one flag, or any of them."""


@dataclass(frozen=True)
class UnitFlags:
    """bool (n_neurons,) per flag, over all frames: ``dead`` (a ReLU-like unit with output <= 0 in every frame),
    ``saturated`` (in its activation's flat part in every frame), ``zero_grad`` (∂loss/∂a exactly 0 in every
    frame; all False without recorded gradients); ``grads``: whether gradients were recorded."""

    dead: np.ndarray
    saturated: np.ndarray
    zero_grad: np.ndarray
    grads: bool = False

    def mask(self, which: str = "any") -> np.ndarray:
        """bool (n_neurons,): the units flagged ``which`` (one of :data:`HIGHLIGHTS`)."""
        if which == "any":
            return self.dead | self.saturated | self.zero_grad
        if which not in FLAGS:
            raise ValueError(f"unknown unit flag {which!r}; choose one of {', '.join(HIGHLIGHTS)}")
        return {"dead": self.dead, "saturated": self.saturated, "zero-grad": self.zero_grad}[which]

    def counts(self, net: Network) -> dict[str, np.ndarray]:
        """Per flag, int64 (n_layers,): how many of each layer's units carry it."""
        starts = np.asarray([la.start for la in net.layers], np.int64)
        return {f: np.add.reduceat(self.mask(f).astype(np.int64), starts) if len(starts) else np.zeros(0, np.int64)
                for f in FLAGS}



def _all_frames(rows: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """bool (n,): ``test`` true in every frame of ``rows`` (frames, n), read a chunk of frames at a time."""
    out = np.ones(rows.shape[1], bool)
    step = max(1, CHUNK // max(rows.shape[1], 1))
    for f0 in range(0, rows.shape[0], step):
        out &= np.all(test(np.asarray(rows[f0:f0 + step], np.float32)), axis=0)
    return out


def layer_flags(layer, acts: Activations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dead, saturated, zero_grad), each bool (layer.size,), of one :class:`~nn3d.network.Layer`'s units."""
    rule = RULES.get(layer.activation or "")
    flags = []
    for test in (rule and rule.dead, rule and rule.saturated):
        flags.append(np.zeros(layer.size, bool) if test is None else _all_frames(acts.values[:, layer.neurons], test))
    flags.append(np.zeros(layer.size, bool) if acts.grads is None else
                 _all_frames(acts.grads[:, layer.neurons], lambda g: g == 0))
    return tuple(flags)


def unit_flags(net: Network, acts: Activations) -> UnitFlags:
    """The :class:`UnitFlags` of ``acts`` (values and, when recorded, gradients) over all its frames."""
    if acts.n_neurons != net.n_neurons:
        raise ValueError(f"activations have {acts.n_neurons} neurons, the network {net.n_neurons}")
    n = net.n_neurons
    dead, saturated, zero = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    for la in net.layers:
        dead[la.neurons], saturated[la.neurons], zero[la.neurons] = layer_flags(la, acts)
    return UnitFlags(dead, saturated, zero, acts.grads is not None)


def layer_count_line(net: Network, acts: Activations, layer: int, flags: UnitFlags | None = None) -> str:
    """One line for the card of ``layer``: "units of fc1 (64): 3 dead · 1 zero-grad", naming the flags that can
    apply (those of its activation function's rule; zero-grad when gradients were recorded); "" when none can.
    ``flags``: the whole network's, when computed already (else only this layer's are)."""
    la = net.layers[layer]
    rule = RULES.get(la.activation or "")
    masks = (layer_flags(la, acts) if flags is None else
             tuple(m[la.neurons] for m in (flags.dead, flags.saturated, flags.zero_grad)))
    applies = (rule is not None and rule.dead is not None, rule is not None and rule.saturated is not None,
               acts.grads is not None)
    parts = [f"{int(m.sum())} {f}" for f, m, on in zip(FLAGS, masks, applies, strict=True) if on]
    return f"units of {la.name} ({la.size:,}): " + " · ".join(parts) if parts else ""
