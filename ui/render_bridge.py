"""The thin Qt adapter over explorer.render.RenderService.

The service calls back on its worker thread (or inside submit() for cache hits). Every result
is re-posted to the GUI thread through a queued signal, so handlers may touch widgets freely.
The bridge submits Latents (their ws and noise), never tensors.
"""
from __future__ import annotations

import weakref
from typing import Callable, Hashable, Sequence

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage

from explorer.latents import Latent
from explorer.render import Priority, RenderResult, RenderService, Status


def to_qimage(image: np.ndarray) -> QImage:
    """uint8 [H, W, C] (C = 1 or 3) -> a QImage that owns its pixels (cheap: one copy)."""
    a = np.ascontiguousarray(image)
    h, w = a.shape[:2]
    if a.ndim == 2 or a.shape[2] == 1:
        return QImage(a.data, w, h, w, QImage.Format_Grayscale8).copy()
    if a.shape[2] == 4:
        return QImage(a.data, w, h, 4 * w, QImage.Format_RGBA8888).copy()
    return QImage(a.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def qimage_to_array(image: QImage) -> np.ndarray:
    """A QImage (any format) -> uint8 [H, W, 3] RGB (a copy)."""
    rgb = image.convertToFormat(QImage.Format_RGB888)
    arr = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
    return np.array(arr[:, :rgb.width() * 3].reshape(rgb.height(), rgb.width(), 3))


class RenderBridge(QObject):
    """Submit latents; get results on the GUI thread.

    Signals: rendered(ms per picture) after each request that rendered something; failed(message)
    for worker errors (shown by the window as a non-modal message).
    """

    _posted = Signal(object, object)   # handler, RenderResult (emitted from the worker thread)
    rendered = Signal(float)
    failed = Signal(str)

    def __init__(self, service: RenderService | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.service = service
        self.last_render_ms: float | None = None
        self.ms_per_image: dict[str, float] = {}     # 'preview' / 'full' -> recent ms per picture
        self._posted.connect(self._deliver, Qt.QueuedConnection)

    # ----- service lifetime -------------------------------------------------------------
    def set_generator(self, generator, **service_kw) -> RenderService:
        if self.service is None:
            self.service = RenderService(generator, **service_kw)
        else:
            self.service.set_generator(generator)
        return self.service

    def shutdown(self) -> None:
        if self.service is not None:
            self.service.shutdown(timeout=2.0)
            self.service = None

    @property
    def ready(self) -> bool:
        return self.service is not None

    # ----- requests ---------------------------------------------------------------------
    def submit(self, latents: Sequence[Latent], size: int | None, handler: Callable[[RenderResult], None],
               priority: Priority = Priority.VISIBLE, token: Hashable | None = None, preview: bool = False,
               exact: bool = False):
        """Render `latents` at `size` (None: the model's resolution); handler(result) runs on the GUI
        thread. A handler that is a bound method of a deleted QObject is skipped. preview: the
        generator's cheap preview path where it has one (result.preview says). exact: float32 even
        where the service's precision 'auto' chose bfloat16 (exports)."""
        if self.service is None:
            return None
        ws = np.stack([lat.ws for lat in latents])
        noise = [lat.noise for lat in latents]
        ref = _weak_handler(handler)
        return self.service.submit(ws, size, priority=priority, token=token, noise=noise, preview=preview,
                                   exact=exact, callback=lambda result: self._posted.emit(ref, result))

    def submit_tile(self, latents: Sequence[Latent], size: int, handler: Callable[[RenderResult], None],
                    priority: Priority = Priority.INTERACTIVE, token: Hashable | None = None):
        """A picture for a panel's tile (the inspector's, the directions' before / after): through
        the generator's cheap preview path first where it applies at this size (handler gets it,
        result.preview True: on a big model a fraction of a full render), then in full at
        background priority, so it never holds up the grid's first screen (handler again)."""
        svc = self.service
        if svc is None:
            return None
        if token is not None:
            svc.supersede((token, "full"))
        if not svc.preview_applies(size):
            return self.submit(latents, size, handler, priority, token)
        ref = _weak_handler(handler)

        def first(result: RenderResult) -> None:
            h = ref()
            if h is None:
                return
            h(result)
            if result.status is Status.OK and result.preview:
                self.submit(latents, size, h, Priority.REFINE, (token, "full") if token is not None else None)

        return self.submit(latents, size, first, priority, token, preview=True)

    def supersede(self, token: Hashable) -> None:
        if self.service is not None:
            self.service.supersede(token)

    def _deliver(self, ref, result: RenderResult) -> None:
        if result.status is Status.ERROR:
            self.failed.emit(result.error or "rendering failed")
        elif result.status is Status.OK and not all(result.from_cache):
            rendered = sum(1 for hit in result.from_cache if not hit)
            self.last_render_ms = result.render_ms / max(1, rendered)     # per picture
            kind = "preview" if result.preview else "full"
            old = self.ms_per_image.get(kind)
            self.ms_per_image[kind] = self.last_render_ms if old is None else 0.5 * old + 0.5 * self.last_render_ms
            self.rendered.emit(self.last_render_ms)
        handler = ref()
        if handler is not None:
            try:
                handler(result)
            except RuntimeError as exc:  # the receiving widget was deleted meanwhile
                if "already deleted" not in str(exc):
                    raise


def _weak_handler(handler):
    """A weak reference to a bound method (so a closed view does not stay alive), or the function."""
    if hasattr(handler, "__self__") and hasattr(handler, "__func__"):
        return weakref.WeakMethod(handler)
    return lambda: handler
