"""Photo projection figures (printed; nothing here is asserted).

    .venv/bin/python bench/bench_projection.py                      # 16 held-out faces, default model
    .venv/bin/python bench/bench_projection.py --faces 64           # the issue's 64 (about 4x longer)
    .venv/bin/python bench/bench_projection.py --framing            # measure the renderer's framing

1. Held-out faces of the default model's domain: pictures drawn by its training renderer from
   seeds never used in training (10,000,000 + i), projected in W+ from the encoder's guess and from
   w_avg (NVIDIA's start), side by side in one run: PSNR and classifier-feature distance (the
   attribute classifier's penultimate features, Euclidean) after the encoder alone, after 100 and
   after 500 steps. Target: the encoder start at 100 steps reaches what w_avg reaches at 500.
2. Round trip: faces the model made (seeds, psi 0.7) projected back; PSNR (target >= 30 dB).
3. Time to a usable result on this CPU: the app's default (encoder + 100 steps, W+).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer import load_generator  # noqa: E402
from explorer.generators import to_uint8  # noqa: E402
from explorer.latents import latent_from_seed  # noqa: E402
from explorer.projection import project, psnr  # noqa: E402
from explorer.projection.encoder import encoder_for  # noqa: E402
from explorer.projection.loss import DEFAULT_CLASSIFIER  # noqa: E402

HELD_OUT = 10_000_000


def domain_render():
    """The default model's renderer: (seed, resolution) -> (image, labels). The renderer its z
    slots name (renderer 2's drawing) for a neural-renderer model, else the first renderer."""
    from explorer.projection.encoder_finetune import domain_renderer

    return domain_renderer(load_generator("default"))


def held_out_faces(n: int, res: int) -> list[np.ndarray]:
    render_seed = domain_render()
    return [np.ascontiguousarray(render_seed(HELD_OUT + i, res)[0][..., :3]) for i in range(n)]


def render(gen, ws: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return to_uint8(gen.synthesize(torch.from_numpy(np.array(ws))[None]))[0]


def table(gen, faces, encoder, clf, steps_list=(100, 500), w_avg_lr: float | None = None,
          starts=("encoder", "w_avg")):
    feat = lambda ims: clf.features(np.stack(ims))  # noqa: E731
    target_f = feat(faces)
    rows = {}
    guesses = [encoder.predict(f) for f in faces]
    rows["encoder alone"] = [render(gen, g) for g in guesses]
    avg_ws = gen.w_avg.numpy()[None].repeat(gen.info.num_ws, 0)
    rows["w_avg alone"] = [render(gen, avg_ws)] * len(faces)
    times = {}
    for steps in steps_list:
        for start in starts:
            out, t0 = [], time.perf_counter()
            for f in faces:
                r = project(gen, f, space="w+", steps=steps, start=start, encoder=encoder)
                out.append(r.image)
            times[(start, steps)] = (time.perf_counter() - t0) / len(faces)
            rows[f"{start} + {steps} steps"] = out
    if w_avg_lr:      # w_avg's best case too: the same steps at the encoder start's learning rate
        for steps in steps_list:
            t0 = time.perf_counter()
            rows[f"w_avg + {steps} steps, lr {w_avg_lr}"] = [
                project(gen, f, space="w+", steps=steps, start="w_avg", lr=w_avg_lr).image for f in faces]
            times[("w_avg", f"{steps} steps, lr {w_avg_lr}")] = (time.perf_counter() - t0) / len(faces)
    print("| start | PSNR (dB) median | PSNR mean | feature distance mean | s / face |")
    print("|---|---|---|---|---|")
    for name, ims in rows.items():
        p = [psnr(a, b) for a, b in zip(ims, faces)]
        d = np.linalg.norm(feat(ims) - target_f, axis=1)
        key = next(((s, n) for (s, n) in times if name in (f"{s} + {n} steps", f"{s} + {n}")), None)
        t = f"{times[key]:.1f}" if key else "—"
        print(f"| {name} | {statistics.median(p):.2f} | {np.mean(p):.2f} | {d.mean():.3f} | {t} |")


def framing() -> None:
    from explorer.projection.align import ffhq_quad, landmarks

    render_seed = domain_render()
    cs, ss = [], []
    for s in range(40):
        img = np.ascontiguousarray(render_seed(s, 256)[0][..., :3])
        lm = landmarks(img)
        if lm is None:
            continue
        q = ffhq_quad(lm)
        cs.append(q.mean(0) / 256)
        ss.append(np.hypot(*(q[3] - q[0])) / 256)
    print(f"renderer framing: {len(cs)} of 40 found; centre {np.mean(cs, 0).round(3)}, side {np.mean(ss):.3f} "
          f"(sd {np.std(ss):.3f})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--faces", type=int, default=16)
    p.add_argument("--round-trip", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--framing", action="store_true")
    p.add_argument("--steps", default="100,500", help="optimisation lengths of the held-out table (comma list)")
    p.add_argument("--starts", default="encoder,w_avg",
                   help="optimisation starts to run (w_avg's rows do not depend on the encoder: "
                        "projection is deterministic, so a new encoder needs only 'encoder')")
    p.add_argument("--encoder", default=None, help="an encoder file to measure instead of the shipped one")
    p.add_argument("--w-avg-lr", type=float, default=None,
                   help="also run w_avg at this learning rate (its best case; NVIDIA's default is 0.1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    if args.framing:
        framing()
        return 0
    from explorer.training.classifier import AttributeClassifier

    gen = load_generator("default")
    if args.encoder:
        from explorer.projection.encoder import Encoder

        encoder = Encoder.load(args.encoder)
    else:
        encoder = encoder_for(gen)
    if encoder is None:
        print("no encoder for the default model (resources/default_encoder.safetensors)")
        return 1
    clf = AttributeClassifier.load(DEFAULT_CLASSIFIER)
    tuned = encoder.meta.get("finetune_steps")
    print(f"default model {gen.info.resolution} px, encoder {encoder.meta.get('steps')} steps"
          + (f" + {tuned} fine-tuning steps" if tuned else "") + "; "
          f"torch {torch.__version__}, {args.threads} threads")
    print(f"\n## 1. {args.faces} held-out renderer faces (seeds {HELD_OUT}+), W+")
    table(gen, held_out_faces(args.faces, gen.info.resolution), encoder, clf, w_avg_lr=args.w_avg_lr,
          starts=tuple(args.starts.split(",")), steps_list=tuple(int(n) for n in args.steps.split(",")))
    print(f"\n## 2. Round trip: {args.round_trip} faces the model made (seeds 0.., psi 0.7), W+, encoder + 500 steps")
    ps, p100 = [], []
    for s in range(args.round_trip):
        face = render(gen, latent_from_seed(gen, s, 0.7).ws)
        ps.append(project(gen, face, space="w+", steps=500, start="encoder", encoder=encoder).psnr)
        p100.append(project(gen, face, space="w+", steps=100, start="encoder", encoder=encoder).psnr)
    print(f"PSNR after 500 steps: median {statistics.median(ps):.2f} dB, min {min(ps):.2f}, max {max(ps):.2f}; "
          f"after 100 steps: median {statistics.median(p100):.2f} dB")
    print("\n## 3. Time to a usable result (encoder + 100 steps, W+)")
    face = held_out_faces(1, gen.info.resolution)[0]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        project(gen, face, space="w+", steps=100, start="encoder", encoder=encoder)
        times.append(time.perf_counter() - t0)
    print(f"median {statistics.median(times):.1f} s (target <= 10 s on 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
