"""Work off the GUI thread, the window's one module for it.

`Tasks.start(fn, *args, key=..., on_done=..., on_error=...)` for work where the newest supersedes;
`TaskQueue` for long jobs run one at a time; `Latest` for dropping stale answers.

Tasks: fn runs on a worker thread (superqt's create_worker); its result or its exception comes back to
on_done / on_error on the GUI thread. Stale results are dropped one way for everyone: a newer task
started with the same `key` supersedes the older one (its result and error are never delivered),
`supersede(key)` drops whatever runs under a key, and nothing is delivered once the owner is gone.
Generator functions report progress through on_progress (each value they yield).
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Callable, Hashable

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
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


class TaskQueue(QObject):
    """Jobs one at a time, in order, on one thread of their own: for long jobs that would halve each
    other on a small CPU (slow image edits, photo imports, library transfers). The running job can
    be cancelled; close() cancels and joins (no torch op is left running when Python exits);
    results come back to the GUI thread through a queued signal. Subclasses write `run_job(job)`
    (worker thread: returns a result or raises) and `deliver(job, result, error)` (GUI thread).
    Jobs carry `cancelled` and `label`."""

    started = Signal(str)            # label of the job now running
    progress = Signal(float)         # fraction of the running job
    preview = Signal(str, object)    # (what, uint8 picture) of the running job's work so far
    idle = Signal()                  # nothing left to do
    _finished = Signal(object, object, object)   # job, result, error (worker -> GUI thread)

    def __init__(self, parent=None, name: str = "background jobs"):
        super().__init__(parent)
        self._name = name
        self._queue: deque = deque()
        self._running = None
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._finished.connect(self._deliver, Qt.QueuedConnection)

    # ----- for subclasses ----------------------------------------------------------------------
    def run_job(self, job):
        raise NotImplementedError

    def deliver(self, job, result, error) -> None:
        raise NotImplementedError

    def enqueue(self, job, front: bool = False) -> None:
        with self._cond:
            (self._queue.appendleft if front else self._queue.append)(job)
            self._cond.notify()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def emit(self, signal, *args) -> None:
        """Emit from the worker thread unless the window is going away."""
        if not self._closing and shiboken6.isValid(self):
            try:
                signal.emit(*args)
            except RuntimeError:     # the receiver was deleted meanwhile
                pass

    def stopping(self, job) -> bool:
        return bool(getattr(job, "cancelled", False)) or self._closing

    # ----- public -------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        with self._cond:
            return self._running is not None or bool(self._queue)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (self._running is not None)

    def cancel_current(self) -> None:
        with self._cond:
            if self._running is not None:
                self._running.cancelled = True
                self.on_cancel(self._running)

    def on_cancel(self, job) -> None:
        """Called (lock held) when the user cancels the running job."""

    def close(self, timeout: float = 15.0) -> None:
        """Stop: the running job is cancelled, queued ones dropped, the thread joined."""
        with self._cond:
            self._closing = True
            self._queue.clear()
            if self._running is not None:
                self._running.cancelled = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # ----- the thread -------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                job = self._queue.popleft()
                self._running = job
            result, error = None, None
            try:
                result = self.run_job(job)
            except BaseException as e:  # noqa: BLE001 - reported through deliver, never fatal
                error = e
            with self._cond:
                self._running = None
                empty = not self._queue
            if self._closing:
                return
            self.emit(self._finished, job, result, error)
            if empty:
                self.emit(self.idle)

    def _deliver(self, job, result, error) -> None:
        self.deliver(job, result, error)
