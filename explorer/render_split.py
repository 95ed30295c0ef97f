"""A CPU batch rendered as parts on parallel threads, each with its own few intra-op threads.

A RenderService on a CPU renders with one core left for the window by default
(default_num_threads(): one thread on 2 cores; exports, `animate`, restyling and library imports
use that default): two OpenMP threads sharing two cores with a busy thread stall each other at
every barrier. A batch split into parts rendered side by side on separate threads, one intra-op
thread each, has no barrier but the join at its end: when another thread takes a core, one part
waits and the other goes on. The default model at batch 16 on this 2-core machine: 15 ms a
picture on one thread, 8.7-10.5 in two parts (2 OpenMP threads: 8.8-11.5;
bench/bench_default_model.py --speed-only); an MP4 export through the default service 46.5 ->
71.4 frames/s (bench/bench_export.py --cpu-workers 1 / 2).

    splitter = BatchSplitter(workers=2, threads=1)
    images = splitter.run(16, lambda lo, hi: render(ws[lo:hi]))   # parts in order, concatenated
    splitter.owns_current_thread()    # True on the helper threads (a shutdown hook stops them too)
    splitter.close()
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

import torch

from .render_queue import cpu_cores

log = logging.getLogger(__name__)

MIN_PART = 2          # images per part: a smaller batch renders on the calling thread alone
MAX_WORKERS = 4


def default_cpu_workers(threads: int) -> int:
    """Parts a CPU batch is split into: the cores over the intra-op threads of each part (at most 4).
    Two on a 2-core machine (one thread each); one where the render thread already has the cores."""
    return max(1, min(cpu_cores() // max(1, threads), MAX_WORKERS))


class _Part:
    """One part handed to a helper: done is set when result or error is."""
    __slots__ = ("fn", "lo", "hi", "result", "error", "done")

    def __init__(self, fn, lo: int, hi: int):
        self.fn, self.lo, self.hi = fn, lo, hi
        self.result, self.error, self.done = None, None, threading.Event()


class _Helper:
    """A daemon thread rendering the parts put in its queue (None ends it). Daemon, as the render
    worker is: a part that never returns cannot hold up the process's exit."""

    def __init__(self, name: str, threads: int):
        self.threads = threads
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        # Intra-op threads are per thread (OpenMP): a new thread would start with all cores. Torch
        # sets a thread up on its first parallel op by copying its one process-wide number, which
        # another thread may change at any time: so the set-up first, then this thread's number.
        torch.get_num_threads()
        torch.set_num_threads(self.threads)
        while True:
            part = self.tasks.get()
            if part is None:
                return
            try:
                part.result = part.fn(part.lo, part.hi)
            except BaseException as e:    # noqa: BLE001 - handed to the caller
                part.error = e
            finally:
                part.done.set()


class BatchSplitter:
    """Renders parts of a batch on `workers - 1` helper threads plus the calling thread, each part
    with `threads` intra-op threads (the calling thread's own number is restored after its part)."""

    def __init__(self, workers: int, threads: int):
        self.workers = max(1, int(workers))
        self.threads = max(1, int(threads))
        self._helpers: list[_Helper] = []
        self._threads: frozenset = frozenset()
        self.split_batches = 0        # batches rendered in parts (for tests and the stats)

    def parts(self, n: int) -> list[tuple[int, int]]:
        """[(lo, hi)] covering range(n) in order, at least MIN_PART each, at most `workers` parts."""
        k = max(1, min(self.workers, n // MIN_PART))
        bounds = [round(i * n / k) for i in range(k + 1)]
        return [(bounds[i], bounds[i + 1]) for i in range(k)]

    def owns_current_thread(self) -> bool:
        """True on this splitter's live helper threads."""
        return threading.current_thread() in self._threads

    def run(self, n: int, render_part: Callable[[int, int], torch.Tensor]) -> torch.Tensor:
        """render_part(lo, hi) -> tensor [hi - lo, ...] for each part; the parts concatenated in order.
        The first part is rendered on the calling thread. Thread-local state (inference and grad
        mode, autocast) is not carried to the helpers: render_part must set what it needs. The first
        exception of the parts (the calling thread's first) is raised after every part has ended;
        the others are logged."""
        spans = self.parts(n)
        if len(spans) == 1:
            return render_part(0, n)
        if not self._helpers:
            self._helpers = [_Helper(f"render-part-{i + 1}", self.threads) for i in range(self.workers - 1)]
            self._threads = frozenset(h.thread for h in self._helpers)
        own = torch.get_num_threads()          # the caller may render single faces on more threads
        parts = [_Part(render_part, lo, hi) for lo, hi in spans[1:]]
        for helper, part in zip(self._helpers, parts):
            helper.tasks.put(part)
        first, errors = None, []
        try:
            if own != self.threads:
                torch.set_num_threads(self.threads)
            first = render_part(*spans[0])
        except BaseException as e:    # noqa: BLE001 - raised below, once every part has ended
            errors.append(e)
        finally:
            if own != self.threads:
                torch.set_num_threads(own)
        for part in parts:                      # wait for all: none may outlive the batch
            part.done.wait()
            if part.error is not None:
                errors.append(part.error)
        if errors:
            for e in errors[1:]:
                log.warning("another part of the batch failed too: %s: %s", type(e).__name__, e)
            raise errors[0]
        self.split_batches += 1
        return torch.cat([first, *(p.result for p in parts)])

    def synthesize(self, gen, ws: torch.Tensor, **kw) -> torch.Tensor:
        """gen.synthesize(ws, **kw) in parts (the same keywords for every part: no per-image seeds), under the
        caller's inference and grad modes (for benches and scripts; the render service slices its
        per-image noise itself)."""
        inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

        def part(lo: int, hi: int) -> torch.Tensor:
            with torch.set_grad_enabled(grad), torch.inference_mode(inference):
                return gen.synthesize(ws[lo:hi], **kw)
        return self.run(ws.shape[0], part)

    def close(self) -> None:
        """Ends the helper threads (each after its part in flight, if any)."""
        for h in self._helpers:
            h.tasks.put(None)
        self._helpers, self._threads = [], frozenset()
