"""Primitive operations shared by the StyleGAN2 and StyleGAN3 synthesis networks.

Plain PyTorch, nothing compiled: the same maths runs on CPU, CUDA and MPS. Each function
follows the definitions in the StyleGAN2/StyleGAN3 papers (and the format notes in
shared/docs/checkpoint-formats.md, section 1.8), written for clarity first and speed second.
"""
from __future__ import annotations

import contextlib
import contextvars
import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
DEMOD_EPS = 1e-8

_CONV_DTYPE: contextvars.ContextVar = contextvars.ContextVar("conv_dtype", default=torch.float32)


@contextlib.contextmanager
def conv_precision(dtype: torch.dtype | None):
    """Within this block (in this thread) the StyleGAN3 modulated convolutions multiply in `dtype`
    (bfloat16 on a CPU with AVX-512 BF16 / AMX: about twice as fast), everything else stays
    float32. StyleGAN2 uses autocast instead (see Generator.synthesize)."""
    token = _CONV_DTYPE.set(dtype or torch.float32)
    try:
        yield
    finally:
        _CONV_DTYPE.reset(token)


def conv_dtype() -> torch.dtype:
    return _CONV_DTYPE.get()


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) over the feature axis (PixelNorm)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, *, lrelu: bool, gain: float = 1.0,
             slope: float = LRELU_SLOPE, clamp: float | None = None, inplace: bool = False) -> torch.Tensor:
    """Add a per-channel bias, apply (leaky ReLU) * gain, then clamp to +-clamp.

    x: [N, C, ...]; bias: [C]. inplace: overwrite x (a fresh intermediate, no gradient recorded):
    the same numbers without allocating a new map per step.
    """
    if inplace:
        if bias is not None:
            x.add_(bias.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2)))
        if lrelu and slope != 1.0:
            F.leaky_relu_(x, slope)
        if gain != 1.0:
            x.mul_(gain)
        if clamp is not None and clamp >= 0:
            x.clamp_(-clamp, clamp)
        return x
    if bias is not None:
        shape = [1, -1] + [1] * (x.ndim - 2)
        x = x + bias.to(x.dtype).reshape(shape)
    if lrelu and slope != 1.0:
        x = F.leaky_relu(x, slope)
    if gain != 1.0:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR filter, downsample.

    x: [N, C, H, W]. f: 1-D taps (applied separably along both axes), 2-D [fh, fw], or None
    (identity). padding: (x0, x1, y0, y1); negative values crop. The filter is scaled by
    gain (split as sqrt(gain) per axis for 1-D taps). The stored StyleGAN filters are all
    symmetric, so convolution and correlation coincide; we flip anyway to be exact.
    """
    n, c, h, w = x.shape
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    x0, x1, y0, y1 = (int(p) for p in padding)
    if up > 1 and f is not None:
        x = _upfir_polyphase(x, f.to(device=x.device, dtype=x.dtype), up, (x0, x1, y0, y1), gain)
        if down > 1:
            x = x[:, :, ::down, ::down]
    elif up == 1 and f is not None and x0 == x1 >= 0 and y0 == y1 >= 0 and (f.ndim == 2 or f.numel() <= 4):
        # symmetric zero padding: the conv pads as it reads (no padded copy of the map)
        x = _fir_down(x, f.to(device=x.device, dtype=x.dtype), down, gain, padding=(y0, x0))
    else:
        x = _padded(x, up, (x0, x1, y0, y1))
        if f is not None:
            x = _fir_down(x, f.to(device=x.device, dtype=x.dtype), down, gain)
        else:
            x = x * gain if gain != 1.0 else x
            x = x[:, :, ::down, ::down] if down > 1 else x
    if channels_last:  # keep the caller's memory format (channels-last convs are 3-5x faster on CPU)
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _padded(x: torch.Tensor, up: int, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Zero insertion (up - 1 zeros after every sample), then pad (positive) or crop (negative)."""
    n, c, h, w = x.shape
    x0, x1, y0, y1 = padding
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    if x0 > 0 or x1 > 0 or y0 > 0 or y1 > 0:
        x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    if x0 < 0 or x1 < 0 or y0 < 0 or y1 < 0:
        x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
    return x


