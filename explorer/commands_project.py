"""`latent-explorer project` and `train-encoder`: photos into a model's latent space.

    latent-explorer project PHOTO... --model M --out DIR [--space w|w+] [--steps N]
    latent-explorer train-encoder --model M [--steps N] [--out FILE]

For each photo NAME.jpg, `project` writes DIR/NAME.png (the projected face at the model's
resolution, with its recipe: open it in the app to edit, mix or animate it), DIR/NAME.npz (its ws)
and DIR/NAME-side.png (aligned photo | projection), and prints PSNR and time. Its defaults are the
window's.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

DEFAULT_STEPS = 100
DEFAULT_SPACE = "w+"


def projected_latent(gen, result, photo_info: dict, aligned_note: str):
    """The Latent of a projection: its ws, a recipe naming the photo (file, hash) and the settings."""
    from .latents import Latent
    from .noise import NoiseSpec

    recipe = {"op": "import", "name": f"{Path(photo_info['file']).stem} (projected)",
              "source": "projection", "photo": photo_info, "space": result.space, "steps": result.steps,
              "start": result.start, "psnr": round(float(result.psnr), 2), "alignment": aligned_note,
              "loss": getattr(result, "loss_kind", "")}
    noise = NoiseSpec.from_maps(result.noise_maps) if result.noise_maps else NoiseSpec()
    recipe["noise_maps"] = bool(result.noise_maps)
    return Latent(ws=result.ws, recipe=recipe, model=str(gen.fingerprint), noise=noise)


def cmd_project(args) -> int:
    import numpy as np
    from PIL import Image

    from . import load_generator
    from .export import save_png
    from .face_files import png_payload
    from .projection import PhotoError, align, framing_for, load_photo, photo_id, project
    from .projection.encoder import encoder_for

    gen = load_generator(args.model)
    from .projection.loss import loss_for

    loss = loss_for(gen, args.model)
    print(f"loss: pixels at three scales + {loss.kind} features", file=sys.stderr)
    encoder = None if args.start == "w_avg" else encoder_for(gen)
    if args.start == "encoder" and encoder is None:
        print("note: no encoder for this model yet (`latent-explorer train-encoder --model ...`): "
              "starting from w_avg", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for p in args.photos:
        notes: list[str] = []
        try:
            photo = load_photo(p, notes)
        except PhotoError as e:
            print(f"error: {e}", file=sys.stderr)
            failures += 1
            continue
        for n in notes:
            print(f"note: {Path(p).name}: {n}", file=sys.stderr)
        aligned = align(photo, gen.info.resolution, framing_for(gen), detect=not args.no_align)
        print(f"{Path(p).name}: {aligned.note}", file=sys.stderr)
        t0 = time.perf_counter()
        result = project(gen, aligned.image, space=args.space, steps=args.steps,
                         start="encoder" if encoder is not None else "w_avg", encoder=encoder, loss=loss)
        lat = projected_latent(gen, result, photo_id(p, photo), aligned.note)
        stem = Path(p).stem
        save_png(out / f"{stem}.png", result.image, png_payload(lat, gen.name))
        np.savez(out / f"{stem}.npz", ws=result.ws, psnr=result.psnr, steps=result.steps)
        side = np.concatenate([result.target, result.image[..., :3]], axis=1)
        Image.fromarray(side).save(out / f"{stem}-side.png")
        first = result.history[0]["psnr"]
        print(f"{stem}: PSNR {result.psnr:.2f} dB (start {first:.2f} dB from {result.start}), {result.steps} steps "
              f"in {time.perf_counter() - t0:.1f} s -> {out / (stem + '.png')}")
    return 1 if failures else 0


def cmd_train_encoder(args) -> int:
    import torch

    from . import load_generator
    from .projection.encoder import encoder_path, train_encoder

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    gen = load_generator(args.model)
    last = [0.0]

    def progress(f, info):
        if time.perf_counter() - last[0] > 10 or f >= 1:
            last[0] = time.perf_counter()
            print(f"step {info['step']}/{args.steps}  loss {info['loss']:.4f}  {info['seconds']:.0f} s", flush=True)

    from .projection.loss import is_default_model

    if args.finetune_steps and not is_default_model(gen):
        print("error: --finetune-steps draws its pictures from the default model's renderer; "
              "other models have no picture source yet", file=sys.stderr)
        return 2
    if args.start:
        from .projection.encoder import Encoder, EncoderError

        try:
            enc = Encoder.load(args.start)
        except EncoderError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if enc.meta.get("fingerprint") != str(gen.fingerprint):
            if not (args.adopt and args.finetune_steps):
                print(f"error: {args.start} is another model's encoder (--adopt with --finetune-steps "
                      "takes over a sibling model's)", file=sys.stderr)
                return 2
            from .projection.encoder import adopt_encoder
            try:
                enc = adopt_encoder(enc, gen)
            except EncoderError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
    else:
        enc = train_encoder(gen, steps=args.steps, batch=args.batch, seed=args.seed, progress=progress)
        print(f"trained {enc.meta['steps']} steps, loss {enc.meta['final_loss']:.4f}, {enc.meta['seconds']:.0f} s")
    if args.finetune_steps:
        from .projection.encoder_finetune import finetune_encoder, renderer_pictures

        def ft_progress(f, info):
            if time.perf_counter() - last[0] > 10 or f >= 1:
                last[0] = time.perf_counter()
                print(f"fine-tune step {info['step']}/{args.finetune_steps}  reconstruction {info['loss']:.4f}  "
                      f"{info['seconds']:.0f} s", flush=True)

        enc = finetune_encoder(gen, enc, renderer_pictures(gen.info.resolution, gen), steps=args.finetune_steps,
                               batch=args.finetune_batch, lr=args.finetune_lr, seed=args.seed, progress=ft_progress)
    path = enc.save(args.out or encoder_path(gen))
    print(f"wrote {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("project", help="bring photos into a model's latent space (align, encode, optimise)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("photos", nargs="+", help="JPEG / PNG / WebP photos")
    p.add_argument("--model", default="default", help="checkpoint path or 'default'")
    p.add_argument("--out", required=True, help="folder for NAME.png, NAME.npz and NAME-side.png")
    p.add_argument("--space", choices=["w", "w+"], default=DEFAULT_SPACE)
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--start", choices=["encoder", "w_avg"], default="encoder",
                   help="first guess: the model's encoder (default; w_avg when it has none) or w_avg")
    p.add_argument("--no-align", action="store_true", help="use the centre square instead of finding the face")
    p.set_defaults(func=cmd_project)
    t = sub.add_parser("train-encoder", help="train a model's encoder (projection's first guess)")
    t.add_argument("--model", default="default")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--out", default=None, help="default: the user data folder, by the model's fingerprint")
    t.add_argument("--start", default=None, metavar="ENCODER", help="continue from this encoder file "
                   "instead of training one (with --finetune-steps)")
    t.add_argument("--adopt", action="store_true",
                   help="with --start and --finetune-steps: START may be a sibling model's encoder (same "
                        "resolution and w shape, e.g. an earlier snapshot of this model), taken over and "
                        "fine-tuned on this one")
    t.add_argument("--finetune-steps", type=int, default=0,
                   help="then fine-tune by reconstruction through the model on the default model's renderer "
                        "pictures (the photos it will see; default model only)")
    t.add_argument("--finetune-batch", type=int, default=12)
    t.add_argument("--finetune-lr", type=float, default=2e-4)
    t.set_defaults(func=cmd_train_encoder)
