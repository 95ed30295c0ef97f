"""The thin Qt adapter over the session's Qt-free undo stack (explorer/undo.py): signals for the
window's actions and buttons, and QUndoStack's method names so the window reads as before."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence

from explorer.undo import Command, UndoStack


class QtUndoStack(QObject):
    canUndoChanged = Signal(bool)
    canRedoChanged = Signal(bool)
    undoTextChanged = Signal(str)
    redoTextChanged = Signal(str)
    indexChanged = Signal(int)
    cleanChanged = Signal(bool)

    def __init__(self, stack: UndoStack | None = None, parent=None):
        super().__init__(parent)
        self._stack = None
        self._unsubscribe = None
        self._last = None
        self.set_stack(stack if stack is not None else UndoStack())

    @property
    def stack(self) -> UndoStack:
        return self._stack

    def set_stack(self, stack: UndoStack) -> None:
        """Follow another stack (a new session)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._stack = stack
        self._unsubscribe = stack.subscribe(self._changed)
        self._changed()

    def _state(self) -> tuple:
        s = self._stack
        return (s.can_undo(), s.can_redo(), s.undo_text(), s.redo_text(), s.index(), s.is_clean())

    def _changed(self) -> None:
        new = self._state()
        old = self._last or (None,) * len(new)
        self._last = new
        for sig, a, b in ((self.canUndoChanged, old[0], new[0]), (self.canRedoChanged, old[1], new[1]),
                          (self.undoTextChanged, old[2], new[2]), (self.redoTextChanged, old[3], new[3]),
                          (self.cleanChanged, old[5], new[5])):
            if a != b:
                sig.emit(b)
        self.indexChanged.emit(new[4])

    # ----- QUndoStack's vocabulary ----------------------------------------------------------------
    def push(self, cmd: Command) -> None:
        self._stack.push(cmd)

    def undo(self) -> None:
        self._stack.undo()

    def redo(self) -> None:
        self._stack.redo()

    def clear(self) -> None:
        self._stack.clear()

    def count(self) -> int:
        return self._stack.count()

    def index(self) -> int:
        return self._stack.index()

    def canUndo(self) -> bool:  # noqa: N802 - Qt's names
        return self._stack.can_undo()

    def canRedo(self) -> bool:  # noqa: N802
        return self._stack.can_redo()

    def undoText(self) -> str:  # noqa: N802
        return self._stack.undo_text()

    def redoText(self) -> str:  # noqa: N802
        return self._stack.redo_text()

    def isClean(self) -> bool:  # noqa: N802
        return self._stack.is_clean()

    def setClean(self) -> None:  # noqa: N802
        self._stack.set_clean()

    def beginMacro(self, text: str) -> None:  # noqa: N802
        self._stack.begin_macro(text)

    def endMacro(self) -> None:  # noqa: N802
        self._stack.end_macro()

    def _action(self, parent, prefix: str, can: Signal, text: Signal, can_now, text_now, run, key) -> QAction:
        act = QAction(parent)
        act.setShortcut(key)

        def show(_=None):
            t = text_now()
            act.setText(f"{prefix} {t}" if t else prefix)
            act.setEnabled(can_now())
        can.connect(show)
        text.connect(show)
        show()
        act.triggered.connect(run)
        return act

    def createUndoAction(self, parent, prefix: str = "&Undo") -> QAction:  # noqa: N802
        return self._action(parent, prefix, self.canUndoChanged, self.undoTextChanged, self.canUndo,
                            self.undoText, self.undo, QKeySequence.StandardKey.Undo)

    def createRedoAction(self, parent, prefix: str = "&Redo") -> QAction:  # noqa: N802
        return self._action(parent, prefix, self.canRedoChanged, self.redoTextChanged, self.canRedo,
                            self.redoText, self.redo, QKeySequence.StandardKey.Redo)
