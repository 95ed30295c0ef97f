"""Undoable session operations (explorer.undo commands, no Qt). Faces are referred to by identity,
never by row, so commands stay correct while a page grows at its end as the user scrolls; an undo
or redo shows the page it acts on."""
from __future__ import annotations

from typing import Callable, Sequence

from .session import Page, Session
from .undo import Command


def show_page_of(session: Session, page: Page) -> None:
    """Bring `page` on screen (an undo acts where the user can see it)."""
    for i, p in enumerate(session.pages):
        if p is page:
            if i != session.current:
                session.show_page(i)
            return


class InsertFaces(Command):
    """New faces right after `anchor` (a mix after its target, children after their parent ...),
    or at `row` when there is no anchor, in the page shown when the command was made."""

    def __init__(self, session: Session, faces: Sequence, text: str, anchor=None, row: int | None = None,
                 on_done: Callable[[list], None] | None = None):
        super().__init__(text)
        self.session = session
        self.page = session.page
        self.faces, self.anchor = list(faces), anchor
        self.row = len(self.page.faces) if row is None else row
        self.on_done = on_done

    def redo(self) -> None:
        show_page_of(self.session, self.page)
        at = self.session.row_of(self.anchor, self.page) + 1 if self.anchor is not None else -1
        if at <= 0:
            at = min(self.row, len(self.page.faces))
        self.session.insert(at, self.faces, self.page)
        if self.on_done is not None:
            self.on_done(self.faces)

    def undo(self) -> None:
        show_page_of(self.session, self.page)
        self.session.remove(self.faces, self.page)


class RemoveFaces(Command):
    def __init__(self, session: Session, faces: Sequence, text: str):
        super().__init__(text)
        self.session = session
        self.page = session.page
        rows = ((session.row_of(f, self.page), f) for f in faces)
        self.placed = sorted(((r, f) for r, f in rows if r >= 0), key=lambda p: p[0])

    def redo(self) -> None:
        show_page_of(self.session, self.page)
        self.session.remove([f for _, f in self.placed], self.page)

    def undo(self) -> None:
        show_page_of(self.session, self.page)
        for row, face in self.placed:   # ascending: each lands where it was
            self.session.insert(row, [face], self.page)


class PageStep(Command):
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


class StateStep(Command):
    """A panel's whole state before and after one edit (timelines: keyframes are immutable values,
    so a state is a cheap shallow copy). `restore(state)` puts one back; the push (first redo) is
    the edit that already happened. Steps with the same merge_id >= 0 pushed one after another
    merge (spin-box steps of one setting are one undo step)."""

    def __init__(self, restore: Callable[[object], None], before, after, text: str, merge_id: int = -1):
        super().__init__(text)
        self.restore, self.before, self.after = restore, before, after
        self.merge_id = merge_id
        self._done = True

    def merge_with(self, other: Command) -> bool:
        if not isinstance(other, StateStep) or other.merge_id != self.merge_id or self.merge_id < 0:
            return False
        self.after = other.after
        self.text = other.text
        return True

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self.restore(self.after)

    def undo(self) -> None:
        self.restore(self.before)
