"""The example notebook in a real browser: JupyterLab on localhost, headless Chromium, the explorer widget.

The test copies examples/explore.ipynb up to and including its ``nn3d.explore(`` cell (the later cells take
a screenshot and a video: tests/test_notebook*.py check those), serves it with its own JupyterLab, runs the cells
in Chromium and reads the page's pixels inside the widget: the network's neurons in the colormap's colours, and
a different picture after a mouse drag on the canvas. ``NN3D_BROWSER_SHOT=docs/notebook.png`` also saves the
widget's crop of the page (the README's picture). Skipped, saying why, only where no Chromium is installed
(CI installs it: .ci/setup), or without the ``browser`` extra outside CI.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import browser_driver as bd
import numpy as np
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "explore.ipynb"
EXPLORE_CALL = "nn3d.explore("
SHOT_ENV = "NN3D_BROWSER_SHOT"
BUDGET_S = 110  # the whole test, server start to the last screenshot (each wait gets what is left, at most)
LUT_TOLERANCE = 24  # RGB distance to the nearest colormap entry: jupyter_rfb sends JPEG frames


def _needs(what: str, why: str):
    if os.environ.get("CI"):
        pytest.fail(f"CI must have {what} (.ci/setup installs it): {why}")
    pytest.skip(f"{what} is not installed here ({why})")


@pytest.fixture
def chromium() -> str:
    for module in ("playwright", "jupyterlab", "jupyter_rfb"):
        try:
            __import__(module)
        except ImportError as e:
            _needs(f"the Python package {module} (pip install -e '.[browser]')", str(e))
    path = bd.find_chromium()
    if path is None:
        _needs("Chromium", f"none of {', '.join(bd.CHROMIUM_NAMES)} is on PATH and ${bd.CHROMIUM_ENV} is unset; "
                           "Debian: apt-get install chromium")
    return path


def _notebook_to_explore(dst: Path) -> None:
    """Write the example notebook's cells up to and including the one calling ``nn3d.explore(`` to ``dst``."""
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    last = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and EXPLORE_CALL in c.source), None)
    assert last is not None, f"{NOTEBOOK.name} has no cell calling {EXPLORE_CALL}...)"
    nb.cells = nb.cells[: last + 1]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, dst)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a folder that holds the trimmed notebook; always stopped (its whole process group)."""
    root = tmp_path / "root"
    root.mkdir()
    _notebook_to_explore(root / NOTEBOOK.name)
    server = bd.LabServer(root, tmp_path / "jupyter")
    try:
        yield server.start(timeout=40)
    finally:
        server.stop()


def _colormap_pixels(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of ``img`` (h, w, 3) that are not its background (its most common colour) but are within
    LUT_TOLERANCE of a colour of the explorer's table: (mask (h, w), nearest table level of each such pixel)."""
    from nn3d.colormaps import split_lut

    lut = split_lut()[:, :3].astype(np.int32)
    flat = img.reshape(-1, 3).astype(np.int32)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[np.argmax(counts)]
    foreground = np.abs(flat - background).sum(1) > 40
    dist = ((flat[:, None, :] - lut[None]) ** 2).sum(-1)
    nearest = dist.argmin(1)
    mask = foreground & (np.sqrt(dist[np.arange(len(flat)), nearest]) <= LUT_TOLERANCE)
    return mask.reshape(img.shape[:2]), nearest[mask]


def _assert_shows_network(img: np.ndarray, when: str) -> None:
    mask, levels = _colormap_pixels(img)
    cols = np.flatnonzero(mask.any(0))
    assert mask.sum() >= 300, f"{when}: only {mask.sum()} pixels of the widget have the colormap's colours"
    assert len(np.unique(levels)) >= 8, f"{when}: the neurons show only {len(np.unique(levels))} colour levels"
    assert cols[-1] - cols[0] >= img.shape[1] // 4, f"{when}: the network spans columns {cols[0]}..{cols[-1]} only"


def test_explore_widget_in_jupyterlab_shows_the_network_and_turns_on_drag(lab, chromium, tmp_path):
    start = time.monotonic()

    def left(cap: float) -> float:
        remaining = BUDGET_S - (time.monotonic() - start)
        assert remaining > 1, f"the browser test ran past its {BUDGET_S} s budget"
        return min(cap, remaining)

    with bd.chromium_page(chromium) as page:
        bd.open_notebook(page, lab, NOTEBOOK.name, timeout=left(40))
        bd.run_all_cells(page, timeout=left(80))
        first = bd.wait_frame(page, timeout=left(20))
        before = bd.page_crop(page)
        _assert_shows_network(before, "first frame")
        if os.environ.get(SHOT_ENV):
            bd.save_png(before, Path(os.environ[SHOT_ENV]))

        bd.drag(page, bd.RFB_IMG, dx=160, dy=60)
        bd.wait_frame(page, timeout=left(20), after=first)
        bd.wait_still(page, timeout=left(10))
        after = bd.page_crop(page)
    assert after.shape == before.shape, f"the widget was {before.shape[:2]} before the drag, {after.shape[:2]} after"
    changed = (np.abs(after.astype(int) - before.astype(int)).max(-1) > 40).mean()
    if changed < 0.01:
        for name, img in (("before", before), ("after", after)):
            bd.save_png(img, tmp_path / f"drag-{name}.png")
        pytest.fail(f"the drag changed only {changed:.2%} of the widget's pixels (see {tmp_path}/drag-*.png)")
    _assert_shows_network(after, "after the drag")
