"""The render worker's batch size, chosen by measured throughput.

Bigger batches are not always faster per image: on this CPU the default model renders ~243 img/s
at batch 8-16, 226 at 48 and 116 at 64 (caches overflow), while on a GPU throughput keeps rising
with the batch. So the worker measures: it keeps the time per image of full batches of each size
(power-of-two sizes, the best of the last few) and uses the fastest size seen, doubling from 2 while
doubling still pays, never above `cap` (the time bound that keeps an interactive request's wait
short, and memory). Every REEXPLORE full batches it tries the neighbours of its choice again
(the machine's load changes).
"""
from __future__ import annotations

REEXPLORE = 48          # full batches between re-checks of the neighbouring sizes
SAMPLES = 3             # full batches of a size before its time is trusted
KEEP = 6                # the last times kept per size; the estimate is their minimum (what the
                        # machine can do: a shared machine's noise only ever slows a batch down)
TIE = 0.08              # a bigger batch must be this much faster per image to be preferred


def power_of_two_at_most(n: int) -> int:
    p = 1
    while p * 2 <= n:
        p *= 2
    return p


class BatchSizer:
    def __init__(self, start: int = 2):
        self.start = max(1, int(start))
        self.per_image: dict[int, float] = {}     # batch size -> seconds per image (best of the last KEEP)
        self.recent: dict[int, list[float]] = {}
        self.samples: dict[int, int] = {}
        self.full_batches = 0

    def record(self, n: int, seconds: float) -> None:
        """A full batch of `n` images took `seconds` (partial batches say nothing of their size)."""
        if n < 1 or seconds <= 0:
            return
        times = self.recent.setdefault(n, [])
        times.append(seconds / n)
        del times[:-KEEP]
        self.per_image[n] = min(times)
        self.samples[n] = self.samples.get(n, 0) + 1
        self.full_batches += 1

    def best(self, cap: int) -> int | None:
        """The measured size (<= cap, trusted) with the least time per image; ties go to the smaller."""
        sizes = sorted(n for n in self.per_image if n <= cap and self.samples.get(n, 0) >= SAMPLES)
        best = None
        for n in sizes:
            if best is None or self.per_image[n] < self.per_image[best] * (1 - TIE):
                best = n
        return best

    def choose(self, cap: int) -> int:
        """The batch size to form next (1 <= size <= cap)."""
        cap = max(1, int(cap))
        top = power_of_two_at_most(cap)
        best = self.best(cap)
        if best is None:                                   # measure the first size until trusted
            size = min(self.start, top)
            while size in self.samples and self.samples[size] >= SAMPLES and size * 2 <= top:
                size *= 2
            return size
        up = best * 2
        if up <= top and self.samples.get(up, 0) < SAMPLES:
            return up                                      # is one size bigger faster still?
        if self.full_batches and self.full_batches % REEXPLORE == 0:
            # look again at the neighbours once in a while: one more sample each
            for n in (up, best // 2):
                if 1 <= n <= top and n != best and n in self.recent:
                    self.samples[n] = min(self.samples.get(n, 0), SAMPLES - 1)
                    self.recent[n] = []          # measured afresh
            if up <= top:
                return up
        return best