def _fir_down(x: torch.Tensor, f: torch.Tensor, down: int, gain: float,
              padding: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Valid FIR (true convolution) on an already padded input, evaluated only on the output grid
    (`padding`: zeros the 2-D conv adds on each side, (rows, columns), for a symmetric pad).

    Short taps: one depthwise conv with the full 2-D filter, striding straight onto the
    downsampled grid (on CPU ~5x faster, forward + backward, than filtering at full resolution
    and slicing). Long (StyleGAN3) taps stay separable, strided per axis.
    """
    c = x.shape[1]
    if f.ndim == 1 and f.numel() > 4:
        f = f.flip(0) * math.sqrt(gain)
        x = F.conv2d(x, f.reshape(1, 1, -1, 1).expand(c, 1, f.numel(), 1), groups=c, stride=(down, 1))
        return F.conv2d(x, f.reshape(1, 1, 1, -1).expand(c, 1, 1, f.numel()), groups=c, stride=(1, down))
    f2 = torch.outer(f.flip(0), f.flip(0)) * gain if f.ndim == 1 else f.flip([0, 1]) * gain
    return F.conv2d(x, f2.reshape(1, 1, *f2.shape).expand(c, 1, *f2.shape), groups=c, stride=down,
                    padding=padding)


def _crop_or_pad(x: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """x[start : start + length] along dim, with zeros where that range leaves x."""
    size = x.shape[dim]
    before, after = max(-start, 0), max(start + length - size, 0)
    x = x.narrow(dim, max(start, 0), min(start + length, size) - max(start, 0))
    if before or after:
        pad = [0, 0] * (x.ndim - 1 - dim) + [before, after]
        x = F.pad(x, pad)
    return x


def _upfir_polyphase(x: torch.Tensor, f: torch.Tensor, up: int, padding: tuple[int, int, int, int],
                     gain: float) -> torch.Tensor:
    """Zero insertion + pad + FIR as a strided depthwise transposed convolution (polyphase).

    The transposed conv gives the full convolution of the zero-inserted signal without ever
    multiplying the inserted zeros (1/up^2 of the work); output sample i of the padded
    valid convolution is full-convolution sample i + K - 1 - pad_before along each axis.
    """
    n, c, h, w = x.shape
    x0, x1, y0, y1 = padding
    if f.ndim == 1:
        fy = fx = f * math.sqrt(gain)
    else:
        fy = fx = None
    out_h = h * up + y0 + y1 - (f.shape[0]) + 1
    out_w = w * up + x0 + x1 - (f.shape[-1]) + 1
    if fy is not None:
        k = fy.numel()
        x = F.conv_transpose2d(x, fy.reshape(1, 1, k, 1).expand(c, 1, k, 1), stride=(up, 1), groups=c)
        x = _crop_or_pad(x, 2, k - 1 - y0, out_h)
        x = F.conv_transpose2d(x, fx.reshape(1, 1, 1, k).expand(c, 1, 1, k), stride=(1, up), groups=c)
        return _crop_or_pad(x, 3, k - 1 - x0, out_w)
    kh, kw = f.shape
    x = F.conv_transpose2d(x, (f * gain).reshape(1, 1, kh, kw).expand(c, 1, kh, kw), stride=up, groups=c)
    return _crop_or_pad(_crop_or_pad(x, 2, kh - 1 - y0, out_h), 3, kw - 1 - x0, out_w)


_SYMMETRIC_4TAPS: dict = {}   # (data_ptr, version) of a filter -> its doubled taps, or None


def _symmetric_4taps(f: torch.Tensor) -> list[float] | None:
    """The taps * 2 of a symmetric 4-tap 1-D filter (else None), kept per filter tensor version."""
    if f.ndim != 1 or f.shape[0] != 4:
        return None
    key = None if torch.is_inference(f) else (f.data_ptr(), f._version, f.device, f.dtype)
    if key is not None and key in _SYMMETRIC_4TAPS:
        return _SYMMETRIC_4TAPS[key]
    taps = [float(v) for v in (f.detach() * 2.0).tolist()]
    g = taps if taps == taps[::-1] else None
    if key is not None:
        if len(_SYMMETRIC_4TAPS) > 64:
            _SYMMETRIC_4TAPS.clear()
        _SYMMETRIC_4TAPS[key] = g
    return g


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling with a 2-D resample filter (the StyleGAN2 skip path)."""
    fw = f.shape[-1]
    g = _symmetric_4taps(f) if x.shape[1] <= 4 else None
    if g is not None:
        return _upsample2x_4taps(x, g)
    p0, p1 = (fw + 1) // 2, (fw - 2) // 2
    return upfirdn2d(x, f, up=2, padding=(p0, p1, p0, p1), gain=4.0)


def _upsample2x_4taps(x: torch.Tensor, g: list[float]) -> torch.Tensor:
    """upsample2d for a symmetric 4-tap filter [a, b, b, a], as two polyphase sums per axis.

    With taps g = 2 f (the gain of 4 split over the axes; `g` as floats) and zeros outside the map, the zero
    insertion + filter gives out[2i] = g0 x[i-1] + g2 x[i] and out[2i+1] = g1 x[i] + g3 x[i+1]:
    for the few channels of the RGB skip path these slices and sums cost a fraction of the
    depthwise transposed convolutions (one small op per block instead of two convs).
    """
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    for dim in (2, 3):
        n = x.shape[dim]
        xp = F.pad(x, [0, 0] * (3 - dim) + [1, 1])
        prev, here, nxt = xp.narrow(dim, 0, n), xp.narrow(dim, 1, n), xp.narrow(dim, 2, n)
        shape = list(x.shape)
        shape[dim] = 2 * n
        if torch.is_grad_enabled() and x.requires_grad:
            x = torch.stack([prev * g[0] + here * g[2], here * g[1] + nxt * g[3]], dim=dim + 1).reshape(shape)
            continue
        out = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)
        phases = out.unflatten(dim, (n, 2))       # write both phases straight into the interleaved map
        even, odd = phases.select(dim + 1, 0), phases.select(dim + 1, 1)
        torch.mul(prev, g[0], out=even).add_(here, alpha=g[2])
        torch.mul(here, g[1], out=odd).add_(nxt, alpha=g[3])
        x = out
    return x


