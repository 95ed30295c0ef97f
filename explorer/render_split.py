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

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch

MIN_PART = 2          # images per part: a smaller batch renders on the calling thread alone
MAX_WORKERS = 4


def default_cpu_workers(threads: int) -> int:
    """Parts a CPU batch is split into: the cores over the intra-op threads of each part (at most 4).
    Two on a 2-core machine (one thread each); one where the render thread already has the cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores // max(1, threads), MAX_WORKERS))


class BatchSplitter:
    """Renders parts of a batch on `workers - 1` helper threads plus the calling thread, each part
    with `threads` intra-op threads (the calling thread's own number is restored after its part)."""

    def __init__(self, workers: int, threads: int):
        self.workers = max(1, int(workers))
        self.threads = max(1, int(threads))
        self._pool: ThreadPoolExecutor | None = None
        self._idents: set[int] = set()
        self._lock = threading.Lock()
        self.split_batches = 0        # batches rendered in parts (for tests and the stats)

    def parts(self, n: int) -> list[tuple[int, int]]:
        """[(lo, hi)] covering range(n) in order, at least MIN_PART each, at most `workers` parts."""
        k = max(1, min(self.workers, n // MIN_PART))
        bounds = [round(i * n / k) for i in range(k + 1)]
        return [(bounds[i], bounds[i + 1]) for i in range(k)]

    def _init_helper(self) -> None:
        # intra-op threads are per thread (OpenMP): a new thread would start with all cores. (Torch
        # also keeps one process-wide number, which a thread's first parallel op copies: callers
        # with another number must have run one before the first split; RenderService does.)
        torch.set_num_threads(self.threads)
        with self._lock:
            self._idents.add(threading.get_ident())

    def owns_current_thread(self) -> bool:
        return threading.get_ident() in self._idents

    def run(self, n: int, render_part: Callable[[int, int], torch.Tensor]) -> torch.Tensor:
        """render_part(lo, hi) -> tensor [hi - lo, ...] for each part; the parts concatenated in order.
        The first part is rendered on the calling thread. Thread-local state (inference mode,
        autocast) is not carried to the helpers: render_part must set what it needs. An exception
        of any part is raised here after every part has ended."""
        spans = self.parts(n)
        if len(spans) == 1:
            return render_part(0, n)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="render-part",
                                            initializer=self._init_helper)
        own = torch.get_num_threads()          # the caller may render single faces on more threads
        futures = [self._pool.submit(render_part, lo, hi) for lo, hi in spans[1:]]
        try:
            if own != self.threads:
                torch.set_num_threads(self.threads)
            first = render_part(*spans[0])
        finally:
            if own != self.threads:
                torch.set_num_threads(own)
            done = []
            error = None
            for f in futures:                 # wait for all: none may outlive the batch
                try:
                    done.append(f.result())
                except BaseException as e:    # noqa: BLE001 - re-raised below
                    error = error or e
        if error is not None:
            raise error
        self.split_batches += 1
        return torch.cat([first, *done])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
