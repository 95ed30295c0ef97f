"""A lean CPU inference path for the StyleGAN2 synthesis network ("the plan").

At batch 1 on a CPU a render of the default model spent about a third of its time outside the
arithmetic: module calls, the per-call checks of the general forward, small tensor ops (a model
with 2 channels per layer took 8 ms against the real one's 19-22). The plan does the same maths
as the modules' inference forward, from tensors prepared once per parameter version:

- every style of one ws row from one matrix product (the layers that read a row, concatenated);
- demodulation with the activation gain folded in (rsqrt(s^2 W2 / g^2 + eps / g^2) = g d);
- a conv layer as x * s, the conv (or transposed conv and blur) on a weight already in the
  activations' channels-last layout, then y * gd + (bias + noise * strength) g and the leaky ReLU
  in place. Always this "unfused" form: with the styles and demodulation folded into the weight
  (`fused_at_batch1`, which the render services calibrate for the modules' path) a layer took
  0.92-1.49x the time in the plan (1.0 or more below 32 px), and a size rule (fold where the
  weight is at most the map's size, or half or a quarter of it) 0.97-1.0x the time of a face;
- toRGB as a matrix product on the channels-last map, straight into the NCHW picture (a 1x1 conv
  with 3 outputs through oneDNN cost 0.13-0.3 ms a block, the product 0.05-0.24).

It runs only where the modules would take their inference path anyway: CPU, float32, no autograd,
no autocast, not training, a 'skip' or 'orig' network, parameters that keep a version (not made
under inference mode), and no hooks on its modules except those marked `between_layers` (the render
services' shutdown check), which it calls before every block and layer as the modules would.
Results agree with the modules' path to float rounding (tests/test_sg2_plan.py, 2e-5).
"""
from __future__ import annotations

import copy
import threading

import torch
import torch.nn.functional as F
from torch.nn.modules import module as _module

from .ops import DEMOD_EPS, LRELU_GAIN, LRELU_SLOPE, _symmetric_4taps, upsample2d

_CL = torch.channels_last
_BUILD_LOCK = threading.Lock()


def _covered(synthesis) -> bool:
    """A network of the kind the plan draws ('skip' or 'orig'), not switched off for it."""
    return synthesis.architecture in ("skip", "orig") and not getattr(synthesis, "disable_plan", False)


def plan_serves(model, device, dtype) -> bool:
    """Whether a generator's inference renders on `device` in `dtype` go through the plan (its
    StyleGAN2 synthesis network of a kind the plan covers, on a CPU, in float32)."""
    from .stylegan2 import SynthesisNetworkSG2

    synthesis = getattr(model, "synthesis", None)
    return (isinstance(synthesis, SynthesisNetworkSG2) and torch.device(device).type == "cpu"
            and dtype in (None, torch.float32) and _covered(synthesis))


def plan_applies(synthesis, ws: torch.Tensor) -> bool:
    """Whether `synthesis` (a SynthesisNetworkSG2) can render `ws` through the plan now."""
    return (not synthesis.training and not torch.is_grad_enabled() and ws.device.type == "cpu"
            and ws.dtype == torch.float32 and not torch.is_autocast_enabled("cpu") and _covered(synthesis))


def between_layers(hook):
    """Mark a forward pre-hook as a check the plan may call between layers (it must not read or
    change the module's inputs: the plan calls it with no arguments)."""
    hook.between_layers = True
    return hook


def synthesis_plan(synthesis) -> "SynthesisPlan | None":
    """The synthesis network's plan for its current parameters (built on first use and after any
    parameter changes), or None where the plan cannot stand in for the modules."""
    if _module._global_forward_hooks or _module._global_forward_pre_hooks:
        return None
    plan = synthesis.__dict__.get("_plan")
    if plan is None or not plan.current(synthesis):
        tensors = list(synthesis.parameters()) + list(synthesis.buffers())
        if any(t.is_inference() or t.dtype != torch.float32 or t.device.type != "cpu" for t in tensors):
            return None
        with _BUILD_LOCK:
            plan = synthesis.__dict__.get("_plan")
            if plan is None or not plan.current(synthesis):
                with torch.no_grad():
                    plan = SynthesisPlan(synthesis)
                synthesis.__dict__["_plan"] = plan
    if not plan.supported:
        return None
    checks = {}
    for name, m in plan.modules:
        if m._forward_hooks or m._forward_hooks_with_kwargs:
            return None
        if m._forward_pre_hooks:
            hooks = list(m._forward_pre_hooks.values())
            if name.count(".") > 1 or any(not getattr(h, "between_layers", False) for h in hooks):
                return None     # (the plan passes blocks and layers, not their affines)
            checks[name] = (m, hooks)
    return plan if not checks else plan.with_checks(checks)


