"""The explorer in Jupyter: backend choice in a kernel, the jupyter_rfb widget's frames and events, still images,
and the fallback without jupyter_rfb. (The example notebook, executed by nbclient: test_notebook_example.py.)"""

import asyncio
import base64
import io
import sys

import numpy as np
import pytest

import nn3d
from nn3d import synthetic
from nn3d.render import backend

BG = np.array([11, 13, 18])  # #0b0d12, the scene's background


def decode_png(data) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(io.BytesIO(base64.b64decode(data) if isinstance(data, str) else data))


def network_pixels(image: np.ndarray) -> np.ndarray:
    """The RGB pixels that are not background."""
    rgb = image[..., :3].reshape(-1, 3).astype(int)
    return rgb[np.abs(rgb - BG).sum(axis=1) > 40]


class ZMQInteractiveShell:  # what get_ipython() returns inside a Jupyter kernel (ipykernel's shell), by name
    pass


class TerminalInteractiveShell:
    pass


@pytest.fixture
def kernel(monkeypatch):
    """This process made to look like a Jupyter kernel: IPython's get_ipython() gives a ZMQ shell."""
    IPython = pytest.importorskip("IPython")
    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell())
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return monkeypatch


@pytest.fixture
def no_rfb(monkeypatch):
    monkeypatch.setitem(sys.modules, "jupyter_rfb", None)  # `import jupyter_rfb` raises ImportError


@pytest.fixture
def rfb():
    pytest.importorskip("jupyter_rfb", reason="the notebook widget needs jupyter_rfb (pip install jupyter_rfb)")


@pytest.fixture
def mlp():
    """A 4-3-2 MLP with three frames of known activations."""
    net = synthetic.mlp([4, 3, 2], seed=0)
    values = np.array([[0.0, 1.0, 2.0, 3.0, 5.0, -1.0, 2.0, 0.25, 0.75]] * 3, np.float32)
    values[1] *= 2
    values[2, :4] = values[2, :4][::-1]
    return net, nn3d.Activations(values)


@pytest.fixture
def widget_explorer(rfb, mlp):
    from nn3d.render.notebook import NotebookExplorer

    ex = NotebookExplorer(*mlp, size=(480, 320), hud=False)
    yield ex
    ex.close()


def event(kind, **fields):
    """A jupyter_rfb event dict as the browser sends it (the renderview event spec)."""
    base = {"type": kind, "timestamp": 0.0, "modifiers": (), "buttons": (), "button": 0}
    return {**base, **fields}


def drag(widget, start, end, steps=5, button=1):
    (x0, y0), (x1, y1) = start, end
    widget.handle_event(event("pointer_down", x=x0, y=y0, button=button, buttons=(button,)))
    for t in np.linspace(0, 1, steps + 1)[1:]:
        widget.handle_event(event("pointer_move", x=x0 + t * (x1 - x0), y=y0 + t * (y1 - y0), button=button,
                                  buttons=(button,)))
    widget.handle_event(event("pointer_up", x=x1, y=y1, button=button))


def press(widget, key, modifiers=()):
    widget.handle_event(event("key_down", key=key, modifiers=tuple(modifiers)))
    widget.handle_event(event("key_up", key=key, modifiers=tuple(modifiers)))


# -- where the explorer shows ----------------------------------------------------------------------------------
def test_a_kernel_gets_the_widget_a_terminal_does_not(kernel, monkeypatch):
    import IPython

    pytest.importorskip("jupyter_rfb")
    assert backend.in_kernel() and backend.explorer_target() == "notebook"
    monkeypatch.setattr(IPython, "get_ipython", lambda: TerminalInteractiveShell())  # plain `ipython`
    assert not backend.in_kernel() and backend.explorer_target() == "offscreen"
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # a script that imported IPython
    assert not backend.in_kernel()


def test_a_kernel_without_jupyter_rfb_gets_still_images(kernel, no_rfb):
    assert backend.explorer_target() == "still"


