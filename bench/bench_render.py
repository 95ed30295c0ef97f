"""Render service figures (printed; nothing here is asserted).

    .venv/bin/python bench/bench_render.py                 # random StyleGAN2 64 px, ~1.4M params
    .venv/bin/python bench/bench_render.py --model PATH    # a real checkpoint (explorer.load_generator)

1. Throughput: a raw batched synthesize + to_uint8 loop at every batch size of --raw-batches and
   at the size the service settled on (the best of them is the reference: "the best raw batch")
   against the service on the same latents and device, as one request of N latents and as N
   one-latent requests (the grid's pattern), interleaved. Target: the service reaches >= 90% of
   the best raw batch (it chooses its batch size by measured throughput: explorer/batch_sizer.py).
2. Interactive latency under load: while a 1,000-image prefetch job runs, interactive requests
   are submitted at random moments; their latency (submit -> callback) against the median time of
   one prefetch batch, and against the prefetch batch each one waited for (robust to a shared,
   noisy machine). Target: <= 1.5x. Then a simulated slider drag (hold-off on).
3. Cache hit: re-submitting a rendered latent (answered inside submit()). Target: < 1 ms.
Each throughput figure is the best of --repeats runs (the machine may be shared).
"""
from __future__ import annotations

import argparse
import copy
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer import Generator, stylegan2_config, to_uint8  # noqa: E402
from explorer.render import Priority, RenderService, default_num_threads  # noqa: E402


def build_generator(args) -> Generator:
    if args.model:
        from explorer import load_generator
        return load_generator(args.model, device="cpu")
    torch.manual_seed(0)
    return Generator(stylegan2_config(args.resolution, z_dim=128, w_dim=128, channel_base=4096,
                                      channel_max=128, mapping_layers=4))


def make_ws(g, n, seed) -> np.ndarray:
    z = torch.randn(n, g.info.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        return torch.cat([g.map(z[i:i + 256], psi=0.7) for i in range(0, n, 256)]).cpu().numpy()


def raw_loop(g, ws: np.ndarray, batch: int, device, dtype) -> float:
    """images/s of a plain batched synthesize + to_uint8 loop."""
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(ws), batch):
            x = torch.from_numpy(ws[i:i + batch]).to(device)
            to_uint8(g.synthesize(x, dtype=None if dtype == torch.float32 else dtype))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(ws) / (time.perf_counter() - t0)


def service_one_request(svc, ws) -> float:
    t0 = time.perf_counter()
    res = svc.submit(ws, cache=False).wait()
    assert res.ok, res.error
    return len(ws) / (time.perf_counter() - t0)


def service_many_requests(svc, ws) -> float:
    t0 = time.perf_counter()
    tickets = [svc.submit(w, cache=False) for w in ws]
    for t in tickets:
        assert t.wait().ok
    return len(ws) / (time.perf_counter() - t0)


def _probe(svc, w):
    """Latency of one interactive request, and the prefetch batch that was in flight when it came."""
    done = threading.Event()
    t0 = time.perf_counter()
    svc.submit(w, priority=Priority.INTERACTIVE, cache=False, callback=lambda r: done.set())
    done.wait()
    lat = time.perf_counter() - t0
    inflight = [b for b in svc.stats.snapshot()["batch_log"]
                if b.priority == Priority.PREFETCH and b.ended - b.seconds <= t0 <= b.ended]
    return lat, (inflight[0].seconds if inflight else None)


