"""GPU figures (issue 18, item 7): images/s at batch 32 and batch-1 latency, fp32 / fp16,
channels-last, eager vs one CUDA graph, for StyleGAN2 config F at 1024 and 256 px and
StyleGAN3-T at 1024 and 256 px (randomly initialised: the speed does not depend on the weights),
beside NVIDIA's published H200 figures where they exist. fp16 parity against fp32 is printed too.

    python3 bench/bench_gpu.py [--models sg2-1024,sg2-256,sg3t-256] [--json out.json] [--budget 100]

On a machine without CUDA it runs the same rows on the CPU with tiny models (a dry run that
checks the script, not a figure).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import Generator, stylegan2_config, stylegan3_config  # noqa: E402
from explorer.generators.cuda_graph import GraphedSynthesis  # noqa: E402

# NVIDIA's figures for the H200 as given in issue 18 (fp16, batch 32; batch-1 latency)
NVIDIA = {"sg2-1024": {"b32_img_s": 272.0, "b1_ms": 19.0}}

MODELS = {
    "sg2-1024": lambda: Generator(stylegan2_config(1024)),
    "sg2-256": lambda: Generator(stylegan2_config(256)),
    "sg3t-1024": lambda: Generator(stylegan3_config(1024, channel_base=32768, channel_max=512)),
    "sg3t-256": lambda: Generator(stylegan3_config(256, channel_base=32768, channel_max=512)),
}
TINY = {   # the CPU dry run
    "sg2-1024": lambda: Generator(stylegan2_config(32, channel_base=256, channel_max=32, z_dim=32, w_dim=32)),
    "sg3t-256": lambda: Generator(stylegan3_config(16, channel_base=256, channel_max=32, z_dim=32, w_dim=32)),
}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, seconds: float, max_iters: int = 200) -> float:
    """Median seconds per call over up to `seconds` of calls (after two warm-ups)."""
    fn(), fn()
    sync(device)
    times, start = [], time.perf_counter()
    while len(times) < max_iters and (len(times) < 3 or time.perf_counter() - start < seconds):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


@torch.no_grad()
def bench_model(key, gen, device, seconds):
    rows = []
    info = gen.info
    w32 = gen.map(torch.randn(32, info.z_dim, device=device))
    w1 = w32[:1].clone()
    ref = gen.synthesize(w1)
    for label, dtype, cl in [("fp32", None, False), ("fp16", torch.float16, False), ("fp16+cl", torch.float16, True)]:
        if dtype is torch.float16 and device.type != "cuda":
            dtype = torch.bfloat16
        if cl and info.arch != "stylegan2":
            continue
        if hasattr(gen.synthesis, "set_channels_last"):
            gen.synthesis.set_channels_last(cl)
        b32 = timed(lambda: gen.synthesize(w32, dtype=dtype), device, seconds)
        b1 = timed(lambda: gen.synthesize(w1, dtype=dtype), device, seconds)
        graphed = GraphedSynthesis(gen, 1, dtype)
        g1 = timed(lambda: graphed(w1), device, seconds) if graphed.captured else float("nan")
        err = float((gen.synthesize(w1, dtype=dtype) - ref).abs().max())
        gerr = float((graphed(w1) - ref).abs().max()) if graphed.captured else float("nan")
        rows.append({"model": key, "precision": label, "b32_img_s": 32 / b32, "b1_ms": 1000 * b1,
                     "b1_graph_ms": 1000 * g1, "max_abs_vs_fp32": err, "graph_max_abs_vs_fp32": gerr,
                     "graph_error": graphed.error})
        print(f"| {key} | {label} | {32 / b32:.1f} | {1000 * b1:.2f} | {1000 * g1:.2f} | {err:.2e} | "
              f"{NVIDIA.get(key, {}).get('b32_img_s', '')} | {NVIDIA.get(key, {}).get('b1_ms', '')} |"
              + (f" capture failed: {graphed.error[:80]}" if graphed.error else ""), flush=True)
        del graphed
    if hasattr(gen.synthesis, "set_channels_last"):
        gen.synthesis.set_channels_last(False)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="sg2-1024,sg2-256,sg3t-256,sg3t-1024")
    ap.add_argument("--seconds", type=float, default=1.5, help="timing per cell")
    ap.add_argument("--budget", type=float, default=150, help="stop starting new models after this many s")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    table = MODELS if cuda else TINY
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name() if cuda else 'CPU dry run (tiny models)'}")
    print("| model | precision | b32 images/s | b1 ms | b1 ms, CUDA graph | max abs vs fp32 | NVIDIA b32 img/s "
          "| NVIDIA b1 ms |")
    print("|---|---|---|---|---|---|---|---|")
    rows, start = [], time.perf_counter()
    for key in filter(None, args.models.split(",")):
        if key not in table or time.perf_counter() - start > args.budget:
            continue
        torch.manual_seed(0)
        gen = table[key]().to(device).eval()
        try:
            rows += bench_model(key, gen, device, args.seconds if cuda else 0.05)
        except RuntimeError as exc:
            print(f"| {key} | failed: {str(exc)[:160]} |", flush=True)
        del gen
        if cuda:
            torch.cuda.empty_cache()
    if args.json:
        Path(args.json).write_text(json.dumps({"device": torch.cuda.get_device_name() if cuda else "cpu",
                                               "torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
