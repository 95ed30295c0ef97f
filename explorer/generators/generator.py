"""The one Generator API over StyleGAN2 and StyleGAN3: info, w_avg, map, synthesize.

A Generator is built from a JSON-serialisable config (see `stylegan2_config`, `stylegan3_config`
and the checkpoint loaders); its state_dict uses NVIDIA's parameter names.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .config_check import check_config
from .mapping import MappingNetwork, truncate
from .ops import conv_precision
from .stylegan2 import SynthesisNetworkSG2
from .stylegan3 import SynthesisNetworkSG3, design_sg3_layers

CONFIG_VERSION = 1

# Paper's layer groups, by the resolution a ws entry feeds.
from ..layers import COARSE_MAX_RES, MEDIUM_MAX_RES  # noqa: E402 - 4-8 px coarse, 16-32 px medium
                       # 64x64 and up: colours, texture


def layer_groups(ws_resolutions: Sequence[int]) -> dict[str, range]:
    """coarse / medium / fine as contiguous ws index ranges (empty where a model has none)."""
    res = list(ws_resolutions)

    def span(lo: int, hi: float) -> range:
        idx = [i for i, r in enumerate(res) if lo <= r <= hi]
        return range(idx[0], idx[-1] + 1) if idx else range(0)

    return {"coarse": span(0, COARSE_MAX_RES), "medium": span(COARSE_MAX_RES + 1, MEDIUM_MAX_RES),
            "fine": span(MEDIUM_MAX_RES + 1, float("inf"))}


@dataclass(frozen=True)
class GeneratorInfo:
    arch: str
    resolution: int
    img_channels: int
    z_dim: int
    w_dim: int
    c_dim: int
    num_ws: int
    ws_resolutions: tuple[int, ...]
    groups: dict[str, range] = field(hash=False)
    num_params: int = 0

    @property
    def coarse(self) -> range:
        return self.groups["coarse"]

    @property
    def medium(self) -> range:
        return self.groups["medium"]

    @property
    def fine(self) -> range:
        return self.groups["fine"]


@dataclass(frozen=True)
class NoiseInput:
    """One per-layer noise input of a StyleGAN2 synthesis network."""
    index: int
    resolution: int
    ws_index: int


class Generator(nn.Module):
    """Mapping + synthesis. Images are float [N, C, H, W] in about [-1, 1]."""

    def __init__(self, config: dict):
        super().__init__()
        check_config(config)   # sizes, counts, depth and types, before anything is allocated
        cfg = copy.deepcopy(config)
        arch = cfg["arch"]
        z_dim, w_dim, c_dim = int(cfg["z_dim"]), int(cfg["w_dim"]), int(cfg.get("c_dim", 0))
        res, img_ch = int(cfg["img_resolution"]), int(cfg.get("img_channels", 3))
        syn = cfg["synthesis"]
        if arch == "stylegan2":
            channels = {int(k): int(v) for k, v in syn["channels"].items()}
            self.synthesis = SynthesisNetworkSG2(
                w_dim, res, img_ch, channels, architecture=syn.get("architecture", "skip"),
                conv_clamp=syn.get("conv_clamp"), resample_taps=syn.get("resample_taps", [1, 3, 3, 1]),
                use_noise=syn.get("use_noise", True))
        elif arch == "stylegan3":
            self.synthesis = SynthesisNetworkSG3(w_dim, res, img_ch, syn["input"], syn["layers"],
                                                 output_scale=syn.get("output_scale", 0.25))
            for spec in syn["layers"]:  # design-time filters live in buffers, not the config
                spec.pop("_up_filter", None)
                spec.pop("_down_filter", None)
        else:
            raise ValueError(f"unknown generator architecture {arch!r}")
        m = cfg["mapping"]
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.synthesis.num_ws, list(m["features"]),
                                      lr_multiplier=m.get("lr_multiplier", 0.01),
                                      embed_features=m.get("embed_features"),
                                      w_avg_beta=m.get("w_avg_beta", 0.998),
                                      normalize_z=bool(m.get("normalize_z", True)),
                                      class_groups=m.get("class_groups"),
                                      class_temperature=m.get("class_temperature", 0.1))
        cfg["format_version"] = CONFIG_VERSION
        self.config = cfg
        self._fingerprint: str | None = None
        ws_res = tuple(int(r) for r in self.synthesis.ws_resolutions())
        self._info = GeneratorInfo(arch=arch, resolution=res, img_channels=img_ch, z_dim=z_dim,
                                   w_dim=w_dim, c_dim=c_dim, num_ws=self.synthesis.num_ws,
                                   ws_resolutions=ws_res, groups=layer_groups(ws_res),
                                   num_params=sum(p.numel() for p in self.parameters()))
        self.eval().requires_grad_(False)

    # ----- public API -------------------------------------------------------------------
    @property
    def info(self) -> GeneratorInfo:
        return self._info

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.config.get("source", {}).get("file") or "generator")

    @property
    def device(self) -> torch.device:
        return self.mapping.w_avg.device

    @property
    def w_avg(self) -> torch.Tensor:
        """Mean of w over the training distribution, [w_dim]."""
        return self.mapping.w_avg

    @property
    def fingerprint(self) -> str:
        """Content hash of config and weights: names a model across file formats and paths."""
        if self._fingerprint is None:
            self._fingerprint = compute_fingerprint(self)
        return self._fingerprint

    def invalidate_fingerprint(self) -> None:
        self._fingerprint = None

    def map(self, z: torch.Tensor, c: torch.Tensor | None = None, psi: float = 1.0,
            cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] (and c [N, c_dim]) -> ws [N, num_ws, w_dim], truncated toward w_avg."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if c is not None:
            c = torch.as_tensor(c, dtype=torch.float32, device=self.device)
        return self.mapping(z, c, psi=psi, cutoff=cutoff)

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        return truncate(ws, self.w_avg, psi, cutoff)

    def noise_inputs(self) -> list[NoiseInput]:
        """The per-layer noise inputs (StyleGAN2 only; StyleGAN3 has none)."""
        if self.info.arch != "stylegan2":
            return []
        out, ws_idx = [], 0
        for block in self.synthesis.blocks():
            for j, layer in enumerate(block.noise_layers()):
                out.append(NoiseInput(len(out), layer.resolution, ws_idx + j))
            ws_idx += block.num_conv
        return out

    def has_active_noise(self) -> bool:
        """Whether redrawing the noise can change a picture: some noise input with a non-zero
        strength (a model trained without noise, or StyleGAN3, has none)."""
        return any(layer.use_noise and float(layer.noise_strength) != 0.0
                   for layer in (self.synthesis.noise_layers() if self.noise_inputs() else []))

    def make_noise(self, n: int, seed: int | Sequence[int] | None = None,
                   layers: Sequence[int] | range | None = None) -> list[torch.Tensor | None]:
        """Gaussian noise for every noise input, [n, 1, r, r] each, drawn on CPU (device-independent).

        seed: one int for the batch, or one int per sample (then a sample's noise does not depend
        on the batch it is rendered in). layers: ws-index range (start, stop) whose noise inputs
        get the random noise; entries outside are None (= keep the stored noise).
        """
        inputs = self.noise_inputs()
        if layers is not None:
            lo, hi = (layers.start, layers.stop) if isinstance(layers, range) else tuple(layers)
            full = self.make_noise(n, seed)
            return [t if lo <= ni.ws_index < hi else None for t, ni in zip(full, inputs)]
        if seed is None or isinstance(seed, (int, np.integer)):
            gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
            return [torch.randn(n, 1, ni.resolution, ni.resolution, generator=gen).to(self.device)
                    for ni in inputs]
        seeds = list(seed)
        if len(seeds) != n:
            raise ValueError(f"got {len(seeds)} noise seeds for {n} samples")
        per_sample = []
        for s in seeds:
            gen = torch.Generator().manual_seed(int(s))
            per_sample.append([torch.randn(1, 1, ni.resolution, ni.resolution, generator=gen) for ni in inputs])
        return [torch.cat([ps[j] for ps in per_sample]).to(self.device) for j in range(len(inputs))]

    def synthesize(self, ws: torch.Tensor, noise_mode: str = "const",
                   noise_seed: int | Sequence[int] | None = None,
                   noise: Sequence[torch.Tensor | None] | None = None, noise_strength: float = 1.0,
                   noise_layers: Sequence[int] | range | None = None,
                   dtype: torch.dtype | None = None, preview_size: int | None = None) -> torch.Tensor:
        """ws [N, num_ws, w_dim] -> images float32 [N, C, R, R] in about [-1, 1].

        preview_size: the picture will be shown at this many pixels: a StyleGAN2 skip generator
        stops at the first block of at least that resolution (R is then that block's; the caller
        resizes), skipping the finer blocks' cost; other architectures render in full.

        noise_mode: 'const' (the stored per-layer noise), 'random' (seeded by noise_seed) or 'none'.
        noise: optional explicit tensors per noise input (None entries fall back to noise_mode).
        noise_layers: with 'random', resample only the noise inputs feeding this ws range
        (start, stop); the others keep the stored noise (the paper's per-group variation).
        dtype: float16 / bfloat16 run the convolutions under autocast (float16 is for CUDA).
        """
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be const, random or none, not {noise_mode!r}")
        ws = torch.as_tensor(ws, dtype=torch.float32, device=self.device)
        if ws.ndim != 3 or ws.shape[1:] != (self.info.num_ws, self.info.w_dim):
            raise ValueError(f"ws must be [N, {self.info.num_ws}, {self.info.w_dim}], got {list(ws.shape)}")
        with self._precision(dtype):
            if self.info.arch == "stylegan3":
                return self.synthesis(ws)
            noises = self._noise_list(ws.shape[0], noise_mode, noise_seed, noise, noise_strength, noise_layers)
            stop = self.preview_resolution(preview_size) if preview_size else None
            if stop is not None and stop < self.info.resolution:
                return self.synthesis(ws, noises, stop_at=stop)
            return self.synthesis(ws, noises)

    def preview_resolution(self, size: int) -> int:
        """The resolution `synthesize(..., preview_size=size)` renders at (the full one when the
        architecture cannot stop early, or when the model's card says previews mislead: a neural
        renderer's fine blocks carry the colour scheme, which a preview would leave out)."""
        if self.info.arch == "stylegan3" or (self.config.get("card") or {}).get("previews") is False:
            return self.info.resolution
        return self.synthesis.preview_resolution(int(size))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, psi: float = 1.0,
                cutoff: int | None = None, **synth_kwargs) -> torch.Tensor:
        return self.synthesize(self.map(z, c, psi=psi, cutoff=cutoff), **synth_kwargs)

    # ----- internals --------------------------------------------------------------------
    def _precision(self, dtype: torch.dtype | None):
        if dtype is None or dtype == torch.float32:
            return contextlib.nullcontext()
        if self.info.arch == "stylegan3" and self.device.type == "cpu":
            # Autocast would also run the long resampling filters in bfloat16, which oneDNN does
            # slowly on a CPU (SG3-T 256: 1.5x slower than float32): only the convolutions.
            return conv_precision(dtype)
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _noise_list(self, n, mode, seed, noise, strength, ws_range=None):
        layers = self.synthesis.noise_layers()
        if noise is not None and len(noise) != len(layers):
            raise ValueError(f"expected {len(layers)} noise tensors, got {len(noise)}")
        random = self.make_noise(n, seed, ws_range) if mode == "random" else None
        out = []
        for j, layer in enumerate(layers):
            if noise is not None and noise[j] is not None:
                t = torch.as_tensor(noise[j], dtype=torch.float32, device=self.device)
            elif mode == "none" or not layer.use_noise:
                t = None
            elif mode == "const" or random[j] is None:
                t = layer.noise_const
            else:
                t = random[j]
            out.append(t if (t is None or strength == 1.0) else t * strength)
        return out


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float [N, C, H, W] in [-1, 1] -> uint8 [N, H, W, C] (NVIDIA's rounding convention)."""
    x = (images.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def compute_fingerprint(gen: nn.Module) -> str:
    h = hashlib.sha256()
    cfg = {k: v for k, v in gen.config.items() if k not in ("source", "name", "card")}
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, t in sorted(gen.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ----- builders for fresh networks ---------------------------------------------------------
def stylegan2_config(resolution: int, *, z_dim: int = 512, w_dim: int = 512, c_dim: int = 0,
                     channel_base: int = 32768, channel_max: int = 512, mapping_layers: int = 8,
                     img_channels: int = 3, architecture: str = "skip",
                     conv_clamp: float | None = None, mapping_lr: float = 0.01) -> dict:
    """Config of a StyleGAN2 generator; defaults are the paper's config F at any resolution."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError("resolution must be a power of two >= 4")
    res_list = [2 ** i for i in range(2, int(np.log2(resolution)) + 1)]
    channels = {str(r): int(min(channel_base // r, channel_max)) for r in res_list}
    embed = w_dim if c_dim > 0 else None
    return {
        "arch": "stylegan2", "z_dim": z_dim, "w_dim": w_dim, "c_dim": c_dim,
        "img_resolution": resolution, "img_channels": img_channels,
        "mapping": {"features": [z_dim + (embed or 0)] + [w_dim] * mapping_layers,
                    "lr_multiplier": mapping_lr, "embed_features": embed, "w_avg_beta": 0.998},
        "synthesis": {"channels": channels, "architecture": architecture, "conv_clamp": conv_clamp,
                      "resample_taps": [1, 3, 3, 1], "use_noise": True},
    }


def stylegan3_config(resolution: int, *, z_dim: int = 512, w_dim: int = 512, c_dim: int = 0,
                     channel_base: int = 32768, channel_max: int = 512, mapping_layers: int = 2,
                     img_channels: int = 3, conv_clamp: float | None = 256.0) -> dict:
    """Config of a StyleGAN3-T generator (Kaiser filters designed here)."""
    input_spec, layers = design_sg3_layers(resolution, img_channels, channel_base, channel_max,
                                           conv_clamp=conv_clamp)
    return {
        "arch": "stylegan3", "z_dim": z_dim, "w_dim": w_dim, "c_dim": c_dim,
        "img_resolution": resolution, "img_channels": img_channels,
        "mapping": {"features": [z_dim + (w_dim if c_dim else 0)] + [w_dim] * mapping_layers,
                    "lr_multiplier": 0.01, "embed_features": w_dim if c_dim else None, "w_avg_beta": 0.998},
        "synthesis": {"input": input_spec, "layers": layers, "output_scale": 0.25},
    }
