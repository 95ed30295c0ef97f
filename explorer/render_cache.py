"""The parts of the render service (explorer.render) that need no thread of their own: priorities,
statuses, tickets, results and counters, noise settings, cache keys, the byte-bounded LRU cache of rendered
images, the antialiased resize, and small device helpers. No Qt here.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Hashable

import numpy as np
import torch
import torch.nn.functional as F

from .noise import NOISE_MODES, NOISE_NONE, NoiseSpec  # noqa: F401  (re-exported)


class Priority(IntEnum):
    """Lower is served first."""
    INTERACTIVE = 0   # the cell or slider the user is touching now
    VISIBLE = 1       # visible grid cells
    PREFETCH = 2      # prefetch, export, sampling jobs


class Status(str, Enum):
    PENDING = "pending"
    OK = "ok"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    ERROR = "error"


@dataclass
class RenderResult:
    ticket_id: int
    status: Status
    images: list            # uint8 [size, size, C] per latent (None where not rendered);
                            # for jobs: [] unless collect=True
    from_cache: list        # bool per entry of images
    noise: list             # NoiseSpec actually used per entry of images
    count: int              # images delivered (for jobs: streamed through on_images)
    render_ms: float        # worker time spent on this request's share of its batches
    latency_ms: float       # submit -> end
    error: str | None
    token: Hashable | None
    priority: Priority
    size: int
    preview: bool = False   # the cheap preview path (a StyleGAN2 skip generator stopped at the size's block)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass
class BatchRecord:
    priority: Priority
    n: int                  # images synthesized in this call
    seconds: float
    ended: float            # time.perf_counter() at the end


@dataclass
class RenderStats:
    submitted: int = 0
    images_rendered: int = 0     # images the generator actually produced
    batches: int = 0             # synthesize calls that succeeded
    cache_hits: int = 0
    dropped: int = 0             # images dropped unrendered (cancelled, superseded, shutdown; jobs
                                 # count what they had not pulled yet when their total is known)
    superseded: int = 0          # requests ended SUPERSEDED
    cancelled: int = 0
    errors: int = 0
    oom_splits: int = 0
    compile_fallbacks: int = 0
    batch_log: deque = field(default_factory=lambda: deque(maxlen=4096))  # BatchRecord, newest last
    lock: Any = field(default=None, repr=False, compare=False)  # the service's lock, held by snapshot()

    def snapshot(self) -> dict:
        """A consistent copy (counters and batch_log) while the worker keeps going."""
        with self.lock or contextlib.nullcontext():
            d = {k: v for k, v in self.__dict__.items() if k not in ("batch_log", "lock")}
            d["batch_log"] = list(self.batch_log)
        return d


def is_oom(exc: BaseException) -> bool:
    """CUDA / MPS out-of-memory (torch.OutOfMemoryError or a RuntimeError saying so)."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def default_num_threads() -> int:
    """One core left for the window (and an encoder) everywhere, at most 16 threads.

    On 2 cores, two OpenMP threads that share the CPU with the GUI thread stall each other at
    every barrier (an export measured 2-5 frames/s with 2 threads vs 40-50 with 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores - 1, 16))


class _Item:
    __slots__ = ("req", "index", "ws", "noise", "key", "image")

    def __init__(self, req, index, ws, noise, key=None, image=None):
        self.req, self.index, self.ws, self.noise, self.key, self.image = req, index, ws, noise, key, image


class _Request:
    """One submitted request or job (internal; guarded by the service's lock)."""

    def __init__(self, rid, priority, size, token, callback, model_gen, *, cache, collect,
                 source=None, noise_fn=None, total=None, on_images=None, on_progress=None, preview=False):
        self.id, self.priority, self.size, self.token = rid, Priority(priority), size, token
        self.preview = preview       # rendered through the generator's preview path (stops early)
        self.callback, self.on_images, self.on_progress = callback, on_images, on_progress
        self.model_gen, self.cache, self.collect = model_gen, cache, collect
        self.source, self.noise_fn, self.total = source, noise_fn, total
        self.exhausted = source is None
        self.pending: deque[_Item] = deque()
        self.next_index = 0          # jobs: index of the next item pulled from source
        self.in_flight = 0
        self.count = 0
        self.images: list = []
        self.from_cache: list = []
        self.noise: list = []
        self.render_s = 0.0
        self.t_submit = time.perf_counter()
        self.status = Status.PENDING
        self.error: str | None = None
        self.result: RenderResult | None = None
        self.event = threading.Event()

    @property
    def finished(self) -> bool:
        return self.status is not Status.PENDING

    def complete(self) -> bool:
        return self.exhausted and not self.pending and self.in_flight == 0


class Ticket:
    """Handle of one request: cancel(), wait(), done, status, result."""

    def __init__(self, service, req: _Request):
        self._service, self._req = service, req

    @property
    def id(self) -> int:
        return self._req.id

    @property
    def done(self) -> bool:
        return self._req.event.is_set()

    @property
    def status(self) -> Status:
        return self._req.status

    @property
    def result(self) -> RenderResult | None:
        return self._req.result

    @property
    def progress(self) -> tuple[int, int | None]:
        return self._req.count, self._req.total

    def cancel(self) -> bool:
        """End the request now (status CANCELLED) unless it already ended; True if it did."""
        return self._service._end([self._req], Status.CANCELLED)

    def wait(self, timeout: float | None = None) -> RenderResult:
        """The result once the request ended (any status); TimeoutError if not within timeout."""
        if threading.current_thread() is self._service._thread and not self.done:
            raise RuntimeError("waiting on a ticket from the render worker thread would deadlock")
        if not self._req.event.wait(timeout):
            raise TimeoutError(f"render ticket {self.id} not done after {timeout} s")
        return self._req.result

    def __repr__(self) -> str:
        return f"<Ticket {self.id} {self._req.priority.name} {self._req.status.value}>"




def latent_digest(ws: np.ndarray) -> str:
    """Content hash of one latent (shape and float32 bytes)."""
    a = np.ascontiguousarray(ws, dtype=np.float32)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(a.shape).encode())
    h.update(a.data)
    return h.hexdigest()


