"""The explorer: a NetworkScene with cameras, picking, overlays and playback, in a window or offscreen.

The same object serves both: with a display it is shown through glfw and driven by real events; offscreen
(tests, screenshots) the same handlers take synthetic events and ``render()`` returns frames. It is the view
of an :class:`nn3d.explorer_state.ExplorerState` (what is shown, no GL) and dispatches keys through the
keymap of :mod:`nn3d.render.keymap`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from .. import camera_pose as camera_file
from ..activations import Activations
from ..camera_pose import CameraState
from ..color_modes import check_color
from ..explorer_state import ExplorerState
from ..layout import layout, select_edges
from ..network import Network, NetworkError
from ..pick_card import NeuronInfo, neuron_info
from ..progress import LONG, stage
from . import camera_controls, offscreen
from .backend import has_display, window_possible
from .highlight import Highlight
from .keymap import explorer_keys
from .lod import edge_budget
from .overlays import Overlays, colorbar, help_text
from .scene import NetworkScene
from .unit_marks import UnitMarks

log = logging.getLogger("nn3d")
RESELECT_LIMIT = 5_000_000  # re-rank edges by |w*a| on every frame while there are at most this many candidates
CAMERA_FILE = "nn3d-camera.json"  # the default camera file, in the working directory at construction
MOTION_EDGES = 30_000  # edges drawn while the camera moves in a window on software GL (see EdgesVisual)
SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "SwiftShader")


class Explorer:
    """Interactive view of a network and its activations: the VisPy view of an :class:`ExplorerState`.

    What is shown (frame, selection, camera mode, playback, forward-pass step, panels, overlays) lives in
    ``state`` and changes through its methods or this class's; the view subscribes to its events and draws.
    Keys go through ``keymap``, which also writes the help overlay; each key's action is a method here.

    Parameters
    ----------
    net, activations : the network and its frames (``activations`` may be None: neutral colours).
    frame : first frame shown.
    k, budget, rule : edge level of detail (see :func:`nn3d.layout.select_edges`); budget None: set by the
        frame's size (:func:`nn3d.render.lod.edge_budget`).
    spacing, conv, fold : layout options (see :func:`nn3d.layout.layout`): gap scale between layers; conv feature
        maps tiled in a plane ("tile") or stacked in depth ("stack"); a deep model folded into rows ("auto",
        None or a number of rows).
    hud : show the HUD, colour bar and layer labels.
    camera : a CameraState or a camera JSON file to start from.
    show : open a window (needs a display), or show the canvas ``app`` makes (a notebook widget).
    app : the canvas's VisPy Application (None: the process's backend); its timers run playback.
    panels : analysis panels beside the 3D view (see :mod:`nn3d.render.panels`), following the selected
        layer and the frame; a click on the training curves jumps to that step. True, or the
        :class:`nn3d.analysis.Source` they read (e.g. one holding the model, to capture attention maps).
    recording : the training recording (a :class:`nn3d.recorder.Recording` or its path) behind ``activations``,
        for the panels' curves and weights over training.
    color : what colours the neurons (:data:`nn3d.color_modes.COLOR_MODES`): "activation", "gradient"
        or "grad×act" (also spelt "gradxact", "grad*act"); the gradient modes need ``activations.grads`` and
        draw with a diverging colormap centred at zero.
    highlight : mark flagged units (:data:`nn3d.analysis.units.FLAGS`: "dead", "saturated", "zero-grad" or
        "any") over the frames, in their marked colour (:class:`nn3d.render.unit_marks.UnitMarks`).
    tensorboard : a TensorBoard log directory whose scalars join the curves panel and whose histograms join the
        histogram panel (see :mod:`nn3d.ingest.tensorboard_log`); implies ``panels``.

    ``camera_path`` (an attribute) is the file the P and L keys save to and load from: ``CAMERA_FILE`` in the
    working directory at construction, absolute, so a later ``chdir`` does not move it.
    """

    def __init__(self, net: Network, activations: Activations | None = None, frame: int = 0, size=(1280, 800),
                 k: int = 4, budget: int | None = None, rule: str = "contribution", colormap: str = "viridis",
                 normalisation: str = "layer", title: str | None = None, hud: bool = False,
                 camera: CameraState | str | Path | None = None, show: bool = False, panels=False,
                 recording=None, spacing: float = 1.0, conv: str = "tile", fold="auto", tensorboard=None,
                 color: str = "activation", highlight: str | None = None, app=None):
        self.color = check_color(color, activations)  # before anything is drawn: a one-line error
        self._reached_frame: int | None = None  # the frame a forward pass shows (the scene keeps its levels)
        if activations is not None:
            if activations.n_neurons != net.n_neurons:
                raise NetworkError(f"activations have {activations.n_neurons} neurons, network {net.n_neurons}")
            if not 0 <= frame < activations.n_frames:
                raise NetworkError(f"frame {frame} out of range: {activations.n_frames} frames")
        self.net, self.activations = net, activations
        self.k, self.budget = k, edge_budget(size) if budget is None else budget  # None: follows the frame
        self.rule = rule if activations is not None and not activations.blank else "weight"
        if self.rule != rule:
            log.info("nn3d: no activations to rank edges by: edges ranked by |w|")
        with stage(f"laying out {net.name} and choosing its edges", delay=LONG):  # minutes for 10^8 neurons
            placed = layout(net, spacing=spacing, conv=conv, fold=fold)
            edges = self._edges(frame)
        self.scene = NetworkScene(net, placed, edges, size=size,
                                  colormap=self.color.colormap(colormap), normalisation=normalisation, show=show,
                                  title=f"nn3d: {net.name}", app=app)
        self.canvas, self.view = self.scene.canvas, self.scene.view
        self.overlays = Overlays(self.canvas, self.view, net, self.scene.layout, self.scene.lut,
                                 title=self.scene.title)
        self.scene.overlays += [*self.overlays.nodes, self.overlays.always]  # all hidden in the picking pass
        self.highlight = Highlight(self.view, self.scene.layout.pitch)
        self.scene.overlays += self.highlight.nodes
        self.marks = UnitMarks(self.view, net, activations, self.scene.layout.positions, 0.32 * self.scene.layout.pitch)
        self.scene.overlays += self.marks.nodes
        self.panels = self._make_panels(panels, recording, tensorboard) if panels or tensorboard else None
        self.overlays.place(self._view_size(self.canvas.size))
        if self.panels is not None:
            self.reset_camera()  # the narrower view needs the camera further back
        self.state = ExplorerState(len(net.layers), self.n_frames, frame, hud=hud, modes=camera_controls.MODES)
        self.keymap = explorer_keys(self)
        self.camera_path = Path.cwd() / CAMERA_FILE
        self.bookmarks: dict[int, CameraState] = {}
        self.selected: NeuronInfo | None = None
        self.frame_ms, self.fps, self._last_draw, self._press, self._timer = 0.0, 0.0, None, None, None
        self.fly_step = float(np.linalg.norm(np.ptp(self.scene.layout.bounds, axis=0))) / 60
        self._subscribe()
        self._on_hud(hud)
        if highlight is not None:
            self.set_highlight(highlight)
        if title:
            self.scene.set_title(title)
        self.show_frame(frame)
        if camera is not None:
            self.set_camera(camera_file.load(camera)[0] if isinstance(camera, (str, Path)) else camera)
        self._settle = None
        if show and self._software_gl():  # keep a drag responsive: the strongest edges while moving, all after
            from vispy.app import Timer

            self.scene.edges.motion_budget = MOTION_EDGES
            self._settle = Timer(interval=0.2, iterations=1, start=False, connect=lambda ev: self.canvas.update(),
                                 app=self.canvas.app)
        self._connect()

    def _make_panels(self, source, recording, tensorboard=None):
        from ..analysis import Source
        from ..analysis.source import open_log
        from .panels import PanelColumn

        if recording is not None and not hasattr(recording, "record_steps"):
            from ..recorder import Recording

            recording = Recording(recording)
        if not isinstance(source, Source):
            source = Source(self.net, self.activations, recording, tensorboard=tensorboard)
        elif tensorboard is not None:
            source.tensorboard = open_log(tensorboard)
        column = PanelColumn(self.canvas, self.view, source)
        self.scene.overlays += column.nodes  # hidden in the picking pass
        return column

    def _view_size(self, size) -> tuple[int, int]:
        """The 3D view's share of a canvas of ``size``."""
        return (size[0], size[1]) if self.panels is None else (self.panels.view_width(size[0]), size[1])

    def _on_resize(self, event) -> None:
        if self.panels is not None:
            self.panels.place(event.size)
        self.overlays.place(self._view_size(event.size))

    # -- the state, as attributes -----------------------------------------------------------------------
    frame = property(lambda self: self.state.frame, doc="The frame shown.")
    mode = property(lambda self: self.state.mode, doc="The camera mode.")
    playing = property(lambda self: self.state.playing)
    speed = property(lambda self: self.state.speed, doc="Playback speed factor (1: four frames a second).")
    forward_pass = property(lambda self: self.state.forward_pass)
    forward_step = property(lambda self: self.state.forward_step, doc="The last layer lit in forward-pass mode.")
    hud_on = property(lambda self: self.state.hud)

    @property
    def camera_path(self) -> Path:
        return self._camera_path

    @camera_path.setter
    def camera_path(self, path) -> None:
        self._camera_path = Path(path).absolute()
        # the P key's description names the file
        self.overlays.help.text = help_text(self.keymap.help(), self.scene.esc_quits)

    def _subscribe(self) -> None:
        on = self.state.events.connect
        on("frame", self._on_frame)
        on("selection", self._on_selection)
        on("mode", lambda mode: camera_controls.switch(self.view, mode))
        on("playing", lambda playing: self._on_playing())
        on("speed", lambda speed: self._on_playing())
        on("panel_layer", lambda layer: self.panels is not None and self.panels.update(layer=layer))
        on("head", lambda head: self.panels is not None and self.panels.next_head())
        on("hud", self._on_hud)
        on("help", self._on_help)
        on("highlight", self.marks.show)

    def select_layer(self, layer: int | str) -> None:
        """Show layer ``layer`` (index or name) in the panels without selecting a neuron."""
        self.state.select_layer(layer if isinstance(layer, int) else self.net.layer_index(layer))

    def next_head(self) -> None:
        """The attention panel's next head."""
        self.state.next_head()

    # -- data -------------------------------------------------------------------------------------------
    def _values(self, frame: int) -> np.ndarray | None:
        return None if self.activations is None else self.activations.frame(frame)

    def set_highlight(self, which: str | None) -> None:
        """Mark the units flagged ``which`` ("dead", "saturated", "zero-grad", "any"; None: none)."""
        self.state.set_highlight(which)

    def next_highlight(self) -> None:
        """No marks, then dead, saturated, zero-gradient and any flagged units, then none again."""
        self.state.next_highlight()

    def colour_values(self, frame: int) -> np.ndarray | None:
        """The float32 (n_neurons,) array that colours ``frame`` in the colour mode (None: no activations)."""
        return None if self.activations is None else self.color.values(self.activations, frame)

    def _grads(self, frame: int) -> np.ndarray | None:
        grads = None if self.activations is None else self.activations.grads
        return None if grads is None else grads[frame]

    def _edges(self, frame: int):
        values = self._values(frame)
        if values is not None and not np.isfinite(np.sum(values, dtype=np.float64)):  # one cheap pass first
            n_nan = int(np.isnan(values).sum())
            if n_nan:
                log.warning("nn3d: %d NaN activation(s) in frame %d, drawn in grey", n_nan, frame)
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        edges = select_edges(self.net, k=self.k, budget=self.budget, rule=self.rule, activations=values)
        if edges.note and edges.note != getattr(self, "_note", None):  # once, not on every frame of a replay
            log.warning("nn3d: %s", edges.note)
        self._note = edges.note
        return edges

    @property
    def n_frames(self) -> int:
        return 1 if self.activations is None else self.activations.n_frames

    def show_frame(self, frame: int) -> None:
        """Colour the network by frame ``frame`` (wrapping around); in forward-pass mode, layers after the
        current step are drawn in the "no value" grey, as in recorded forward-pass videos."""
        self.state.set_frame(frame)

    def _on_frame(self, frame: int, forward_step: int) -> None:
        if self.panels is not None:
            self.panels.update(frame=frame)
        reached = self.net.layers[forward_step].stop if self.forward_pass else None
        if reached is not None and self._reached_frame == frame:
            self.scene.show_reached(reached)  # a forward step within the frame: only the layers it changes
            return
        values = self.colour_values(frame)
        if values is None:
            return
        self.scene.set_frame(values, reached=reached)
        self._reached_frame = None if reached is None else frame
        if self.rule == "contribution" and self._candidates() <= RESELECT_LIMIT:
            self.scene.set_edges(self._edges(frame))
        if self.state.selected is not None:
            self.state.select(self.state.selected)  # the card's value follows the frame
        self._update_colorbar()

    def _candidates(self) -> int:
        return sum(c.n_candidates for c in self.net.connections)

    def _update_colorbar(self) -> None:
        sel = self.selected
        self.overlays.set_colorbar(*colorbar(self.scene, self.colour_values(self.frame), sel and sel.layer,
                                             sel.layer_name if sel else "", self.color.name))

    # -- playback ---------------------------------------------------------------------------------------
    def advance(self, steps: int = 1) -> None:
        """Move playback on by ``steps``: frames, or layers in forward-pass mode (then the next sample)."""
        self.state.advance(steps)

    def toggle_play(self) -> None:
        self.state.toggle_play()

    def faster(self) -> None:
        """Double the playback speed (at most 64x)."""
        self.state.faster()

    def slower(self) -> None:
        """Halve the playback speed (at least 1/16x)."""
        self.state.slower()

    def _on_playing(self) -> None:
        if self.canvas.app.backend_name.lower() != "egl" and self._timer is None:
            from vispy import app

            self._timer = app.Timer(interval=0.25, connect=lambda ev: self._tick(), start=False, app=self.canvas.app)
        if self._timer is not None:
            self._timer.interval = 0.25 / self.speed
            if self.playing:
                self._timer.start()
            elif self._timer.running:  # a stopped timer stopped again fails on some backends (jupyter_rfb)
                self._timer.stop()

    def _tick(self) -> None:
        if self.playing:
            self.advance()
            self.canvas.update()

    def set_forward_pass(self, on: bool) -> None:
        self.state.set_forward_pass(on)

    def toggle_forward_pass(self) -> None:
        """Switch between samples and the forward pass through the layers."""
        self.state.set_forward_pass(not self.forward_pass)

    # -- cameras ----------------------------------------------------------------------------------------
    @property
    def camera_state(self) -> CameraState:
        return self.scene.camera_state

    def set_camera(self, state: CameraState) -> None:
        self.scene.set_camera(state)

    def set_camera_mode(self, mode: str) -> None:
        self.state.set_mode(mode)

    def next_camera_mode(self) -> None:
        """Turntable, then arcball, then fly, then turntable."""
        self.state.next_mode()

    def home_camera(self) -> CameraState:
        """The scene's home view (fitted to the 3-D view, which panels make narrower)."""
        return self.scene.home_camera()

    def reset_camera(self) -> None:
        self.set_camera(self.home_camera())

    def frame_layer(self, layer: int) -> None:
        """Point the camera at one layer, filling the view with it, from the current direction."""
        lo, hi = self.scene.layout.boxes[layer]
        state = self.camera_state
        radius = float(np.linalg.norm(hi - lo)) / 2
        distance = 1.1 * radius / np.tan(np.radians(max(state.fov, 10.0) / 2))
        self.set_camera(state.replace(center=tuple((lo + hi) / 2), distance=distance))

    def frame_selected(self) -> None:
        """Frame the selected neuron's layer (nothing without a selection)."""
        if self.selected is not None:
            self.frame_layer(self.selected.layer)

    def fly(self, forward: float = 0, right: float = 0, up: float = 0, fast: bool = False) -> None:
        """Move by steps of ``fly_step`` world units (5x with ``fast``) along the view's axes."""
        s = self.fly_step * (5.0 if fast else 1.0)
        self.set_camera(camera_controls.fly_move(self.camera_state, forward * s, right * s, up * s))

    def save_bookmark(self, slot: int) -> None:
        self.bookmarks[slot] = self.camera_state

    def recall_bookmark(self, slot: int) -> None:
        """Go to the camera saved in ``slot`` (nothing when it is empty)."""
        if slot in self.bookmarks:
            self.set_camera(self.bookmarks[slot])

    def save_camera(self, path=None) -> Path:
        """Write the camera to ``path`` (default ``camera_path``); returns the path written."""
        path = self.camera_path if path is None else Path(path)
        camera_file.save(self.camera_state, path)
        return path

    def load_camera(self, path=None) -> None:
        self.set_camera(camera_file.load(self.camera_path if path is None else path)[0])

    # -- picking ----------------------------------------------------------------------------------------
    def pick(self, x: float, y: float) -> NeuronInfo | None:
        """Select the neuron at canvas pixel (x, y); clicking empty space clears the selection."""
        neuron = self.scene.pick(x, y)
        if neuron is None:
            self.clear_selection()
            return None
        return self.select(neuron)

    def select(self, neuron: int) -> NeuronInfo:
        """Select a neuron: describe it on the card, ring it and its strongest connections, draw those."""
        self.state.select(neuron)
        return self.selected

    def clear_selection(self) -> None:
        self.state.select(None)

    def _on_selection(self, neuron: int | None) -> None:
        self.selected = None if neuron is None else neuron_info(self.net, neuron, self._values(self.frame),
                                                                grads=self._grads(self.frame))
        if self.selected is None:
            self.highlight.hide()
        else:
            self.highlight.show(self.selected, self.scene.layout.positions)
        line = "" if self.selected is None else self.marks.card_line(self.selected.layer)  # its flagged units
        self.overlays.set_card("" if self.selected is None else self.selected.describe() + (line and f"\n  {line}"))
        self.overlays.focus(None if self.selected is None else self.selected.layer)  # its block's layer labels
        self._update_colorbar()
        if self.panels is not None and neuron is None:
            self.panels.update(neuron=None)
        elif self.panels is not None:
            self.panels.update(layer=self.selected.layer, neuron=neuron)

    def _software_gl(self) -> bool:
        from vispy.gloo import gl

        self.canvas.set_current()
        renderer = str(gl.glGetParameter(gl.GL_RENDERER))
        return any(name in renderer for name in SOFTWARE_GL)

    # -- overlays ---------------------------------------------------------------------------------------
    def set_hud(self, on: bool) -> None:
        self.state.set_hud(on)

    def toggle_help(self) -> None:
        self.state.toggle_help()

    def _on_hud(self, on: bool) -> None:
        for node in self.overlays.nodes:
            node.visible = self.state.help if node is self.overlays.help else on

    def _on_help(self, on: bool) -> None:
        self.overlays.help.visible = on

    def _hud_text(self) -> str:
        label = ""
        if self.activations is not None and self.activations.labels:
            label = f" ({self.activations.labels[self.frame]})"
        step = f" · layer {self.forward_step + 1}/{len(self.net.layers)}" if self.forward_pass else ""
        state = "playing" if self.playing else "paused"
        colour = "" if self.color.name == "activation" else f" · colour: {self.color.name}"
        edges = self.scene.edges
        moving = f" (strongest {edges.motion_budget:,} while moving)" if edges.will_reduce() else ""
        return (f"frame {self.frame + 1}/{self.n_frames}{label}{step} · {state} x{self.speed:g}{colour}\n"
                f"{self.net.n_neurons:,} neurons · {len(self.scene.edges_set):,} edges "
                f"({edges.segments_drawn:,} lines · {edges.bundles_drawn:,} bundles){moving} · camera {self.mode}\n"
                f"{self.frame_ms:.1f} ms/frame" + (f" · {self.fps:.0f} FPS" if self.fps else "") + " · H: help")

    # -- keys and events --------------------------------------------------------------------------------
    def _connect(self) -> None:
        ev = self.canvas.events
        ev.key_press.connect(self.on_key_press)
        ev.mouse_press.connect(self.on_mouse_press)
        ev.mouse_release.connect(self.on_mouse_release)
        ev.mouse_move.connect(self.on_mouse_move)
        ev.resize.connect(self._on_resize)
        ev.draw.connect(self._before_draw, position="first")
        ev.draw.connect(self._after_draw, position="last")

    def _before_draw(self, event) -> None:
        self._draw_start = time.perf_counter()
        if self.hud_on:
            self.overlays.hud.text = self._hud_text()

    def _after_draw(self, event) -> None:
        now = time.perf_counter()
        self.frame_ms = 1000 * (now - self._draw_start)
        if self._last_draw is not None:
            self.fps = 0.8 * self.fps + 0.2 / max(now - self._last_draw, 1e-6)
        self._last_draw = now
        if self._settle is not None and self.scene.edges.reduced:
            # once the camera stops, one more frame draws every edge. Restart, not start: a one-shot VisPy
            # timer that has fired stays "running" until its next tick, and start() does nothing meanwhile,
            # so on slow GL (frames longer than the interval) the last moving frame's start() was lost
            if self._settle.running:  # stopping a stopped timer fails on some backends (jupyter_rfb)
                self._settle.stop()
            self._settle.start()

    def on_key_press(self, event) -> None:
        key = event.key.name if event.key is not None else ""
        if self.keymap.dispatch(key, event.text or "", {m.name for m in event.modifiers}):
            self.canvas.update()

    def on_mouse_press(self, event) -> None:
        self._press = event.pos

    def on_mouse_release(self, event) -> None:
        if self._press is not None and np.hypot(*(np.asarray(event.pos) - self._press)) < 4:
            if self.panels is not None and self.panels.contains(*event.pos):
                self.click_panels(*event.pos)
            else:
                self.pick(*event.pos)
            self.canvas.update()
        self._press = None

    def click_panels(self, x: float, y: float) -> None:
        """A click in the panel column: on the training curves or the gradient flow, jump to the recorded step
        nearest it; on a gradient-flow row, show that layer in the panels."""
        layer = self.panels.layer_at(x, y)
        if layer is not None:
            self.select_layer(layer)
        step = self.panels.step_at(x, y)
        on_flow = layer is not None  # the gradient flow's columns are frames; curves' steps only with a recording
        if step is not None and (on_flow or self.panels.source.recording is not None):
            self.show_frame(self.panels.source.frame_of_step(step))

    def on_mouse_move(self, event) -> None:
        if self.mode == "fly" and event.is_dragging and event.last_event is not None:
            dx, dy = np.asarray(event.pos) - event.last_event.pos
            self.set_camera(camera_controls.fly_look(self.camera_state, -0.2 * dx, -0.2 * dy))
            self.canvas.update()

    # -- output -----------------------------------------------------------------------------------------
    def render(self, size=None) -> np.ndarray:
        """The current frame, (height, width, 4) uint8; the HUD shows the previous render's time."""
        start = time.perf_counter()
        if self.hud_on:  # canvas.render() draws without a draw event
            self.overlays.hud.text = self._hud_text()
        image = self.scene.render(size)
        self.frame_ms = 1000 * (time.perf_counter() - start)
        return image

    def close(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self.scene.close()


def screenshot(net: Network, path, activations: Activations | None = None, size=(1600, 1000),
               select: int | None = None, transparent: bool = False, max_tile: int | None = None,
               **options) -> np.ndarray:
    """Render ``net`` offscreen at any ``size`` (tiled past the GL limit) and write the image to ``path``;
    returns the (height, width, 4) RGBA array.

    ``select`` picks a neuron first (its card and highlights appear with ``hud=True``). ``transparent`` needs a
    .png or .tif; ``max_tile`` lowers the tile side (tests). The path is checked before anything is rendered."""
    path = offscreen.check_image_out(path, transparent)
    explorer = Explorer(net, activations, size=offscreen.canvas_size(size), **options)
    try:
        if select is not None:
            explorer.select(select)
        # with the HUD: warm-up renders first (shader compilation), so that the HUD shows a steady frame time
        for _ in range(3 if explorer.hud_on else 0):
            explorer.render()
        image = offscreen.render_image(explorer, size, transparent=transparent, max_tile=max_tile)
    finally:
        explorer.close()
    offscreen.write_image(image, path)
    return image


def explore(net: Network, activations: Activations | None = None, run: bool = True,
            close_after: float | None = None, **options) -> Explorer:
    """Open the explorer on ``net``: a window when there is a display (returns after it closes, unless
    ``run=False``; ``close_after`` seconds closes it by itself); without a display, an offscreen Explorer
    whose ``render()`` gives frames."""
    show = has_display() and window_possible()
    explorer = Explorer(net, activations, show=show, hud=options.pop("hud", show), **options)
    if show and run:
        from vispy import app

        draws = []
        explorer.canvas.events.draw.connect(lambda event: draws.append(1))
        if close_after is not None:
            app.Timer(interval=close_after, iterations=1, start=True, connect=lambda event: explorer.canvas.close())
        app.run()
        log.info("nn3d: window closed after %d frame(s)", len(draws))
    return explorer
