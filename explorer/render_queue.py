"""The render service's queue parts (explorer.render): priorities, statuses, the requests and
items waiting in the queues, tickets, results and counters, and small device helpers. No Qt here.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Hashable

import torch


class Priority(IntEnum):
    """Lower is served first."""
    INTERACTIVE = 0   # the cell or slider the user is touching now
    VISIBLE = 1       # visible grid cells
    REFINE = 2        # visible cells shown as previews, rendered again in full
    PREFETCH = 3      # prefetch, export, sampling jobs


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
    split_batches: int = 0       # CPU batches rendered as parts on parallel threads (render_split)
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


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_num_threads() -> int:
    """One core left for the window (and an encoder) everywhere, at most 16 threads.

    On 2 cores, two OpenMP threads that share the CPU with the GUI thread stall each other at
    every barrier (an export measured 2-5 frames/s with 2 threads vs 40-50 with 1)."""
    return max(1, min(cpu_cores() - 1, 16))


class RenderItem:
    __slots__ = ("req", "index", "ws", "noise", "key", "image")

    def __init__(self, req, index, ws, noise, key=None, image=None):
        self.req, self.index, self.ws, self.noise, self.key, self.image = req, index, ws, noise, key, image


class RenderRequest:
    """One submitted request or job (internal; guarded by the service's lock)."""

    def __init__(self, rid, priority, size, token, callback, model_gen, *, cache, collect,
                 source=None, noise_fn=None, total=None, on_images=None, on_progress=None, preview=False,
                 exact=False):
        self.id, self.priority, self.size, self.token = rid, Priority(priority), size, token
        self.preview = preview       # rendered through the generator's preview path (stops early)
        self.exact = exact           # never in the reduced precision that 'auto' may choose (exports)
        self.callback, self.on_images, self.on_progress = callback, on_images, on_progress
        self.model_gen, self.cache, self.collect = model_gen, cache, collect
        self.source, self.noise_fn, self.total = source, noise_fn, total
        self.exhausted = source is None
        self.pending: deque[RenderItem] = deque()
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

    def __init__(self, service, req: RenderRequest):
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