def cache_key(fingerprint: str, digest: str, noise: NoiseSpec, size: int, precision: str,
              preview: bool = False) -> tuple:
    """(model fingerprint, latent digest, noise, size, precision, preview): one rendered image."""
    return (fingerprint, digest, noise.mode, noise.seed, noise.strength, noise.maps, int(size), precision,
            bool(preview))


class RenderCache:
    """Thread-safe LRU of uint8 images bounded by their total bytes.

    Stored arrays are made read-only: the same array object is handed to every caller.
    """

    def __init__(self, max_bytes: int = 256 << 20):
        self._lock = threading.Lock()
        self._data: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._max = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def max_bytes(self) -> int:
        return self._max

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        with self._lock:
            self._max = int(value)
            self._evict()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

    def get(self, key) -> np.ndarray | None:
        with self._lock:
            img = self._data.get(key)
            if img is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return img

    def put(self, key, image: np.ndarray) -> np.ndarray:
        """Store `image` (made read-only) and return it; images larger than the bound are not kept."""
        image.setflags(write=False)
        if image.nbytes > self._max:
            return image
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._data[key] = image
            self._bytes += image.nbytes
            self._evict()
        return image

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def _evict(self) -> None:
        while self._bytes > self._max and self._data:
            _, img = self._data.popitem(last=False)
            self._bytes -= img.nbytes
            self.evictions += 1


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """float [N, C, H, W] -> float32 [N, C, size, size]: antialiased bilinear down; up, Lanczos
    on the 8-bit picture (what a designer's image editor does; bicubic rings less sharp)."""
    h, w = images.shape[-2:]
    if h == size and w == size:
        return images
    x = images.float()
    if x.device.type == "mps":  # antialiased interpolation is not implemented on every backend
        x = x.cpu()
    if size < max(h, w):
        return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    from PIL import Image

    u8 = (x.detach().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    up = np.stack([np.asarray(Image.fromarray(im.squeeze(-1) if im.shape[-1] == 1 else im)
                              .resize((size, size), Image.LANCZOS)).reshape(size, size, -1) for im in u8])
    # (u - 127.5) / 127.5 goes back through to_uint8's truncation to exactly u
    return torch.from_numpy(up).permute(0, 3, 1, 2).float().sub(127.5).div(127.5).to(images.device)
