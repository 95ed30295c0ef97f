"""StyleGAN2 training with our own networks: how the embedded default model is made.

Non-saturating logistic loss, lazy R1 on reals, style-mixing regularisation, generator EMA,
optional path-length regularisation; mixed precision and channels-last on CUDA; plain float32
on CPU. Resumable: a snapshot every few minutes and at a wall-clock deadline holds networks,
optimisers and RNG states, so `--resume` continues exactly where it stopped.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from torch.nn import functional as F

from ..export import atomic_path
from ..generators import Generator, stylegan2_config, to_uint8
from ..generators.ops import upfirdn2d
from .discriminator import Discriminator
from .parallel import Solo

SNAPSHOT_NAME = "snapshot.pt"
SAMPLE_GRID = (8, 8)
SAMPLE_SEED = 1234


class ImageSource(Protocol):
    resolution: int

    def __len__(self) -> int: ...

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class TrainConfig:
    resolution: int = 64
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 2
    g_channel_base: int = 4096
    g_channel_max: int = 128
    d_channel_base: int = 4096
    d_channel_max: int = 128
    batch: int = 32
    lr_g: float = 0.0025
    lr_d: float = 0.0025
    r1_gamma: float | None = None      # None: 0.0002 * res^2 / batch (StyleGAN2-ADA heuristic)
    r1_interval: int = 16
    pl_weight: float = 0.0             # path-length regularisation (off by default on CPU)
    pl_interval: int = 4
    style_mixing: float = 0.9
    ema_kimg: float | None = None      # None: 10 * batch / 32
    ema_rampup: float = 0.05
    seed: int = 0
    conv_clamp: float | None = None
    channels_last: bool = True         # NHWC activations: 3-5x faster convs on CPU (and CUDA)
    noise_max_res: int | None = None   # no per-pixel noise above this resolution (flat-shaded data
                                       # has no stochastic texture; G otherwise uses it as dither)
    blur_init_sigma: float = 0.0       # Gaussian blur (px) of every image D sees, fading linearly to
    blur_fade_kimg: float = 100.0      # 0 over blur_fade_kimg (as StyleGAN3 trains): D judges layout
                                       # first, not the blurry early fakes' missing edges

    def gamma(self) -> float:
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * self.resolution ** 2 / self.batch


def generator_config(cfg: TrainConfig) -> dict:
    gcfg = stylegan2_config(cfg.resolution, z_dim=cfg.z_dim, w_dim=cfg.w_dim,
                            channel_base=cfg.g_channel_base, channel_max=cfg.g_channel_max,
                            mapping_layers=cfg.mapping_layers, conv_clamp=cfg.conv_clamp)
    gcfg["mapping"]["w_avg_beta"] = 0.995
    return gcfg


def _adam(params, lr: float, interval: int) -> torch.optim.Adam:
    # Lazy regularisation: the regulariser runs every `interval` steps, so scale lr and betas.
    c = interval / (interval + 1) if interval else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(0.0, 0.99 ** c), eps=1e-8)


class Trainer:
    def __init__(self, cfg: TrainConfig, data: ImageSource, run_dir: str | os.PathLike,
                 device: str | torch.device = "cpu", log: Callable[[str], None] = print, par=None):
        """par: a parallel.Gloo when this is one of several data-parallel processes (each takes
        batch / world images per step; gradients are averaged), else single-process."""
        if data.resolution != cfg.resolution:
            raise ValueError(f"dataset is {data.resolution}px but the model is {cfg.resolution}px")
        self.par = par if par is not None else Solo()
        if cfg.batch % self.par.world:
            raise ValueError(f"batch {cfg.batch} does not split over {self.par.world} processes")
        self.local_batch = cfg.batch // self.par.world
        self.cfg, self.data, self.log = cfg, data, log
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed)
        self.G = Generator(generator_config(cfg)).to(self.device).train().requires_grad_(True)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.D = Discriminator(cfg.resolution, 3, cfg.d_channel_base, cfg.d_channel_max,
                               conv_clamp=cfg.conv_clamp).to(self.device).train()
        if cfg.channels_last:
            self.G.synthesis.set_channels_last(True)
            self.G_ema.synthesis.set_channels_last(True)
        self._silence_noise()
        for net in (self.G, self.G_ema, self.D):
            self.par.broadcast_module(net)
        self.opt_g = _adam(self.G.parameters(), cfg.lr_g, cfg.pl_interval if cfg.pl_weight else 0)
        self.opt_d = _adam(self.D.parameters(), cfg.lr_d, cfg.r1_interval)
        self.step = 0
        self.nimg = 0
        self.seconds = 0.0
        self.pl_mean = torch.zeros([], device=self.device)
        self.rng = torch.Generator().manual_seed(cfg.seed + 7919 * self.par.rank)
        self.amp = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self.last_losses: dict[str, float] = {}

    # ----- batches ----------------------------------------------------------------------
    def _reals(self) -> torch.Tensor:
        idx = torch.randint(len(self.data), (self.local_batch,), generator=self.rng).numpy()
        imgs, _ = self.data.batch(np.sort(idx))
        x = torch.from_numpy(np.ascontiguousarray(imgs)).to(self.device).permute(0, 3, 1, 2).float()
        return self._fmt(x / 127.5 - 1.0)

    def _fmt(self, x: torch.Tensor) -> torch.Tensor:
        fmt = torch.channels_last if self.cfg.channels_last else torch.contiguous_format
        return x.contiguous(memory_format=fmt)

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=self.rng).to(self.device)

    def _mapped(self, n: int) -> torch.Tensor:
        """ws with style mixing: with probability p, a random suffix of layers from a second z."""
        ws = self.G.mapping(self._z(n))
        if self.cfg.style_mixing > 0:
            num_ws = ws.shape[1]
            cutoff = int(torch.randint(1, num_ws, (1,), generator=self.rng))
            if float(torch.rand(1, generator=self.rng)) >= self.cfg.style_mixing:
                cutoff = num_ws
            if cutoff < num_ws:
                ws2 = self.G.mapping(self._z(n))
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws

    def _silenced(self, resolution: int) -> bool:
        return self.cfg.noise_max_res is not None and resolution > self.cfg.noise_max_res

    @torch.no_grad()
    def _silence_noise(self) -> None:
        """Hold the strength of silenced noise inputs at 0 (they get no noise, hence no gradient)."""
        for net in (self.G, self.G_ema):
            for layer in net.synthesis.noise_layers():
                if self._silenced(layer.resolution):
                    layer.noise_strength.zero_()

    def _fakes(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self._mapped(n)
        noise = [None if self._silenced(r.resolution) else
                 torch.randn(n, 1, r.resolution, r.resolution, generator=self.rng).to(self.device)
                 for r in self.G.noise_inputs()]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            img = self.G.synthesis(ws, noise)
        return self._fmt(img.float()), ws

    def blur_sigma(self) -> float:
        """The blur D's inputs get at the current image count (0 once faded)."""
        cfg = self.cfg
        if cfg.blur_init_sigma <= 0 or cfg.blur_fade_kimg <= 0:
            return 0.0
        return max(1.0 - self.nimg / (cfg.blur_fade_kimg * 1000), 0.0) * cfg.blur_init_sigma

    def run_D(self, img: torch.Tensor) -> torch.Tensor:
        """D's logits for images, blurred first while the fade lasts (reals and fakes alike)."""
        sigma = self.blur_sigma()
        radius = int(math.floor(sigma * 3))
        if radius > 0:
            x = torch.arange(-radius, radius + 1, dtype=torch.float32)
            taps = torch.exp(-0.5 * (x / sigma) ** 2)
            img = upfirdn2d(img, taps / taps.sum(), padding=(radius, radius, radius, radius))
        return self.D(img)

    # ----- one iteration ----------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        cfg, n = self.cfg, self.local_batch
        losses = {}
        # Generator: softplus(-D(G(z)))
        self.D.requires_grad_(False)
        self.G.requires_grad_(True)
        fake, ws = self._fakes(n)
        loss_g = F.softplus(-self.run_D(fake)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        losses["G"] = float(loss_g.detach())
        if cfg.pl_weight and self.step % cfg.pl_interval == 0:
            losses["pl"] = self._path_length_step()
        self.par.average_grads(self.G.parameters())
        self.opt_g.step()
        with torch.no_grad():  # track w_avg for truncation
            w_mean = self.par.mean(ws[:, 0].mean(0).detach())
            self.G.mapping.w_avg.lerp_(w_mean, 1 - self.G.mapping.w_avg_beta)

        # Discriminator: softplus(D(fake)) + softplus(-D(real)), lazy R1 on reals
        self.D.requires_grad_(True)
        self.G.requires_grad_(False)
        with torch.no_grad():
            fake, _ = self._fakes(n)
        real = self._reals()
        do_r1 = self.step % cfg.r1_interval == 0
        real.requires_grad_(do_r1)
        real_logits = self.run_D(real)
        loss_d = F.softplus(self.run_D(fake)).mean() + F.softplus(-real_logits).mean()
        if do_r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3]).mean()
            loss_d = loss_d + r1 * (cfg.gamma() / 2) * cfg.r1_interval
            losses["R1"] = float(r1.detach())
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.par.average_grads(self.D.parameters())
        self.opt_d.step()
        losses["D"] = float(loss_d.detach())
        losses["D_real"] = float(real_logits.detach().mean())

        self._update_ema()
        self.step += 1
        self.nimg += cfg.batch
        self.last_losses = losses
        return losses

    def _path_length_step(self) -> float:
        n = max(1, self.local_batch // 2)
        fake, ws = self._fakes(n)
        y = torch.randn(fake.shape, generator=self.rng).to(self.device) / math.sqrt(fake.shape[2] * fake.shape[3])
        (grad,) = torch.autograd.grad((fake * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        self.pl_mean.copy_(self.pl_mean.lerp(self.par.mean(lengths.mean().detach()), 0.01))
        penalty = (lengths - self.pl_mean).square().mean()
        (penalty * self.cfg.pl_weight * self.cfg.pl_interval).backward()
        return float(penalty)

    @torch.no_grad()
    def _update_ema(self) -> None:
        ema_kimg = self.cfg.ema_kimg if self.cfg.ema_kimg is not None else 10 * self.cfg.batch / 32
        ema_nimg = ema_kimg * 1000
        if self.cfg.ema_rampup:
            ema_nimg = min(ema_nimg, (self.nimg + self.cfg.batch) * self.cfg.ema_rampup)
        beta = 0.5 ** (self.cfg.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # ----- the loop ---------------------------------------------------------------------
    def train(self, kimg: float, minutes: float | None = None, snapshot_minutes: float = 5.0,
              progress_seconds: float = 30.0, should_stop: Callable[[], bool] | None = None) -> None:
        """Run until `kimg` thousand images seen, the wall-clock budget, or should_stop()."""
        from .loop import training_loop

        training_loop(self, kimg, minutes, snapshot_minutes, progress_seconds, should_stop, loss_digits=3)

    # ----- snapshots --------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "config": dataclasses.asdict(self.cfg), "step": self.step, "nimg": self.nimg,
            "seconds": self.seconds, "G": self.G.state_dict(), "G_ema": self.G_ema.state_dict(),
            "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "pl_mean": self.pl_mean.cpu(), "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def save_snapshot(self) -> Path:
        """Every process calls this (the RNG states of all of them go in); process 0 writes."""
        path = self.run_dir / SNAPSHOT_NAME
        rngs = self.par.gather((self.rng.get_state(), torch.get_rng_state()))
        if self.par.rank != 0:
            return path
        state = self.state()
        if self.par.world > 1:
            state["rng_ranks"] = [r for r, _ in rngs]
            state["torch_rng_ranks"] = [t for _, t in rngs]
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        self.save_sample_grid(self.run_dir / f"samples-{self.nimg // 1000:06d}kimg.png")
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps({"step": self.step, "kimg": self.nimg / 1000, "minutes": self.seconds / 60,
                                **self.last_losses}) + "\n")
        self.log(f"snapshot at {self.nimg / 1000:.2f} kimg -> {path}")
        return path

    def load_snapshot(self, path: str | os.PathLike | None = None) -> None:
        path = Path(path) if path else self.run_dir / SNAPSHOT_NAME
        if path.is_dir():
            path = path / SNAPSHOT_NAME
        st = torch.load(path, map_location="cpu", weights_only=True)
        self.G.load_state_dict(st["G"])
        self.G_ema.load_state_dict(st["G_ema"])
        self.D.load_state_dict(st["D"])
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        self.step, self.nimg, self.seconds = int(st["step"]), int(st["nimg"]), float(st["seconds"])
        self.pl_mean.copy_(st["pl_mean"])
        ranks = st.get("rng_ranks")
        if ranks is not None and len(ranks) == self.par.world:
            self.rng.set_state(ranks[self.par.rank])
            torch.set_rng_state(st["torch_rng_ranks"][self.par.rank])
        elif self.par.rank == 0 and self.par.world == 1 and ranks is None:
            self.rng.set_state(st["rng"])
            torch.set_rng_state(st["torch_rng"])
        else:  # a different number of processes than the snapshot's: fresh, distinct streams
            self.reseed()
        self._silence_noise()  # a run may switch noise off at high resolutions when resumed

    def reseed(self) -> None:
        """Fresh random streams, distinct per process and per step (a start from a training pack,
        or from a snapshot written by another number of processes)."""
        seed = self.cfg.seed + 7919 * self.par.rank + 104729 * self.step
        self.rng.manual_seed(seed)
        torch.manual_seed(seed)

    def load_pack(self, path: str | os.PathLike) -> None:
        """Warm-start from a training pack (networks and image count; fresh optimisers)."""
        from .pack import load_pack

        load_pack(self, path)
        self._silence_noise()

    def save_pack(self, path: str | os.PathLike) -> Path:
        from .pack import save_pack

        return save_pack(self, path)

    @torch.no_grad()
    def save_sample_grid(self, path: Path) -> None:
        from PIL import Image

        rows, cols = SAMPLE_GRID
        z = torch.from_numpy(np.random.RandomState(SAMPLE_SEED).randn(rows * cols, self.cfg.z_dim).astype(np.float32))
        imgs = to_uint8(self.G_ema.synthesize(self.G_ema.map(z.to(self.device)), noise_mode="const"))
        r = self.cfg.resolution
        grid = imgs.reshape(rows, cols, r, r, 3).transpose(0, 2, 1, 3, 4).reshape(rows * r, cols * r, 3)
        with atomic_path(path) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")

    def export_generator(self, path: str | os.PathLike, half: bool = True, card: dict | None = None) -> Path:
        """The EMA generator in our safetensors format (what ships in resources/)."""
        from ..checkpoints import save_native

        gen = Generator(self.G_ema.config)
        gen.load_state_dict(self.G_ema.state_dict())
        gen.config["name"] = (card or {}).get("name", "default")
        gen.config["card"] = card or {}
        extra = {"kimg": f"{self.nimg / 1000:.1f}", "train_config": json.dumps(dataclasses.asdict(self.cfg))}
        return save_native(gen.cpu(), path, half=half, extra_metadata=extra)
