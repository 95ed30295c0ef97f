"""StyleGAN3 synthesis network (Karras et al. 2021, "Alias-Free GAN"), configs T and R.

Checkpoints store every FIR filter, so loading needs no filter design. The design code below
(`design_sg3_layers`) is only used to build randomly initialised networks (benchmarks, training).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .mapping import FullyConnected
from .ops import DEMOD_EPS, LRELU_GAIN, conv_dtype, upfirdn2d


class FourierInput(nn.Module):
    """Fourier features whose rotation/translation come from ws[:, 0] (paper, section 3.1)."""

    def __init__(self, w_dim: int, channels: int, size: tuple[int, int], sampling_rate: float,
                 bandwidth: float):
        super().__init__()
        self.channels, self.size = channels, (int(size[0]), int(size[1]))
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        self.affine = FullyConnected(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w.to(torch.float32))  # [N, 4] = (r_cos, r_sin, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rot = torch.eye(3, device=w.device).repeat(n, 1, 1)
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        tra = torch.eye(3, device=w.device).repeat(n, 1, 1)
        tra[:, 0, 2], tra[:, 1, 2] = -t[:, 2], -t[:, 3]
        m = rot @ tra @ self.transform.unsqueeze(0)  # [N, 3, 3]
        freqs = self.freqs.unsqueeze(0)  # [1, C, 2]
        phases = self.phases.unsqueeze(0) + (freqs @ m[:, :2, 2:]).squeeze(2)  # [N, C]
        freqs = freqs @ m[:, :2, :2]  # [N, C, 2]
        amps = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        w_px, h_px = self.size
        gx = (torch.arange(w_px, device=w.device, dtype=torch.float32) + 0.5 - w_px / 2) / self.sampling_rate
        gy = (torch.arange(h_px, device=w.device, dtype=torch.float32) + 0.5 - h_px / 2) / self.sampling_rate
        # feat[n, y, x, c] = sin(2 pi (gx fx + gy fy + phase)) * amp
        arg = (gx.reshape(1, 1, w_px, 1) * freqs[:, :, 0].reshape(n, 1, 1, -1)
               + gy.reshape(1, h_px, 1, 1) * freqs[:, :, 1].reshape(n, 1, 1, -1)
               + phases.reshape(n, 1, 1, -1))
        feat = torch.sin(arg * (2 * math.pi)) * amps.reshape(n, 1, 1, -1)
        x = feat @ (self.weight / math.sqrt(self.channels)).t()  # [N, H, W, C]
        return x.permute(0, 3, 1, 2)


class SynthesisLayerSG3(nn.Module):
    """Modulated conv, then filtered leaky ReLU: bias, upsample, lrelu+clamp, downsample."""

    def __init__(self, spec: dict, w_dim: int):
        super().__init__()
        self.spec = dict(spec)
        self.is_torgb = bool(spec["is_torgb"])
        self.in_channels, self.out_channels = int(spec["in_channels"]), int(spec["out_channels"])
        self.conv_kernel = int(spec["conv_kernel"])
        self.up_factor, self.down_factor = int(spec["up_factor"]), int(spec["down_factor"])
        self.padding = tuple(int(p) for p in spec["padding"])
        self.conv_clamp = None if spec.get("conv_clamp") is None else float(spec["conv_clamp"])
        self.out_size = tuple(int(s) for s in spec["out_size"])
        self.affine = FullyConnected(w_dim, self.in_channels, bias_init=1.0)
        k = self.conv_kernel
        self.weight = nn.Parameter(torch.randn(self.out_channels, self.in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(self.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        up_f, down_f = spec.get("_up_filter"), spec.get("_down_filter")
        self.spec.pop("_up_filter", None)
        self.spec.pop("_down_filter", None)
        if int(spec["up_taps"]) > 1:
            self.register_buffer("up_filter", torch.as_tensor(up_f if up_f is not None else
                                                              np.zeros(int(spec["up_taps"])), dtype=torch.float32))
        else:
            self.up_filter = None
        if int(spec["down_taps"]) > 1:
            taps = int(spec["down_taps"])
            shape = (taps, taps) if spec.get("down_radial") else (taps,)
            self.register_buffer("down_filter", torch.as_tensor(down_f if down_f is not None else
                                                                np.zeros(shape), dtype=torch.float32))
        else:
            self.down_filter = None

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        styles = self.affine(w.to(torch.float32))  # [N, I]
        weight = self.weight
        if self.is_torgb:
            styles = styles * (1.0 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        else:
            weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
            styles = styles * styles.square().mean().rsqrt()
        wt = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, k, k]
        if not self.is_torgb:
            wt = wt * (wt.square().sum(dim=[2, 3, 4], keepdim=True) + DEMOD_EPS).rsqrt()
        wt = wt * self.magnitude_ema.rsqrt()
        k = self.conv_kernel
        # The bias rides on the convolution (one pass less over its output); `conv_precision`
        # (bfloat16 on a CPU that has it) applies to this convolution only: the long resampling
        # filters and the nonlinearity stay float32, where they are faster on a CPU and exact.
        cdt = conv_dtype() if x.dtype == torch.float32 else x.dtype
        y = torch.nn.functional.conv2d(x.reshape(1, -1, *x.shape[2:]).to(cdt),
                                       wt.reshape(-1, self.in_channels, k, k).to(cdt),
                                       self.bias.to(cdt).repeat(n), padding=k - 1, groups=n).to(x.dtype)
        y = y.reshape(n, self.out_channels, *y.shape[2:])
        # Filtered leaky ReLU (paper, section 3.2). lrelu(z) * g == lrelu(z * g) for g > 0, so the
        # gain rides on the (linear) upsampling filter; lrelu and clamp then work in place.
        gain, slope = (1.0, 1.0) if self.is_torgb else (LRELU_GAIN, 0.2)
        y = upfirdn2d(y, self.up_filter, up=self.up_factor, padding=self.padding,
                      gain=float(self.up_factor ** 2) * gain)
        inplace = not torch.is_grad_enabled() and y is not x
        if not self.is_torgb:
            y = torch.nn.functional.leaky_relu(y, slope, inplace=inplace)
        if self.conv_clamp is not None and self.conv_clamp >= 0:
            y = y.clamp_(-self.conv_clamp, self.conv_clamp) if inplace else y.clamp(-self.conv_clamp, self.conv_clamp)
        return upfirdn2d(y, self.down_filter, down=self.down_factor)


class SynthesisNetworkSG3(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, input_spec: dict,
                 layer_specs: list[dict], output_scale: float = 0.25):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.output_scale = float(output_scale)
        self.input = FourierInput(w_dim, int(input_spec["channels"]), tuple(input_spec["size"]),
                                  float(input_spec["sampling_rate"]), float(input_spec["bandwidth"]))
        self.layer_names = [s["name"] for s in layer_specs]
        for spec in layer_specs:
            setattr(self, spec["name"], SynthesisLayerSG3(spec, w_dim))
        # ws[:, 0] feeds the input, ws[:, 1 + i] feeds layer i (ToRGB included).
        self.num_ws = len(layer_specs) + 1

    def layers(self) -> list[SynthesisLayerSG3]:
        return [getattr(self, name) for name in self.layer_names]

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.input(ws[:, 0])
        for i, layer in enumerate(self.layers()):
            x = layer(x, ws[:, 1 + i])
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)

    def ws_resolutions(self) -> list[int]:
        """Nominal resolution of each ws entry: the power of two nearest 2x the layer's cutoff."""
        def nominal(cutoff: float) -> int:
            r = 2 ** int(math.floor(math.log2(2 * cutoff) + 0.5))
            return int(min(max(r, 4), self.img_resolution))

        res = [nominal(self.input.bandwidth)]
        for layer in self.layers():
            res.append(self.img_resolution if layer.is_torgb else nominal(float(layer.spec["out_cutoff"])))
        return list(np.maximum.accumulate(res).tolist())


