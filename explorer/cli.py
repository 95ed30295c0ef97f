"""`latent-explorer` command line: the window by default, headless subcommands for scripts.

    latent-explorer [--model PATH] [--workspace FILE]  open the window (the last workspace by default)
    latent-explorer generate --model PATH --seeds 0-7 --psi 0.7 --outdir DIR
    latent-explorer convert IN OUT [--half]
    latent-explorer info PATH
    latent-explorer animate --model PATH --seeds 3,7,12 --seconds 4 --fps 30 --loop --out clip.mp4
    latent-explorer library list [--tag T] [--min-stars N] [--collection C] [--json]
    latent-explorer workspace show [--json]           the last workspace's faces, labels and recipes
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

RECIPE_VERSION = 1


def _device(name: str) -> str:
    from .devices import pick_device

    return str(pick_device(name))


def cmd_generate(args) -> int:
    import torch

    from . import load_generator
    from .export import save_png
    from .generators import to_uint8
    from .latents import label_vector, parse_seeds, z_from_seeds
    from .render_cache import resize_images

    gen = load_generator(args.model, device=_device(args.device))
    seeds = parse_seeds(args.seeds)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for start in range(0, len(seeds), args.batch):
        chunk = seeds[start: start + args.batch]
        z = z_from_seeds(chunk, gen.info.z_dim)
        c = None
        if gen.info.c_dim:
            c = torch.from_numpy(label_vector(args.class_index, gen.info.c_dim))[None].repeat(len(chunk), 1)
        with torch.inference_mode():
            ws = gen.map(z, c, psi=args.psi, cutoff=args.cutoff)
            out = gen.synthesize(ws, noise_mode=args.noise_mode,
                                 noise_seed=chunk if args.noise_mode == "random" else None,
                                 preview_size=args.size if args.size and not args.full else None)
            imgs = to_uint8(resize_images(out, args.size) if args.size else out)
        for seed, img in zip(chunk, imgs):
            recipe = {"version": RECIPE_VERSION, "kind": "seed",
                      "model": {"fingerprint": gen.fingerprint, "name": gen.name},
                      "seed": seed, "psi": args.psi, "cutoff": args.cutoff, "noise_mode": args.noise_mode,
                      "class_index": args.class_index if gen.info.c_dim else None}
            save_png(outdir / f"seed{seed:04d}.png", img, recipe)
    dt = time.perf_counter() - t0
    print(f"wrote {len(seeds)} images to {outdir} ({1000 * dt / len(seeds):.1f} ms/image)")
    return 0


def cmd_convert(args) -> int:
    from .checkpoints import convert

    out = convert(args.src, args.dst, half=args.half)
    print(f"wrote {out}")
    return 0


def cmd_info(args) -> int:
    from . import load_generator

    gen = load_generator(args.model)
    i = gen.info
    print(f"{gen.name}: {i.arch}, {i.resolution}px, {i.img_channels} channels, z {i.z_dim}, w {i.w_dim}, "
          f"c {i.c_dim}, {i.num_ws} ws, {i.num_params / 1e6:.2f}M parameters")
    from .layers import GROUP_NAMES

    for name in GROUP_NAMES:
        r = i.groups[name]
        print(f"  {name:6s} ws {r.start}-{r.stop - 1}" if len(r) else f"  {name:6s} (none)")
    print(f"  fingerprint {gen.fingerprint}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latent-explorer", description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="checkpoint for the window (default: the last workspace's "
                   "model, else the embedded model)")
    p.add_argument("--workspace", default=None, help="workspace file to open in the window (default: the last "
                   "one used; 'new' starts a new one)")
    sub = p.add_subparsers(dest="command")

    g = sub.add_parser("generate", help="render seeds to PNGs that carry their recipe")
    g.add_argument("--model", default="default", help="checkpoint path or 'default'")
    g.add_argument("--seeds", required=True, help="e.g. 0-7 or 1,5,9")
    g.add_argument("--psi", type=float, default=1.0, help="truncation psi (1 = none)")
    g.add_argument("--cutoff", type=int, default=None, help="truncate only the first N ws entries")
    g.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    g.add_argument("--class", dest="class_index", type=int, default=0, help="label for conditional models")
    g.add_argument("--outdir", required=True)
    g.add_argument("--batch", type=int, default=8)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    g.add_argument("--size", type=int, default=None, help="picture side in pixels (default: the model's); "
                   "smaller sizes render through the cheapest faithful path (StyleGAN2 skip models stop at "
                   "the first block of at least SIZE pixels)")
    g.add_argument("--full", action="store_true", help="with --size: render in full, then resize")
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("convert", help="write any supported checkpoint in our safetensors format")
    c.add_argument("src")
    c.add_argument("dst")
    c.add_argument("--half", action="store_true", help="store float16 weights")
    c.set_defaults(func=cmd_convert)

    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("model")
    i.set_defaults(func=cmd_info)
    _add_training_commands(sub)
    return p


def _add_training_commands(sub) -> None:
    """Training and direction-fitting subcommands live beside the code they drive."""
    import importlib

    for name in (".training.commands", ".training.commands_renderer", ".training.commands_directions",
                 ".commands_animate", ".commands_stylize", ".commands_project", ".commands_library",
                 ".commands_workspace"):
        try:
            module = importlib.import_module(name, __package__)
        except ModuleNotFoundError:
            continue
        module.register(sub)


def main(argv: list[str] | None = None, open_window: Callable[[str], int] | None = None) -> int:
    """Run a subcommand; with none, open the window through `open_window(model)`.

    The engine never imports the UI: the `latent-explorer` command starts in ui/launcher.py,
    which passes the window in here."""
    from .checkpoints import CheckpointError
    from .errors import FileProblem

    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "func", None) is None:
            if open_window is None:
                print("no command given; the window opens with `latent-explorer` (ui.launcher)",
                      file=sys.stderr)
                return 2
            if args.workspace is not None:
                return open_window(args.model, workspace=args.workspace)
            return open_window(args.model)
        return args.func(args)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError, FileProblem) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
