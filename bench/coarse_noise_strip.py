"""Coarse noise, seen: for a few faces of a neural-renderer model, the renderer's portrait and the
model's, each with its 8 px (coarse) noise map redrawn three times, and the change each redraw
makes (x8, mid grey = none). What `model_figures.noise_fidelity` measures, as a picture.

    python bench/coarse_noise_strip.py [--model PATH] [--faces 4] --out strip.png

Rows come in pairs (render, model); columns: the face, three redraws, three changes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import load_generator  # noqa: E402
from explorer.training.model_figures import renderer_portraits  # noqa: E402
from explorer.training.z_layout import layout_of  # noqa: E402

FIRST_SEED = 10_950_000             # the bench's noise-fidelity seeds (bench_default_model.BENCH_SEED + 950,000)


def strip(gen, faces: int, redraws: int = 3, gain: float = 8.0, seed: int = 5) -> np.ndarray:
    lay = layout_of(gen)
    seeds = list(range(FIRST_SEED, FIRST_SEED + faces))
    z = np.stack([lay.z_of_seed(s) for s in seeds])
    noise = gen.make_noise(faces, seeds)
    coarse = [m.shape[-1] for m in noise].index(8)
    rng = torch.Generator().manual_seed(seed)

    with torch.inference_mode():
        ws = gen.map(torch.from_numpy(z), None)

        def model(maps):
            return gen.synthesize(ws, noise=maps).permute(0, 2, 3, 1).numpy() * 127.5 + 127.5

        base = (renderer_portraits(gen, z, noise), model(noise))
        drawn = []
        for _ in range(redraws):
            maps = list(noise)
            maps[coarse] = torch.randn(noise[coarse].shape, generator=rng)
            drawn.append((renderer_portraits(gen, z, maps), model(maps)))

    def u8(a):
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)

    rows = []
    for k in range(faces):
        for which in (0, 1):
            b = base[which][k]
            rows.append(np.concatenate([u8(b)] + [u8(d[which][k]) for d in drawn]
                                       + [u8(128 + gain * (d[which][k] - b)) for d in drawn], axis=1))
    return np.concatenate(rows, axis=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "resources" / "default_model.safetensors"))
    ap.add_argument("--faces", type=int, default=4)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    gen = load_generator(args.model)
    if not gen.config.get("z_semantics"):
        print("the model has no renderer slots (z_semantics): nothing to set its noise against", file=sys.stderr)
        return 2
    Image.fromarray(strip(gen, args.faces)).save(args.out)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
