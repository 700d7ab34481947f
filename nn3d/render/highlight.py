"""The picked neuron's highlight: rings around it (white) and its strongest partners (gold), lines to them."""

from __future__ import annotations

import numpy as np
from vispy import scene

from ..pick_card import NeuronInfo
from .visuals import Neurons


class Highlight:
    """Highlight nodes in ``view``'s scene for neurons placed ``pitch`` apart; ``nodes`` lists them (the
    picking pass hides them)."""

    def __init__(self, view, pitch: float):
        lut = np.zeros((256, 4), np.uint8)
        lut[0], lut[1] = (255, 255, 255, 255), (255, 200, 60, 255)
        self.rings = Neurons(np.zeros((1, 3), np.float32), np.zeros(1, np.uint8), lut, radius=1.5 * 0.32 * pitch,
                             min_px=6, ring=0.72, parent=view.scene)
        self.lines = scene.visuals.Line(parent=view.scene, connect="segments", width=2, antialias=False)
        self.rings.order, self.lines.order = 3, 1
        self.nodes = [self.rings, self.lines]
        self.hide()

    def show(self, info: NeuronInfo, positions: np.ndarray) -> None:
        """Ring ``info``'s neuron and its partners at ``positions`` (n_neurons, 3); lines from the incoming
        partners to it and from it to the outgoing ones."""
        neuron = info.neuron
        partners = [n for n, _, _ in info.incoming + info.outgoing]
        ids = np.array([neuron, *partners])
        self.rings.set_positions(positions[ids], np.r_[0, np.ones(len(partners))].astype(np.uint8))
        ends = [(positions[n], positions[neuron]) for n in partners[: len(info.incoming)]]
        ends += [(positions[neuron], positions[n]) for n in partners[len(info.incoming):]]
        self.rings.visible = True
        self.lines.visible = bool(ends)
        if ends:
            self.lines.set_data(np.asarray(ends, np.float32).reshape(-1, 3), color=(1, 0.85, 0.35, 1))

    def hide(self) -> None:
        for node in self.nodes:
            node.visible = False
