"""Fine-tune an encoder on the pictures it will really see, through the frozen generator.

`train_encoder` teaches the encoder the model's own pictures, whose latents are known. Photos are
not the model's pictures (the default model's faces are softer than the drawings they were
learned from), and the projection is judged on the photo. Here each step encodes a batch of such
pictures, renders the guesses with the generator (frozen; gradients flow through it to the
encoder) and minimises the projection's own loss against the pictures (pixels at three scales +
the perceptual term), as pSp-style encoders are trained. A second batch of the model's own
(picture, ws) pairs keeps the original objective, so the guesses stay inside the model's W+
rather than drifting where the generator is untrained.

For the default model the pictures come from its training renderer (seeds below the held-out
range the benches use); for any model `pictures` may be any source of aligned faces.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .encoder import Encoder, cosine_lr, own_pairs_loss, step_and_report
from .loss import ProjectionLoss

Pictures = Callable[[int, np.random.Generator], np.ndarray]   # (n, rng) -> uint8 [n, H, W, 3]
HELD_OUT_SEED = 10_000_000      # benches draw held-out renderer faces from here up: never train on them


def renderer_pictures(resolution: int, gen=None) -> Pictures:
    """Pictures of the default model's domain: its training renderer at random seeds < 10,000,000.

    A model whose z has renderer slot semantics (the neural-renderer default model) gets the
    renderer it was trained on (renderer 2's drawing, the layout's seeds); any other the first
    renderer (`faces.render_face`)."""
    render = domain_renderer(gen)

    def draw(n: int, rng: np.random.Generator) -> np.ndarray:
        seeds = rng.integers(0, HELD_OUT_SEED, size=n)
        return np.stack([np.ascontiguousarray(render(int(s), resolution)[0][..., :3]) for s in seeds])

    return draw


def domain_renderer(gen=None):
    """(seed, resolution) -> (image, labels) of a model's training renderer: the layout's renderer
    for a model with renderer slot semantics, else the first renderer."""
    if gen is not None:
        from ..training.z_layout import layout_of

        try:
            return layout_of(gen).render_seed
        except ValueError:
            pass
    from ..training.faces import render_face

    return render_face


def _to_tensor(images: np.ndarray, resolution: int, device) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if x.shape[-1] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    return x


def finetune_encoder(gen, encoder: Encoder, pictures: Pictures, steps: int = 600, batch: int = 12,
                     lr: float = 1e-4, loss: ProjectionLoss | None = None, latent_weight: float = 0.5,
                     seed: int = 0, progress: Callable[[float, dict], None] | None = None,
                     cancelled: Callable[[], bool] | None = None) -> Encoder:
    """A new Encoder: `encoder` fine-tuned by reconstruction of `pictures` through `gen`."""
    from .project import loss_for

    info = gen.info
    loss = (loss or loss_for(gen)).to(gen.device)
    net = copy.deepcopy(encoder.net).train().requires_grad_(True)
    w_mean, w_scale = encoder.w_mean.to(gen.device), encoder.w_scale.to(gen.device)
    gen_params = [p for p in gen.parameters()]
    was = [p.requires_grad for p in gen_params]
    for p in gen_params:
        p.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.99))
    rng = np.random.default_rng(seed)
    trng = torch.Generator().manual_seed(int(seed) + 1)
    t0, last, done = time.perf_counter(), {}, 0
    try:
        with torch.inference_mode(False), torch.enable_grad():
            for step in range(int(steps)):
                if cancelled is not None and cancelled():
                    break
                cosine_lr(opt, lr, step, steps, 0.1)
                x = _to_tensor(pictures(batch, rng), info.resolution, gen.device)
                ws = net(x) * w_scale + w_mean
                rec = loss(gen.synthesize(ws, noise_mode="const"), x)
                total = rec
                if latent_weight:
                    total = total + latent_weight * own_pairs_loss(gen, net, batch, trng, w_mean, w_scale)
                done = step + 1
                last = step_and_report(opt, total, rec, done, steps, t0, progress)
    finally:
        for p, w in zip(gen_params, was):
            p.requires_grad_(w)
    meta = dict(encoder.meta)        # fine-tuning runs add up (a run may continue another's result)
    meta.update({"finetune_steps": int(meta.get("finetune_steps") or 0) + done, "finetune_batch": batch,
                 "finetune_loss": last.get("loss"),
                 "finetune_seconds": round(float(meta.get("finetune_seconds") or 0) + time.perf_counter() - t0, 1)})
    return Encoder(net.eval(), encoder.w_mean, encoder.w_scale, meta)
