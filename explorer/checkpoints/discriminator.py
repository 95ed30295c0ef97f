"""The discriminator a checkpoint carries (NVIDIA snapshot, rosinality train.py), as our own network.

Projection compares pictures through D's block activations (it has seen the model's domain, and no
ImageNet weights exist here). The snapshot is read with the same restricted unpickler as the
generator; D's parameter names are NVIDIA's, so tensors map by name onto
`explorer.training.discriminator.Discriminator` (the epilogue's `b4.conv/fc/out` are our top-level
`conv/fc/out`). Only the residual architecture (the default of both repos) is read; a conditional
D's label embedding is not needed for features and is left out. Checked against NVIDIA's own code
(block outputs and logits of the P1 fixture, 2.4e-7) and rosinality's D against its maths written out
with plain torch ops (R1 fixture): tests/test_projection.py.
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
    """Our Discriminator with the checkpoint's D weights (NVIDIA snapshot or rosinality train.py
    checkpoint), or None when the file carries no usable D (our own format, a converted generator,
    a bare generator, another D architecture)."""
    from . import detect_format
    from .safe_pickle import PersistentObject, load_pickle
    from ..training.discriminator import Discriminator

    fmt = detect_format(path)
    if fmt == "torch":
        return _load_rosinality_d(path)
    if fmt != "pickle":
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


def _load_rosinality_d(path):
    """rosinality's `d` (convs.0 = fromrgb; convs.i = ResBlock(conv1, conv2 with blur + stride 2,
    skip with blur + stride 2); final_conv, final_linear) mapped onto our blocks: its conv1/conv2
    are our conv0/conv1, FusedLeakyReLU biases our biases (same gains: sqrt(2), blocks summed and
    divided by sqrt(2)), blur pads 2 / 1 as ours."""
    from .rosinality import torch_load_weights_only
    from ..training.discriminator import Discriminator

    obj = torch_load_weights_only(path)
    sd = obj.get("d") if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or "convs.0.0.weight" not in sd:
        return None
    n_blocks = 0
    while f"convs.{n_blocks + 1}.conv1.0.weight" in sd:
        n_blocks += 1
    if not 1 <= n_blocks <= 10:
        return None
    res = 4 * 2 ** n_blocks
    chans = [int(sd[f"convs.{i}.conv1.0.weight"].shape[0]) for i in range(1, n_blocks + 1)] + \
        [int(sd["final_conv.0.weight"].shape[0])]
    cmax = max(chans)
    if cmax > MAX_CHANNELS or sum(t.numel() for t in sd.values() if isinstance(t, torch.Tensor)) > MAX_PARAMS:
        raise CheckpointError(path, "has a discriminator of sizes we refuse")
    net = Discriminator(res, int(sd["convs.0.0.weight"].shape[1]), chans[0] * res, cmax)
    own = net.state_dict()
    state = {}
    top = res
    state[f"b{top}.fromrgb.weight"] = sd["convs.0.0.weight"]
    state[f"b{top}.fromrgb.bias"] = sd["convs.0.1.bias"]
    for i in range(1, n_blocks + 1):
        r = res // 2 ** (i - 1)
        state[f"b{r}.conv0.weight"] = sd[f"convs.{i}.conv1.0.weight"]
        state[f"b{r}.conv0.bias"] = sd[f"convs.{i}.conv1.1.bias"]
        state[f"b{r}.conv1.weight"] = sd[f"convs.{i}.conv2.1.weight"]
        state[f"b{r}.conv1.bias"] = sd[f"convs.{i}.conv2.2.bias"]
        state[f"b{r}.skip.weight"] = sd[f"convs.{i}.skip.1.weight"]
    state["conv.weight"], state["conv.bias"] = sd["final_conv.0.weight"], sd["final_conv.1.bias"]
    state["fc.weight"], state["fc.bias"] = sd["final_linear.0.weight"], sd["final_linear.0.bias"]
    state["out.weight"], state["out.bias"] = sd["final_linear.1.weight"], sd["final_linear.1.bias"]
    for k, v in own.items():
        t = state.get(k)
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(v.shape):
            return None          # channels that do not follow min(base / r, max): not mapped
    net.load_state_dict({k: v.float() for k, v in state.items()})
    net.complete = True
    return net.eval().requires_grad_(False)


def block_features(net, img: torch.Tensor) -> list[torch.Tensor]:
    """D's activations after each resolution block (the input in [-1, 1])."""
    x, out = None, []
    for r in net.resolutions:
        x = getattr(net, f"b{r}")(x, img)
        out.append(x)
    return out


