"""Undoable grid operations (QUndoCommand). Cells are referred to by identity, never by row,
so commands stay correct while the grid grows at its end as the user scrolls."""
from __future__ import annotations

from typing import Callable, Sequence

from PySide6.QtGui import QUndoCommand

from explorer.session import Page, Session

from .grid_model import Cell, GridModel


class InsertCellsCommand(QUndoCommand):
    """New cells right after `anchor` (a mix after its target, children after their parent ...),
    or at `row` when there is no anchor, in the page shown when the command was made (undo and
    redo show that page again)."""

    def __init__(self, model: GridModel, cells: Sequence[Cell], text: str, anchor: Cell | None = None,
                 row: int | None = None, on_done: Callable[[list[Cell]], None] | None = None):
        super().__init__(text)
        self.session = model.session
        self.page = self.session.page
        self.cells, self.anchor = list(cells), anchor
        self.row = len(self.page.faces) if row is None else row
        self.on_done = on_done

    def redo(self) -> None:
        _show(self.session, self.page)
        at = self.session.row_of(self.anchor, self.page) + 1 if self.anchor is not None else -1
        if at <= 0:
            at = min(self.row, len(self.page.faces))
        self.session.insert(at, self.cells, self.page)
        if self.on_done is not None:
            self.on_done(self.cells)

    def undo(self) -> None:
        _show(self.session, self.page)
        self.session.remove(self.cells, self.page)


class RemoveCellsCommand(QUndoCommand):
    def __init__(self, model: GridModel, cells: Sequence[Cell], text: str):
        super().__init__(text)
        self.session = model.session
        self.page = self.session.page
        rows = ((self.session.row_of(c, self.page), c) for c in cells)
        self.placed = sorted(((r, c) for r, c in rows if r >= 0), key=lambda p: p[0])

    def redo(self) -> None:
        _show(self.session, self.page)
        self.session.remove([c for _, c in self.placed], self.page)

    def undo(self) -> None:
        _show(self.session, self.page)
        for row, cell in self.placed:   # ascending: each lands where it was
            self.session.insert(row, [cell], self.page)


class PageCommand(QUndoCommand):
    """A page added (New Batch) or, with remove=True, taken away; undo does the opposite and the
    work on the page comes back with it."""

    def __init__(self, session: Session, page: Page, text: str, remove: bool = False):
        super().__init__(text)
        self.session, self.page, self.remove = session, page, remove
        self.shown = session.current
        self.at = next((i for i, p in enumerate(session.pages) if p is page), len(session.pages))

    def _add(self) -> None:
        self.session.add_page(self.page, self.at, show=True)

    def _take(self) -> None:
        self.session.remove_page(self.page)
        if not self.remove:
            self.session.show_page(min(self.shown, len(self.session.pages) - 1))

    def redo(self) -> None:
        self._take() if self.remove else self._add()

    def undo(self) -> None:
        self._add() if self.remove else self._take()


def _show(session: Session, page: Page) -> None:
    """Bring `page` on screen (an undo acts where the user can see it)."""
    for i, p in enumerate(session.pages):
        if p is page:
            if i != session.current:
                session.show_page(i)
            return


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
