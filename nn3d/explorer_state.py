"""What the explorer shows, as plain data that emits events: no GL, no VisPy, testable without a canvas.

As in napari's layer models, the state owns the facts (frame, selection, camera mode, playback, forward-pass
step, panels, overlays' visibility) and announces each change; the VisPy view (``nn3d.render.explorer``)
subscribes and draws. Every change goes through a method here, so keys, the Python API and tests share one
path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

SPEED_RANGE = (1 / 16, 64.0)  # playback speed factors, halved / doubled by the speed keys
HIGHLIGHTS = (None, "dead", "saturated", "zero-grad", "any")  # the U key's cycle (nn3d.analysis.units.HIGHLIGHTS)


class Events:
    """A small event emitter: callbacks per event name, called in the order they connected."""

    def __init__(self):
        self._callbacks: dict[str, list[Callable]] = defaultdict(list)

    def connect(self, name: str, callback: Callable) -> None:
        self._callbacks[name].append(callback)

    def disconnect(self, name: str, callback: Callable) -> None:
        self._callbacks[name].remove(callback)

    def emit(self, name: str, **values) -> None:
        for callback in list(self._callbacks[name]):
            callback(**values)


class ExplorerState:
    """The explorer's interactive state for a network of ``n_layers`` layers and ``n_frames`` frames;
    ``modes`` are the camera modes the view offers (the first is the initial one).

    Events (keyword arguments in brackets): ``frame`` (frame, forward_step): the frame or forward-pass step
    changed; ``selection`` (neuron: int or None); ``mode`` (mode); ``playing`` (playing); ``speed`` (speed);
    ``forward_pass`` (on); ``panel_layer`` (layer); ``head`` (head); ``hud`` (on); ``help`` (on); ``highlight``
    (which: the flagged units marked, one of ``HIGHLIGHTS``, or None).
    """

    def __init__(self, n_layers: int, n_frames: int = 1, frame: int = 0, hud: bool = False,
                 modes: tuple[str, ...] = ("turntable",)):
        if n_layers < 1 or n_frames < 1:
            raise ValueError(f"a state needs layers and frames, got {n_layers} layer(s), {n_frames} frame(s)")
        self.events = Events()
        self.n_layers, self.n_frames = n_layers, n_frames
        self.frame = frame % n_frames
        self.forward_pass, self.forward_step = False, n_layers - 1
        self.selected: int | None = None
        self.modes, self.mode = tuple(modes), modes[0]
        self.playing, self.speed = False, 1.0
        self.panel_layer: int | None = None
        self.head = 0
        self.hud, self.help = hud, False
        self.highlight: str | None = None

    # -- frames and playback --------------------------------------------------------------------------
    def set_frame(self, frame: int) -> None:
        """Show frame ``frame``, wrapping around the frames."""
        self.frame = frame % self.n_frames
        self.events.emit("frame", frame=self.frame, forward_step=self.forward_step)

    def advance(self, steps: int = 1) -> None:
        """Move playback on by ``steps``: frames, or layers in forward-pass mode (past the last layer, the
        next frame's first), wrapping around."""
        if not self.forward_pass:
            self.set_frame(self.frame + steps)
            return
        pos = self.frame * self.n_layers + self.forward_step + steps
        self.forward_step = pos % self.n_layers
        self.set_frame((pos // self.n_layers) % self.n_frames)

    def set_forward_pass(self, on: bool) -> None:
        """Forward-pass mode lights the layers up one step at a time, from the first; off shows them all."""
        self.forward_pass = bool(on)
        self.forward_step = 0 if on else self.n_layers - 1
        self.events.emit("forward_pass", on=self.forward_pass)
        self.set_frame(self.frame)

    def set_playing(self, playing: bool) -> None:
        self.playing = bool(playing)
        self.events.emit("playing", playing=self.playing)

    def toggle_play(self) -> None:
        self.set_playing(not self.playing)

    def set_speed(self, speed: float) -> None:
        """Playback speed factor, clamped to ``SPEED_RANGE``."""
        self.speed = float(min(max(speed, SPEED_RANGE[0]), SPEED_RANGE[1]))
        self.events.emit("speed", speed=self.speed)

    def faster(self) -> None:
        self.set_speed(self.speed * 2)

    def slower(self) -> None:
        self.set_speed(self.speed / 2)

    # -- selection, camera, panels, overlays ----------------------------------------------------------
    def select(self, neuron: int | None) -> None:
        """Select neuron ``neuron`` (None clears the selection); announced even when unchanged, since the
        card's values follow the frame."""
        self.selected = None if neuron is None else int(neuron)
        self.events.emit("selection", neuron=self.selected)

    def set_mode(self, mode: str) -> None:
        if mode not in self.modes:
            raise ValueError(f"unknown camera mode {mode!r}; modes: {self.modes}")
        self.mode = mode
        self.events.emit("mode", mode=mode)

    def next_mode(self) -> None:
        self.set_mode(self.modes[(self.modes.index(self.mode) + 1) % len(self.modes)])

    def select_layer(self, layer: int) -> None:
        """The layer the panels show (without selecting a neuron)."""
        if not 0 <= layer < self.n_layers:
            raise ValueError(f"layer {layer} out of range: {self.n_layers} layers")
        self.panel_layer = layer
        self.events.emit("panel_layer", layer=layer)

    def next_head(self) -> None:
        """The attention panel's next head (the panel wraps it around its layer's heads)."""
        self.head += 1
        self.events.emit("head", head=self.head)

    def set_hud(self, on: bool) -> None:
        self.hud = bool(on)
        self.events.emit("hud", on=self.hud)

    def set_help(self, on: bool) -> None:
        self.help = bool(on)
        self.events.emit("help", on=self.help)

    def toggle_help(self) -> None:
        self.set_help(not self.help)

    def set_highlight(self, which: str | None) -> None:
        """Mark the units flagged ``which`` (one of :data:`HIGHLIGHTS`; None: no marks)."""
        if which not in HIGHLIGHTS:
            raise ValueError(f"unknown highlight {which!r}; choose one of {', '.join(map(str, HIGHLIGHTS[1:]))}")
        self.highlight = which
        self.events.emit("highlight", which=which)

    def next_highlight(self) -> None:
        self.set_highlight(HIGHLIGHTS[(HIGHLIGHTS.index(self.highlight) + 1) % len(HIGHLIGHTS)])
