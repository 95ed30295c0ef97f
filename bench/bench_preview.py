"""Preview rendering (issue 18, items 2 and 6): a StyleGAN2 skip generator stopped at the block of
the thumbnail's size, against the full render resized to the same size, side by side in one run.

    .venv/bin/python bench/bench_preview.py [--size 128] [--extra MODEL.safetensors:SIZE ...]

Fidelity (PSNR of the preview against the full render, both at the thumbnail size) on trained
models: the default model, and any extra trained model given; speed (ms per image, batch 1 and
8, and the ratio) on those and on randomly initialised StyleGAN2 config F at 256 and 1024 px.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import Generator, load_generator, stylegan2_config  # noqa: E402
from explorer.generators import to_uint8  # noqa: E402
from explorer.render_cache import resize_images  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def row(name: str, gen, size: int, fidelity: bool, batches=(1, 8), repeats: int = 3) -> None:
    stop = gen.preview_resolution(size)
    z = torch.randn(32 if fidelity else max(batches), gen.info.z_dim, generator=torch.Generator().manual_seed(0))
    ws = gen.map(z)
    cells = [name, f"{gen.info.resolution} -> {size} (stops at {stop})"]
    if fidelity:
        full = to_uint8(resize_images(gen.synthesize(ws), size))
        prev = to_uint8(resize_images(gen.synthesize(ws, preview_size=size), size))
        p = [psnr(a, b) for a, b in zip(prev, full)]
        cells.append(f"{statistics.median(p):.1f} (min {min(p):.1f})")
    else:
        cells.append("random weights")
    for b in batches:
        w = ws[:b]
        t_full = timed(lambda: resize_images(gen.synthesize(w), size), repeats)
        t_prev = timed(lambda: resize_images(gen.synthesize(w, preview_size=size), size), repeats)
        cells.append(f"{1000 * t_full / b:.1f} / {1000 * t_prev / b:.1f} ({t_prev / t_full:.2f}x)")
    print("| " + " | ".join(cells) + " |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=128, help="thumbnail side for the big models")
    ap.add_argument("--extra", nargs="*", default=[], help="MODEL:SIZE of other trained models")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-big", action="store_true", help="skip the random 256 / 1024 px models")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU threads")
    print("| model | resolution -> thumbnail | preview PSNR vs full (dB, 32 faces) | ms/image b1: full / preview "
          "| ms/image b8: full / preview |")
    print("|---|---|---|---|---|")
    gen = load_generator("default")
    row("default model", gen, gen.info.resolution // 2, True)
    for spec in args.extra:
        path, size = spec.rsplit(":", 1)
        row(Path(path).name, load_generator(path), int(size), True)
    if not args.no_big:
        for res in (256, 1024):
            torch.manual_seed(0)
            big = Generator(stylegan2_config(res)).eval()
            row(f"SG2 config F {res}", big, args.size, False, batches=(1,), repeats=1 if res == 1024 else 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
