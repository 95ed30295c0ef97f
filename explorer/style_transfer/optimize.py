"""The optimisation: an image whose features keep the content and whose Gram matrices take the style.

loss = content_weight * |F_c(x) - F_c(content)|^2 / |F_c(content)|^2
     + style_weight * mean_l |G_l(x) - G_l(style)|^2 / |G_l(style)|^2
     + tv_weight * TV(x)

Each term is normalised by its target so the weights read the same for every image size and for
both feature networks. The image is optimised from the content picture (or from `init`, e.g. the
previous frame's result of a clip, for temporal stability) with L-BFGS or Adam, in chunks between
which progress, a live preview and cancellation are handled. With `keep_colours` only luminance is
transferred (Gatys et al. 2016, "Preserving color in neural artistic style transfer"): both images go
in as grey, the style's luminance matched to the content's mean and spread, and the result's
luminance is put back with the content's chroma.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .features import FeatureNet, feature_extractor, gram, total_variation
from .style_image import image_for_style

OPTIMIZERS = ("lbfgs", "adam")
MAX_WORK_SIDE = 1024
COARSE_MIN_SIDE = 64      # a coarse stage runs when the work size is at least twice this
COARSE_SHARE = 0.6        # share of the steps spent at half size
MIN_WORK_SIDE = 16

# RGB <-> YIQ (luminance + two chroma channels)
_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_FROM_YIQ = torch.linalg.inv(_TO_YIQ)


@dataclass
class StyleResult:
    image: np.ndarray                       # uint8, the content's shape
    iterations: int                         # optimiser steps (L-BFGS: function evaluations) done
    seconds: float
    features: str                           # 'random' or 'vgg19'
    cancelled: bool = False
    history: list[dict] = field(default_factory=list)   # {iteration, style, content, seconds}


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(img[..., :3], copy=True)).permute(2, 0, 1)[None].float() / 255.0


def _resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    if x.shape[-2:] == (h, w):
        return x
    return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False,
                         antialias=bool(h < x.shape[-2] or w < x.shape[-1])).clamp(0, 1)


def _yiq(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _TO_YIQ, x)


def _rgb(yiq: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _FROM_YIQ, yiq)


def _grey3(x: torch.Tensor) -> torch.Tensor:
    return _yiq(x)[:, :1].repeat(1, 3, 1, 1)


def work_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """The optimisation's size: the picture scaled so that its longer side is `size` (a small
    picture is enlarged: a 64 px face stylised at 256 px gets strokes finer than its pixels)."""
    side = max(MIN_WORK_SIDE, min(int(size), MAX_WORK_SIDE))
    scale = side / max(h, w)
    return max(MIN_WORK_SIDE, round(h * scale)), max(MIN_WORK_SIDE, round(w * scale))


def stylize(content: np.ndarray, style: np.ndarray, *, features: str | FeatureNet = "random",
            content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 0.1,
            iterations: int = 100, size: int = 256, style_scale: float = 1.0, keep_colours: bool = False,
            optimizer: str = "lbfgs", init: np.ndarray | None = None,
            progress: Callable[[float], None] | None = None,
            preview: Callable[[np.ndarray], None] | None = None, preview_every: int = 10,
            cancelled: Callable[[], bool] | None = None, threads: int | None = None) -> StyleResult:
    """Style transfer of `content` (uint8 [H, W, C]) with the style of `style` (uint8 [h, w, 3]).

    Returns the stylised picture at the content's size (optimised at `work_shape(H, W, size)`, i.e.
    with the longer side at `size`, and resized back). `init` (same shape as content) starts the optimisation from another picture.
    A cancelled run returns what it has so far with `cancelled=True`.
    """
    content = np.asarray(content)
    if content.dtype != np.uint8 or content.ndim != 3 or content.shape[2] not in (1, 3, 4):
        raise ValueError(f"content must be a uint8 [H, W, 1|3|4] image, got {content.dtype} {content.shape}")
    style = image_for_style(style)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    iterations = max(0, int(iterations))
    net = feature_extractor(features) if isinstance(features, str) else features
    t0 = time.perf_counter()
    H, W, C = content.shape
    rgb_content = np.repeat(content, 3, axis=2) if C == 1 else content[..., :3]
    h, w = work_shape(H, W, size)

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        with torch.inference_mode(False), torch.enable_grad():
            c_full = _to_tensor(rgb_content)
            c = _resize(c_full, h, w)
            s = _to_tensor(style)
            side = max(MIN_WORK_SIDE, round(min(h, w) * float(style_scale)))
            sh, sw_ = s.shape[-2:]
            k = side / min(sh, sw_)
            s = _resize(s, max(MIN_WORK_SIDE, round(sh * k)), max(MIN_WORK_SIDE, round(sw_ * k)))
            if keep_colours:
                c_opt, s = _grey3(c), _grey3(s)
                ys, yc = s[:, :1], c_opt[:, :1]
                s = ((ys - ys.mean()) / (ys.std() + 1e-6) * yc.std() + yc.mean()).clamp(0, 1).repeat(1, 3, 1, 1)
            else:
                c_opt = c
            start = c_opt if init is None else _resize(_to_tensor(_match_channels(init, 3)), h, w)
            if keep_colours and init is not None:
                start = _grey3(start)
            history: list[dict] = []
            done, stopped = 0, False
            chunk = max(1, int(preview_every))
            # coarse to fine: most steps at half size (4x cheaper, and large strokes form there), the
            # rest at full size; a warm start (init) is close already and runs at full size only
            stages = [(1.0, iterations)]
            if init is None and min(h, w) >= 2 * COARSE_MIN_SIDE and iterations >= 20:
                first = int(round(iterations * COARSE_SHARE))
                stages = [(0.5, first), (1.0, iterations - first)]
            x = start
            for scale, steps in stages:
                hs, ws_ = max(MIN_WORK_SIDE, round(h * scale)), max(MIN_WORK_SIDE, round(w * scale))
                target_c = _resize(c_opt, hs, ws_)
                target_s = _resize(s, max(MIN_WORK_SIDE, round(s.shape[-2] * scale)),
                                   max(MIN_WORK_SIDE, round(s.shape[-1] * scale)))
                x = _resize(x.detach(), hs, ws_).contiguous().requires_grad_(True)
                loss_fn = _Loss(net, target_c, target_s, content_weight, style_weight, tv_weight, cancelled)
                if not history:
                    history.append(loss_fn.record(x, 0, t0))
                opt = (torch.optim.Adam([x], lr=0.02) if optimizer == "adam" else
                       torch.optim.LBFGS([x], lr=1.0, max_iter=chunk, max_eval=chunk, history_size=20,
                                         line_search_fn="strong_wolfe", tolerance_grad=1e-9,
                                         tolerance_change=1e-12))
                stage_done = 0
                while stage_done < steps:
                    if cancelled is not None and cancelled():
                        stopped = True
                        break
                    n = min(chunk, steps - stage_done)
                    before = loss_fn.evals
                    try:
                        if optimizer == "adam":
                            for _ in range(n):
                                opt.step(lambda: loss_fn.closure(opt, x))
                        else:
                            opt.param_groups[0]["max_iter"] = n
                            opt.param_groups[0]["max_eval"] = n
                            opt.step(lambda: loss_fn.closure(opt, x))
                    except _Stop:
                        stopped = True
                        break
                    with torch.no_grad():
                        x.clamp_(0, 1)
                    used = loss_fn.evals - before
                    stage_done = steps if used == 0 else stage_done + (used if optimizer == "lbfgs" else n)
                    done = min(iterations, done + (used or n))
                    history.append(loss_fn.record(x, done, t0))
                    if progress is not None:
                        progress(min(1.0, done / max(1, iterations)))
                    if preview is not None:
                        preview(_finish(x.detach(), c_full, keep_colours, H, W, C))
                if stopped:
                    break
            if history and history[-1]["iteration"] != done:
                history.append(loss_fn.record(x, done, t0))
            out = _finish(x.detach(), c_full, keep_colours, H, W, C)
    finally:
        if threads:
            torch.set_num_threads(old_threads)
    return StyleResult(image=out, iterations=min(done, iterations), seconds=time.perf_counter() - t0,
                       features=getattr(net, "name", "custom"), cancelled=stopped, history=history)


class _Stop(Exception):
    """Cancelled in the middle of an optimiser step."""


class _Loss:
    """The normalised loss against one pair of targets (content and style at one size)."""

    def __init__(self, net, content, style, content_weight, style_weight, tv_weight, cancelled=None):
        self.net, self.cw, self.sw, self.tv = net, content_weight, style_weight, tv_weight
        self.cancelled = cancelled
        self.evals = 0
        with torch.no_grad():
            self.grams = {k: gram(v) for k, v in net(style, net.style_layers).items()}
            self.norms = {k: g.pow(2).sum().clamp_min(1e-12) for k, g in self.grams.items()}
            self.content = net(content, [net.content_layer])[net.content_layer]
            self.content_norm = self.content.pow(2).sum().clamp_min(1e-12)

    def terms(self, img):
        feats = self.net(img)
        st = sum((gram(feats[k]) - self.grams[k]).pow(2).sum() / self.norms[k]
                 for k in self.net.style_layers) / len(self.net.style_layers)
        ct = (feats[self.net.content_layer] - self.content).pow(2).sum() / self.content_norm
        return st, ct

    def closure(self, opt, x):
        if self.cancelled is not None and self.cancelled():   # every evaluation: cancel is prompt
            raise _Stop()
        opt.zero_grad(set_to_none=True)
        st, ct = self.terms(x)
        loss = self.sw * st + self.cw * ct + self.tv * total_variation(x)
        loss.backward()
        self.evals += 1
        return loss

    def record(self, x, iteration: int, t0: float) -> dict:
        with torch.no_grad():
            st, ct = self.terms(x.clamp(0, 1))
        return {"iteration": int(iteration), "style": float(st), "content": float(ct),
                "seconds": time.perf_counter() - t0}


def _match_channels(img: np.ndarray, c: int) -> np.ndarray:
    img = np.asarray(img, dtype=np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1 and c == 3:
        return np.repeat(img, 3, axis=2)
    return img[..., :c]


def _finish(x: torch.Tensor, content_full: torch.Tensor, keep_colours: bool, H: int, W: int, C: int) -> np.ndarray:
    with torch.no_grad():
        out = _resize(x.clamp(0, 1), H, W)
        if keep_colours:
            yiq = _yiq(content_full)
            yiq[:, :1] = _yiq(out)[:, :1]
            out = _rgb(yiq).clamp(0, 1)
        arr = (out[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    if C == 1:
        return arr.mean(axis=2, keepdims=True).round().astype(np.uint8)
    if C == 4:
        return np.concatenate([arr, np.full((H, W, 1), 255, np.uint8)], axis=2)
    return arr
