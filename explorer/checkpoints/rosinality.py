"""rosinality/stylegan2-pytorch checkpoints (`train.py` snapshots and `convert_weight.py` files).

Read with torch's weights-only unpickler. `train.py` files also pickle an argparse.Namespace of
the training options; that one plain attribute holder is the only class we add to the allow-list.
The g_ema state dict is renamed onto NVIDIA's layout, which our StyleGAN2 network uses.
"""
from __future__ import annotations

import argparse
import os
import re

import torch

from .errors import CheckpointError, UnsafePickleError

ROSINALITY_MAPPING_LR = 0.01
BLUR_TAPS = [1, 3, 3, 1]


def torch_load_weights_only(path: str | os.PathLike) -> object:
    """torch.load with weights_only=True, zip or legacy stream; errors become CheckpointError."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        text = str(exc)
        m = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", text)
        if m:
            raise UnsafePickleError(path, f"refused global '{m.group(1)}': this file wants to run code "
                                          "or build objects that a checkpoint never needs") from None
        first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
        raise CheckpointError(path, f"is a damaged or truncated PyTorch file ({first})") from exc


def is_rosinality_state(sd: object) -> bool:
    return isinstance(sd, dict) and "style.1.weight" in sd and "input.input" in sd


def find_g_ema(obj: object, path) -> tuple[dict, torch.Tensor | None]:
    """Pick the EMA generator state dict (and latent_avg when present) out of a loaded file."""
    if is_rosinality_state(obj):
        return obj, None
    if isinstance(obj, dict):
        if "g_ema" in obj and is_rosinality_state(obj["g_ema"]):
            avg = obj.get("latent_avg")
            return obj["g_ema"], (avg if isinstance(avg, torch.Tensor) else None)
        if "g" in obj and is_rosinality_state(obj["g"]):
            raise CheckpointError(path, "holds a training generator 'g' but no EMA generator 'g_ema'")
        if "d" in obj and len(obj) <= 2:
            raise CheckpointError(path, "holds only a discriminator; a generator is needed")
        keys = ", ".join(list(map(str, obj.keys()))[:8])
        raise CheckpointError(path, f"is a PyTorch file but holds no StyleGAN2 generator (keys: {keys})")
    raise CheckpointError(path, f"is a PyTorch file but holds a {type(obj).__name__}, not a generator")


def _count(sd: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd for m in [rx.match(k)] if m})


def rosinality_to_native(sd: dict[str, torch.Tensor], path) -> tuple[dict, dict[str, torch.Tensor]]:
    """-> (our config, state dict in NVIDIA naming). Architecture is read from tensor shapes."""
    try:
        n_mlp = _count(sd, r"style\.(\d+)\.weight")
        style_dim = sd["style.1.weight"].shape[0]
        n_torgb = _count(sd, r"to_rgbs\.(\d+)\.")
        resolution = 4 * 2 ** n_torgb
        img_channels = sd["to_rgb1.conv.weight"].shape[1]
        channels = {"4": int(sd["input.input"].shape[1])}
        for k in range(n_torgb):
            channels[str(8 * 2 ** k)] = int(sd[f"convs.{2 * k}.conv.weight"].shape[1])
        for key, t in sd.items():
            if key.endswith(("blur.kernel", "upsample.kernel")):
                taps = torch.tensor(BLUR_TAPS, dtype=torch.float32)
                expect = torch.outer(taps, taps) / torch.outer(taps, taps).sum()
                if t.shape != expect.shape or not torch.allclose(t / t.sum(), expect, atol=1e-6):
                    raise CheckpointError(path, f"uses a resampling filter other than [1,3,3,1] ({key})")
    except KeyError as exc:
        raise CheckpointError(path, f"is missing the generator tensor {exc.args[0]!r}") from None

    config = {
        "arch": "stylegan2", "z_dim": style_dim, "w_dim": style_dim, "c_dim": 0,
        "img_resolution": resolution, "img_channels": img_channels,
        "mapping": {"features": [style_dim] * (n_mlp + 1), "lr_multiplier": ROSINALITY_MAPPING_LR,
                    "embed_features": None, "w_avg_beta": 0.998},
        "synthesis": {"channels": channels, "architecture": "skip", "conv_clamp": None,
                      "resample_taps": BLUR_TAPS, "use_noise": True},
        "source": {"format": "rosinality"},
    }

    out: dict[str, torch.Tensor] = {}
    for i in range(1, n_mlp + 1):
        out[f"mapping.fc{i - 1}.weight"] = sd[f"style.{i}.weight"]
        out[f"mapping.fc{i - 1}.bias"] = sd[f"style.{i}.bias"]
    out["synthesis.b4.const"] = sd["input.input"][0]

    def conv(src: str, dst: str, noise_idx: int) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.noise_strength"] = sd[f"{src}.noise.weight"].reshape([])
        out[f"{dst}.bias"] = sd[f"{src}.activate.bias"]
        out[f"{dst}.noise_const"] = sd[f"noises.noise_{noise_idx}"][0, 0]

    def torgb(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(-1)

    try:
        conv("conv1", "synthesis.b4.conv1", 0)
        torgb("to_rgb1", "synthesis.b4.torgb")
        for k in range(n_torgb):
            r = 8 * 2 ** k
            conv(f"convs.{2 * k}", f"synthesis.b{r}.conv0", 2 * k + 1)
            conv(f"convs.{2 * k + 1}", f"synthesis.b{r}.conv1", 2 * k + 2)
            torgb(f"to_rgbs.{k}", f"synthesis.b{r}.torgb")
    except KeyError as exc:
        raise CheckpointError(path, f"is missing the generator tensor {exc.args[0]!r}") from None
    return config, {k: v.detach().float() for k, v in out.items()}


def load_rosinality(path: str | os.PathLike, obj: object | None = None):
    from .build import build_generator

    if obj is None:
        obj = torch_load_weights_only(path)
    sd, latent_avg = find_g_ema(obj, path)
    config, state = rosinality_to_native(sd, path)
    config["source"]["file"] = os.path.basename(str(path))
    if latent_avg is not None:
        state["mapping.w_avg"] = latent_avg.detach().float().reshape(-1)
        return build_generator(path, config, state)
    config["source"]["w_avg"] = "estimated from 10,000 samples"
    return build_generator(path, config, state, estimate_w_avg=True)
