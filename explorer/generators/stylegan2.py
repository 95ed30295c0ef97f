"""StyleGAN2 synthesis network (Karras et al. 2020), architectures 'skip', 'resnet' and 'orig'.

Parameter names follow NVIDIA's layout (synthesis.b{res}.conv0/conv1/torgb/skip) so that their
checkpoints map one to one; rosinality checkpoints are renamed onto the same layout.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .mapping import FullyConnected
from .sg2_plan import plan_applies, synthesis_plan
from .ops import LRELU_GAIN, bias_act, epilogue_offset, modulated_conv2d, modulated_epilogue, upfirdn2d, upsample2d

NoiseList = list  # list[torch.Tensor | None], one entry per noise input, in layer order


def use_fused_modconv(module: nn.Module, x: torch.Tensor) -> bool:
    """Grouped (fused) modulated conv for CUDA inference. On a CPU the unfused form (scale the
    activations, share one weight over the batch) is faster at batch > 1 (fused: 11% slower at
    batch 4) and in training always; at batch 1 it depends on the layer, so a layer uses the fused
    form there only where the one-off calibration found it faster (`fused_at_batch1`, set by
    explorer.precision.choose_modconv_forms)."""
    if module.training:
        return False
    if x.device.type == "cuda":
        return True
    return x.shape[0] == 1 and getattr(module, "fused_at_batch1", False)


def inference_weights(module: nn.Module, x: torch.Tensor, transposed: bool = False):
    """(sum of squared weights [O, I], weight in the dtype the conv will run in) for an unfused
    modulated conv at inference, computed once per weight version, dtype, device and layout
    instead of on every call (under bfloat16 autocast the casts and the squares were ~10% of a
    CPU render). The weight is stored in the activations' memory format (channels-last beside
    channels-last activations) and, for a transposed conv (`transposed`), as the contiguous
    [I, O, k, k] tensor the transposed conv reads, returned as its [O, I, k, k] view: otherwise
    oneDNN and the native convs reorder the weight on every call (at batch 1 those reorders were a
    quarter of a CPU render). (None, None) while training or recording gradients."""
    weight = module.weight
    if module.training or torch.is_grad_enabled() or torch.is_inference(weight):
        return None, None       # (an inference-mode weight keeps no version to key a cache on)
    dtype = x.dtype
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
    fmt = torch.contiguous_format
    if _strictly_channels_last(x):
        fmt = torch.channels_last
    key = (weight._version, weight.data_ptr(), dtype, x.device, fmt, transposed)
    cache = module.__dict__.get("_inference_weights")
    if cache is None or cache[0] != key:
        with torch.autocast(x.device.type, enabled=False):
            wsq = weight.detach().float().square().sum(dim=[2, 3])
            wc = weight.detach().to(dtype)
            if transposed:
                wc = wc.transpose(0, 1).contiguous(memory_format=fmt).transpose(0, 1)
            else:
                wc = wc.contiguous(memory_format=fmt)
        cache = (key, wsq, wc)
        module.__dict__["_inference_weights"] = cache
    return cache[1], cache[2]


def make_resample_filter(taps: list[float]) -> torch.Tensor:
    """1-D taps normalised to sum 1; applied separably, equal to the 2-D outer-product filter."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    return f / f.sum()


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (+2x up), noise, bias, lrelu, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *,
                 up: int = 1, kernel_size: int = 3, conv_clamp: float | None = None,
                 use_noise: bool = True):
        super().__init__()
        self.resolution, self.up, self.conv_clamp, self.use_noise = resolution, up, conv_clamp, use_noise
        self.padding = kernel_size // 2
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x, w, resample_filter, noise: torch.Tensor | None, gain: float = 1.0):
        styles = self.affine(w)
        fused = use_fused_modconv(self, x)
        wsq, wc = (None, None) if fused else inference_weights(self, x, transposed=self.up > 1)
        inplace = not torch.is_grad_enabled()       # x is the conv's fresh output: no copies at inference
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        if inplace and x.dtype in (torch.float32, torch.bfloat16, torch.float16):
            y, d = modulated_conv2d(x, self.weight, styles, demodulate=True, padding=self.padding,
                                    up=self.up, resample_filter=resample_filter, fused=fused,
                                    weight_sq=wsq, conv_weight=wc, defer_demodulation=True)
            noise = noise if self.use_noise else None
            offset = self._epilogue_offset(noise, LRELU_GAIN * gain, y)
            return modulated_epilogue(y, d, offset, LRELU_GAIN * gain, clamp=clamp)
        x = modulated_conv2d(x, self.weight, styles, demodulate=True, padding=self.padding,
                             up=self.up, resample_filter=resample_filter, fused=fused,
                             weight_sq=wsq, conv_weight=wc)
        if noise is not None and self.use_noise:
            n = noise.to(x.dtype) * self.noise_strength.to(x.dtype)
            x = x.add_(n) if inplace else x + n
        return bias_act(x, self.bias, lrelu=True, gain=LRELU_GAIN * gain, clamp=clamp, inplace=inplace)

    def _epilogue_offset(self, noise, gain: float, y: torch.Tensor) -> torch.Tensor:
        """(noise * strength + bias) * gain for the inference epilogue; with the layer's own constant
        noise (the grid's usual case) built once per weights, dtype and layout and kept."""
        strength = self.noise_strength if noise is not None else None
        own = noise is not None and noise is getattr(self, "noise_const", None) and not torch.is_inference(noise)
        if not own and noise is not None:
            return epilogue_offset(self.bias, noise, strength, gain, y.dtype)
        params = (self.bias,) + ((strength, noise) if own else ())
        if any(torch.is_inference(p) for p in params):
            return epilogue_offset(self.bias, noise, strength, gain, y.dtype)
        fmt = torch.channels_last if _strictly_channels_last(y) else torch.contiguous_format
        key = (tuple((p.data_ptr(), p._version) for p in params), gain, y.dtype, y.device, fmt)
        cache = self.__dict__.get("_offset_cache")
        if cache is None or cache[0] != key:
            offset = epilogue_offset(self.bias, noise, strength, gain, y.dtype)
            if offset.ndim == 4 and offset.shape[-1] > 1:
                offset = offset.contiguous(memory_format=fmt)
            cache = (key, offset)
            self.__dict__["_offset_cache"] = cache
        return cache[1]


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x, w):
        styles = self.affine(w) * self.weight_gain
        fused = use_fused_modconv(self, x)
        _, wc = (None, None) if fused else inference_weights(self, x)
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, padding=0, fused=fused, conv_weight=wc)
        return bias_act(x, self.bias, lrelu=False, clamp=self.conv_clamp, inplace=not torch.is_grad_enabled())


