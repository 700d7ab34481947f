"""examples/explore.ipynb runs top to bottom in a Jupyter kernel (nbclient, headless) and its outputs hold what
it says: the explorer widget, still images of the network in its colormap's colours, a screenshot, a video with
its frames. The kernel is this interpreter (a kernelspec written for the test), whatever kernels the user has."""

import base64
import gc
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "explore.ipynb"
BG = np.array([11, 13, 18])  # the scene's background
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_the_committed_notebook_has_no_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert sum("nn3d.explore(" in "".join(c["source"]) for c in code) == 2  # the browser test finds these


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook executed in a fresh kernel of this Python, in a temporary folder: (notebook, folder)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("jupyter_rfb", reason="the example's explorer is a jupyter_rfb widget")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    tmp = tmp_path_factory.mktemp("notebook")
    spec = tmp / "kernels" / "nn3d-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "nn3d test", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(tmp / "kernels")], ensure_native_kernel=False)
    km = KernelManager(kernel_name="nn3d-test", kernel_spec_manager=specs, transport="ipc",
                       ip=str(tmp / "kernel-ipc"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    work = tmp / "work"
    work.mkdir()
    client = nbclient.NotebookClient(nb, km=km, timeout=240, resources={"metadata": {"path": str(work)}})
    client.execute()
    del client, km
    with warnings.catch_warnings():  # the kernel client's zmq sockets, closed by their finalizers now, not
        warnings.simplefilter("ignore", ResourceWarning)  # during a later test (pytest makes that an error)
        gc.collect()
    return nb, work


def outputs(nb, source: str):
    """The outputs of the one code cell whose source contains ``source``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and source in c.source]
    assert len(cells) == 1, source
    return cells[0].outputs


def result(nb, source: str):
    results = [o for o in outputs(nb, source) if o.output_type == "execute_result"]
    assert len(results) == 1
    return results[0].data


def png(data) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(io.BytesIO(base64.b64decode(data)))


def assert_network_in_colormap(image: np.ndarray) -> None:
    """Non-background pixels, and among them the colormap's (viridis) colours from its dark to its bright end."""
    from nn3d.colormaps import lut

    rgb = image[..., :3].reshape(-1, 3).astype(int)
    net = rgb[np.abs(rgb - BG).sum(axis=1) > 40]
    assert len(net) > 0.03 * len(rgb), "hardly anything but background"
    viridis = lut("viridis")[:255, :3].astype(int)
    d = np.linalg.norm(net[:, None, :] - viridis[None, ::2, :], axis=-1)
    near = d.min(axis=1) < 8
    levels = 2 * d.argmin(axis=1)[near]
    assert near.sum() > 1000, f"only {near.sum()} pixels in the colormap's colours"
    assert (levels < 40).sum() > 20 and (levels > 200).sum() > 20, "the colormap's two ends should both show"


def test_the_notebook_runs_without_errors(executed):
    nb, _ = executed
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    assert "held-out accuracy" in "".join(o.get("text", "") for o in outputs(nb, "TrainingRecorder("))


def test_the_explorer_cells_show_the_widget(executed):
    nb, _ = executed
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    for source in ("nn3d.explore(model", "nn3d.explore(net"):
        data = result(nb, source)
        model = state[data[WIDGET]["model_id"]]  # the widget's state is stored with the notebook
        assert model["model_name"] == "AnyModel" and model["state"]["css_width"] == "800px"
        image = png(data["image/png"])  # beside it, for viewers without widgets
        assert image.shape[:2] == (500, 800)
        assert_network_in_colormap(image)


def test_the_snapshot_and_show_are_the_network_in_its_colours(executed):
    nb, _ = executed
    for source, size in (("replay.snapshot()", (500, 800)), ("nn3d.show(", (400, 640))):
        image = png(result(nb, source)["image/png"])
        assert image.shape[:2] == size
        assert_network_in_colormap(image)


def test_the_screenshot_and_the_video_are_written(executed):
    import imageio.v3 as iio

    nb, work = executed
    shot = iio.imread(work / "explore_output" / "digits_cnn.png")
    assert shot.shape[:2] == (600, 960)
    assert_network_in_colormap(shot)
    frames = iio.imread(work / "explore_output" / "digits_cnn.gif", index=None)
    assert frames.shape[:3] == (12, 200, 320)
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).max() > 50  # training changes the colours
    assert "image/gif" in result(nb, "Image(filename")