def test_nn3d_backend_overrides_the_choice(kernel, monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "egl")  # a user who wants no widget in a kernel
    assert backend.explorer_target() == "offscreen" and backend.candidates() == ["egl"]
    monkeypatch.setenv(backend.ENV_VAR, "jupyter_rfb")
    assert backend.candidates() == ["egl"]  # names the explorer's backend, not the process's
    if backend.notebook_available():
        assert backend.explorer_target() == "notebook"
    monkeypatch.setitem(sys.modules, "jupyter_rfb", None)
    with pytest.raises(backend.BackendError, match="pip install jupyter_rfb"):
        backend.explorer_target()


def test_in_kernel_never_imports_ipython(run_without_opengl):
    out = run_without_opengl("import sys; from nn3d.render.backend import in_kernel; "
                             "print(in_kernel(), 'IPython' in sys.modules)")
    assert out == "False False"


# -- explore() in a kernel ---------------------------------------------------------------------------------------
def test_explore_in_a_kernel_returns_the_widget_explorer(kernel, rfb, mlp):
    from nn3d.render.notebook import NotebookExplorer

    view = nn3d.explore(*mlp, size=(320, 200))
    try:
        assert isinstance(view, NotebookExplorer) and view.canvas.size == (320, 200)
        assert view.widget.css_width == "320px" and view.canvas.app.backend_name == "jupyter_rfb"
        data, _ = view._repr_mimebundle_()
        assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id
        image = decode_png(data["image/png"])  # for viewers without widgets
        assert image.shape[:2] == (200, 320) and len(network_pixels(image)) > 200
    finally:
        view.close()


def test_explore_takes_a_torch_model_and_its_inputs(kernel, rfb):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    view = nn3d.explore(model, torch.randn(4, 6), size=(240, 160))
    try:
        assert view.net.n_neurons == 6 + 5 + 3 and view.n_frames == 4
    finally:
        view.close()
    with pytest.raises(nn3d.NetworkError, match="example inputs"):
        nn3d.explore(model)


def test_without_jupyter_rfb_explore_gives_a_still_and_one_line(kernel, no_rfb, mlp, caplog):
    from nn3d.render.notebook import StillExplorer

    with caplog.at_level("WARNING", logger="nn3d"):
        view = nn3d.explore(*mlp, size=(320, 200))
    try:
        hints = [r.getMessage() for r in caplog.records if "jupyter_rfb" in r.getMessage()]
        assert len(hints) == 1 and "pip install jupyter_rfb" in hints[0] and "\n" not in hints[0]
        assert isinstance(view, StillExplorer)
        view.show_frame(2)  # the Explorer's API still works; the cell shows its current view
        image = decode_png(view._repr_png_())
        assert image.shape[:2] == (200, 320) and len(network_pixels(image)) > 200
    finally:
        view.close()


def test_show_returns_an_inline_png_of_the_network(mlp):
    still = nn3d.show(*mlp, size=(400, 250), frame=1)
    image = decode_png(still._repr_png_())
    assert image.shape == (250, 400, 4) and np.array_equal(image, still.array)
    assert len(network_pixels(image)) > 300


# -- the widget: frames and events --------------------------------------------------------------------------------
def centres(explorer):
    return np.floor(explorer.scene.project(np.arange(explorer.net.n_neurons))).astype(int)


def test_widget_frame_is_the_network_in_its_colours(widget_explorer):
    ex = widget_explorer
    ex.scene.edges.visible = False
    frame = ex.widget.get_frame()  # what jupyter_rfb sends to the browser: a draw into the widget's FBO
    assert frame.shape == (320, 480, 4) and frame.dtype == np.uint8
    xy = centres(ex)
    expected = ex.scene.lut[ex.scene.frame_levels(ex.activations.frame(0))][:, :3]
    np.testing.assert_allclose(frame[xy[:, 1], xy[:, 0], :3], expected, atol=4)
    assert np.abs(frame[5, 5, :3].astype(int) - BG).max() <= 2  # background away from the network
    same = np.abs(frame.astype(int) - ex.render().astype(int)).max(axis=-1) <= 2
    assert same.mean() > 0.99  # the same picture as the offscreen path


