"""Flagged units in the 3D scene: dead, saturated and zero-gradient units (:mod:`nn3d.analysis.units`) drawn in
a marked colour, one sprite a little larger than the neuron's over each, so that the unit itself shows the
mark from every side. Off by default; ``--highlight`` / the U key (:meth:`Explorer.set_highlight`) turn it on.
"""

from __future__ import annotations

import numpy as np

from ..analysis.units import FLAGS, UnitFlags
from .visuals import Neurons

MARK_COLORS = {"dead": (255, 40, 220, 255), "saturated": (255, 150, 30, 255), "zero-grad": (40, 230, 255, 255)}
"""Each flag's marked colour (RGBA8): magenta, orange, cyan; a unit with several flags takes the first's."""
MAX_MARKS = 1_000_000  # sprites at most (16 B of position each): the first ones, with a note in the log
MARK_SCALE = 1.12  # a mark's radius over the neuron's: it covers the neuron's own sphere


class UnitMarks:
    """The marks of ``flags`` (:class:`UnitFlags`) over a scene's neurons at ``positions`` (n_neurons, 3),
    sprites of radius ``radius`` (the scene's neuron radius, scaled by :data:`MARK_SCALE`); ``which`` is
    None (hidden) or one of :data:`nn3d.analysis.units.HIGHLIGHTS`. ``nodes`` (hidden when picking)."""

    def __init__(self, view, positions: np.ndarray, radius: float):
        lut = np.zeros((256, 4), np.uint8)
        for i, f in enumerate(FLAGS):
            lut[i] = MARK_COLORS[f]
        self.positions = positions
        self.sprites = Neurons(np.zeros((1, 3), np.float32), np.zeros(1, np.uint8), lut,
                               radius=MARK_SCALE * radius, min_px=3, parent=view.scene)
        self.sprites.order = 2
        self.nodes = [self.sprites]
        self.shown = np.zeros(0, np.int64)  # the neurons marked now
        self.sprites.visible = False

    def show(self, flags: UnitFlags | None, which: str | None) -> int:
        """Mark the units ``flags`` flags ``which`` (None: hide); returns how many are marked."""
        if flags is None or which is None:
            self.sprites.visible, self.shown = False, np.zeros(0, np.int64)
            return 0
        ids = np.flatnonzero(flags.mask(which))[:MAX_MARKS]
        self.shown = ids
        if len(ids) == 0:
            self.sprites.visible = False
            return 0
        level = np.full(len(ids), len(FLAGS) - 1, np.uint8)
        for i, f in reversed(list(enumerate(FLAGS))):  # the first flag a unit carries wins
            level[flags.mask(f)[ids]] = i
        self.sprites.set_positions(np.asarray(self.positions[ids], np.float32), level)
        self.sprites.visible = True
        return len(ids)
