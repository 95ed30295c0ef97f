"""Loads checkpoints on a background thread (ui/tasks.py) with progress and clear errors.

Only the newest request counts: loading another file while one loads stops the older load at its
next step and drops its result.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from explorer.checkpoints import CheckpointError, detect_format, load_generator, resolve_model_path

from .tasks import Tasks

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
        self.tasks = Tasks(self)
        self._worker = None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def load(self, path: str) -> None:
        """Load in the background; a newer load supersedes this one (its result is dropped)."""
        path = str(path)
        self._worker = self.tasks.start(_load_steps, path, key="load",
                                        on_progress=lambda text: self.progress.emit(path, text),
                                        on_done=lambda gen: self._done(gen, path),
                                        on_error=lambda exc: self._error(exc, path))
        self.started.emit(path)

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
