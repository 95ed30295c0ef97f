"""Projection: the latent whose picture is closest to a (aligned) photo, in W or W+.

Adam on w (W: one w for every layer; W+: one per layer) from a first guess (the model's encoder,
or w_avg as NVIDIA's projector starts). From w_avg, NVIDIA's schedule: the learning rate (0.1)
ramped up over the first 5 % of the steps and down (cosine) over the last 25 %, Gaussian noise on
w at the start that fades out by 75 % of the steps (it helps escape a poor start). From a guess:
lr 0.8 ramped up over 40 %, down over the last 15 %, no w noise (`SCHEDULES`). Loss = `ProjectionLoss` (pixels at three scales +
perceptual features). StyleGAN2 models with active noise inputs get their noise maps optimised too
(NVIDIA's regularisation); the maps travel in the face's noise spec (float16 in its recipe), so it
renders again from its recipe alone. Progress, a live preview and cancellation between steps.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..generators import to_uint8
from .loss import ProjectionLoss, loss_for

SPACES = ("w", "w+")


@dataclass
class ProjectionResult:
    ws: np.ndarray                 # float32 [num_ws, w_dim]
    image: np.ndarray              # uint8 [R, R, C], the projected face
    target: np.ndarray             # uint8 [R, R, 3], what it was matched to
    psnr: float
    steps: int
    seconds: float
    space: str
    start: str                     # 'encoder', 'w_avg' or 'given'
    cancelled: bool = False
    history: list[dict] = field(default_factory=list)   # {step, psnr, loss, seconds}
    loss_kind: str = ""            # the perceptual features used: classifier, discriminator, random
    noise_maps: list | None = None  # StyleGAN2 with active noise: the optimised maps, float32 [r, r] each


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def target_tensor(image: np.ndarray, resolution: int) -> torch.Tensor:
    """uint8 [H, W, 3] -> float [1, 3, R, R] in [-1, 1] (antialiased resize when needed)."""
    x = torch.from_numpy(np.array(image[..., :3], dtype=np.float32, copy=True)).permute(2, 0, 1)[None]
    x = x / 127.5 - 1.0
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(-1, 1)


def _w_std(gen, n: int = 2000, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = gen.map(torch.randn(n, gen.info.z_dim, generator=g), None)[:, 0]
    return float(((w - w.mean(0)) ** 2).sum(1).mean().sqrt())


# (learning rate, warm-up share, ramp-down share, w noise) per start. From w_avg: NVIDIA's projector.
# From a guess (the encoder's, or given ws): a long warm-up at a high rate, a short ramp-down and no
# w noise; NVIDIA's short warm-up shakes a good start with full-size first Adam steps. Chosen on 8
# held-out faces of the default model (bench/bench_projection.py measures the 64).
SCHEDULES = {"w_avg": (0.1, 0.05, 0.25, 0.05), "guess": (0.8, 0.4, 0.15, 0.0)}


def _lr_ramp(frac: float, steps: int, up: float, down: float) -> float:
    """The learning rate's share at `frac` of the run: linear up over the first `up`, cosine down
    over the last `down`."""
    ramp = min(1.0, (1.0 - frac) / down)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return ramp * (min(1.0, frac / up) if steps >= 20 else 1.0)


def project(gen, target: np.ndarray, *, space: str = "w+", steps: int = 100, start="encoder", encoder=None,
            loss: ProjectionLoss | None = None, lr: float | None = None, noise_factor: float | None = None,
            progress: Callable[[float], None] | None = None, preview: Callable[[np.ndarray], None] | None = None,
            preview_every: int = 10, cancelled: Callable[[], bool] | None = None, seed: int = 0,
            record_every: int = 10, optimize_noise: bool = True, noise_reg: float = 1e5,
            ramp: tuple[float, float] | None = None) -> ProjectionResult:
    """Project `target` (uint8, aligned, any size: resized to the model's) into `gen`.

    start: 'encoder' (needs `encoder`; w_avg without one), 'w_avg', or a ws array [num_ws, w_dim].
    lr, ramp (warm-up share, ramp-down share), noise_factor (w noise at the start, as a share of the
    spread of w): default by start, `SCHEDULES`.
    optimize_noise: a StyleGAN2 with active noise inputs also gets its per-layer noise maps optimised,
    from fresh Gaussian noise, kept Gaussian-like as NVIDIA's projector does: a penalty on the maps'
    autocorrelation at every scale (weight `noise_reg`) and each map renormalised to zero mean and
    unit variance after every step. StyleGAN3 has no noise inputs."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    t0 = time.perf_counter()
    info = gen.info
    dev = gen.device
    target_u8 = np.ascontiguousarray(target[..., :3])
    tgt = target_tensor(target_u8, info.resolution).to(dev)
    shown_target = to_uint8(tgt)[0]
    loss = loss or loss_for(gen)
    loss = loss.to(dev)
    w_avg = gen.w_avg.detach().float().to(dev)
    if isinstance(start, (np.ndarray, torch.Tensor)):
        ws0 = torch.as_tensor(np.array(start, dtype=np.float32), dtype=torch.float32, device=dev).reshape(info.num_ws, info.w_dim)
        start_name = "given"
    elif start == "encoder" and encoder is not None:
        ws0 = torch.as_tensor(encoder.predict(target_u8), dtype=torch.float32, device=dev)
        start_name = "encoder"
    elif start in ("encoder", "w_avg"):
        ws0 = w_avg[None].repeat(info.num_ws, 1)
        start_name = "w_avg"
    else:
        raise ValueError(f"start must be 'encoder', 'w_avg' or a ws array, got {start!r}")
    base_lr, up, down, base_noise = SCHEDULES["w_avg" if start_name == "w_avg" else "guess"]
    lr = base_lr if lr is None else float(lr)
    up, down = ramp if ramp is not None else (up, down)
    noise_factor = base_noise if noise_factor is None else noise_factor
    w_std = _w_std(gen)
    param = (ws0.mean(0, keepdim=True) if space == "w" else ws0).clone().requires_grad_(True)
    gen_noise = torch.Generator(device="cpu").manual_seed(int(seed))
    noise_bufs: list[torch.Tensor] = []
    if optimize_noise and hasattr(gen, "has_active_noise") and gen.has_active_noise():
        noise_bufs = [torch.randn(1, 1, ni.resolution, ni.resolution, generator=gen_noise).to(dev).requires_grad_(True)
                      for ni in gen.noise_inputs()]
    opt = torch.optim.Adam([param] + noise_bufs, lr=lr, betas=(0.9, 0.999))
    history: list[dict] = []
    stopped = False

    def expand(p):
        return p.expand(info.num_ws, -1)[None] if space == "w" else p[None]

    def render(p):
        if noise_bufs:
            return gen.synthesize(expand(p), noise_mode="const", noise=noise_bufs)
        return gen.synthesize(expand(p), noise_mode="const")

    def noise_penalty():
        total = param.new_zeros(())
        for buf in noise_bufs:
            n = buf
            while True:
                total = total + (n * torch.roll(n, shifts=1, dims=3)).mean() ** 2
                total = total + (n * torch.roll(n, shifts=1, dims=2)).mean() ** 2
                if n.shape[2] <= 8:
                    break
                n = F.avg_pool2d(n, kernel_size=2)
        return total

    with torch.inference_mode(False), torch.enable_grad():
        with torch.no_grad():
            tfeats = loss.features(tgt) if loss.feature_weight else None
            first = to_uint8(render(param.detach()))[0]
        history.append({"step": 0, "psnr": psnr(first[..., :3], shown_target), "loss": float("nan"),
                        "seconds": time.perf_counter() - t0})
        done = 0
        for i in range(int(steps)):
            if cancelled is not None and cancelled():
                stopped = True
                break
            frac = i / max(1, steps)
            for group in opt.param_groups:
                group["lr"] = lr * max(_lr_ramp(frac, steps, up, down), 1e-3)
            scale = w_std * noise_factor * max(0.0, 1.0 - frac / 0.75) ** 2
            noise = torch.randn(param.shape, generator=gen_noise).to(dev) * scale
            img = render(param + noise)
            value = loss(img, tgt, tfeats)
            total = value + noise_reg * noise_penalty() if noise_bufs else value
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if noise_bufs:
                with torch.no_grad():
                    for buf in noise_bufs:
                        buf -= buf.mean()
                        buf *= buf.square().mean().rsqrt()
            done = i + 1
            last = done == steps
            want_record = done % record_every == 0 or last
            want_preview = preview is not None and (done % preview_every == 0 or last)
            if want_record or want_preview:
                with torch.no_grad():
                    now = to_uint8(render(param.detach()))[0]
                if want_record:
                    history.append({"step": done, "psnr": psnr(now[..., :3], shown_target),
                                    "loss": float(value.detach()), "seconds": time.perf_counter() - t0})
                if want_preview:
                    preview(now)
            if progress is not None:
                progress(done / max(1, steps))
        with torch.no_grad():
            ws = expand(param.detach())[0].float().cpu().numpy()
            maps = None
            if noise_bufs:        # as a recipe keeps them (float16), so the face renders again exactly
                maps = [b.detach()[0, 0].float().cpu().numpy().astype(np.float16).astype(np.float32)
                        for b in noise_bufs]
                noise = [torch.from_numpy(m)[None, None].to(dev) for m in maps]
                final = to_uint8(gen.synthesize(torch.from_numpy(ws)[None].to(dev), noise_mode="const",
                                                noise=noise))[0]
            else:
                final = to_uint8(gen.synthesize(torch.from_numpy(ws)[None].to(dev), noise_mode="const"))[0]
    return ProjectionResult(ws=ws.astype(np.float32), image=final, target=shown_target,
                            psnr=psnr(final[..., :3], shown_target), steps=done, seconds=time.perf_counter() - t0,
                            space=space, start=start_name, cancelled=stopped, history=history, loss_kind=loss.kind, noise_maps=maps)
