"""Exports faces as PNGs at the model's full resolution, each carrying its whole latent.

Rendering goes through the render service (PREFETCH priority, so browsing stays snappy);
encoding and writing run on a worker thread. Image edits recorded on a latent (`post`) are
applied to the full-resolution picture before it is written.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from explorer.export import clean_stale_temps, save_png
from explorer.face_files import file_stem, png_payload, unique_path
from explorer.latents import Latent
from explorer.render import Priority, Status

from .tasks import Tasks


class Exporter(QObject):
    message = Signal(str, str, object)     # text, level, action (label, callable) or None
    busyChanged = Signal(bool)
    finished = Signal(list)                # paths written

    def __init__(self, bridge, parent=None, post=None):
        super().__init__(parent)
        self.bridge = bridge
        self.post = post                   # callable(image, latent) -> image for image edits, or None
        self.tasks = Tasks(self)
        self._jobs = 0

    def _busy(self, delta: int) -> None:
        self._jobs += delta
        self.busyChanged.emit(self._jobs > 0)

    def export(self, latents: list[Latent], folder: Path, model_name: str = "", size: int | None = None) -> None:
        """PNGs with their recipes in `folder`, at the model's size or at `size` (above the model's
        size: Lanczos-upscaled, and the message says so)."""
        if not latents or not self.bridge.ready:
            return
        self._busy(+1)
        folder = Path(folder)
        clean_stale_temps(folder)        # what an interrupted earlier export left there

        def rendered(result):
            if result.status is not Status.OK:
                self._busy(-1)
                if result.status is Status.ERROR:
                    self.message.emit(f"Export failed while rendering: {result.error}", "error", None)
                return
            images = list(result.images)
            self.tasks.start(_write_all, folder, latents, images, model_name, self.post,
                             on_done=lambda paths: self._written(paths, folder, size), on_error=self._failed)

        self.bridge.submit(latents, size, rendered, priority=Priority.PREFETCH, exact=True)

    def _written(self, paths: list[Path], folder: Path, size: int | None = None) -> None:
        self._busy(-1)
        n = len(paths)
        text = f"Exported {paths[0].name} to {folder}" if n == 1 else f"Exported {n} faces to {folder}"
        res = self.bridge.service.generator.info.resolution if self.bridge.ready else None
        if size is not None and res is not None and size != res:
            text += f" at {size} px ({'upscaled with Lanczos' if size > res else 'downscaled'} from {res} px)"
        self.message.emit(text, "info", ("Show folder", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))))
        self.finished.emit([str(p) for p in paths])

    def _failed(self, exc: BaseException) -> None:
        self._busy(-1)
        self.message.emit(f"Export failed: {exc}", "error", None)


def _write_all(folder: Path, latents, images, model_name: str, post) -> list[Path]:
    taken: set = set()
    paths = []
    for lat, img in zip(latents, images):
        if post is not None and lat.post:
            img = post(img, lat)
        path = unique_path(folder, file_stem(lat), taken)
        save_png(path, img, png_payload(lat, model_name))
        paths.append(path)
    return paths
