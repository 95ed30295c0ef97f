"""Throughput of the procedural face renderer (explorer/training/faces.py).

Prints images/s at 64x64 and 128x128, single process (render_face in a loop) and with
write_dataset on all cores (pool start-up and file writing included, as a user would see it).
"per CPU-s" divides by the CPU time actually used (this process plus its workers), which stays
meaningful when other jobs share the cores and the wall-clock rate drops.
Run: .venv/bin/python bench/bench_faces.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.training import faces  # noqa: E402


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def single(resolution: int, count: int) -> tuple[float, float]:
    faces.render_face(0, resolution)  # warm caches
    t, c = time.perf_counter(), _cpu()
    for seed in range(count):
        faces.render_face(seed, resolution)
    return count / (time.perf_counter() - t), count / (_cpu() - c)


def parallel(resolution: int, count: int, workers: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        t, c = time.perf_counter(), _cpu()
        faces.write_dataset(Path(d) / "bench.lxf", count, resolution, seed=0, workers=workers)
        return count / (time.perf_counter() - t), count / (_cpu() - c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer images (noisier)")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    scale = 0.25 if args.quick else 1.0
    plan = {64: (600, 3000), 128: (200, 1000)}
    print(f"load average {os.getloadavg()[0]:.1f} on {cores} cores")
    print(f"{'resolution':>10} {'processes':>9} {'images':>7} {'images/s':>9} {'per CPU-s':>9}")
    for res, (n1, n2) in plan.items():
        n1, n2 = max(20, int(n1 * scale)), max(40, int(n2 * scale) * cores // 2)
        for procs, n, fn in ((1, n1, single), (cores, n2, parallel)):
            rate, per_cpu = fn(res, n) if procs == 1 else fn(res, n, procs)
            print(f"{res:>10} {procs:>9} {n:>7} {rate:>9.0f} {per_cpu:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
