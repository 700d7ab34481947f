"""Keys of the explorer in one registry: each binding's keys, modifiers, action and description.

The same table dispatches key presses and writes the help overlay, so the help cannot drift from what the
keys do. Plain Python (no VisPy): keys are VisPy key names ("W", "Space", "Right") or typed text ("+").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("nn3d")
SHORT = {"Control": "Ctrl"}  # how the help writes modifiers


@dataclass(frozen=True)
class Binding:
    """``keys`` (any of them triggers it) with ``modifiers`` held; ``action(key, modifiers)`` runs;
    ``label`` is how the help names the keys (default: the keys, space-separated); ``description`` may be a
    function giving the text when the help is written (one naming a file that can change)."""

    keys: tuple[str, ...]
    action: Callable[[str, frozenset], object]
    description: str | Callable[[], str]
    modifiers: frozenset = frozenset()
    label: str = ""

    @property
    def text(self) -> str:
        return self.description() if callable(self.description) else self.description

    @property
    def name(self) -> str:
        keys = self.label or " ".join(self.keys)
        return "+".join([*(SHORT.get(m, m) for m in sorted(self.modifiers)), keys])


class Keymap:
    """An ordered registry of bindings. A press runs the binding whose keys match and whose modifiers are
    all held, the one needing the most modifiers first (Ctrl+1 before 1)."""

    def __init__(self):
        self.bindings: list[Binding] = []

    def bind(self, keys: str | Iterable[str], action: Callable, description: str | Callable[[], str],
             modifiers: Iterable[str] = (), label: str = "") -> Binding:
        keys = (keys,) if isinstance(keys, str) else tuple(keys)
        binding = Binding(keys, action, description, frozenset(modifiers), label)
        for other in self.bindings:
            if other.modifiers == binding.modifiers and set(other.keys) & set(keys):
                raise ValueError(f"{binding.name} is bound already: {other.text}")
        self.bindings.append(binding)
        return binding

    def find(self, key: str, text: str = "", modifiers: Iterable[str] = ()) -> Binding | None:
        held = frozenset(modifiers)
        matches = [b for b in self.bindings if (key in b.keys or (text and text in b.keys)) and b.modifiers <= held]
        return max(matches, key=lambda b: len(b.modifiers), default=None)

    def dispatch(self, key: str, text: str = "", modifiers: Iterable[str] = ()) -> bool:
        """Run the binding for a press; False when no binding takes it."""
        binding = self.find(key, text, modifiers)
        if binding is None:
            return False
        binding.action(key if key in binding.keys else text, frozenset(modifiers))
        return True

    def help(self, columns: int = 3, gap: int = 4) -> str:
        """One entry per binding ("keys  description"), ``columns`` to a line, each column as wide as its
        widest entry and ``gap`` more."""
        entries = [f"{b.name}  {b.text}" for b in self.bindings]
        widths = [max(map(len, entries[c::columns])) + gap for c in range(min(columns, len(entries)))]
        rows = [entries[i:i + columns] for i in range(0, len(entries), columns)]
        return "\n".join("".join(e.ljust(w) for e, w in zip(row, widths)).rstrip() for row in rows)


def explorer_keys(ex) -> Keymap:
    """The explorer's keys: each one's action (a public method of the Explorer ``ex``) and its help line."""
    km = Keymap()
    moves = {"W": (1, 0, 0), "S": (-1, 0, 0), "D": (0, 1, 0), "A": (0, -1, 0), "E": (0, 0, 1), "Q": (0, 0, -1)}
    digits = [str(i) for i in range(1, 10)]
    km.bind("C", lambda k, m: ex.next_camera_mode(), "camera: turntable / arcball / fly")
    km.bind("R", lambda k, m: ex.reset_camera(), "reset camera")
    km.bind("F", lambda k, m: ex.frame_selected(), "frame selected layer")
    km.bind(moves, lambda k, m: ex.mode == "fly" and ex.fly(*moves[k], fast="Shift" in m),
            "fly (Shift: faster)", label="W A S D Q E")
    km.bind(digits, lambda k, m: ex.recall_bookmark(int(k)), "recall bookmark", label="1-9")
    km.bind(digits, lambda k, m: ex.save_bookmark(int(k)), "save bookmark", ("Control",), label="1-9")
    km.bind("Space", lambda k, m: ex.toggle_play(), "play / pause")
    km.bind(("Left", "Right"), lambda k, m: ex.advance(1 if k == "Right" else -1), "step")
    km.bind(("+", "="), lambda k, m: ex.faster(), "faster", label="+")
    km.bind(("-", "_"), lambda k, m: ex.slower(), "slower", label="-")
    km.bind("M", lambda k, m: ex.toggle_forward_pass(), "samples / forward pass")
    km.bind("H", lambda k, m: ex.toggle_help(), "this help")
    km.bind("P", lambda k, m: log.info("nn3d: camera saved to %s", ex.save_camera()),
            lambda: f"save camera to {ex.camera_path.name}")
    km.bind("L", lambda k, m: ex.camera_path.is_file() and ex.load_camera(), "load it")
    km.bind("]", lambda k, m: ex.next_head(), "next attention head")
    km.bind("U", lambda k, m: ex.next_highlight(), "mark dead / saturated / zero-grad units")
    return km
