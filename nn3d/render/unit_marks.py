"""Flagged units in the 3D scene: dead, saturated and zero-gradient units (:mod:`nn3d.analysis.units`) drawn in
a marked colour, one sprite a little larger than the neuron's over each, so that the unit itself shows the
mark from every side. Off by default; ``--highlight`` / the U key (:meth:`Explorer.set_highlight`) turn it on.
"""

from __future__ import annotations

import logging

import numpy as np

from ..analysis.units import FLAGS, UnitFlags, layer_count_line, unit_flags
from .visuals import Neurons

log = logging.getLogger("nn3d")

MARK_COLORS = {"dead": (255, 40, 220, 255), "saturated": (255, 150, 30, 255), "zero-grad": (40, 230, 255, 255)}
"""Each flag's marked colour (RGBA8): magenta, orange, cyan; a unit with several flags takes the first's."""
MAX_MARKS = 1_000_000  # sprites at most (16 B of position each): the first ones, with a note in the log
MARK_SCALE = 1.12  # a mark's radius over the neuron's: it covers the neuron's own sphere


class UnitMarks:
    """Flagged units of ``net``'s ``activations`` (None: none) in a scene's ``view``, neurons at ``positions``
    (n_neurons, 3) of radius ``radius`` (marks: :data:`MARK_SCALE` larger). The flags are computed on first
    use (:meth:`flags`); :meth:`show` marks one kind, :meth:`card_line` counts a layer's for the pick card.
    ``nodes``: hidden in the picking pass."""

    def __init__(self, view, net, activations, positions: np.ndarray, radius: float):
        lut = np.zeros((256, 4), np.uint8)
        for i, f in enumerate(FLAGS):
            lut[i] = MARK_COLORS[f]
        self.net, self.activations, self.positions = net, activations, positions
        self.sprites = Neurons(np.zeros((1, 3), np.float32), np.zeros(1, np.uint8), lut,
                               radius=MARK_SCALE * radius, min_px=3, parent=view.scene)
        self.sprites.order = 2  # after the neurons; ties in the depth buffer (its precision at a distance is
        # coarser than a sphere's depth) go to the mark, so the unit shows the mark and neurons in front hide it
        self.sprites.set_gl_state("opaque", depth_test=True, depth_func="lequal")
        self.nodes = [self.sprites]
        self.shown = np.zeros(0, np.int64)  # the neurons marked now
        self.sprites.visible = False
        self._flags: UnitFlags | None = None
        self._lines: dict[int, str] = {}

    def flags(self) -> UnitFlags | None:
        """The units flagged over all frames (:func:`~nn3d.analysis.units.unit_flags`); None without activations."""
        if self._flags is None and self.activations is not None:
            self._flags = unit_flags(self.net, self.activations)
        return self._flags

    def card_line(self, layer: int) -> str:
        """The pick card's count of ``layer``'s flagged units (its layer alone, unless all are known already)."""
        if self.activations is None:
            return ""
        if layer not in self._lines:
            self._lines[layer] = layer_count_line(self.net, self.activations, layer, self._flags)
        return self._lines[layer]

    def show(self, which: str | None) -> int:
        """Mark the units flagged ``which`` (one of :data:`~nn3d.analysis.units.HIGHLIGHTS`; None: hide);
        returns how many are marked."""
        flags = None if which is None else self.flags()
        ids = np.zeros(0, np.int64) if flags is None else np.flatnonzero(flags.mask(which))
        if len(ids) > MAX_MARKS:
            log.warning("nn3d: %d %s units flagged: the first %d marked", len(ids), which, MAX_MARKS)
            ids = ids[:MAX_MARKS]
        self.shown = ids
        self.sprites.visible = len(ids) > 0
        if len(ids):
            level = np.full(len(ids), len(FLAGS) - 1, np.uint8)
            for i, f in reversed(list(enumerate(FLAGS))):  # the first flag a unit carries wins
                level[flags.mask(f)[ids]] = i
            self.sprites.set_positions(np.asarray(self.positions[ids], np.float32), level)
        return len(ids)
