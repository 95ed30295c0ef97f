"""StyleGAN2 residual discriminator (Karras et al. 2020, Fig. 7b), our own implementation.

Equalised learning rate throughout: weights are stored N(0, 1) and scaled by 1/sqrt(fan_in)
at run time. Downsampling blurs with the [1,3,3,1] filter before striding, like the generator.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..generators.ops import LRELU_GAIN, bias_act, upfirdn2d
from ..generators.stylegan2 import make_resample_filter


class EqConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, k: int, *, bias: bool = True, lrelu: bool = True,
                 down: bool = False, conv_clamp: float | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, k, k))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.gain = 1.0 / math.sqrt(in_ch * k * k)
        self.k, self.lrelu, self.down, self.conv_clamp = k, lrelu, down, conv_clamp
        self.register_buffer("resample_filter", make_resample_filter([1, 3, 3, 1]), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.gain).to(x.dtype)
        if self.down:
            # blur so that the strided conv lands on the right grid: H -> H/2 exactly
            p = (self.k + 1) // 2 if self.k > 1 else 1
            x = upfirdn2d(x, self.resample_filter, padding=(p, p, p, p))
            x = F.conv2d(x, w, stride=2)
        else:
            x = F.conv2d(x, w, padding=self.k // 2)
        act_gain = (LRELU_GAIN if self.lrelu else 1.0) * gain
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, lrelu=self.lrelu, gain=act_gain, clamp=clamp)


class EqLinear(nn.Module):
    def __init__(self, in_f: int, out_f: int, *, lrelu: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_f, in_f))
        self.bias = nn.Parameter(torch.zeros(out_f))
        self.gain, self.lrelu = 1.0 / math.sqrt(in_f), lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, (self.weight * self.gain).to(x.dtype))
        return bias_act(x, self.bias, lrelu=self.lrelu, gain=LRELU_GAIN if self.lrelu else 1.0)


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, img_channels: int, first: bool, conv_clamp):
        super().__init__()
        self.fromrgb = EqConv(img_channels, in_ch, 1, conv_clamp=conv_clamp) if first else None
        self.conv0 = EqConv(in_ch, in_ch, 3, conv_clamp=conv_clamp)
        self.conv1 = EqConv(in_ch, out_ch, 3, down=True, conv_clamp=conv_clamp)
        self.skip = EqConv(in_ch, out_ch, 1, bias=False, lrelu=False, down=True)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(img)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


class Discriminator(nn.Module):
    """image [N, C, R, R] in [-1, 1] -> realness logit [N, 1].

    c_dim > 0 makes it conditional by projection (Miyato & Koyama 2018): the logit gains the dot
    product of the image's features with an embedding of the condition c [N, c_dim], so it judges
    whether an image is real *for that condition* (the neural renderer passes each target's z)."""

    def __init__(self, img_resolution: int, img_channels: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, mbstd_group: int = 4, conv_clamp: float | None = None,
                 c_dim: int = 0):
        super().__init__()
        self.config = dict(img_resolution=img_resolution, img_channels=img_channels,
                           channel_base=channel_base, channel_max=channel_max,
                           mbstd_group=mbstd_group, conv_clamp=conv_clamp, c_dim=c_dim)
        ch = lambda r: int(min(channel_base // r, channel_max))  # noqa: E731
        self.resolutions = [2 ** i for i in range(int(math.log2(img_resolution)), 2, -1)]
        for r in self.resolutions:
            setattr(self, f"b{r}", DiscriminatorBlock(ch(r), ch(r // 2), img_channels,
                                                      first=(r == img_resolution), conv_clamp=conv_clamp))
        c4 = ch(4)
        self.mbstd_group = mbstd_group
        self.conv = EqConv(c4 + 1, c4, 3, conv_clamp=conv_clamp)
        self.fc = EqLinear(c4 * 16, c4)
        self.out = EqLinear(c4, 1, lrelu=False)
        self.embed = nn.Sequential(EqLinear(c_dim, c4), EqLinear(c4, c4, lrelu=False)) if c_dim else None

    def minibatch_stddev(self, x: torch.Tensor) -> torch.Tensor:
        """Append the std over groups of samples as one extra feature map (diversity signal)."""
        n, c, h, w = x.shape
        g = min(self.mbstd_group, n)
        while n % g:
            g -= 1
        y = x.reshape(g, -1, c, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # [n/g, c, h, w]
        y = y.mean(dim=[1, 2, 3]).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)  # [n, 1, h, w]
        return torch.cat([x, y], dim=1)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = None
        for r in self.resolutions:
            x = getattr(self, f"b{r}")(x, img)
        x = self.conv(self.minibatch_stddev(x))
        h = self.fc(x.flatten(1))
        logit = self.out(h)
        if self.embed is not None:
            if c is None:
                raise ValueError("this discriminator is conditional: pass c")
            logit = logit + (h * self.embed(c.to(h.dtype))).sum(1, keepdim=True) / math.sqrt(h.shape[1])
        return logit
