"""The Qt-free undo stack (explorer/undo.py) and the session's undo steps, headless."""
from __future__ import annotations

import pytest

from explorer.session import Face, Page, Session
from explorer.session_commands import InsertFaces, PageStep, RemoveFaces, StateStep
from explorer.undo import Command, UndoStack


class Append(Command):
    def __init__(self, log, value, merge_id=-1):
        super().__init__(f"add {value}")
        self.log, self.value, self.merge_id = log, [value], merge_id

    def redo(self):
        self.log.extend(self.value)

    def undo(self):
        del self.log[-len(self.value):]

    def merge_with(self, other):
        self.value += other.value
        self.text = other.text
        return True


def test_push_undo_redo_and_the_redo_tail():
    log, stack, seen = [], UndoStack(), []
    stack.subscribe(lambda: seen.append(stack.index()))
    stack.push(Append(log, 1))
    stack.push(Append(log, 2))
    assert log == [1, 2] and stack.undo_text() == "add 2" and stack.can_undo() and not stack.can_redo()
    stack.undo()
    assert log == [1] and stack.redo_text() == "add 2"
    stack.redo()
    assert log == [1, 2]
    stack.undo()
    stack.push(Append(log, 3))        # a new step drops the redo tail
    assert log == [1, 3] and stack.count() == 2 and not stack.can_redo()
    stack.undo()
    stack.undo()
    stack.undo()                      # nothing more: no error
    assert log == [] and seen[-1] == 0


def test_macro_is_one_step_and_merging():
    log, stack = [], UndoStack()
    stack.begin_macro("both")
    stack.push(Append(log, 1))
    stack.push(Append(log, 2))
    assert not stack.can_undo()       # inside a macro nothing is undone
    stack.end_macro()
    assert stack.count() == 1 and stack.undo_text() == "both"
    stack.undo()
    assert log == []
    stack.redo()
    assert log == [1, 2]
    stack.push(Append(log, 5, merge_id=7))
    stack.push(Append(log, 6, merge_id=7))
    assert stack.count() == 2 and stack.undo_text() == "add 6"
    stack.undo()
    assert log == [1, 2]
    with pytest.raises(RuntimeError):
        stack.end_macro()


def test_clean_mark():
    log, stack = [], UndoStack()
    assert stack.is_clean()
    stack.push(Append(log, 1))
    stack.set_clean()
    stack.push(Append(log, 2))
    assert not stack.is_clean()
    stack.undo()
    assert stack.is_clean()
    stack.undo()
    stack.push(Append(log, 3))        # the saved state can no longer be reached
    stack.undo()
    stack.redo()
    assert not stack.is_clean()


def test_session_steps_undo_on_the_page_they_acted_on():
    s = Session()
    a, b, c = Face(None), Face(None), Face(None)
    s.undo.push(InsertFaces(s, [a, b], "two"))
    s.undo.push(InsertFaces(s, [c], "after a", anchor=a))
    assert s.page.faces == [a, c, b]
    page2 = Page("Batch 2")
    s.undo.push(PageStep(s, page2, "New batch"))
    assert s.page is page2
    s.undo.undo()                      # the new page goes, the first shows again
    assert s.page is s.pages[0] and len(s.pages) == 1
    s.undo.push(RemoveFaces(s, [a, b], "delete"))
    assert s.page.faces == [c]
    s.undo.undo()
    assert s.page.faces == [a, c, b]
    s.undo.undo()
    assert s.page.faces == [a, b]
    state = {"v": 1}
    s.undo.push(StateStep(lambda st: state.update(v=st), 1, 2, "v", merge_id=3))
    state["v"] = 3
    s.undo.push(StateStep(lambda st: state.update(v=st), 2, 3, "v", merge_id=3))
    s.undo.undo()                      # both spin steps are one undo step
    assert state["v"] == 1
    s.undo.redo()
    assert state["v"] == 3
