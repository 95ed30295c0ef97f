"""Slow image edits (style transfer ...) off the GUI thread: one worker, progress, preview, cancel.

A picture whose recorded image edits include a slow one (`Plugin.slow`) is finished here: looked
up in the registry's cache first (instant when it was made before, in this session or an earlier
one), otherwise queued to a single background thread (one optimisation at a time: two would halve
each other on a small CPU). The same picture asked for twice is worked on once. The status bar
widget shows what runs, how far it is, a live preview, and a Cancel button; a cancelled or failed
edit is reported to whoever asked (the cell says so), and nothing is cached for it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from explorer.latents import Latent
from explorer.plugins import EditCancelled, ParamError, PluginError, PluginRegistry
from explorer.post_cache import edit_key
from explorer.recipe_text import short_label

from .tasks import TaskQueue
from .render_bridge import to_qimage

log = logging.getLogger(__name__)
PREVIEW_PX = 40
CANCEL_HOLD_S = 30.0     # a cancelled edit is not restarted by other views' requests for this long


def picture_source(model, latent: Latent) -> str:
    """What identifies a face's rendered picture for the image-edit cache."""
    return f"{getattr(model, 'fingerprint', '')}:{latent.digest()}"


@dataclass(eq=False)
class _Job:
    key: str
    image: np.ndarray
    latent: Latent
    model: object
    source: str
    label: str
    callbacks: list = field(default_factory=list)
    cancelled: bool = False


class ImageEditWorker(TaskQueue):
    """finish(image, latent, on_done): on_done(image, None) or on_done(None, message) on the GUI thread."""

    def __init__(self, registry: PluginRegistry, parent=None):
        super().__init__(parent, "image edits")
        self.registry = registry
        self.model = None
        self._by_key: dict[str, _Job] = {}
        self._cancelled_at: dict[str, float] = {}   # key -> when the user cancelled it

    # ----- asking -------------------------------------------------------------------------------
    def needs_background(self, latent: Latent) -> bool:
        return bool(latent.post) and self.registry.needs_background(latent.post)

    def finish(self, image: np.ndarray, latent: Latent, on_done: Callable, *, urgent: bool = False) -> None:
        """The picture with the latent's image edits. Fast edits and cache hits answer at once."""
        model = self.model
        if not latent.post:
            on_done(image, None)
            return
        source = picture_source(model, latent)
        try:
            if not self.registry.needs_background(latent.post):
                on_done(self.registry.apply_post(image, latent.post, model=model), None)
                return
            hit = self.registry.cached_post(image, latent.post, source=source)
        except (PluginError, ParamError) as e:
            on_done(None, _sentence(e))
            return
        if hit is not None:
            on_done(hit, None)
            return
        key = edit_key(source, image.shape, latent.post)
        when = self._cancelled_at.get(key)
        if when is not None and time.monotonic() - when < CANCEL_HOLD_S:
            on_done(None, "cancelled")       # a late request (another view) does not restart what was cancelled
            return
        with self._cond:
            job = self._by_key.get(key)
            if job is not None and not job.cancelled:
                job.callbacks.append(on_done)
                if urgent and job in self._queue:
                    self._queue.remove(job)
                    self._queue.appendleft(job)
                return
            job = _Job(key, np.ascontiguousarray(image), latent, model, source,
                       f"{self._edit_name(latent)} of {short_label(latent.recipe)}", [on_done])
            self._by_key[key] = job
        self.enqueue(job, front=urgent)

    def _edit_name(self, latent: Latent) -> str:
        for step in latent.post:
            try:
                plugin = self.registry.get(step["plugin"])
            except (PluginError, KeyError, TypeError):
                continue
            if plugin.slow:
                return plugin.name
        return "Image edit"

    def on_cancel(self, job) -> None:
        self._cancelled_at[job.key] = time.monotonic()

    def cancel_all(self) -> None:
        with self._cond:
            jobs = list(self._queue)
            self._queue.clear()
            if self._running is not None:
                self._running.cancelled = True
        for job in jobs:
            job.cancelled = True
            self._deliver(job, None, EditCancelled("image edit", "cancelled"))

    def close(self, timeout: float = 15.0) -> None:
        with self._cond:
            self._by_key.clear()
        super().close(timeout)

    # ----- the worker thread ----------------------------------------------------------------------
    def run_job(self, job: _Job):
        self.emit(self.started, job.label)
        return self.registry.apply_post(
            job.image, job.latent.post, model=job.model, source=job.source,
            progress=lambda f: self.emit(self.progress, f),
            preview=lambda im, src=job.source: self.emit(self.preview, src, np.array(im)),
            cancelled=lambda: self.stopping(job))

    def deliver(self, job: _Job, image, error) -> None:
        with self._cond:
            if self._by_key.get(job.key) is job:
                del self._by_key[job.key]
        message = None
        if error is not None:
            if isinstance(error, EditCancelled):
                message = "cancelled"
            elif isinstance(error, (PluginError, ParamError)):
                message = _sentence(error)
            else:
                log.error("image edit failed: %s: %s", type(error).__name__, error)
                message = f"{type(error).__name__}: {error}"
        for cb in job.callbacks:
            try:
                cb(image if error is None else None, message)
            except RuntimeError as e:   # a receiver closed meanwhile
                if "already deleted" not in str(e):
                    raise


def _sentence(e: BaseException) -> str:
    msg = getattr(e, "message", None) or str(e)
    field_name = getattr(e, "field", None)
    return f"{msg} ({field_name})" if field_name else msg


class ImageEditStatus(QWidget):
    """Status-bar strip: live preview, 'Style transfer of seed 3 · 40 %', progress bar, Cancel."""

    def __init__(self, worker: ImageEditWorker, parent=None):
        super().__init__(parent)
        self.worker = worker
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.thumb = QLabel()
        self.thumb.setFixedSize(PREVIEW_PX, PREVIEW_PX)
        self.thumb.setScaledContents(True)
        self.thumb.setToolTip("Live preview of the image edit being worked on")
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(110)
        self.bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop this image edit (the face shows it was cancelled; Apply again to retry)")
        self.cancel_button.clicked.connect(worker.cancel_current)
        for w in (self.thumb, self.label, self.bar, self.cancel_button):
            lay.addWidget(w)
        self.preview_image = None
        worker.started.connect(self._started)
        worker.progress.connect(self._progress)
        worker.preview.connect(self._preview)
        worker.idle.connect(self._idle)
        self.hide()

    def _started(self, label: str) -> None:
        self._what = label
        more = self.worker.pending() - 1
        self.label.setText(self._what + (f" (+{more} waiting)" if more > 0 else ""))
        self.bar.setValue(0)
        self.thumb.clear()
        self.show()

    def _progress(self, fraction: float) -> None:
        self.bar.setValue(int(round(1000 * fraction)))
        self.label.setText(f"{getattr(self, '_what', 'Image edit')} · {100 * fraction:.0f} %")

    def _preview(self, _source: str, image) -> None:
        self.preview_image = to_qimage(image)
        self.thumb.setPixmap(QPixmap.fromImage(self.preview_image))

    def _idle(self) -> None:
        if not self.worker.busy:
            self.hide()
