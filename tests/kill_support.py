"""Kill a writer process at random moments (SIGKILL) and check what it left, round after round."""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from typing import Callable

PRELOAD = ["tests.kill_support", "tests.test_library", "tests.test_session"]   # the writers' modules


def kill_at_random(target: Callable, args: Callable[[int], tuple], check: Callable[[int], None],
                   rounds: int = 50, seed: int = 1, run_s: tuple[float, float] = (0.05, 0.4)) -> None:
    """Start `target(*args(round))` in a forked process, SIGKILL it after a random time in `run_s`,
    then call `check(round)`; `rounds` times."""
    ctx = mp.get_context("forkserver")   # a clean process forks the writers (this one may hold Qt threads)
    ctx.set_forkserver_preload(PRELOAD)  # imported once in that process, not in every writer
    rng = random.Random(seed)
    for round_ in range(rounds):
        ready = ctx.Event()
        proc = ctx.Process(target=_run, args=(target, args(round_), ready), daemon=True)
        proc.start()
        assert ready.wait(60), "the writer did not start"
        time.sleep(rng.uniform(*run_s))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        check(round_)


def _run(target: Callable, args: tuple, ready) -> None:
    ready.set()                          # imports done: from here on the kill may come at any moment
    target(*args)


def whole_lines(path: str) -> list[str]:
    """A log's complete lines (a kill may cut the last one short)."""
    return open(path).read().split("\n")[:-1] if os.path.exists(path) else []
