"""One way to run work off the GUI thread: `Tasks.start(fn, *args, key=..., on_done=..., on_error=...)`.

fn runs on a worker thread (superqt's create_worker); its result or its exception comes back to
on_done / on_error on the GUI thread. Stale results are dropped one way for everyone: a newer task
started with the same `key` supersedes the older one (its result and error are never delivered),
`supersede(key)` drops whatever runs under a key, and nothing is delivered once the owner is gone.
Generator functions report progress through on_progress (each value they yield).
"""
from __future__ import annotations

import itertools
from typing import Callable, Hashable

import shiboken6
from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

_serials = itertools.count(1)


class Latest:
    """Stale answers dropped one way, for tasks and for anything else answered later (renders, edit
    chains): `stamp = latest.new(key)` when asking, `latest.is_current(key, stamp)` when the answer
    comes; a newer ask under the key, or `drop(key)`, makes older answers stale."""

    def __init__(self):
        self._current: dict[Hashable, int] = {}

    def new(self, key: Hashable) -> int:
        stamp = self._current[key] = next(_serials)
        return stamp

    def current(self, key: Hashable) -> int:
        """The stamp answers under `key` must carry now (a new one if there is none)."""
        return self._current[key] if key in self._current else self.new(key)

    def is_current(self, key: Hashable, stamp: int) -> bool:
        return self._current.get(key) == stamp

    def drop(self, key: Hashable) -> None:
        self.new(key)


class Tasks(QObject):
    busyChanged = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._latest = Latest()
        self._workers: set = set()
        self._by_key: dict = {}

    @property
    def running(self) -> int:
        return len(self._workers)

    def start(self, fn: Callable, *args, key: Hashable | None = None, on_done: Callable | None = None,
              on_error: Callable[[BaseException], None] | None = None, on_progress: Callable | None = None,
              **kwargs) -> int:
        """Run fn(*args, **kwargs) in the background; returns the task's serial."""
        serial = self._latest.new(key) if key is not None else next(_serials)
        if key is not None:
            self._stop(self._by_key.pop(key, None))      # a generator stops at its next step

        def current() -> bool:
            return shiboken6.isValid(self) and (key is None or self._latest.is_current(key, serial))

        worker = create_worker(fn, *args, _start_thread=False, _ignore_errors=True, **kwargs)
        if on_done is not None:
            worker.returned.connect(lambda result: current() and on_done(result))
        if on_error is not None:
            worker.errored.connect(lambda exc: current() and on_error(exc))
        if on_progress is not None:
            worker.yielded.connect(lambda value: current() and on_progress(value))
        worker.finished.connect(lambda: self._finished(worker))
        self._workers.add(worker)
        if key is not None:
            self._by_key[key] = worker
        if len(self._workers) == 1:
            self.busyChanged.emit(True)
        worker.start()
        return serial

    def is_current(self, key: Hashable, serial: int) -> bool:
        return self._latest.is_current(key, serial)

    def supersede(self, key: Hashable) -> None:
        """Whatever runs under `key` will deliver nothing (a generator function stops early)."""
        self._latest.drop(key)
        self._stop(self._by_key.pop(key, None))

    @staticmethod
    def _stop(worker) -> None:
        if worker is not None and hasattr(worker, "quit"):
            try:
                worker.quit()
            except RuntimeError:      # already gone
                pass

    def _finished(self, worker) -> None:
        if not shiboken6.isValid(self):
            return
        self._workers.discard(worker)
        for k, w in list(self._by_key.items()):
            if w is worker:
                del self._by_key[k]
        if not self._workers:
            self.busyChanged.emit(False)
