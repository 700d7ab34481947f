"""Progress of long work (a video's frames, a large model's batch chunks, benchmark sizes), fitted to where it
is shown.

- a terminal: tqdm's bar, redrawn in place, as wide as the terminal (``dynamic_ncols``), with the rate and
  the time left;
- a Jupyter kernel (with ipywidgets): tqdm's notebook bar (``tqdm.notebook``, the one ``tqdm.auto`` picks);
- anything else (a log file, CI, a pipe): one line when a stage starts and one when it ends, with its time
  and rate, never a line per update;
- ``enabled=False``, or ``NN3D_PROGRESS=0`` in the environment: nothing.

:func:`progress` counts steps of known number (also as an iterator over a sequence); :func:`stage` marks one
step of unknown length (start, then done with its time). ``delay`` seconds: work that ends sooner shows nothing
(tqdm's own ``delay``; the line mode prints its start line at the first update after it). The bar is
:mod:`tqdm`'s rather than nn3d's own: it already sizes itself to the terminal, estimates the time left and
draws the notebook widget. This module is nn3d's bottom layer: it imports nothing from nn3d.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager

MODES = ("off", "bar", "notebook", "lines")
LONG = 1.0  # seconds: nn3d's own long work (tracing in chunks, layout, tiles) shows progress only past this


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel that can draw tqdm's notebook widget (tqdm.autonotebook's test)."""
    if "ipykernel.zmqshell" not in sys.modules or "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    if shell is None or "qt" in type(shell).__name__.lower():
        return False
    try:
        from tqdm.notebook import IProgress
    except ImportError:
        return False
    return IProgress is not None  # ipywidgets installed


def display_mode(stream=None, enabled: bool = True) -> str:
    """How progress written to ``stream`` (default: stderr) is shown: one of :data:`MODES`."""
    if not enabled or os.environ.get("NN3D_PROGRESS", "").strip().lower() in ("0", "off", "no", "false"):
        return "off"
    if stream is None and _in_notebook():
        return "notebook"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "bar" if callable(isatty) and isatty() else "lines"


class Progress:
    """Progress over ``total`` steps of ``unit`` (see the module docstring); ``update(n)`` as they are done,
    ``close()`` at the end (or use it as a context manager: an exception shows where it stopped)."""

    def __init__(self, total: int, desc: str = "", *, unit: str = "it", enabled: bool = True, stream=None,
                 delay: float = 0.0, iterable=None):
        self.total, self.desc, self.unit, self.delay = int(total), desc, unit, float(delay)
        self.iterable = iterable
        self.mode = display_mode(stream, enabled)
        self.stream = sys.stderr if stream is None else stream
        self.done, self.t0, self.closed, self.started = 0, time.perf_counter(), False, False
        self.bar = None
        if self.mode in ("bar", "notebook"):
            if self.mode == "notebook":
                from tqdm.notebook import tqdm
            else:
                from tqdm import tqdm
            self.bar = tqdm(total=self.total, desc=desc, unit=unit, delay=self.delay, dynamic_ncols=True,
                            **({} if self.mode == "notebook" else {"file": self.stream}))
        elif self.mode == "lines" and self.delay <= 0:
            self._start_line()

    def _start_line(self) -> None:
        self.started = True
        self._print(f"{self.desc}: {self.total:,} {self.unit}{'s' if self.total != 1 else ''} ...")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.mode == "lines" and not self.started and time.perf_counter() - self.t0 >= self.delay:
            self._start_line()

    def close(self, failed: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        elif self.mode == "lines" and self.started:
            secs = time.perf_counter() - self.t0
            rate = f", {self.done / secs:.3g} {self.unit}/s" if secs > 0 and self.done else ""
            what = "stopped at" if failed else "done,"
            self._print(f"{self.desc}: {what} {self.done:,}/{self.total:,} {self.unit}s in {secs:.1f} s{rate}")

    def __iter__(self):
        if self.iterable is None:
            raise TypeError("this Progress was made from a count, not an iterable: call update()")
        try:
            for item in self.iterable:
                yield item
                self.update()
        except BaseException:
            self.close(failed=True)
            raise
        self.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.close(failed=kind is not None)


def progress(total, desc: str = "", *, unit: str = "it", enabled: bool = True, stream=None,
             delay: float = 0.0) -> Progress:
    """A :class:`Progress` over ``total`` steps, or over a sized iterable (iterate it: each item is a step).

    >>> for frame in progress(range(120), "recording fly.mp4", unit="frame"):
    ...     render(frame)
    """
    if isinstance(total, int):
        return Progress(total, desc, unit=unit, enabled=enabled, stream=stream, delay=delay)
    items = list(total) if not hasattr(total, "__len__") else total
    return Progress(len(items), desc, unit=unit, enabled=enabled, stream=stream, delay=delay, iterable=items)


@contextmanager
def stage(desc: str, *, enabled: bool = True, stream=None, delay: float = 0.0):
    """One step of unknown length: ``desc ...`` when it starts, ``desc: done in 1.2 s`` when it ends (on a
    terminal, the same line completed in place), ``desc: failed after 1.2 s`` on an exception. With ``delay``,
    the start line waits that long (a timer thread), and a stage that ends sooner prints nothing."""
    mode = display_mode(stream, enabled)
    stream = sys.stderr if stream is None else stream
    t0 = time.perf_counter()
    if mode == "off":
        yield
        return
    lock, started = threading.Lock(), []

    def start() -> None:
        with lock:
            if started is not None:
                started.append(True)
                stream.write(f"{desc} ..." + ("" if mode == "bar" else "\n"))
                stream.flush()

    timer = None
    if delay > 0:
        timer = threading.Timer(delay, start)
        timer.daemon = True
        timer.start()
    else:
        start()
    failed = True
    try:
        yield
        failed = False
    finally:
        if timer is not None:
            timer.cancel()
        with lock:
            shown, started = bool(started), None  # a timer firing from now on prints nothing
        if shown:
            secs = time.perf_counter() - t0
            end = f"failed after {secs:.1f} s" if failed else f"done in {secs:.1f} s"
            stream.write(f" {end}\n" if mode == "bar" else f"{desc}: {end}\n")
            stream.flush()
