"""Kill a writer process at random moments (SIGKILL) and check what it left, round after round."""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from typing import Callable


def kill_at_random(target: Callable, args: Callable[[int], tuple], check: Callable[[int], None],
                   rounds: int = 50, seed: int = 1, run_s: tuple[float, float] = (0.05, 0.4)) -> None:
    """Start `target(*args(round))` in a forked process, SIGKILL it after a random time in `run_s`,
    then call `check(round)`; `rounds` times."""
    ctx = mp.get_context("fork")
    rng = random.Random(seed)
    for round_ in range(rounds):
        proc = ctx.Process(target=target, args=args(round_), daemon=True)
        proc.start()
        time.sleep(rng.uniform(*run_s))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        check(round_)


def whole_lines(path: str) -> list[str]:
    """A log's complete lines (a kill may cut the last one short)."""
    return open(path).read().split("\n")[:-1] if os.path.exists(path) else []