def test_a_drag_on_the_widget_turns_the_camera_and_the_wheel_zooms(widget_explorer):
    ex = widget_explorer
    before = ex.camera_state
    drag(ex.widget, (240, 160), (300, 160))
    after = ex.camera_state
    assert abs(after.azimuth - before.azimuth) > 5 and after.center == pytest.approx(before.center)
    ex.widget.handle_event(event("wheel", x=240, y=160, dx=0, dy=-300))
    assert ex.camera_state.distance < 0.9 * after.distance


def test_a_click_on_the_widget_picks_the_neuron_under_it(widget_explorer):
    ex = widget_explorer
    x, y = centres(ex)[5]
    ex.widget.handle_event(event("pointer_down", x=float(x), y=float(y), button=1, buttons=(1,)))
    ex.widget.handle_event(event("pointer_up", x=float(x), y=float(y), button=1))
    assert ex.selected is not None and ex.selected.neuron == 5
    ex.widget.handle_event(event("pointer_down", x=3.0, y=3.0, button=1, buttons=(1,)))
    ex.widget.handle_event(event("pointer_up", x=3.0, y=3.0, button=1))
    assert ex.selected is None


def test_keys_on_the_widget_fly_and_step(widget_explorer):
    ex = widget_explorer
    press(ex.widget, "c")
    press(ex.widget, "c")  # turntable -> arcball -> fly: browser key names ("c") become VisPy's ("C")
    assert ex.mode == "fly"
    state = ex.camera_state
    press(ex.widget, "w")
    moved = np.asarray(ex.camera_state.center) - np.asarray(state.center)
    np.testing.assert_allclose(moved, ex.fly_step * state.forward, atol=1e-4)
    press(ex.widget, "W", modifiers=("Shift",))  # Shift: five steps
    assert np.linalg.norm(np.asarray(ex.camera_state.center) - state.center) == pytest.approx(6 * ex.fly_step)
    press(ex.widget, "ArrowRight")
    assert ex.frame == 1
    press(ex.widget, "ArrowLeft")
    press(ex.widget, "ArrowLeft")
    assert ex.frame == 2  # wraps around


def in_a_running_loop(coroutine):
    """Run ``coroutine`` on an asyncio loop, as the kernel runs event handlers (VisPy's jupyter_rfb timers are
    asyncio tasks); the loop other tests' widgets took stays the current one after."""
    policy = asyncio.get_event_loop_policy()
    previous = policy.get_event_loop()  # kept referenced, and restored
    loop = asyncio.new_event_loop()
    policy.set_event_loop(loop)
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()
        policy.set_event_loop(previous)


def test_space_on_the_widget_plays_on_the_kernels_event_loop(rfb, mlp):
    from nn3d.render.notebook import NotebookExplorer

    async def play():
        ex = NotebookExplorer(*mlp, size=(240, 160), hud=False)
        try:
            press(ex.widget, " ")
            assert ex.playing
            press(ex.widget, "+")  # 8 frames a second
            await asyncio.sleep(0.6)
            seen = ex.frame
            press(ex.widget, " ")
            playing = ex.playing
            press(ex.widget, "-")  # a speed change while paused
            return seen, playing
        finally:
            ex.close()

    seen, playing = in_a_running_loop(play())
    assert seen >= 1 and not playing


def test_a_drag_draws_the_strongest_edges_then_the_settle_timer_asks_for_all(rfb, mlp):
    from nn3d.render.notebook import NotebookExplorer

    async def settle():
        ex = NotebookExplorer(*mlp, size=(240, 160), hud=False)
        try:
            assert ex._settle is not None  # llvmpipe: the window's motion budget holds in the widget too
            ex.scene.edges.motion_budget = 4
            counts = []
            for step in range(2):
                drag(ex.widget, (120, 80), (140 + 10 * step, 80), steps=2)
                ex.widget.get_frame()
                counts.append(ex.scene.edges.reduced)
            asked = []
            ex.widget.request_draw = lambda: asked.append(1)  # what canvas.update() calls on this backend
            await asyncio.sleep(0.5)  # the settle timer asks for one more frame, drawn with every edge
            ex.widget.get_frame()
            return counts, len(asked), ex.scene.edges.reduced
        finally:
            ex.close()

    moving, asked, settled = in_a_running_loop(settle())
    assert moving == [True, True] and asked >= 1 and not settled


