"""TensorBoard event files (a log directory) as plain NumPy: scalar curves and histograms per step.

Read with TensorBoard's own reader (``tensorboard.backend.event_processing``'s plugin event multiplexer, the one
its scalar and histogram dashboards read through), never a hand-written protobuf parser: the multiplexer finds
the runs (every folder holding ``events.out.tfevents.*`` files), and its ``data_compat`` step turns old- and
new-style summaries alike into tensors. A histogram arrives as TensorBoard draws it: (k, 3) rows of (left edge,
right edge, count), empty end buckets dropped and the outer edges at the data's min and max. Everything is kept
(no reservoir sampling: ``size_guidance`` 0), so every logged step is read.

The module is named ``tensorboard_log`` (not ``tensorboard``) so that it never reads as the package itself.
Errors are :class:`~nn3d.ingest.IngestError` with one line: a missing folder, no event files, or event files
without a scalar or histogram TensorBoard can read (a foreign file named like one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._base import IngestError

EVENTS_GLOB = "events.out.tfevents*"  # how TensorBoard names its event files (io_wrapper.IsTensorFlowEventsFile)


@dataclass(frozen=True)
class HistogramSeries:
    """One histogram tag over steps: ``steps`` int64 (n,), ascending; ``buckets[i]`` float64 (k_i, 3) rows of
    (left, right, count) at ``steps[i]`` (k_i may be 0: nothing logged but non-finite values)."""

    steps: np.ndarray
    buckets: list

    def at(self, step: float) -> np.ndarray:
        """The buckets logged at the step nearest ``step``."""
        return self.buckets[int(np.argmin(np.abs(self.steps - step)))]


@dataclass(frozen=True)
class TensorBoardLog:
    """What nn3d reads from a TensorBoard log directory.

    ``scalars``: tag -> (steps int64 (n,), values float64 (n,)), ascending steps; ``histograms``: tag ->
    :class:`HistogramSeries`. With several runs (sub-folders), a tag is ``run/tag``; a single run keeps the
    tags as logged.
    """

    path: Path
    scalars: dict = field(default_factory=dict)
    histograms: dict = field(default_factory=dict)

    @property
    def steps(self) -> np.ndarray:
        """Every step any scalar or histogram was logged at, ascending."""
        parts = [s for s, _ in self.scalars.values()] + [h.steps for h in self.histograms.values()]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def event_files(logdir: Path) -> list[Path]:
    """The TensorBoard event files under ``logdir`` (any depth)."""
    return sorted(p for p in logdir.rglob(EVENTS_GLOB) if p.is_file())


def read_log(logdir: str | Path) -> TensorBoardLog:
    """Read every run's scalars and histograms under ``logdir`` (see the module docstring)."""
    logdir = Path(logdir)
    if not logdir.is_dir():
        raise IngestError(f"no such TensorBoard log directory: {logdir}")
    files = event_files(logdir)
    if not files:
        raise IngestError(f"{logdir} holds no TensorBoard event files ({EVENTS_GLOB})")
    try:
        from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
        from tensorboard.util import tensor_util
    except ImportError:
        raise IngestError("reading TensorBoard logs needs the tensorboard package: "
                          "pip install 'nn3d[tensorboard]'") from None
    quiet = logging.getLogger("tensorboard")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # a corrupt record is reported below, as one line, not as a log warning
    try:
        mux = pem.EventMultiplexer(size_guidance={"tensors": 0}, tensor_size_guidance={"scalars": 0,
                                                                                         "histograms": 0})
        mux.AddRunsFromDirectory(str(logdir))
        mux.Reload()
        runs = sorted(mux.Runs())
        scalars, histograms = {}, {}
        for run in runs:
            acc = mux.GetAccumulator(run)
            prefix = "" if len(runs) == 1 else f"{run}/"
            for tag in sorted(acc.PluginTagToContent("scalars") if "scalars" in acc.ActivePlugins() else ()):
                events = _by_step(acc.Tensors(tag))
                scalars[prefix + tag] = (np.array([e.step for e in events], np.int64),
                                         np.array([float(tensor_util.make_ndarray(e.tensor_proto))
                                                   for e in events], np.float64))
            for tag in sorted(acc.PluginTagToContent("histograms") if "histograms" in acc.ActivePlugins() else ()):
                events = _by_step(acc.Tensors(tag))
                buckets = [np.asarray(tensor_util.make_ndarray(e.tensor_proto), np.float64).reshape(-1, 3)
                           for e in events]
                histograms[prefix + tag] = HistogramSeries(np.array([e.step for e in events], np.int64), buckets)
    except Exception as e:  # noqa: BLE001 - a corrupt file can fail anywhere in TensorBoard's reader
        raise IngestError(f"cannot read TensorBoard log {logdir}: {str(e).splitlines()[0] if str(e) else e!r}")\
            from None
    finally:
        quiet.setLevel(level)
    if not scalars and not histograms:
        raise IngestError(f"{logdir}: no scalars or histograms TensorBoard can read in its {len(files)} event "
                          "file(s) (not a TensorBoard log, or nothing logged yet)")
    return TensorBoardLog(logdir, scalars, histograms)


def _by_step(events) -> list:
    """Events in step order, one per step (the last logged wins, as when a run restarts from a checkpoint)."""
    last = {e.step: e for e in events}
    return [last[s] for s in sorted(last)]
