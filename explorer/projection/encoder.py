"""The encoder: a small CNN that guesses a picture's latent (W+) in one pass, as projection's start.

Trained per model on the model's own (picture, ws) pairs, drawn on the fly: z -> w at a random
truncation psi in [0.4, 1], half the batch reflected through w_avg (the antiface: both sides of the
average face are seen equally), a third of them style-mixed at a random layer (so W+ is covered).
The loss is the mean squared error of ws, each dimension scaled by its spread. Trained once per
model (a background job in the window, `latent-explorer train-encoder` from the command line) and
kept in the user data folder under the model's fingerprint; the default model ships its own.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import FileProblem

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SHIPPED = RESOURCES / "default_encoder.safetensors"
ENCODER_DIR_ENV = "LATENT_EXPLORER_ENCODER_DIR"
MAX_INPUT = 128               # pictures are looked at no larger than this


class EncoderError(FileProblem):
    """An encoder file cannot be used."""


class EncoderNet(nn.Module):
    def __init__(self, resolution: int, num_ws: int, w_dim: int, width: int = 32, max_width: int = 256):
        super().__init__()
        self.input = min(int(resolution), MAX_INPUT)
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        c, r = width, self.input
        while r > 4:
            c2 = min(c * 2, max_width)
            layers += [nn.Conv2d(c, c2, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(c2, c2, 3, 1, 1), nn.LeakyReLU(0.2)]
            c, r = c2, r // 2
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * 16, 512), nn.LeakyReLU(0.2),
                                  nn.Linear(512, num_ws * w_dim))
        self.num_ws, self.w_dim = num_ws, w_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.input:
            x = F.interpolate(x, size=(self.input, self.input), mode="bilinear", antialias=True, align_corners=False)
        return self.head(self.trunk(x)).view(-1, self.num_ws, self.w_dim)


class Encoder:
    """EncoderNet + the model's w statistics: predict(uint8 picture) -> ws [num_ws, w_dim]."""

    def __init__(self, net: EncoderNet, w_mean: torch.Tensor, w_scale: torch.Tensor, meta: dict):
        self.net = net.eval().requires_grad_(False)
        self.w_mean, self.w_scale, self.meta = w_mean, w_scale, dict(meta)

    def predict(self, image: np.ndarray) -> np.ndarray:
        from .project import target_tensor

        x = target_tensor(np.asarray(image), self.net.input)
        with torch.no_grad():
            out = self.net(x)[0] * self.w_scale + self.w_mean
        return out.float().numpy()

    def save(self, path: str | os.PathLike, half: bool = True) -> Path:
        """safetensors (weights float16 by default: half the size, the same guesses to 1e-3)."""
        from safetensors.torch import save_file

        from ..export import atomic_path

        state = {f"net.{k}": (v.detach().half() if half else v.detach()).contiguous()
                 for k, v in self.net.state_dict().items()}
        state["w_mean"], state["w_scale"] = self.w_mean.contiguous(), self.w_scale.contiguous()
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata={"encoder": json.dumps(self.meta)})
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Encoder":
        from safetensors import safe_open

        path = Path(path)
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get("encoder", "{}"))
                state = {k: f.get_tensor(k) for k in f.keys()}
            net = EncoderNet(int(meta["resolution"]), int(meta["num_ws"]), int(meta["w_dim"]))
            net.load_state_dict({k[4:]: v.float() for k, v in state.items() if k.startswith("net.")})
            return cls(net, state["w_mean"].float(), state["w_scale"].float(), meta)
        except FileNotFoundError:
            raise EncoderError(f"Encoder {path}: file not found.") from None
        except Exception as e:  # noqa: BLE001 - any damage is one sentence
            raise EncoderError(f"Encoder {path}: not a usable encoder file ({type(e).__name__}: {e}).") from None


def sample_batch(gen, n: int, rng: torch.Generator) -> torch.Tensor:
    """n training ws [n, num_ws, w_dim]: psi in [0.4, 1], half antifaces, a third style-mixed."""
    info = gen.info
    with torch.no_grad():
        z = torch.randn(n, info.z_dim, generator=rng).to(gen.device)
        w = gen.map(z, None)
        psi = torch.rand(n, 1, 1, generator=rng).to(gen.device) * 0.6 + 0.4
        w_avg = gen.w_avg.to(gen.device)[None, None]
        w = w_avg + psi * (w - w_avg)
        anti = torch.rand(n, generator=rng) < 0.5
        w[anti] = 2 * w_avg[0] - w[anti]
        mix = torch.rand(n, generator=rng) < 0.33
        if mix.any():
            other = gen.map(torch.randn(int(mix.sum()), info.z_dim, generator=rng).to(gen.device), None)
            cut = int(torch.randint(1, info.num_ws, (1,), generator=rng))
            w_mix = w[mix].clone()
            w_mix[:, cut:] = w_avg + 0.7 * (other[:, cut:] - w_avg)
            w[mix] = w_mix
    return w