def fully_connected(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    lr_multiplier: float, lrelu: bool, prescaled: bool = False) -> torch.Tensor:
    """Equalised-learning-rate linear layer: x @ (W * lr/sqrt(in))^T + b * lr, optional lrelu*sqrt2.

    x: [N, in]; weight: [out, in]; bias: [out]. prescaled: weight and bias already carry those
    factors and x's dtype (`fully_connected_params`).
    """
    if prescaled:
        w, b = weight, bias
    else:
        w, b = fully_connected_params(weight, bias, lr_multiplier, x.dtype)
    if not lrelu:
        return F.linear(x, w, b)
    return bias_act(F.linear(x, w), b, lrelu=True, gain=LRELU_GAIN)


def fully_connected_params(weight: torch.Tensor, bias: torch.Tensor | None, lr_multiplier: float,
                           dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weight and bias an equalised-learning-rate layer multiplies by."""
    w = weight.to(dtype) * (lr_multiplier / math.sqrt(weight.shape[1]))
    return w, (None if bias is None else bias.to(dtype) * lr_multiplier)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *,
                     demodulate: bool, padding: int, up: int = 1,
                     resample_filter: torch.Tensor | None = None, fused: bool = True,
                     weight_sq: torch.Tensor | None = None, conv_weight: torch.Tensor | None = None,
                     defer_demodulation: bool = False):
    """StyleGAN2 modulated convolution.

    x: [N, I, H, W]; weight: [O, I, k, k] (raw stored weight); styles: [N, I].
    up == 1: correlate with zero padding `padding`.
    up == 2: transposed conv (stride 2, the true convolution of the zero-inserted input)
    followed by the resample filter with pad 1 and gain 4, giving exactly 2H x 2W.
    fused=True runs one grouped convolution with per-sample weights (fast for inference);
    fused=False scales the activations instead and shares one weight over the batch, which
    trains much faster (grouped-conv backward is slow); the two agree to ~1e-6.
    weight_sq / conv_weight (unfused form, inference): the precomputed sum of squared weights per
    [O, I] and the weight already in the activations' dtype, so a render does not recompute them.
    defer_demodulation (unfused form): return (y, dcoefs [N, O] or None) with the demodulation not
    yet applied (it is per channel, so it commutes with the blur), for a caller that folds it into
    its own pass over y (`modulated_epilogue`).
    """
    n, in_ch, h, w_ = x.shape
    out_ch, _, kh, kw = weight.shape
    dcoefs = None
    if demodulate and not fused:
        # sum_{i,k} (W[o,i,k] s[i])^2 = sum_i s[i]^2 sum_k W[o,i,k]^2: no [N, O, I, k, k] tensor
        wsq = weight_sq if weight_sq is not None else weight.square().sum(dim=[2, 3])
        dcoefs = (styles.square() @ wsq.t() + DEMOD_EPS).rsqrt()  # [N, O]
    if fused:
        wt = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)  # [N, O, I, k, k]
        if demodulate:
            wt = wt * (wt.square().sum(dim=[2, 3, 4], keepdim=True) + DEMOD_EPS).rsqrt()
        wt = wt.to(x.dtype)
        # the weight in the activations' layout: a channels-last conv reorders an NCHW weight per call
        fmt = (torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
               else torch.contiguous_format)
        xg = x.reshape(1, n * in_ch, h, w_)
        if up == 1:
            wt = wt.reshape(n * out_ch, in_ch, kh, kw).contiguous(memory_format=fmt)
            y = F.conv2d(xg, wt, padding=padding, groups=n)
        else:
            # conv_transpose2d wants [in, out/groups, k, k] per group.
            wt = wt.transpose(1, 2).reshape(n * in_ch, out_ch, kh, kw).contiguous(memory_format=fmt)
            y = F.conv_transpose2d(xg, wt, stride=2, groups=n)
        y = y.reshape(n, out_ch, *y.shape[2:])
    else:
        xs = x * styles.to(x.dtype).reshape(n, in_ch, 1, 1)
        wc = conv_weight if conv_weight is not None and conv_weight.dtype == x.dtype else weight.to(x.dtype)
        if up == 1:
            y = F.conv2d(xs, wc, padding=padding)
        else:
            y = F.conv_transpose2d(xs, wc.transpose(0, 1), stride=2)
        if dcoefs is not None and not defer_demodulation:
            d = dcoefs.to(y.dtype).reshape(n, out_ch, 1, 1)
            y = y.mul_(d) if not torch.is_grad_enabled() else y * d   # y: the conv's own output
    if not defer_demodulation:
        dcoefs = None
    if up == 1:
        return (y, dcoefs) if defer_demodulation else y
    if up != 2:
        raise ValueError(f"unsupported up factor {up}")
    # Padding of the blur after the transposed conv (1 on each side for k=3 and 4 taps).
    fw = resample_filter.shape[-1]
    p0 = (fw + up - 1) // 2 + padding - (kw - 1)
    p1 = (fw - up) // 2 + padding - (kw - up)
    y = upfirdn2d(y, resample_filter, padding=(p0, p1, p0, p1), gain=float(up * up))
    return (y, dcoefs) if defer_demodulation else y


def modulated_epilogue(y: torch.Tensor, dcoefs: torch.Tensor | None, offset: torch.Tensor, gain: float,
                       slope: float = LRELU_SLOPE, clamp: float | None = None) -> torch.Tensor:
    """A modulated layer's epilogue at inference, overwriting y (the conv's fresh output):
    leaky_relu(y * dcoefs + noise * strength + bias) * gain, clamped, as two passes over the map:
    y * (dcoefs * gain) + offset (offset = (noise * strength + bias) * gain, `epilogue_offset`),
    then the leaky ReLU in place (lrelu(a) * g = lrelu(a * g) for g > 0). The autograd path's five
    passes give the same picture to float rounding (~1e-6)."""
    n, c = y.shape[:2]
    if dcoefs is not None:
        torch.addcmul(offset, y, (dcoefs * gain).to(y.dtype).reshape(n, c, 1, 1), out=y)
    else:
        torch.add(offset, y, alpha=gain, out=y)
    F.leaky_relu_(y, slope)
    if clamp is not None and clamp >= 0:
        y.clamp_(-clamp, clamp)
    return y


def epilogue_offset(bias: torch.Tensor, noise: torch.Tensor | None, strength: torch.Tensor | None,
                    gain: float, dtype: torch.dtype) -> torch.Tensor:
    """(noise * strength + bias) * gain as one [1 or N, C, H, W] map (or [1, C, 1, 1] without noise)."""
    b = (bias.to(dtype) * gain).reshape(1, -1, 1, 1)
    if noise is None:
        return b
    return torch.addcmul(b, noise.to(dtype), (strength.to(dtype) * gain))
