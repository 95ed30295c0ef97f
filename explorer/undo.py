"""Undo / redo without Qt: commands, macros, merging and a clean mark.

The session owns one `UndoStack` (`Session.undo`); the window shows it through a thin Qt adapter
(`ui/undo_adapter.py`: actions, enabled states, texts). The model is Qt's QUndoStack's, so the
behaviour users know stays: pushing a command runs it; a push after undos drops the redo tail;
consecutive commands with the same merge id >= 0 become one step; a macro groups the commands
pushed between `begin_macro` and `end_macro` into one step; `set_clean` marks the saved state.
"""
from __future__ import annotations

from typing import Callable


class Command:
    """One undoable step: `redo()` does it (also the first time, on push), `undo()` takes it back."""

    merge_id = -1

    def __init__(self, text: str = ""):
        self.text = text

    def redo(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError

    def merge_with(self, other: "Command") -> bool:
        """Absorb `other` (pushed right after, same merge_id >= 0); True if it did."""
        return False


class Macro(Command):
    """Several commands as one step (undone in reverse order)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.children: list[Command] = []

    def redo(self) -> None:
        for c in self.children:
            c.redo()

    def undo(self) -> None:
        for c in reversed(self.children):
            c.undo()


class UndoStack:
    """Listeners get called with no arguments after every change (push, undo, redo, clear, clean mark)."""

    def __init__(self):
        self._commands: list[Command] = []
        self._index = 0                 # commands[:index] are done
        self._clean: int | None = 0     # index of the saved state (None: not reachable any more)
        self._macros: list[Macro] = []
        self._listeners: list[Callable[[], None]] = []
        self._busy = False

    # ----- observing ----------------------------------------------------------------------
    def subscribe(self, fn: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn()

    # ----- state --------------------------------------------------------------------------
    def count(self) -> int:
        return len(self._commands)

    def index(self) -> int:
        return self._index

    def can_undo(self) -> bool:
        return self._index > 0 and not self._macros

    def can_redo(self) -> bool:
        return self._index < len(self._commands) and not self._macros

    def undo_text(self) -> str:
        return self._commands[self._index - 1].text if self.can_undo() else ""

    def redo_text(self) -> str:
        return self._commands[self._index].text if self.can_redo() else ""

    def text(self, i: int) -> str:
        return self._commands[i].text

    def is_clean(self) -> bool:
        return self._clean == self._index

    def set_clean(self) -> None:
        self._clean = self._index
        self._changed()

    # ----- changing -----------------------------------------------------------------------
    def push(self, cmd: Command) -> None:
        """Run `cmd` and record it (inside a macro: as part of the macro)."""
        if self._busy:
            raise RuntimeError("a command pushed another command while it ran")
        self._busy = True
        try:
            cmd.redo()
        finally:
            self._busy = False
        if self._macros:
            self._macros[-1].children.append(cmd)
            return
        self._record(cmd)

    def _record(self, cmd: Command) -> None:
        del self._commands[self._index:]
        if self._clean is not None and self._clean > self._index:
            self._clean = None
        last = self._commands[-1] if self._commands else None
        if (last is not None and cmd.merge_id >= 0 and last.merge_id == cmd.merge_id
                and self._clean != self._index and last.merge_with(cmd)):
            self._changed()
            return
        self._commands.append(cmd)
        self._index += 1
        self._changed()

    def begin_macro(self, text: str) -> None:
        self._macros.append(Macro(text))

    def end_macro(self) -> None:
        if not self._macros:
            raise RuntimeError("end_macro without begin_macro")
        macro = self._macros.pop()
        if self._macros:
            self._macros[-1].children.append(macro)
        elif macro.children:
            self._record(macro)

    def undo(self) -> None:
        if not self.can_undo():
            return
        self._index -= 1
        self._commands[self._index].undo()
        self._changed()

    def redo(self) -> None:
        if not self.can_redo():
            return
        self._commands[self._index].redo()
        self._index += 1
        self._changed()

    def clear(self) -> None:
        self._commands.clear()
        self._index = 0
        self._clean = 0
        self._macros.clear()
        self._changed()
