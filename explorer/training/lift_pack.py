"""Carry a renderer-2 training pack over to renderer 3's z layout, exactly, without training.

Renderer 3 (z_layout) draws the same pictures from the same parameters; only the way z names a
categorical parameter's class changed (one slot per class instead of one slot's bins). Renderer
3's mapping network turns each category's class slots into a near one-hot of the winning class
(softmax at a low temperature, `MappingNetwork` class_groups) before its first layer. So the first
layer can give a class exactly what renderer 2's gave the class's bin centre: the column of the
old categorical slot times the bin centre, one column per class. With everything else copied
(the other slots' columns rescaled for the layer's 1/sqrt(inputs) gain), the lifted model maps a
renderer-3 z to the w renderer 2's model gives the same portrait with its categories at their
bin centres (up to the softmax's blend where two classes nearly tie), and draws what it drew.

Training then continues on renderer-2 data with lifted z (`train-renderer --renderer-version 3
--warm-start PACK`).
"""
from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import faces_v2 as V
from .z_layout import LAYOUT_V3


def v2_z_of(z3: torch.Tensor) -> torch.Tensor:
    """Renderer 2's z [N, 47] for renderer-3 z [N, 84] (categories at their bin centres; torch,
    batched: the same as LAYOUT_V3.to_v2 row by row)."""
    lay = LAYOUT_V3
    out = torch.empty(len(z3), V.Z_DIM, dtype=z3.dtype, device=z3.device)
    out[:, torch.from_numpy(lay.plain_v2).to(z3.device)] = z3[:, torch.from_numpy(lay.plain).to(z3.device)]
    for k, idx, b, centres in lay.categories.values():
        scores = z3[:, torch.from_numpy(idx).to(z3.device)] + torch.from_numpy(b).to(z3)
        out[:, k] = torch.from_numpy(centres).to(z3)[scores.argmax(1)]
    return out


def _first_layer(w2: torch.Tensor) -> torch.Tensor:
    """fc0's stored weight for renderer 3's inputs from renderer 2's: the same effective weights
    (the layer's gain is 1/sqrt(inputs)); a class's column is its category's column times the
    class's bin centre (its input is ~1 when it wins, ~0 otherwise)."""
    lay = LAYOUT_V3
    gain = math.sqrt(lay.z_dim / V.Z_DIM)
    w3 = torch.zeros(w2.shape[0], lay.z_dim, dtype=w2.dtype)
    w3[:, torch.from_numpy(lay.plain)] = w2[:, torch.from_numpy(lay.plain_v2)] * gain
    for k, idx, _, centres in lay.categories.values():
        w3[:, torch.from_numpy(idx)] = w2[:, k:k + 1] * torch.from_numpy(centres).to(w2) * gain
    return w3


def lift_pack(src: str | Path, dst: str | Path, check: int = 8192, seed: int = 0,
              log: Callable[[str], None] = print) -> dict:
    """Write a renderer-3 training pack at `dst` from renderer-2 pack `src`. Returns figures on
    `check` random renderer-3 z: the w error (RMS of lifted - renderer 2's w over the RMS spread
    of w; all z and the 90% whose classes do not nearly tie) and the share within 1% of the spread."""
    from .neural_renderer import networks_only, pack_config

    cfg2 = pack_config(src)
    if cfg2.renderer_version != 2:
        raise ValueError(f"{src}: a renderer-{cfg2.renderer_version} pack (lift-pack takes renderer-2 packs)")
    cfg3 = dataclasses.replace(cfg2, renderer_version=3)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        t2, t3 = networks_only(cfg2, scratch), networks_only(cfg3, scratch)
        t2.load_pack(src)
        for name in ("G", "G_ema"):
            sd2 = getattr(t2, name).state_dict()
            getattr(t3, name).load_state_dict({k: (_first_layer(v) if k == "mapping.fc0.weight" else v.clone())
                                               for k, v in sd2.items()})
        t3.nimg, t3.step, t3.seconds = t2.nimg, t2.step, t2.seconds
        with torch.no_grad():
            z3 = torch.randn(check, LAYOUT_V3.z_dim, generator=torch.Generator().manual_seed(seed))
            w2 = t2.G_ema.mapping(v2_z_of(z3))[:, 0]
            w3 = t3.G_ema.mapping(z3)[:, 0]
            t3.G_ema.mapping.w_avg.copy_(w3.mean(0))     # truncation's centre: the lifted mapping's mean w
            t3.G.mapping.w_avg.copy_(t3.G_ema.mapping.w_avg)
        t3.save_pack(dst)
    spread = float((w2 - w2.mean(0)).square().mean().sqrt())
    err = (w3 - w2).square().mean(1).sqrt() / spread
    gaps = LAYOUT_V3.class_gaps(z3.numpy())
    clear = gaps > np.quantile(gaps, 0.1)
    figures = {"w_error": float(err.square().mean().sqrt()),
               "w_error_clear": float(err[torch.from_numpy(clear)].square().mean().sqrt()),
               "within_1pct": float((err < 0.01).float().mean()), "seconds": time.perf_counter() - t0}
    log(f"lift-pack: wrote {dst} ({t3.nimg / 1000:.1f} kimg); w error vs renderer 2's w {figures['w_error']:.4f} "
        f"of w's spread ({figures['w_error_clear']:.4f} without the 10% nearest class ties; "
        f"{100 * figures['within_1pct']:.0f}% of z within 1%)")
    return figures


__all__ = ["lift_pack", "v2_z_of"]
