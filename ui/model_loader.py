"""Loads checkpoints on a background thread (superqt worker) with progress and clear errors.

Only the newest request counts: loading another file while one loads makes the older result
be ignored when it arrives.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

from explorer.checkpoints import CheckpointError, detect_format, load_generator, resolve_model_path

FORMAT_WORDS = {"native": "Latent Explorer weights", "torch": "rosinality weights", "pickle": "NVIDIA network pickle"}


def _load_steps(path: str):
    """Generator run on the worker: yields progress sentences, returns the Generator."""
    yield "Finding the checkpoint…"
    real = resolve_model_path(path)
    kind = detect_format(real)
    yield f"Reading {FORMAT_WORDS.get(kind, kind)}…"
    gen = load_generator(path)
    yield "Checking the weights…"
    gen.fingerprint  # noqa: B018  (hashing the weights is slow for big models: do it here)
    return gen


def display_name(path: str) -> str:
    return "default model" if str(path) == "default" else Path(path).name


class ModelLoader(QObject):
    started = Signal(str)              # path
    progress = Signal(str, str)        # path, sentence
    loaded = Signal(object, str)       # Generator, path
    failed = Signal(str, str)          # path, one-sentence message

    def __init__(self, parent=None):
        super().__init__(parent)
        self._serial = 0
        self._worker = None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def load(self, path: str) -> None:
        self._serial += 1
        serial, path = self._serial, str(path)
        if self._worker is not None:
            try:
                self._worker.quit()
            except RuntimeError:
                pass
        worker = create_worker(_load_steps, path, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(lambda text: self._if_current(serial, self.progress.emit, path, text))
        worker.returned.connect(lambda gen: self._if_current(serial, self._done, gen, path))
        worker.errored.connect(lambda exc: self._if_current(serial, self._error, exc, path))
        self._worker = worker
        self.started.emit(path)
        worker.start()

    def _if_current(self, serial: int, fn, *args) -> None:
        if serial == self._serial:
            fn(*args)

    def _done(self, gen, path: str) -> None:
        self._worker = None
        self.loaded.emit(gen, path)

    def _error(self, exc: BaseException, path: str) -> None:
        self._worker = None
        self.failed.emit(path, error_sentence(exc, path))


def error_sentence(exc: BaseException, path: str) -> str:
    if isinstance(exc, CheckpointError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{display_name(path)} is too large for the memory of this machine."
    return f"{display_name(path)} could not be loaded ({type(exc).__name__}: {exc})."
