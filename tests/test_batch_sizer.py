"""The render worker's batch size follows measured throughput (explorer/batch_sizer.py)."""
from __future__ import annotations

from explorer.batch_sizer import REEXPLORE, BatchSizer


def run(sizer: BatchSizer, per_image, cap: int = 64, batches: int = 200) -> list[int]:
    """Drive the sizer with a machine whose time per image at batch n is per_image(n)."""
    chosen = []
    for _ in range(batches):
        n = sizer.choose(cap)
        chosen.append(n)
        sizer.record(n, per_image(n) * n)
    return chosen


def test_it_settles_where_a_cpu_is_fastest_not_on_the_biggest_batch():
    cpu = {1: 6.0, 2: 5.0, 4: 4.5, 8: 4.1, 16: 4.1, 32: 4.3, 64: 8.6}     # ms / image, as measured here
    chosen = run(BatchSizer(), lambda n: cpu[n] / 1000)
    assert chosen[:12] == [2, 2, 2, 4, 4, 4, 8, 8, 8, 16, 16, 16], "it grows step by step from 2"
    settled = chosen[20:]
    assert settled.count(8) > 0.9 * len(settled), "8 and 16 tie: the smaller one (shorter waits) wins"
    assert 64 not in chosen, "the cliff at 64 is never reached: 32 was already slower"


def test_on_a_gpu_it_climbs_to_the_cap():
    chosen = run(BatchSizer(), lambda n: 1.0 / n + 0.01, cap=64)
    assert chosen[-1] == 64 and chosen[20:].count(64) > 0.9 * len(chosen[20:])
    assert max(run(BatchSizer(), lambda n: 1.0 / n, cap=40)) == 32, "never above the time / memory cap"


def test_it_looks_again_when_the_machine_changes():
    load = {"busy": False}

    def machine(n):      # first 8 is best; later (another program took the caches) 4 is
        if load["busy"]:
            return {2: 5.0, 4: 3.0, 8: 6.0, 16: 7.0}.get(n, 9.0) / 1000
        return {2: 5.0, 4: 4.5, 8: 4.0, 16: 4.4}.get(n, 9.0) / 1000

    s = BatchSizer()
    assert run(s, machine, batches=60)[-1] == 8
    load["busy"] = True
    later = run(s, machine, batches=6 * REEXPLORE)
    assert later[-20:].count(4) >= 18
