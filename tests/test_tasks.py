"""ui/tasks.py: background work with results on the GUI thread; the newest task of a key wins."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from ui.tasks import Tasks  # noqa: E402


def test_results_errors_and_progress_come_back(qtbot):
    tasks = Tasks()
    got, errors, steps = [], [], []

    def counting(n):
        for i in range(n):
            yield i
        return "done"

    tasks.start(lambda a, b: a + b, 2, 3, on_done=got.append)
    tasks.start(lambda: 1 / 0, on_error=errors.append)
    tasks.start(counting, 3, on_progress=steps.append, on_done=got.append)
    qtbot.waitUntil(lambda: len(got) == 2 and bool(errors) and tasks.running == 0, timeout=10000)
    assert sorted(map(str, got)) == ["5", "done"] and steps == [0, 1, 2]
    assert isinstance(errors[0], ZeroDivisionError)


def test_a_newer_task_of_the_same_key_supersedes_the_older(qtbot):
    tasks = Tasks()
    release = threading.Event()
    got = []

    def slow(x):
        release.wait(10)
        return x

    first = tasks.start(slow, "old", key="preview", on_done=got.append)
    second = tasks.start(lambda x: x, "new", key="preview", on_done=got.append)
    assert not tasks.is_current("preview", first) and tasks.is_current("preview", second)
    qtbot.waitUntil(lambda: got == ["new"], timeout=10000)
    release.set()
    qtbot.waitUntil(lambda: tasks.running == 0, timeout=10000)
    assert got == ["new"], "the older result was dropped"
    tasks.start(slow, "x", key="k", on_done=got.append)
    tasks.supersede("k")                                     # e.g. the view closed
    qtbot.waitUntil(lambda: tasks.running == 0, timeout=10000)
    assert got == ["new"]


def test_a_superseded_generator_stops_at_its_next_step(qtbot):
    tasks = Tasks()
    seen = []
    gate = threading.Event()

    def steps():
        for i in range(1000):
            seen.append(i)
            gate.wait(0.01)
            yield i

    tasks.start(steps, key="load")
    qtbot.waitUntil(lambda: len(seen) > 2, timeout=10000)
    tasks.supersede("load")
    qtbot.waitUntil(lambda: tasks.running == 0, timeout=10000)
    assert len(seen) < 1000