def own_pairs_loss(gen, net: EncoderNet, n: int, rng: torch.Generator, w_mean: torch.Tensor,
                   w_scale: torch.Tensor) -> torch.Tensor:
    """The encoder's objective on n of the model's own (picture, ws) pairs: mean squared error of
    the ws, each dimension scaled by its spread."""
    ws = sample_batch(gen, n, rng)
    with torch.no_grad():
        img = gen.synthesize(ws, noise_mode="const").clamp(-1, 1)
    return F.mse_loss(net(img), (ws - w_mean) / w_scale)


def cosine_lr(opt: torch.optim.Optimizer, base: float, step: int, steps: int, floor: float) -> None:
    """Cosine decay from `base` to `floor` x base over `steps`."""
    for group in opt.param_groups:
        group["lr"] = base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))


def step_and_report(opt: torch.optim.Optimizer, total: torch.Tensor, shown: torch.Tensor, done: int, steps: int,
                    t0: float, progress: Callable[[float, dict], None] | None) -> dict:
    """One optimiser step on `total`; progress(share, info) every 10 steps and at the end."""
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()
    last = {"step": done, "loss": float(shown.detach()), "seconds": time.perf_counter() - t0}
    if progress is not None and (done % 10 == 0 or done == steps):
        progress(done / steps, last)
    return last


def train_encoder(gen, steps: int = 2000, batch: int = 32, lr: float = 3e-4, seed: int = 0,
                  progress: Callable[[float, dict], None] | None = None,
                  cancelled: Callable[[], bool] | None = None) -> Encoder:
    """Train an encoder for `gen` on its own pictures; stops early (and returns) when cancelled."""
    info = gen.info
    rng = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        ref = sample_batch(gen, 2048, rng)
        w_mean = ref.mean(0)
        w_scale = ref.std(0).clamp_min(1e-3)
    net = EncoderNet(info.resolution, info.num_ws, info.w_dim).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.99))
    t0, last = time.perf_counter(), {}
    done = 0
    with torch.inference_mode(False), torch.enable_grad():
        for step in range(int(steps)):
            if cancelled is not None and cancelled():
                break
            cosine_lr(opt, lr, step, steps, 0.05)
            loss = own_pairs_loss(gen, net, batch, rng, w_mean, w_scale)
            done = step + 1
            last = step_and_report(opt, loss, loss, done, steps, t0, progress)
    meta = {"fingerprint": str(gen.fingerprint), "resolution": info.resolution, "num_ws": info.num_ws,
            "w_dim": info.w_dim, "steps": done, "batch": batch, "final_loss": last.get("loss"),
            "seconds": round(time.perf_counter() - t0, 1)}
    return Encoder(net, w_mean.cpu(), w_scale.cpu(), meta)


def adopt_encoder(enc: Encoder, gen) -> Encoder:
    """A sibling model's encoder (same resolution, number of ws and w size, e.g. the previous
    snapshot of a model still in training) taken over as `gen`'s first guess, to be fine-tuned on
    `gen` (`finetune_encoder`): the net and w statistics as they are, the meta naming `gen`."""
    info = gen.info
    for key, want in (("resolution", info.resolution), ("num_ws", info.num_ws), ("w_dim", info.w_dim)):
        if enc.meta.get(key) != want:
            raise EncoderError(f"the encoder is for {key} {enc.meta.get(key)}, the model has {want}")
    meta = dict(enc.meta, fingerprint=str(gen.fingerprint), adopted_from=enc.meta.get("fingerprint"))
    return Encoder(enc.net, enc.w_mean, enc.w_scale, meta)


def encoder_folder() -> Path:
    env = os.environ.get(ENCODER_DIR_ENV)
    if env:
        return Path(env).expanduser()
    from ..user_data import data_dir

    return data_dir() / "encoders"


def encoder_path(gen) -> Path:
    return encoder_folder() / f"{gen.fingerprint}.safetensors"


def encoder_for(gen) -> Encoder | None:
    """The model's encoder: the one shipped with the default model, else one trained earlier."""
    candidates = [SHIPPED, encoder_path(gen)]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            enc = Encoder.load(path)
        except EncoderError:
            continue
        if enc.meta.get("fingerprint") == str(gen.fingerprint):
            return enc
    return None
