"""One background thread working through a queue of jobs, for the window's long tasks.

Slow image edits (`image_edits.ImageEditWorker`) and photo imports (`photo_import.PhotoImporter`)
share it: jobs run one at a time (two optimisations would halve each other on a small CPU), the
running one can be cancelled, closing cancels and joins (no torch op is left running when Python
exits), and results come back to the GUI thread through a queued signal. Subclasses write
`run_job(job)` (worker thread: returns a result or raises) and `deliver(job, result, error)` (GUI
thread). Jobs carry `cancelled` and `label`.
"""
from __future__ import annotations

import threading
from collections import deque

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal


class JobQueue(QObject):
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