def interactive_under_prefetch(svc, g, n_prefetch, probes, drag, seed):
    """Isolated clicks at random moments (no hold-off: every one meets a full prefetch batch),
    then a slider drag (a new value 30 ms after the last one was shown, hold-off on)."""
    rng = random.Random(seed)
    holdoff, svc.interactive_holdoff = svc.interactive_holdoff, 0.0
    job = svc.submit_job(make_ws(g, n_prefetch, seed + 1), priority=Priority.PREFETCH)
    while job.progress[0] < 3 * max(1, svc.batch_limit()) and not job.done:  # reach steady batches
        time.sleep(0.01)
    hot = make_ws(g, probes + drag, seed + 2)
    t_start = time.perf_counter()
    clicks = []
    for i in range(probes):
        time.sleep(rng.uniform(0.05, 0.3))
        clicks.append(_probe(svc, hot[i]))
    t_end = time.perf_counter()
    svc.interactive_holdoff = holdoff
    time.sleep(0.3)
    drags = []
    for i in range(drag):
        drags.append(_probe(svc, hot[probes + i])[0])
        time.sleep(0.03)
    running = not job.done
    job.cancel()
    batches = [b for b in svc.stats.snapshot()["batch_log"]
               if b.priority == Priority.PREFETCH and t_start <= b.ended <= t_end]
    batch_s = statistics.median(b.seconds for b in batches) if batches else float("nan")
    sizes = sorted({b.n for b in batches})
    return clicks, drags, batch_s, sizes, running


