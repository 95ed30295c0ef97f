"""Undoable grid operations (QUndoCommand). Cells are referred to by identity, never by row,
so commands stay correct while the grid grows at its end as the user scrolls."""
from __future__ import annotations

from typing import Callable, Sequence

from PySide6.QtGui import QUndoCommand

from .grid_model import Cell, GridModel


class InsertCellsCommand(QUndoCommand):
    """New cells right after `anchor` (a mix after its target, children after their parent ...),
    or at `row` when there is no anchor."""

    def __init__(self, model: GridModel, cells: Sequence[Cell], text: str, anchor: Cell | None = None,
                 row: int | None = None, on_done: Callable[[list[Cell]], None] | None = None):
        super().__init__(text)
        self.model, self.cells, self.anchor = model, list(cells), anchor
        self.row = model.rowCount() if row is None else row
        self.on_done = on_done

    def redo(self) -> None:
        at = self.model.row_of(self.anchor) + 1 if self.anchor is not None else -1
        if at <= 0:
            at = min(self.row, self.model.rowCount())
        self.model.insert_cells(at, self.cells)
        if self.on_done is not None:
            self.on_done(self.cells)

    def undo(self) -> None:
        self.model.remove_cells(self.cells)


class RemoveCellsCommand(QUndoCommand):
    def __init__(self, model: GridModel, cells: Sequence[Cell], text: str):
        super().__init__(text)
        self.model = model
        self.placed = sorted(((model.row_of(c), c) for c in cells if model.row_of(c) >= 0), key=lambda p: p[0])

    def redo(self) -> None:
        self.model.remove_cells([c for _, c in self.placed])

    def undo(self) -> None:
        for row, cell in self.placed:   # ascending: each lands where it was
            self.model.insert_cells(row, [cell])


class ReplaceGridCommand(QUndoCommand):
    """The whole grid at once (a new batch): old cells and the seed stream come back on undo."""

    def __init__(self, model: GridModel, new_cells: Sequence[Cell], text: str, old_state, new_state,
                 set_state: Callable[[object], None]):
        super().__init__(text)
        self.model = model
        self.old_cells, self.new_cells = model.cells, list(new_cells)
        self.old_state, self.new_state, self.set_state = old_state, new_state, set_state

    def redo(self) -> None:
        self.set_state(self.new_state)
        self.model.reset_cells(self.new_cells)

    def undo(self) -> None:
        self.set_state(self.old_state)
        self.model.reset_cells(self.old_cells)


class StateCommand(QUndoCommand):
    """A panel's whole state before and after one edit (timelines: keyframes are immutable values,
    so a state is a cheap shallow copy). `restore(state)` puts one back; the first redo is the edit
    that already happened. Commands with the same merge_id >= 0 pushed one after another merge."""

    def __init__(self, restore: Callable[[object], None], before, after, text: str, merge_id: int = -1):
        super().__init__(text)
        self.restore, self.before, self.after = restore, before, after
        self.merge_id = merge_id
        self._done = True

    def id(self) -> int:  # noqa: A003 - Qt's name
        return self.merge_id

    def mergeWith(self, other) -> bool:  # noqa: N802 - Qt's name
        """Consecutive changes of one setting (spin-box steps) are one undo step."""
        if not isinstance(other, StateCommand) or other.merge_id != self.merge_id or self.merge_id < 0:
            return False
        self.after = other.after
        self.setText(other.text())
        return True

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self.restore(self.after)

    def undo(self) -> None:
        self.restore(self.before)
