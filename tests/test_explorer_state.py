"""The explorer's state and keymap driven without a canvas: events, playback wrapping, forward-pass steps."""

import subprocess
import sys

import pytest

from nn3d.explorer_state import ExplorerState
from nn3d.render.keymap import Keymap

MODES = ("turntable", "arcball", "fly")


def recorder(state, *names):
    seen = []
    for name in names:
        state.events.connect(name, lambda name=name, **values: seen.append((name, values)))
    return seen


def test_changes_emit_events_with_their_values():
    state = ExplorerState(n_layers=3, n_frames=4, modes=MODES)
    seen = recorder(state, "frame", "selection", "mode", "playing", "speed", "hud", "help", "panel_layer", "head")
    state.set_frame(2)
    state.select(7)
    state.select(None)
    state.next_mode()
    state.toggle_play()
    state.faster()
    state.set_hud(True)
    state.toggle_help()
    state.select_layer(1)
    state.next_head()
    assert seen == [("frame", {"frame": 2, "forward_step": 2}), ("selection", {"neuron": 7}),
                    ("selection", {"neuron": None}), ("mode", {"mode": "arcball"}), ("playing", {"playing": True}),
                    ("speed", {"speed": 2.0}), ("hud", {"on": True}), ("help", {"on": True}),
                    ("panel_layer", {"layer": 1}), ("head", {"head": 1})]
    assert (state.frame, state.mode, state.playing, state.hud, state.help, state.panel_layer) == (
        2, "arcball", True, True, True, 1)


def test_playback_wraps_both_ways_and_speed_is_clamped():
    state = ExplorerState(n_layers=2, n_frames=3)
    frames = []
    state.events.connect("frame", lambda frame, forward_step: frames.append(frame))
    for steps in (1, 1, 1, -1, 5):
        state.advance(steps)
    assert frames == [1, 2, 0, 2, 1]
    state.set_frame(-1)
    assert state.frame == 2
    for _ in range(20):
        state.faster()
    assert state.speed == 64
    for _ in range(20):
        state.slower()
    assert state.speed == 1 / 16


def test_forward_pass_steps_through_the_layers_then_the_next_frame():
    state = ExplorerState(n_layers=3, n_frames=2, frame=1)
    steps = []
    state.events.connect("frame", lambda frame, forward_step: steps.append((frame, forward_step)))
    state.set_forward_pass(True)
    for _ in range(4):
        state.advance()
    state.advance(-2)
    # (frame, layer): on from the first layer; past the last layer, the next frame (wrapping); back across one
    assert steps == [(1, 0), (1, 1), (1, 2), (0, 0), (0, 1), (1, 2)]
    state.set_forward_pass(False)
    assert (state.forward_pass, state.forward_step, steps[-1]) == (False, 2, (1, 2))


def test_bad_values_are_refused():
    state = ExplorerState(n_layers=2, modes=MODES)
    with pytest.raises(ValueError, match="unknown camera mode"):
        state.set_mode("orbit")
    with pytest.raises(ValueError, match="out of range"):
        state.select_layer(2)
    assert state.mode == "turntable"


def test_keymap_dispatches_the_most_specific_binding_and_writes_its_help():
    km, calls = Keymap(), []
    km.bind([str(i) for i in range(1, 10)], lambda k, m: calls.append(("recall", k)), "recall", label="1-9")
    km.bind([str(i) for i in range(1, 10)], lambda k, m: calls.append(("save", k)), "save", ("Control",),
            label="1-9")
    km.bind(("+", "="), lambda k, m: calls.append(("faster", k)), "faster", label="+")
    assert km.dispatch("4", "4") and km.dispatch("4", "4", {"Control"}) and km.dispatch("Equal", "=")
    assert not km.dispatch("Z", "z")
    assert calls == [("recall", "4"), ("save", "4"), ("faster", "=")]
    assert km.help(columns=2, gap=3).splitlines() == ["1-9  recall   Ctrl+1-9  save", "+  faster"]
    with pytest.raises(ValueError, match="bound already"):
        km.bind("+", lambda k, m: None, "again")


def test_the_state_and_keymap_import_no_vispy():
    code = ("import sys; sys.modules['vispy'] = None\n"
            "import nn3d.explorer_state, nn3d.render.keymap\n"
            "print('vispy' in sys.modules and sys.modules['vispy'] is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