def _kaiser_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray | None:
    """Separable Kaiser-windowed sinc low-pass (scipy.signal.firwin with a transition width)."""
    if numtaps == 1:
        return None
    import scipy.signal

    return scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs).astype(np.float32)


def design_sg3_layers(img_resolution: int, img_channels: int = 3, channel_base: int = 32768,
                      channel_max: int = 512, num_layers: int = 14, num_critical: int = 2,
                      first_cutoff: float = 2.0, first_stopband: float = 2 ** 2.1,
                      last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                      filter_size: int = 6, lrelu_upsampling: int = 2, conv_kernel: int = 3,
                      conv_clamp: float | None = 256.0) -> tuple[dict, list[dict]]:
    """Layer geometry of a StyleGAN3-T network from the paper's recipe (its appendix F).

    Cutoffs and stopbands grow geometrically from the first layer to the last critically
    sampled layers; sampling rates are the powers of two that keep the stopband below Nyquist.
    """
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exps = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1.0)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exps
    stopbands = first_stopband * (last_stopband / first_stopband) ** exps
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    input_spec = dict(channels=int(channels[0]), size=[int(sizes[0])] * 2,
                      sampling_rate=float(rates[0]), bandwidth=float(cutoffs[0]))
    specs = []
    for i in range(num_layers + 1):
        prev = max(i - 1, 0)
        is_torgb = i == num_layers
        k = 1 if is_torgb else conv_kernel
        tmp_rate = max(rates[prev], rates[i]) * (1 if is_torgb else lrelu_upsampling)
        up = int(np.rint(tmp_rate / rates[prev]))
        down = int(np.rint(tmp_rate / rates[i]))
        up_taps = filter_size * up if up > 1 and not is_torgb else 1
        down_taps = filter_size * down if down > 1 and not is_torgb else 1
        in_size, out_size = int(sizes[prev]), int(sizes[i])
        pad_total = (out_size - 1) * down + 1 - (in_size + k - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        pad_hi = pad_total - pad_lo
        specs.append(dict(
            name=f"L{i}_{out_size}_{int(channels[i])}", is_torgb=is_torgb,
            in_channels=int(channels[prev]), out_channels=int(channels[i]),
            in_size=[in_size] * 2, out_size=[out_size] * 2, conv_kernel=k,
            in_sampling_rate=int(rates[prev]), out_sampling_rate=int(rates[i]),
            in_cutoff=float(cutoffs[prev]), out_cutoff=float(cutoffs[i]),
            up_factor=up, down_factor=down, up_taps=up_taps, down_taps=down_taps, down_radial=False,
            padding=[int(pad_lo), int(pad_hi), int(pad_lo), int(pad_hi)], conv_clamp=conv_clamp,
            _up_filter=_kaiser_lowpass(up_taps, cutoffs[prev], half_widths[prev] * 2, tmp_rate),
            _down_filter=_kaiser_lowpass(down_taps, cutoffs[i], half_widths[i] * 2, tmp_rate),
        ))
    return input_spec, specs
