"""The discriminator an NVIDIA StyleGAN2 / StyleGAN3 snapshot carries, as our own network.

Projection compares pictures through D's block activations (it has seen the model's domain, and no
ImageNet weights exist here). The snapshot is read with the same restricted unpickler as the
generator; D's parameter names are NVIDIA's, so tensors map by name onto
`explorer.training.discriminator.Discriminator` (the epilogue's `b4.conv/fc/out` are our top-level
`conv/fc/out`). Only the residual architecture (the default of both repos) is read; a conditional
D's label embedding is not needed for features and is left out. Checked against NVIDIA's own code:
tests/test_projection.py (block outputs and logits of the P1 fixture).
"""
from __future__ import annotations

import os

import torch

from .errors import CheckpointError

MAX_CHANNELS = 4096
MAX_PARAMS = 500_000_000


def _num(v, default):
    try:
        return int(v) if v is not None else default
    except (TypeError, ValueError):
        return default


def load_discriminator(path: str | os.PathLike):
    """Our Discriminator with the snapshot's D weights, or None when the file carries no usable D
    (a rosinality file, our own format, a bare generator, another D architecture)."""
    from . import detect_format
    from .safe_pickle import PersistentObject, load_pickle
    from ..training.discriminator import Discriminator

    if detect_format(path) != "pickle":
        return None
    obj = load_pickle(path)
    d = obj.get("D") if isinstance(obj, dict) else None
    if not isinstance(d, PersistentObject) or d.class_name != "Discriminator":
        return None
    kw = d.attr("_init_kwargs") or {}
    kw = kw if isinstance(kw, dict) else {}
    if str(kw.get("architecture", "resnet")) != "resnet":
        return None
    res = _num(kw.get("img_resolution", d.attr("img_resolution")), 0)
    ch = _num(kw.get("img_channels", d.attr("img_channels")), 3)
    base, cmax = _num(kw.get("channel_base"), 32768), _num(kw.get("channel_max"), 512)
    epi = kw.get("epilogue_kwargs") if isinstance(kw.get("epilogue_kwargs"), dict) else {}
    mbstd = _num(epi.get("mbstd_group_size"), 4)
    if not (8 <= res <= 4096 and res & (res - 1) == 0 and 1 <= ch <= 4 and 1 <= cmax <= MAX_CHANNELS
            and 1 <= base <= MAX_CHANNELS * 4096 and 1 <= mbstd <= 64):
        raise CheckpointError(path, f"has a discriminator of sizes we refuse (resolution {res}, channels {ch}, "
                                    f"channel_base {base}, channel_max {cmax})")
    state, total = {}, 0
    for name, t in d.named_tensors():
        if name.endswith("resample_filter"):
            continue
        total += t.numel()
        if total > MAX_PARAMS:
            raise CheckpointError(path, "has a discriminator larger than 500 M parameters")
        if name.startswith("b4."):
            name = name[3:]
        state[name] = t.detach().float()
    net = Discriminator(res, ch, base, cmax, mbstd_group=mbstd)
    own = net.state_dict()
    blocks = {k: v for k, v in own.items() if k.startswith("b")}
    for k, v in blocks.items():
        if k not in state:
            raise CheckpointError(path, f"has a discriminator without {k}: not the residual StyleGAN2 layout")
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(path, f"has a discriminator whose {k} is {tuple(state[k].shape)}, "
                                        f"expected {tuple(v.shape)}")
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    net.load_state_dict(usable, strict=False)
    net.complete = all(k in usable for k in own)          # False: conditional epilogue left out
    return net.eval().requires_grad_(False)


def block_features(net, img: torch.Tensor) -> list[torch.Tensor]:
    """D's activations after each resolution block (the input in [-1, 1])."""
    x, out = None, []
    for r in net.resolutions:
        x = getattr(net, f"b{r}")(x, img)
        out.append(x)
    return out