def cache_hit(svc, ws, reps=2000):
    svc.submit(ws, cache=True).wait()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        t = svc.submit(ws)
        times.append(time.perf_counter() - t0)
        assert t.done and t.result.from_cache == [True]
    times.sort()
    return times[len(times) // 2] * 1e3, times[int(len(times) * 0.99)] * 1e3


def compare_layouts(g, args) -> int:
    threads = args.threads or default_num_threads()
    torch.set_num_threads(threads)
    nchw = copy.deepcopy(g)
    nhwc = copy.deepcopy(g)
    nchw.synthesis.set_channels_last(False)
    nhwc.synthesis.set_channels_last(True)
    sizes = [1] + [int(b) for b in args.raw_batches.split(",") if int(b) > 1][:1]
    print(f"{g.info.arch} {g.info.resolution}px, {g.info.num_params / 1e6:.1f}M params, {threads} thread(s), "
          f"median of {args.repeats} interleaved runs")
    print("| batch | NCHW ms/image | channels-last ms/image | ratio | max abs diff |")
    print("|---|---|---|---|---|")
    for b in sizes:
        ws = torch.from_numpy(make_ws(g, b, seed=5))
        with torch.inference_mode():
            a, c = nchw.synthesize(ws), nhwc.synthesize(ws)      # warm-up, and the difference
            t = {"nchw": [], "nhwc": []}
            for _ in range(args.repeats):
                for name, m in (("nchw", nchw), ("nhwc", nhwc)):
                    t0 = time.perf_counter()
                    m.synthesize(ws)
                    t[name].append((time.perf_counter() - t0) * 1000 / b)
        p, q = statistics.median(t["nchw"]), statistics.median(t["nhwc"])
        print(f"| {b} | {p:.1f} | {q:.1f} | {q / p:.2f} | {float((a - c).abs().max()):.1e} |")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="checkpoint path (default: random StyleGAN2)")
    ap.add_argument("--resolution", type=int, default=64, help="random model resolution")
    ap.add_argument("--device", default=None, help="cuda / mps / cpu (default: best available)")
    ap.add_argument("--precision", default=None, help="float16 / bfloat16 / float32 (default per device)")
    ap.add_argument("--optimize", default=None, help="none / channels_last / compile / channels_last+compile")
    ap.add_argument("-n", type=int, default=256, help="latents per throughput run")
    ap.add_argument("--raw-batches", default="4,8,16,32,48", help="raw loop batch sizes (the best is the reference)")
    ap.add_argument("--prefetch", type=int, default=1000)
    ap.add_argument("--probes", type=int, default=16, help="isolated interactive requests")
    ap.add_argument("--drag", type=int, default=20, help="interactive requests of a simulated slider drag")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: default_num_threads())")
    ap.add_argument("--compare-layouts", action="store_true",
                    help="only: synthesize with NCHW vs channels-last activations (what the service uses on "
                         "a CPU), interleaved, batch 1 and --raw-batches' sizes; max |difference|")
    args = ap.parse_args()

    g = build_generator(args)
    if args.compare_layouts:
        return compare_layouts(g, args)
    threads = args.threads or default_num_threads()
    svc = RenderService(g, device=args.device, precision=args.precision, num_threads=threads,
                        optimize=args.optimize)
    torch.set_num_threads(threads)  # the raw loop runs here with the worker's thread count
    device, dtype = svc.device, svc.dtype
    raw_g = g if g.device == device else copy.deepcopy(g).to(device)
    ws = make_ws(g, args.n, seed=1)

    svc.submit_job(make_ws(g, 64, seed=9)).wait()  # warm up the adaptive batch size
    raw_sizes = [int(b) for b in args.raw_batches.split(",")]
    raw_loop(raw_g, ws[:32], raw_sizes[0], device, dtype)
    raw = {b: [] for b in raw_sizes}
    raw_svc, one, many = [], [], []
    for _ in range(args.repeats):  # interleaved, best of each
        for b in raw_sizes:
            raw[b].append(raw_loop(raw_g, ws, b, device, dtype))
        one.append(service_one_request(svc, ws))
        svc_batch = int(statistics.median(b.n for b in svc.stats.snapshot()["batch_log"][-8:]))
        raw_svc.append(raw_loop(raw_g, ws, svc_batch, device, dtype))  # raw at the service's batch size
        many.append(service_many_requests(svc, ws))
    best_b = max(raw_sizes, key=lambda b: max(raw[b]))
    raw_best = max(max(raw[best_b]), max(raw_svc))  # the reference: the best raw loop
    one_best, many_best = max(one), max(many)
    service_batches = sorted({b.n for b in svc.stats.snapshot()["batch_log"][-20:]})

    clicks, drags, batch_s, sizes, running = interactive_under_prefetch(svc, g, args.prefetch, args.probes,
                                                                         args.drag, seed=3)
    lat = [c[0] for c in clicks]
    per_batch = [c[0] / c[1] for c in clicks if c[1]]
    hit_med, hit_p99 = cache_hit(svc, ws[0])
    svc.shutdown()

    info = g.info
    print(f"\nRender service bench: {info.arch} {info.resolution}px, {info.num_params / 1e6:.2f}M params, "
          f"device {device}, {str(dtype).replace('torch.', '')}, {threads} CPU threads "
          f"({os.cpu_count()} cores), optimize={args.optimize or 'none'}")
    rows = [
        *[("raw synthesize loop", f"{max(raw[b]):8.1f} img/s", f"batch {b}" + (" (best)" if b == best_b else ""), "")
          for b in raw_sizes],
        ("raw synthesize loop", f"{max(raw_svc):8.1f} img/s", f"batch {svc_batch} (service's)", ""),
        (f"service, 1 request x {args.n}", f"{one_best:8.1f} img/s", f"{one_best / raw_best:.2f} of best raw",
         ">= 0.90"),
        (f"service, {args.n} requests x 1", f"{many_best:8.1f} img/s", f"{many_best / raw_best:.2f} of best raw",
         ">= 0.90"),
        ("service batch sizes (adaptive)", " ".join(map(str, service_batches)), "", ""),
        (f"prefetch batch (median, n={'/'.join(map(str, sizes))})", f"{batch_s * 1e3:8.1f} ms", "", ""),
        (f"interactive latency, {len(lat)} clicks", f"{statistics.median(lat) * 1e3:8.1f} ms median",
         f"{max(lat) * 1e3:.1f} ms max", ""),
        ("click / median prefetch batch", f"{statistics.median(lat) / batch_s:8.2f} median",
         f"{max(lat) / batch_s:.2f} max", "<= 1.5"),
        ("click / the batch it waited for", f"{statistics.median(per_batch):8.2f} median",
         f"{max(per_batch):.2f} max", "<= 1.5"),
        (f"slider drag, {len(drags)} values (hold-off)", f"{statistics.median(drags) * 1e3:8.1f} ms median",
         f"{max(drags) * 1e3:.1f} ms max", ""),
        ("cache hit (submit -> done)", f"{hit_med:8.3f} ms median", f"{hit_p99:.3f} ms p99", "< 1 ms"),
    ]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"{'figure':<{w[0]}}  {'value':<{w[1]}}  {'':<{w[2]}}  target")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    if not running:
        print("(the prefetch job finished before all probes ran: raise --prefetch)")


if __name__ == "__main__":
    main()
