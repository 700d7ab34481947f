"""Keys of the explorer in one registry: each binding's keys, modifiers, action and description.

The same table dispatches key presses and writes the help overlay, so the help cannot drift from what the
keys do. Plain Python (no VisPy): keys are VisPy key names ("W", "Space", "Right") or typed text ("+").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


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
        return "+".join([*sorted(self.modifiers), keys]) if self.modifiers else keys


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

    def help(self, columns: int = 3, width: int = 40) -> str:
        """One entry per binding ("keys  description"), ``columns`` to a line."""
        entries = [f"{b.name}  {b.text}" for b in self.bindings]
        rows = [entries[i:i + columns] for i in range(0, len(entries), columns)]
        return "\n".join("".join(e.ljust(width) for e in row[:-1]) + row[-1] for row in rows)
