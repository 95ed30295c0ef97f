"""Clip export throughput against the raw generator (printed; nothing here is asserted).

    .venv/bin/python bench/bench_export.py                  # random StyleGAN2 64 px (z = w = 128)
    .venv/bin/python bench/bench_export.py --model PATH     # a real checkpoint (explorer.load_generator)

Raw: a plain batched `synthesize` + `to_uint8` loop over the same frames' ws (computed beforehand)
at --batch and at the batch the render service settled on; the faster one is the reference.
Export: `export_clip` through a RenderService with its default settings, as the app and `animate` use it (PREFETCH jobs,
encoder on the exporting thread, ffmpeg in its own process), and without a service (producer
thread; MP4 and PNG by default), for MP4, PNG frames, GIF and WebM; wall time includes resolving the timeline, encoding,
starting ffmpeg and the atomic rename. Target: export >= 85% of raw for MP4 and PNG (the generator,
not the encoder, is the limit).

A shared machine drifts by tens of percent within seconds, so each export run sits between two raw
runs and is compared with their mean; figures are medians over --repeats rounds. "gen busy" is the
share of the export's wall time the generator spent rendering, a drift-free check that the
generator is the limit (on a 2-core CPU the encoder also takes cycles from the generator, which
shows in "of raw" but not in "gen busy"). "CPU ms/frame" is the CPU time per frame of this process
and ffmpeg together, to set against the raw loop's: what the export costs beyond the generator. On a small shared CPU try --threads 1: two OpenMP threads
on two busy cores stall on each other (3-10x slower here), which swamps every other figure.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer import Generator, stylegan2_config, to_uint8  # noqa: E402
from explorer.animation import export_clip, probe_clip  # noqa: E402
from explorer.render import RenderService, default_num_threads  # noqa: E402
from explorer.render_split import BatchSplitter, default_cpu_workers  # noqa: E402
from explorer.render_cache import resize_images  # noqa: E402
from explorer.timeline import Timeline  # noqa: E402

TARGET = 0.85
EXTENSIONS = {"mp4": "clip.mp4", "png": "frames", "gif": "clip.gif", "webm": "clip.webm"}


def build_generator(args) -> Generator:
    if args.model:
        from explorer import load_generator

        return load_generator(args.model, device="cpu")
    torch.manual_seed(0)
    return Generator(stylegan2_config(64, z_dim=128, w_dim=128, channel_base=2048, channel_max=256,
                                      mapping_layers=2))


THREADS = None   # torch CPU threads of the raw loop (set from --threads; the service gets the same)
WORKERS = 1      # parts a CPU batch is split into, as the service does (explorer/render_split.py)


def raw_fps(g, ws: np.ndarray, batch: int, size: int, device, dtype) -> float:
    """frames/s of a plain batched synthesize (+ resize) + to_uint8 loop, run on a fresh thread set up
    like the render worker: torch's OpenMP thread count is per thread, and on a loaded 2-core machine
    two threads ran 3-10x slower than one (barrier waits), so both sides must use the same setting."""
    box: dict = {}

    def run():
        try:
            if device.type == "cpu":
                torch.set_num_threads(THREADS or default_num_threads())
            box["fps"] = _raw_loop(g, ws, batch, size, device, dtype)
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=run, name="raw-generator")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["fps"]


def _raw_loop(g, ws: np.ndarray, batch: int, size: int, device, dtype) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    splitter = BatchSplitter(WORKERS, max(1, (THREADS or default_num_threads()) // WORKERS)) \
        if device.type == "cpu" and WORKERS > 1 else None
    dt = None if dtype == torch.float32 else dtype

    def synth(x):
        return g.synthesize(x, dtype=dt) if splitter is None else splitter.synthesize(g, x, dtype=dt)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(ws), batch):
            x = torch.from_numpy(ws[i:i + batch]).to(device)
            to_uint8(resize_images(synth(x), size))
    fps = len(ws) / (time.perf_counter() - t0)
    if splitter is not None:
        splitter.close()
    return fps


class Timed:
    """The generator with a stopwatch on synthesize (the direct export's producer thread calls it)."""

    def __init__(self, g):
        self.g, self.info, self.fingerprint, self.name, self.seconds = g, g.info, g.fingerprint, g.name, 0.0

    def __getattr__(self, name):
        return getattr(self.g, name)

    def synthesize(self, *a, **k):
        t0 = time.perf_counter()
        try:
            out = self.g.synthesize(*a, **k)
            if out.device.type == "cuda":
                torch.cuda.synchronize(out.device)
            return out
        finally:
            self.seconds += time.perf_counter() - t0


def generator_seconds(target) -> float:
    """Seconds the generator has spent rendering so far (service: its batch log; direct: Timed)."""
    if isinstance(target, Timed):
        return target.seconds
    return sum(b.seconds for b in target.stats.snapshot()["batch_log"])


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg), user + system."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def export_fps(target, tl, fmt: str, frames: int, size: int, folder: Path, batch: int | None,
               busy: list | None = None) -> float:
    out = folder / EXTENSIONS[fmt]
    g0 = generator_seconds(target)
    res = export_clip(target, tl, out, frames=frames, size=size, sidecar=False, batch=batch)
    if busy is not None:   # share of the export's wall time the generator was rendering
        busy.append((generator_seconds(target) - g0) / res.seconds)
    got = probe_clip(res.path if fmt != "png" else out)["frames"]
    if got != frames and fmt != "gif":   # a GIF may merge identical frames
        raise RuntimeError(f"{fmt}: wrote {got} frames, expected {frames}")
    if out.is_dir():
        shutil.rmtree(out)
    else:
        out.unlink()
    return res.frames_per_second


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="checkpoint (default: a random StyleGAN2 64 px)")
    ap.add_argument("--frames", type=int, default=None, help="frames per export (default: ~1 s of raw generator time on CPU, at most 96; 960 CUDA)")
    ap.add_argument("--size", type=int, default=None, help="frame side (default: model resolution)")
    ap.add_argument("--batch", type=int, default=None, help="raw batch / direct-export batch (8 CPU, 32 CUDA)")
    ap.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    ap.add_argument("--formats", default="mp4,png,gif,webm")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--direct-formats", default="mp4,png", help="formats also exported without a service")
    ap.add_argument("--no-direct", action="store_true", help="skip the exports without a render service")
    ap.add_argument("--interp", default="linear", choices=["linear", "slerp", "cubic"])
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads for the raw loop and the service (default: the service's "
                         "default, but 1 on a machine of 1-2 cores)")
    ap.add_argument("--cpu-workers", type=int, default=None,
                    help="parts a CPU batch is split into, in the service and the raw loop alike (default: the "
                         "service's, cores // threads; 1: no split)")
    ap.add_argument("--budget", type=float, default=70.0,
                    help="seconds of export rounds: later rounds are skipped once this is spent (>= 1 round)")
    args = ap.parse_args(argv)

    global THREADS, WORKERS
    cores = default_num_threads()
    # On 1-2 cores the service's default uses them all; on a shared box two OpenMP threads then stall on
    # each other and the figures measure that, not the export. Both sides use the same setting anyway.
    THREADS = args.threads or (1 if cores <= 2 else cores)
    g = build_generator(args)
    svc = RenderService(g, device=args.device, cache_bytes=0, num_threads=THREADS, cpu_workers=args.cpu_workers)
    WORKERS = args.cpu_workers or default_cpu_workers(THREADS)
    device, dtype = svc.device, svc.dtype
    gpu = device.type == "cuda"
    batch = args.batch or (32 if gpu else 8)
    size = args.size or g.info.resolution
    model = g if not gpu else __import__("copy").deepcopy(g).to(device)
    timed = Timed(model)
    tl = Timeline.from_seeds(g, range(5), psi=0.7, interp=args.interp, loop=True, fps=30, duration=4)
    frames = args.frames
    if frames is None:   # about a second of generator time per run keeps the default bench near a minute
        probe = tl.resolve(g).frames_ws(tl.frame_positions(2 * batch))
        raw_fps(model, probe[:batch], batch, size, device, dtype)
        est = raw_fps(model, probe, batch, size, device, dtype)
        frames = 960 if gpu else int(min(96, max(24, round(est))))
    tl.duration = frames / tl.fps
    print(f"model: {g.info.arch} {g.info.resolution}px, {g.info.num_params / 1e6:.2f}M params; device {device} "
          f"({svc.precision}), torch threads {THREADS}, batches in {WORKERS} part(s); {frames} frames at {size}px, "
          f"timeline {args.interp} through 5 seeds, loop")
    ws = tl.resolve(g).frames_ws(tl.frame_positions(frames))

    folder = Path(tempfile.mkdtemp(prefix="bench_export."))
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    direct = [] if args.no_direct else [f.strip() for f in args.direct_formats.split(",") if f.strip()]
    configs = [(fmt, path) for fmt in formats for path in ("service", "direct")
               if path == "service" or fmt in direct]
    try:
        # warm up: threads, the service's batch size, ffmpeg's encoder list, cuDNN autotuning
        raw_fps(model, ws[:batch], batch, size, device, dtype)
        export_fps(svc, tl, "mp4", min(frames, 2 * batch), size, folder, None)
        export_fps(svc, tl, "png", min(frames, 2 * batch), size, folder, None)
        settled = svc.batch_limit()
        raw = {}
        for b in sorted({batch, settled}):
            raw[b] = max(raw_fps(model, ws, b, size, device, dtype) for _ in range(args.repeats))
            print(f"raw generator, batch {b:3d}: {raw[b]:8.1f} frames/s")
        ref_batch = max(raw, key=raw.get)
        print(f"reference: raw at batch {ref_batch} (service batch settled at {settled})")

        # A shared machine drifts by tens of percent within a minute, so every export run sits between
        # two raw runs and is compared with their mean; each figure is the median over --repeats rounds.
        ratios = {c: [] for c in configs}
        speeds = {c: [] for c in configs}
        busy = {c: [] for c in configs}
        cpu = {c: [] for c in configs}
        c0 = cpu_seconds()
        last_raw = raw_fps(model, ws, ref_batch, size, device, dtype)
        raw_cpu = [(cpu_seconds() - c0) / frames]
        raws = [last_raw]
        t_rounds, rounds = time.perf_counter(), 0
        for _ in range(args.repeats):
            if rounds and time.perf_counter() - t_rounds > args.budget:
                print(f"(time budget of {args.budget:g} s spent after {rounds} rounds)")
                break
            rounds += 1
            for fmt, path in configs:
                target, b = (svc, None) if path == "service" else (timed, batch)
                c0 = cpu_seconds()
                fps = export_fps(target, tl, fmt, frames, size, folder, b, busy[(fmt, path)])
                c1 = cpu_seconds()
                now_raw = raw_fps(model, ws, ref_batch, size, device, dtype)
                raw_cpu.append((cpu_seconds() - c1) / frames)
                cpu[(fmt, path)].append((c1 - c0) / frames)
                raws.append(now_raw)
                speeds[(fmt, path)].append(fps)
                ratios[(fmt, path)].append(fps / ((last_raw + now_raw) / 2))
                last_raw = now_raw
        print(f"raw runs between exports: {min(raws):.1f} .. {max(raws):.1f} frames/s "
              f"(median {statistics.median(raws):.1f}); raw CPU time {1000 * statistics.median(raw_cpu):.2f} ms/frame")
        print(f"\n{'format':6s} {'path':8s} {'frames/s':>9s} {'of raw':>7s} {'gen busy':>8s} {'CPU ms/frame':>12s}  "
              f"target (medians of {rounds})")
        for fmt, path in configs:
            ratio, fps = statistics.median(ratios[(fmt, path)]), statistics.median(speeds[(fmt, path)])
            goal = fmt in ("mp4", "png")
            mark = (">= 85% " + ("ok" if ratio >= TARGET else "MISSED")) if goal else "-"
            util = statistics.median(busy[(fmt, path)])
            ms = 1000 * statistics.median(cpu[(fmt, path)])
            print(f"{fmt:6s} {path:8s} {fps:9.1f} {100 * ratio:6.1f}% {100 * util:7.1f}% {ms:12.2f}  {mark}",
                  flush=True)
    finally:
        svc.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
