"""Seeds -> latents on a background thread, so new batches and the growing grid never stall the
window (mapping is cheap, but on a busy CPU a few hundred seeds can take a noticeable moment).

One thread (mapping a few hundred seeds is light; it only has to stay off the GUI thread).
Results come back on the GUI thread through a queued signal, in request order.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal

from explorer.latents import Latent, latents_from_seeds

CHUNK = 64


class SeedMapper(QObject):
    _done = Signal(object, object, object)      # callback, latents, error

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-mapper")
        self._pool.submit(lambda: None)     # start the thread now, not in the middle of a scroll
        self._done.connect(self._deliver, Qt.QueuedConnection)
        self._closed = False

    def map(self, gen, seeds: list[int], psi: float, on_done: Callable[[list[Latent]], None],
            on_error: Callable[[str], None] | None = None) -> None:
        seeds = list(seeds)

        def work():
            try:
                out: list[Latent] = []
                for i in range(0, len(seeds), CHUNK):
                    out += latents_from_seeds(gen, seeds[i:i + CHUNK], psi)
                self._done.emit((on_done, on_error), out, None)
            except Exception as e:  # noqa: BLE001 - shown in the window, never a dead thread
                self._done.emit((on_done, on_error), None, f"{type(e).__name__}: {e}")

        if not self._closed:
            self._pool.submit(work)

    def _deliver(self, callbacks, latents, error) -> None:
        if self._closed:
            return
        on_done, on_error = callbacks
        if error is None:
            on_done(latents)
        elif on_error is not None:
            on_error(error)

    def close(self) -> None:
        """Drop what is queued and wait for the mapping in progress (a chunk of seeds: well under a
        second), so no thread of this window outlives it (a worker emitting on a deleted object,
        or still running torch while the window is collected, crashed the interpreter now and then)."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