def _strictly_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class SkipConv(nn.Module):
    """Resnet shortcut: 2x upsample then an unmodulated 1x1 conv, no bias."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x, resample_filter, gain: float):
        x = upsample2d(x, resample_filter)
        return torch.nn.functional.conv2d(x, (self.weight * (self.weight_gain * gain)).to(x.dtype))


class SynthesisBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, *, is_last: bool, architecture: str, conv_clamp: float | None,
                 resample_filter: torch.Tensor, use_noise: bool = True):
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.architecture, self.is_last = architecture, is_last
        self.memory_format = torch.contiguous_format
        self.register_buffer("resample_filter", resample_filter.clone(), persistent=False)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        conv_clamp=conv_clamp, use_noise=use_noise)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution,
                                    conv_clamp=conv_clamp, use_noise=use_noise)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1 if (is_last or architecture == "skip") else 0
        if self.num_torgb:
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        if in_channels != 0 and architecture == "resnet":
            self.skip = SkipConv(in_channels, out_channels)

    def noise_layers(self) -> list[SynthesisLayer]:
        return [self.conv1] if self.in_channels == 0 else [self.conv0, self.conv1]

    def forward(self, x, img, ws: torch.Tensor, noises: NoiseList):
        """ws: [N, num_conv + num_torgb, w_dim] window; noises: one entry per conv layer."""
        f = self.resample_filter
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1).to(ws.dtype)
            x = x.contiguous(memory_format=self.memory_format)
            x = self.conv1(x, ws[:, 0], f, noises[0])
        elif self.architecture == "resnet":
            gain = math.sqrt(0.5)
            y = self.skip(x, f, gain)
            x = self.conv0(x, ws[:, 0], f, noises[0])
            x = self.conv1(x, ws[:, 1], f, noises[1], gain=gain)
            x = y + x
        else:
            x = self.conv0(x, ws[:, 0], f, noises[0])
            x = self.conv1(x, ws[:, 1], f, noises[1])
        if img is not None:
            img = upsample2d(img, f)
        if self.num_torgb:
            y = self.torgb(x, ws[:, self.num_conv]).to(torch.float32)
            if torch.is_grad_enabled():
                img = y if img is None else img + y
            else:   # the 3-channel picture stays NCHW (its upsampling is 1.3-1.6x faster so) and in place
                img = y.contiguous() if img is None else img.add_(y)
        return x, img


class SynthesisNetworkSG2(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R]."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channels: dict[int, int],
                 architecture: str = "skip", conv_clamp: float | None = None,
                 resample_taps: list[float] = (1, 3, 3, 1), use_noise: bool = True):
        super().__init__()
        if architecture not in ("skip", "resnet", "orig"):
            raise ValueError(f"unknown StyleGAN2 architecture {architecture!r}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.architecture = architecture
        self.block_resolutions = [2 ** i for i in range(2, int(np.log2(img_resolution)) + 1)]
        f = make_resample_filter(list(resample_taps))
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_ch, channels[res], w_dim, res, img_channels,
                                   is_last=(res == img_resolution), architecture=architecture,
                                   conv_clamp=conv_clamp, resample_filter=f, use_noise=use_noise)
            self.num_ws += block.num_conv + (block.num_torgb if block.is_last else 0)
            setattr(self, f"b{res}", block)

    def set_channels_last(self, enabled: bool = True) -> None:
        """Run activations in NHWC (channels-last): much faster convolutions on CPU and CUDA."""
        fmt = torch.channels_last if enabled else torch.contiguous_format
        for b in self.blocks():
            b.memory_format = fmt

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{r}") for r in self.block_resolutions]

    def noise_layers(self) -> list[SynthesisLayer]:
        return [layer for b in self.blocks() for layer in b.noise_layers()]

    def preview_resolution(self, size: int) -> int:
        """The block resolution a `size`-pixel picture can stop at: the skip architecture's image is
        the sum of every block's upsampled RGB so far, so stopping at the first block of at least
        `size` pixels leaves out only the finer blocks' detail (which a thumbnail cannot show).
        resnet / orig produce RGB only at the last block: always the full resolution."""
        if self.architecture != "skip":
            return self.img_resolution
        return next((r for r in self.block_resolutions if r >= size), self.img_resolution)

    def forward(self, ws: torch.Tensor, noises: NoiseList, stop_at: int | None = None) -> torch.Tensor:
        """stop_at: a resolution from `preview_resolution` (the picture at that resolution)."""
        if plan_applies(self, ws):
            plan = synthesis_plan(self)
            if plan is not None:
                return plan(ws, noises, stop_at)
        x = img = None
        w_idx = 0
        n_idx = 0
        for block in self.blocks():
            width = block.num_conv + block.num_torgb
            x, img = block(x, img, ws[:, w_idx: w_idx + width], noises[n_idx: n_idx + block.num_conv])
            w_idx += block.num_conv
            n_idx += block.num_conv
            if stop_at is not None and block.resolution >= stop_at and self.architecture == "skip":
                break
        return img

    def ws_resolutions(self) -> list[int]:
        """Resolution each ws entry feeds: two entries per octave from 4x4, as in the paper."""
        return [min(4 * 2 ** (i // 2), self.img_resolution) for i in range(self.num_ws)]


__all__ = ["SynthesisNetworkSG2", "make_resample_filter", "upfirdn2d"]
