"""Reader for nn3d's own training recordings (``.nn3d``, written by :class:`nn3d.recorder.TrainingRecorder`)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("nn3d")
SUFFIXES = (".nn3d",)


def match(path: Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def read(path: Path, sample: int = 0):
    """(Network with the final weights, Activations with one frame per recorded step for probe ``sample``)."""
    from ..recorder import Recording

    rec = Recording(path)
    act = rec.activations(sample)
    log.info("nn3d: %s: training replay, %d recorded steps of probe sample %d", Path(path).name,
             act.n_frames, sample)
    return rec.network, act