class _Conv:
    """One modulated 3x3 conv layer, prepared."""

    def __init__(self, name: str, layer, filt: torch.Tensor):
        self.name = name
        self.up = layer.up
        w = layer.weight.detach().float()
        out_ch, in_ch = w.shape[:2]
        self.out_ch = out_ch
        g2 = LRELU_GAIN * LRELU_GAIN
        self.wsq = (w.square().sum(dim=[2, 3]).t() / g2).contiguous()        # [I, O]
        self.eps = torch.full([out_ch], DEMOD_EPS / g2)
        if self.up == 1:
            self.weight = w.contiguous(memory_format=_CL)                      # [O, I, k, k]
        else:
            self.weight = w.transpose(0, 1).contiguous(memory_format=_CL)      # [I, O, k, k]
            f2 = torch.outer(filt.flip(0), filt.flip(0)) * 4.0
            self.blur = f2.reshape(1, 1, *f2.shape).repeat(out_ch, 1, 1, 1).contiguous(memory_format=_CL)
        self.padding = layer.padding
        self.clamp = layer.conv_clamp       # (the modules clamp at conv_clamp * the block gain, 1 here)
        bias = layer.bias.detach().float() * LRELU_GAIN
        self.bias = bias.reshape(1, -1, 1, 1)
        self.use_noise = layer.use_noise
        self.strength = (layer.noise_strength.detach().float() * LRELU_GAIN) if layer.use_noise else None
        self.const = None
        if layer.use_noise:
            self.const_noise = layer.noise_const
            self.const = torch.addcmul(self.bias, layer.noise_const.float(), self.strength).contiguous(memory_format=_CL)

    def offset(self, noise):
        if noise is None or not self.use_noise:
            return self.bias
        if noise is self.const_noise:
            return self.const
        return torch.addcmul(self.bias, noise.float(), self.strength)

    def __call__(self, x: torch.Tensor, s: torch.Tensor, noise) -> torch.Tensor:
        n = x.shape[0]
        d = torch.addmm(self.eps, s.square(), self.wsq).rsqrt_()                # [N, O]: gain * demod
        offset = self.offset(noise)
        xs = x.mul_(s.reshape(n, -1, 1, 1))          # x is spent after this layer (toRGB has read it)
        if self.up == 1:
            y = F.conv2d(xs, self.weight, padding=self.padding)
        else:
            y = F.conv2d(F.conv_transpose2d(xs, self.weight, stride=2), self.blur, padding=1, groups=self.out_ch)
        torch.addcmul(offset, y, d.reshape(n, -1, 1, 1), out=y)
        F.leaky_relu_(y, LRELU_SLOPE)
        if self.clamp is not None and self.clamp >= 0:
            y.clamp_(-self.clamp, self.clamp)
        return y


class _ToRGB:
    """A toRGB layer (modulated 1x1 conv, no demodulation) as a matrix product over pixels."""

    def __init__(self, name: str, layer):
        self.name = name
        self.weight = layer.weight.detach().float()[:, :, 0, 0].contiguous()  # [3, C]
        self.bias = layer.bias.detach().float().reshape(-1, 1).contiguous()    # [3, 1]
        self.clamp = layer.conv_clamp

    def __call__(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] (NCHW) from the channels-last map x: (W s) [3, C] @ pixels^T [C, H W] per face."""
        n, c, h, w = x.shape
        pix = x.permute(0, 2, 3, 1).reshape(n, h * w, c)      # a view of the channels-last map
        wt = self.weight * s.unsqueeze(1)                     # [N, 3, C]
        if n == 1:
            y = torch.addmm(self.bias, wt[0], pix[0].t())
        else:
            y = torch.baddbmm(self.bias, wt, pix.transpose(1, 2))
        y = y.reshape(n, -1, h, w)
        if self.clamp is not None and self.clamp >= 0:
            y.clamp_(-self.clamp, self.clamp)
        return y


def _upsample_matrices(n: int, g: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(U [2n, n], U^T) with U @ img @ U^T = upsample2d(img) for a symmetric 4-tap filter with
    doubled taps g (`ops._upsample2x_4taps`: out[2i] = g0 x[i-1] + g2 x[i], out[2i+1] = g1 x[i] +
    g3 x[i+1], zeros outside): the RGB skip path's upsampling as two small matrix products instead
    of a dozen slicing ops."""
    u = torch.zeros(2 * n, n)
    for i in range(n):
        if i > 0:
            u[2 * i, i - 1] = g[0]
        u[2 * i, i] = g[2]
        u[2 * i + 1, i] = g[1]
        if i + 1 < n:
            u[2 * i + 1, i + 1] = g[3]
    return u, u.t().contiguous()


