"""The training loop both trainers share: steps until a kimg target, a wall-clock budget or a
stop request, with progress lines and periodic snapshots that every process agrees on."""
from __future__ import annotations

import time
from typing import Callable


def training_loop(trainer, kimg: float, minutes: float | None = None, snapshot_minutes: float = 5.0,
                  progress_seconds: float = 30.0, should_stop: Callable[[], bool] | None = None,
                  loss_digits: int = 3) -> None:
    """trainer: has train_step(), nimg, step, seconds, last_losses, par (Solo / Gloo), log(str)
    and save_snapshot(). Ends with a snapshot."""
    start = time.perf_counter()
    last_snap = last_print = start
    nimg0, seconds0 = trainer.nimg, trainer.seconds
    while trainer.nimg < kimg * 1000:
        trainer.train_step()
        now = time.perf_counter()
        trainer.seconds = seconds0 + (now - start)
        if now - last_print >= progress_seconds:
            rate = (trainer.nimg - nimg0) / 1000 / max((now - start) / 60, 1e-9)
            loss = " ".join(f"{k} {v:.{loss_digits}f}" for k, v in trainer.last_losses.items())
            trainer.log(f"kimg {trainer.nimg / 1000:8.2f}  {rate:6.2f} kimg/min  step {trainer.step}  {loss}")
            last_print = now
        out_of_time = minutes is not None and (now - start) / 60 >= minutes
        stop, snap = trainer.par.any(out_of_time or bool(should_stop and should_stop()),
                                     (now - last_snap) / 60 >= snapshot_minutes)
        if stop:    # every process agrees on stopping and snapshotting, in the same step
            break
        if snap:
            trainer.save_snapshot()
            last_snap = time.perf_counter()
    trainer.save_snapshot()