def test_snapshot_renders_the_current_view(widget_explorer):
    ex = widget_explorer
    ex.show_frame(1)
    shot = ex.snapshot()
    assert shot.array.shape == (320, 480, 4)
    np.testing.assert_array_equal(decode_png(shot.data), shot.array)
    assert np.abs(shot.array.astype(int) - ex.render().astype(int)).max() <= 2


def test_vispy_internals_the_widget_relies_on(rfb):
    """vispy_compat's rfb_* functions: fail here, by name, when a VisPy upgrade changes them."""
    from vispy.app import Application

    from nn3d.render import vispy_compat

    module = vispy_compat.rfb_module()
    assert hasattr(module, "OffscreenContext") and hasattr(module, "CanvasBackend")
    for name in ("_vispy_set_size", "_emit_resize_event", "handle_event", "get_frame"):
        assert hasattr(module.CanvasBackend, name), f"VisPy's jupyter_rfb CanvasBackend.{name} is gone"
    assert "_backend_module" in vars(Application("egl")), "update vispy_compat.app_with_canvas"


GLFW_KERNEL = """
import IPython
class ZMQInteractiveShell: pass
IPython.get_ipython = lambda: ZMQInteractiveShell()
import numpy as np, nn3d
from nn3d import synthetic
from nn3d.render.backend import ensure_backend
net = synthetic.mlp([8, 6, 4], seed=0)
view = nn3d.explore(net, synthetic.random_activations(net), size=(320, 200))
frame = view.widget.get_frame()
lit = int((np.abs(frame[..., :3].astype(int) - [11, 13, 18]).sum(-1) > 40).sum())
print(ensure_backend(), type(view).__name__, frame.shape, lit > 1000)
view.close()
"""


def test_with_a_display_the_widget_draws_in_a_hidden_glfw_context(rfb, under_xvfb):
    out = under_xvfb([sys.executable, "-c", GLFW_KERNEL])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "glfw NotebookExplorer (200, 320, 4) True"


def test_the_widgets_help_lists_its_keys_but_no_escape(widget_explorer):
    ex = widget_explorer
    press(ex.widget, "h")
    assert ex.state.help and "W A S D Q E" in ex.overlays.help.text and "Esc" not in ex.overlays.help.text
    press(ex.widget, "Escape")  # VisPy's quit key would close the widget: not bound here
    assert ex.widget.get_frame() is not None


def test_events_and_frames_from_a_subshell_thread_run_on_the_kernels_thread(rfb, mlp):
    """JupyterLab sends widget messages through a kernel subshell (another thread), where the GL context, current
    on the main thread, cannot be made current (EGL_BAD_ACCESS): the widget hands that work to the main loop."""
    import threading

    from nn3d.render.notebook import NotebookExplorer

    async def from_a_subshell():
        ex = NotebookExplorer(*mlp, size=(240, 160), hud=False)
        try:
            ex.render()  # the context is current on this thread now
            sent, returned, where = [], [], []
            ex.widget.send_frame = sent.append
            ex.canvas.events.mouse_press.connect(lambda e: where.append(threading.current_thread()))
            before = ex.camera_state

            def subshell():
                drag(ex.widget, (120, 80), (170, 80))
                returned.append(ex.widget.get_frame())

            thread = threading.Thread(target=subshell)
            thread.start()
            thread.join()
            await asyncio.sleep(0.2)
            return before, ex.camera_state, sent, returned, where
        finally:
            ex.close()

    before, after, sent, returned, where = in_a_running_loop(from_a_subshell())
    assert where == [threading.main_thread()]  # the press was handled on the kernel's thread
    assert abs(after.azimuth - before.azimuth) > 2
    assert returned == [None] and len(sent) == 1 and sent[0].shape == (160, 240, 4)
    assert len(network_pixels(sent[0])) > 100