class SynthesisPlan:
    def __init__(self, synthesis):
        self.modules = list(synthesis.named_modules())
        self.module_params = [tuple(m._parameters.values()) for _, m in self.modules]
        self.module_buffers = [tuple(m._buffers.values()) for _, m in self.modules]
        self.tensors = [t for ts in self.module_params + self.module_buffers for t in ts if t is not None]
        self.key = self._key()
        self.checks: dict = {}
        self.architecture = synthesis.architecture
        self.filter = synthesis.blocks()[0].resample_filter.detach().float()
        self.taps = _symmetric_4taps(self.filter)
        # the upsampling layers' blur pads by 1: a 4-tap filter after a 3x3 transposed conv
        self.supported = self.filter.numel() == 4 and all(
            m.weight.shape[-2:] == (3, 3) for m in synthesis.noise_layers())
        self.upsample = {}
        rows: dict[int, list] = {}          # ws index -> [(affine, gain)]
        self.blocks = []
        w_idx = 0
        for block in synthesis.blocks():
            name = f"b{block.resolution}"
            steps = []
            if block.in_channels == 0:
                self.const = block.const.detach().float().unsqueeze(0)
                layers = [("conv1", block.conv1, w_idx)]
            else:
                layers = [("conv0", block.conv0, w_idx), ("conv1", block.conv1, w_idx + 1)]
            for lname, layer, k in layers:
                rows.setdefault(k, []).append((layer.affine, 1.0))
                steps.append((f"{name}.{lname}", _Conv(f"{name}.{lname}", layer, self.filter), k,
                              len(rows[k]) - 1))
            rgb = None
            if block.num_torgb:
                k = w_idx + block.num_conv
                rows.setdefault(k, []).append((block.torgb.affine, block.torgb.weight_gain))
                rgb = (_ToRGB(f"{name}.torgb", block.torgb), k, len(rows[k]) - 1)
            self.blocks.append((name, block.resolution, steps, rgb))
            if self.taps is not None and block.in_channels != 0:
                self.upsample[block.resolution // 2] = _upsample_matrices(block.resolution // 2, self.taps)
            w_idx += block.num_conv
        # one matrix per ws row: the affines of every layer that reads it, scaled as they run
        self.rows = {}
        for k, affines in rows.items():
            ws_, bs_, sizes = [], [], []
            for affine, gain in affines:
                scale = affine.lr_multiplier / affine.weight.shape[1] ** 0.5
                ws_.append(affine.weight.detach().float() * (scale * gain))
                bs_.append(affine.bias.detach().float() * (affine.lr_multiplier * gain))
                sizes.append(affine.weight.shape[0])
            self.rows[k] = (torch.cat(ws_).t().contiguous(), torch.cat(bs_), sizes)

    def _key(self):
        return [(t.data_ptr(), t._version) for t in self.tensors]

    def current(self, synthesis) -> bool:
        """Whether the plan still matches: the same module tree holding the same parameter and
        buffer tensors, at the same versions."""
        if self.modules[0][1] is not synthesis:
            return False
        for (_, m), params, buffers in zip(self.modules, self.module_params, self.module_buffers):
            if (len(m._parameters) != len(params) or len(m._buffers) != len(buffers)
                    or any(a is not b for a, b in zip(m._parameters.values(), params))
                    or any(a is not b for a, b in zip(m._buffers.values(), buffers))):
                return False
        return self._key() == self.key

    def with_checks(self, checks: dict) -> "SynthesisPlan":
        """A shallow copy that calls these between-layers hooks (the shared plan stays without)."""
        other = copy.copy(self)
        other.checks = checks
        return other

    def _styles(self, ws: torch.Tensor) -> dict[int, list[torch.Tensor]]:
        out = {}
        for k, (w, b, sizes) in self.rows.items():
            s = torch.addmm(b, ws[:, k], w)
            out[k] = s.split(sizes, dim=1) if len(sizes) > 1 else (s,)
        return out

    def _check(self, name: str) -> None:
        entry = self.checks.get(name)
        if entry is not None:
            for hook in entry[1]:
                hook(entry[0], ())

    def __call__(self, ws: torch.Tensor, noises, stop_at: int | None = None) -> torch.Tensor:
        styles = self._styles(ws)
        n = ws.shape[0]
        x = img = None
        n_idx = 0
        for name, res, steps, rgb in self.blocks:
            self._check(name)
            if x is None:
                x = self.const.expand(n, -1, -1, -1).clone(memory_format=_CL)   # a fresh map: scaled in place
            for lname, conv, k, j in steps:
                self._check(lname)
                x = conv(x, styles[k][j], noises[n_idx] if n_idx < len(noises) else None)
                n_idx += 1
            if img is not None:
                up = self.upsample.get(img.shape[-1])
                img = torch.matmul(torch.matmul(up[0], img), up[1]) if up else upsample2d(img, self.filter)
            if rgb is not None:
                layer, k, j = rgb
                self._check(layer.name)
                y = layer(x, styles[k][j])
                img = y if img is None else img.add_(y)
            if stop_at is not None and res >= stop_at and self.architecture == "skip":
                break
        return img
