"""Widen a trained StyleGAN2 synthesis network without changing what it draws (Net2Net-style).

A pack trained with narrow layers continues in a configuration with more channels: every old
weight keeps its value, each new channel starts from the wider network's fresh initialisation,
and the weights leading *from* new channels *into* old ones start at zero. So the widened network
computes exactly the old picture at first (the new channels are computed but not yet listened
to), and training then grows their outgoing weights.

Why that holds for StyleGAN2's layers:
* modulated 3x3 conv with demodulation: an old output channel's demodulation sums the squares of
  its weights over all inputs; the new inputs' weights are zero, so neither the sum nor the output
  changes. New output channels have their own (random) weights and their own demodulation.
* toRGB (1x1, no demodulation) scales its styles by 1/sqrt(in_channels): the old weights are
  multiplied by sqrt(new / old in_channels) so the old channels' contribution stays the same, and
  the new channels' weights are zero.
* affine rows (one style per input channel), biases and the 4x4 constant: old entries copied, new
  ones initialised as a fresh network would be (styles 1, biases 0, constant random).
"""
from __future__ import annotations

import math

import torch


def widen_state(old: dict[str, torch.Tensor], fresh: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict for the wider network whose fresh state dict is `fresh`, computing what the
    network of `old` computes. Raises ValueError when a tensor would have to shrink or the two
    networks differ in anything but channel counts."""
    if set(old) != set(fresh):
        missing = sorted(set(old) ^ set(fresh))[:4]
        raise ValueError(f"the networks differ in layers, not only in width ({', '.join(missing)})")
    out = {}
    for key, new in fresh.items():
        src = old[key]
        if src.shape == new.shape:
            out[key] = src.clone()
            continue
        if src.dim() != new.dim() or any(a > b for a, b in zip(src.shape, new.shape)):
            raise ValueError(f"{key}: cannot widen {tuple(src.shape)} to {tuple(new.shape)}")
        if not key.startswith("synthesis."):
            raise ValueError(f"{key}: only the synthesis network's channels can be widened")
        t = new.detach().clone().to(src.dtype)
        t[tuple(slice(0, s) for s in src.shape)] = src
        if src.dim() == 4:                       # conv weight [O, I, k, k]
            o0, i0 = src.shape[:2]
            t[:o0, i0:] = 0                      # new channels are not listened to yet
            if key.endswith("torgb.weight"):
                t[:, :i0] *= math.sqrt(new.shape[1] / i0)
        out[key] = t
    return out


__all__ = ["widen_state"]
