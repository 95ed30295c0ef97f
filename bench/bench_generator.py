"""Generator throughput: images/s and ms/image at batch 1 and 8.

Models: the shared fixtures (when ../shared is present), randomly initialised StyleGAN2 config-F
at 256 and 1024 px, and StyleGAN3-T at 256 and 1024 px. CPU always; CUDA (fp32 and fp16) when
present. Prints a markdown table.

    .venv/bin/python bench/bench_generator.py [--quick] [--models sg2-256,sg3t-256]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import Generator, load_generator, stylegan2_config, stylegan3_config  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "checkpoints"


def models(selected: set[str] | None):
    specs = {
        "default (the shipped model)": lambda: load_generator("default"),
        "sg2-256 (config F)": lambda: Generator(stylegan2_config(256)),
        "sg2-1024 (config F)": lambda: Generator(stylegan2_config(1024)),
        "sg3t-256": lambda: Generator(stylegan3_config(256, channel_base=32768, channel_max=512)),
        "sg3t-1024": lambda: Generator(stylegan3_config(1024, channel_base=32768, channel_max=512)),
    }
    if FIXTURES.is_dir():
        for p in sorted(FIXTURES.glob("*.p*")):
            if p.suffix in (".pkl", ".pt") and "legacy" not in p.name and "convert" not in p.name:
                specs[p.stem] = (lambda p=p: load_generator(p))
    for name, make in specs.items():
        key = name.split(" ")[0]
        if selected and key not in selected:
            continue
        yield name, make


def time_batches(gen: Generator, batch: int, device: torch.device, dtype, min_seconds: float, max_iters: int):
    z = torch.randn(batch, gen.info.z_dim, device=device)
    c = torch.zeros(batch, gen.info.c_dim, device=device) if gen.info.c_dim else None
    with torch.inference_mode():
        ws = gen.map(z, c)
        gen.synthesize(ws, dtype=dtype)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        n, t0 = 0, time.perf_counter()
        while n < max_iters and (n == 0 or time.perf_counter() - t0 < min_seconds):
            gen.synthesize(ws, dtype=dtype)
            if device.type == "cuda":
                torch.cuda.synchronize()
            n += 1
        dt = time.perf_counter() - t0
    return n * batch / dt, 1000 * dt / (n * batch)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one timed batch per row")
    ap.add_argument("--models", default="", help="comma list of keys, e.g. sg2-256,P1_sg2_res32")
    ap.add_argument("--batches", default="1,8")
    args = ap.parse_args()
    selected = set(filter(None, args.models.split(","))) or None
    devices = [(torch.device("cpu"), torch.float32, "fp32")]
    if torch.cuda.is_available():
        devices += [(torch.device("cuda"), torch.float32, "fp32"), (torch.device("cuda"), torch.float16, "fp16")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    print("| model | params | device | precision | batch | images/s | ms/image |")
    print("|---|---|---|---|---|---|---|")
    for name, make in models(selected):
        torch.manual_seed(0)
        gen = make()
        for device, dtype, label in devices:
            gen = gen.to(device)
            for batch in (int(b) for b in args.batches.split(",")):
                big = gen.info.resolution >= 1024
                ips, ms = time_batches(gen, batch, device, None if dtype == torch.float32 else dtype,
                                       min_seconds=0 if args.quick else (1.0 if big else 2.0),
                                       max_iters=1 if (args.quick or (big and device.type == "cpu")) else 50)
                print(f"| {name} | {gen.info.num_params / 1e6:.1f}M | {device.type} | {label} | {batch} "
                      f"| {ips:.2f} | {ms:.1f} |", flush=True)
        del gen


if __name__ == "__main__":
    main()
