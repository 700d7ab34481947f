"""nn3d.progress: a bar on a terminal, one line per stage start and end elsewhere, nothing when disabled."""

import io
import sys
import time

import pytest

from nn3d import progress as P


class Terminal(io.StringIO):
    """A stream that says it is a terminal (as stderr does in a shell)."""

    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def _progress_on(monkeypatch):
    monkeypatch.delenv("NN3D_PROGRESS", raising=False)


def test_non_terminal_gets_one_line_at_the_start_and_one_at_the_end_of_each_stage():
    out = io.StringIO()
    with P.progress(50, "recording a.mp4", unit="frame", stream=out) as bar:
        for _ in range(50):
            bar.update()
    for _ in P.progress(range(7), "tracing Big", unit="chunk", stream=out):
        pass
    with P.stage("laying out Big", stream=out):
        pass
    lines = out.getvalue().splitlines()
    assert len(lines) == 6, lines  # not one per update: 50 + 7 updates made two lines each
    assert lines[0] == "recording a.mp4: 50 frames ..."
    assert lines[1].startswith("recording a.mp4: done, 50/50 frames in ") and "frame/s" in lines[1]
    assert lines[2] == "tracing Big: 7 chunks ..." and lines[3].startswith("tracing Big: done, 7/7 chunks in ")
    assert lines[4] == "laying out Big ..." and lines[5].startswith("laying out Big: done in ")
    assert "\r" not in out.getvalue()


def test_a_stage_that_fails_says_where_it_stopped():
    out = io.StringIO()
    with pytest.raises(RuntimeError), P.progress(10, "recording b.gif", unit="frame", stream=out) as bar:
        bar.update(3)
        raise RuntimeError("disk full")
    with pytest.raises(KeyError), P.stage("loading x", stream=out):
        raise KeyError("x")
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("recording b.gif: stopped at 3/10 frames in ")
    assert lines[3].startswith("loading x: failed after ")


def test_terminal_gets_a_bar_redrawn_in_place_with_the_time_left():
    out = Terminal()
    assert P.display_mode(out) == "bar"
    with P.progress(20, "recording c.mp4", unit="frame", stream=out) as bar:
        for _ in range(20):
            bar.update()
            time.sleep(0.002)
    text = out.getvalue()
    assert "\r" in text and "recording c.mp4" in text
    assert "100%" in text and "20/20" in text and "frame/s" in text
    assert "<" in text  # tqdm's [elapsed<remaining]: the time left
    assert text.count("\n") <= 1  # one line, redrawn


def test_disabled_or_switched_off_prints_nothing(monkeypatch):
    for stream in (io.StringIO(), Terminal()):
        with P.progress(5, "x", stream=stream, enabled=False) as bar:
            bar.update(5)
        with P.stage("y", stream=stream, enabled=False):
            pass
        assert stream.getvalue() == ""
    monkeypatch.setenv("NN3D_PROGRESS", "0")
    out = io.StringIO()
    for _ in P.progress(range(3), "z", stream=out):
        pass
    assert out.getvalue() == "" and P.display_mode(Terminal()) == "off"


def test_quick_work_under_the_delay_shows_nothing_and_long_work_shows_its_stage():
    out = io.StringIO()
    with P.stage("quick", stream=out, delay=5.0):
        pass
    for _ in P.progress(range(3), "quick too", stream=out, delay=5.0):
        pass
    assert out.getvalue() == ""
    with P.stage("slow", stream=out, delay=0.05):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert lines[0] == "slow ..." and lines[1].startswith("slow: done in ")


def test_a_jupyter_kernel_gets_the_notebook_bar(monkeypatch):
    """The choice tqdm.autonotebook makes: inside an ipykernel shell (faked here), tqdm.notebook's widget."""
    pytest.importorskip("ipywidgets", reason="tqdm's notebook bar needs ipywidgets")
    IPython = pytest.importorskip("IPython")

    class ZMQInteractiveShell:  # the kernel's shell class, by name
        pass

    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", type(sys)("ipykernel.zmqshell"))
    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell(), raising=False)
    assert P.display_mode() == "notebook"
    assert P.display_mode(io.StringIO()) == "lines"  # an explicit stream is not the notebook's output
