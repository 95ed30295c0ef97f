"""Style transfer figures (printed; nothing here is asserted).

    .venv/bin/python bench/bench_style_transfer.py                 # everything, default model
    .venv/bin/python bench/bench_style_transfer.py --sheet docs/screenshots/style_sheet.png

1. Time per stylisation at 128 and 256 px (2 threads), the app's defaults (L-BFGS, 100 steps,
   coarse-to-fine), side by side with the alternatives in one run: a single-scale run (all steps at
   full size) and Adam; ratios to the default. Target: a usable result in <= 15 s at 256 px.
2. Style-Gram distance and content distance against steps (normalised as in the loss: 1.0 = as far
   as the content picture itself is from the style, for the style term), for the random features,
   and for VGG19 when LATENT_EXPLORER_VGG19 points at torchvision's weights (said plainly when not).
3. Temporal stability of a stylised clip: frames between two faces, each stylised from scratch
   (cold) or starting from the previous frame's result (warm, 35 % of the steps, as clip export
   does): mean |frame - previous frame| of the stylised clip against that of the plain clip, and
   the time per frame.
4. A contact sheet: the built-in styles on 4 faces of the default model (--sheet PATH).
The faces are the default model's (128 px since 2026-12-01; 64 px before) upscaled with Lanczos to
the working size.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer import load_generator  # noqa: E402
from explorer.generators import to_uint8  # noqa: E402
from explorer.latents import z_from_seeds  # noqa: E402
from explorer.style_transfer import BUILTIN_STYLES, builtin_style, stylize  # noqa: E402
from explorer.style_transfer import optimize as opt_module  # noqa: E402
from explorer.style_transfer.features import vgg19_path  # noqa: E402


def faces(gen, seeds, size, psi=0.7):
    with torch.inference_mode():
        ws = gen.map(z_from_seeds(seeds, gen.info.z_dim), None, psi=psi)
        imgs = to_uint8(gen.synthesize(ws, noise_mode="const"))
    return [np.asarray(Image.fromarray(im).resize((size, size), Image.LANCZOS)) for im in imgs]


def lerp_faces(gen, a, b, n, size):
    with torch.inference_mode():
        ws = gen.map(z_from_seeds([a, b], gen.info.z_dim), None, psi=0.7)
        t = torch.linspace(0, 1, n).view(-1, 1, 1)
        frames = to_uint8(gen.synthesize(ws[:1] * (1 - t) + ws[1:] * t, noise_mode="const"))
    return [np.asarray(Image.fromarray(im).resize((size, size), Image.LANCZOS)) for im in frames]


def timing(face_imgs, style, repeats):
    print("\n## 1. Time per stylisation (2 threads, 100 steps, random features)")
    print("| size | default: L-BFGS coarse-to-fine | single scale | ratio | Adam coarse-to-fine | ratio |")
    print("|---|---|---|---|---|---|")
    for size in (128, 256):
        img = np.asarray(Image.fromarray(face_imgs[0]).resize((size, size), Image.LANCZOS))
        runs = {"default": [], "single": [], "adam": []}
        for _ in range(repeats):
            for name in runs:
                share = opt_module.COARSE_SHARE
                if name == "single":
                    opt_module.COARSE_SHARE, min_side = 0.0, opt_module.COARSE_MIN_SIDE
                    opt_module.COARSE_MIN_SIDE = 10 ** 6
                t0 = time.perf_counter()
                stylize(img, style, iterations=100, size=size, optimizer="adam" if name == "adam" else "lbfgs",
                        style_weight=10.0)
                runs[name].append(time.perf_counter() - t0)
                if name == "single":
                    opt_module.COARSE_SHARE, opt_module.COARSE_MIN_SIDE = share, min_side
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"| {size} px | {med['default']:.1f} s | {med['single']:.1f} s | {med['single'] / med['default']:.2f}x "
              f"| {med['adam']:.1f} s | {med['adam'] / med['default']:.2f}x |")


def curves(face, style, features):
    print(f"\n## 2. Distances against steps ({features} features, 256 px, L-BFGS, style weight 10)")
    r = stylize(face, style, iterations=200, size=256, features=features, style_weight=10.0, preview_every=10)
    print("| steps | style distance | content distance | seconds |")
    print("|---|---|---|---|")
    for h in r.history:
        if h["iteration"] in (0, 10, 20, 40, 60, 80, 100, 150, 200) or h is r.history[-1]:
            print(f"| {h['iteration']} | {h['style']:.4f} | {h['content']:.4f} | {h['seconds']:.1f} |")


def stability(gen, style, frames, size):
    print(f"\n## 3. Temporal stability: {frames} frames between seeds 3 and 7, {size} px, 100 steps (warm: 35)")
    clip = lerp_faces(gen, 3, 7, frames, size)
    diff = lambda a, b: float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())  # noqa: E731
    plain = statistics.mean(diff(clip[i], clip[i - 1]) for i in range(1, frames))
    results = {}
    for mode in ("cold", "warm"):
        out, prev = [], None
        t0 = time.perf_counter()
        for f in clip:
            init = prev if mode == "warm" else None
            r = stylize(f, style, iterations=35 if init is not None else 100, size=size, init=init,
                        style_weight=10.0)
            prev = r.image
            out.append(r.image)
        dt = (time.perf_counter() - t0) / frames
        flicker = statistics.mean(diff(out[i], out[i - 1]) for i in range(1, frames))
        results[mode] = (flicker, dt)
    print("| clip | mean abs frame-to-frame change (0-255) | x plain clip | s / frame |")
    print("|---|---|---|---|")
    print(f"| plain (no style) | {plain:.2f} | 1.00 | — |")
    for mode, (flicker, dt) in results.items():
        print(f"| stylised, {mode} start | {flicker:.2f} | {flicker / plain:.2f} | {dt:.1f} |")
    print(f"warm / cold flicker: {results['warm'][0] / results['cold'][0]:.2f}; "
          f"time: {results['warm'][1] / results['cold'][1]:.2f}")


def sheet(gen, path, size=160):
    seeds = [3, 7, 12, 21]
    imgs = faces(gen, seeds, 256)
    names = list(BUILTIN_STYLES)
    pad, label_h = 4, 18
    cols = 1 + len(names)
    canvas = Image.new("RGB", (cols * (size + pad) + pad, label_h + len(seeds) * (size + pad) + pad), (24, 24, 28))
    draw = ImageDraw.Draw(canvas)
    for j, title in enumerate(["face (default model)"] + [BUILTIN_STYLES[n][0] for n in names]):
        draw.text((pad + j * (size + pad) + 4, 3), title, fill=(220, 220, 220))
    t0 = time.perf_counter()
    for i, img in enumerate(imgs):
        row = [img] + [stylize(img, builtin_style(n, 256), iterations=100, size=256, style_weight=10.0).image
                       for n in names]
        for j, im in enumerate(row):
            canvas.paste(Image.fromarray(im).resize((size, size), Image.LANCZOS),
                         (pad + j * (size + pad), label_h + pad + i * (size + pad)))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    print(f"\n## 4. Contact sheet: {path} ({len(seeds)} faces x {len(names)} styles, "
          f"{time.perf_counter() - t0:.0f} s)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--sheet", default=None, help="write the contact sheet here")
    p.add_argument("--only", choices=["timing", "curves", "stability", "sheet"], default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    gen = load_generator(args.model)
    print(f"model {gen.name} {gen.info.resolution} px; torch {torch.__version__}, {args.threads} threads")
    face_imgs = faces(gen, [3], 256)
    style = builtin_style("frost", 256)
    if args.only in (None, "timing"):
        timing(face_imgs, style, args.repeats)
    if args.only in (None, "curves"):
        curves(face_imgs[0], style, "random")
        if vgg19_path() is not None:
            curves(face_imgs[0], style, "vgg19")
        else:
            print("\nVGG19: no weights file here (LATENT_EXPLORER_VGG19 unset; nothing can be downloaded), "
                  "so no VGG19 figures.")
    if args.only in (None, "stability"):
        stability(gen, builtin_style("oil", 256), args.frames, 128)
    if args.sheet and args.only in (None, "sheet"):
        sheet(gen, args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
