"""Judge-free figures of a generator: sharpness, style mixing by group, stochastic variation.

No classifier is involved, so these work for any StyleGAN2 model:

* sharpness: mean squared Laplacian of the luma (edge energy), generated over real;
* style mixing: copy group G of face A into face B. A mix "follows A in structure" when its edge
  layout (the strongest 15% of edge pixels) overlaps A's more than B's, and "follows A in
  colour" when its colour histogram (4 bins per channel) is nearer A's than B's. Coarse should
  carry structure and keep colours; fine should carry colours and keep structure;
* stochastic variation: mean absolute pixel change when the noise inputs are redrawn;
* noise fidelity (neural-renderer models only): a detail group's redrawn map against the render's
  change for the same map.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..generators import to_uint8
from ..latents import z_from_seeds

EDGE_SHARE = 0.15
HIST_BINS = 4


def _luma(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def laplacian_energy(images: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian of the luma of uint8 images [N, H, W, 3] (sharpness)."""
    y = _luma(images)
    lap = 4 * y[:, 1:-1, 1:-1] - y[:, :-2, 1:-1] - y[:, 2:, 1:-1] - y[:, 1:-1, :-2] - y[:, 1:-1, 2:]
    return float(np.mean(lap ** 2))


def edge_masks(images: np.ndarray, share: float = EDGE_SHARE) -> np.ndarray:
    """bool [N, H-2, W-2]: each image's strongest `share` of gradient-magnitude pixels."""
    y = _luma(images)
    gx = y[:, 1:-1, 2:] - y[:, 1:-1, :-2]
    gy = y[:, 2:, 1:-1] - y[:, :-2, 1:-1]
    mag = np.hypot(gx, gy).reshape(len(y), -1)
    cut = np.quantile(mag, 1.0 - share, axis=1, keepdims=True)
    return ((mag >= cut) & (mag > 1.0)).reshape(len(y), y.shape[1] - 2, y.shape[2] - 2)  # flat: no edges


def colour_hists(images: np.ndarray, bins: int = HIST_BINS) -> np.ndarray:
    """[N, bins^3] normalised RGB histograms."""
    q = (np.asarray(images, dtype=np.int64) * bins) // 256
    idx = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    out = np.stack([np.bincount(i.ravel(), minlength=bins ** 3) for i in idx]).astype(np.float64)
    return out / out.sum(axis=1, keepdims=True)


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dice overlap of edge masks, per image."""
    inter = (a & b).reshape(len(a), -1).sum(1)
    return 2.0 * inter / np.maximum(a.reshape(len(a), -1).sum(1) + b.reshape(len(b), -1).sum(1), 1)


def follows(mix: np.ndarray, src: np.ndarray, dst: np.ndarray) -> dict[str, float]:
    """Shares of mixes whose structure / colours are nearer the source than the destination."""
    em, es, ed = edge_masks(mix), edge_masks(src), edge_masks(dst)
    hm, hs, hd = colour_hists(mix), colour_hists(src), colour_hists(dst)
    structure = _overlap(em, es) > _overlap(em, ed)
    colour = np.abs(hm - hs).sum(1) < np.abs(hm - hd).sum(1)
    return {"structure": float(structure.mean()), "colour": float(colour.mean())}


@torch.no_grad()
def render(gen, ws: torch.Tensor, batch: int = 32, noise_seeds: Sequence[int] | None = None, **kw) -> np.ndarray:
    """uint8 images of ws in batches; noise_seeds: one per image (with noise_mode='random')."""
    out = []
    for i in range(0, len(ws), batch):
        if noise_seeds is not None:
            kw["noise_seed"] = list(noise_seeds[i:i + batch])
        out.append(to_uint8(gen.synthesize(ws[i:i + batch], **kw)))
    return np.concatenate(out)


@torch.no_grad()
def mixing_shares(gen, seeds_a: Sequence[int], seeds_b: Sequence[int], psi: float = 1.0,
                  batch: int = 32) -> dict[str, dict[str, float]]:
    """Per layer group: shares of A->B mixes that follow A in structure and in colour."""
    wa = gen.map(z_from_seeds(seeds_a, gen.info.z_dim).to(gen.device), psi=psi)
    wb = gen.map(z_from_seeds(seeds_b, gen.info.z_dim).to(gen.device), psi=psi)
    img_a, img_b = render(gen, wa, batch), render(gen, wb, batch)
    out = {}
    for group, rng in gen.info.groups.items():
        if not len(rng):
            continue
        wm = wb.clone()
        wm[:, rng.start:rng.stop] = wa[:, rng.start:rng.stop]
        out[group] = follows(render(gen, wm, batch), img_a, img_b)
    return out


@torch.no_grad()
def noise_change(gen, seeds: Sequence[int], psi: float = 1.0, layers: tuple[int, int] | None = None,
                 batch: int = 32) -> float:
    """Mean absolute pixel change (0..255) between two draws of the noise (or of one group's)."""
    if not gen.noise_inputs():
        return 0.0
    ws = gen.map(z_from_seeds(seeds, gen.info.z_dim).to(gen.device), psi=psi)
    n = len(seeds)
    a = render(gen, ws, batch, [1_000 + i for i in range(n)], noise_mode="random", noise_layers=layers)
    b = render(gen, ws, batch, [2_000 + i for i in range(n)], noise_mode="random", noise_layers=layers)
    return float(np.abs(a.astype(np.float32) - b).mean())


def renderer_portraits(gen, z: np.ndarray, maps: list[torch.Tensor]) -> np.ndarray:
    """The procedural renderer's portraits (float32, 0..255, NHWC) of a neural-renderer model's z,
    its stochastic detail drawn from the noise maps `maps` (the model's layout, one per noise input)."""
    from . import faces_v2 as V
    from .z_layout import layout_of

    lay, res = layout_of(gen), gen.info.resolution
    return np.stack([V.render_params_v2(lay.params_from_z(z[k]), V.detail_noise([m[k, 0].numpy() for m in maps], res),
                                        res) for k in range(len(z))]).astype(np.float32)


def noise_fidelity(gen, seeds: Sequence[int], seed: int = 0) -> dict[str, dict[str, float]]:
    """For a neural-renderer model (one with z semantics): redraw the one map the renderer reads for
    each detail group (faces_v2.DETAIL_RES: coarse 8 px, medium 32 px, fine full size) and compare
    the model's change with the render's, pixel by pixel (the same faces, noise and redrawn map for
    both): the mean absolute change of each (0..255), their correlation (cosine of the two changes)
    and the mean absolute difference of the two (what explorer/training/noise_supervision.py trains)."""
    from . import faces_v2 as V
    from .z_layout import layout_of

    lay, res = layout_of(gen), gen.info.resolution
    seeds = list(seeds)
    n = len(seeds)
    z = np.stack([lay.z_of_seed(s) for s in seeds])
    noise = gen.make_noise(n, seeds)
    sizes = [m.shape[-1] for m in noise]
    rng = torch.Generator().manual_seed(seed)

    base_r = renderer_portraits(gen, z, noise)
    out = {}
    with torch.inference_mode():
        ws = gen.map(torch.from_numpy(z), None)
        base_g = gen.synthesize(ws, noise=noise).permute(0, 2, 3, 1).numpy() * 127.5
        for group, r in V.DETAIL_RES.items():
            r = res if r is None else min(r, res)
            if r not in sizes:
                continue
            redrawn = list(noise)
            i = sizes.index(r)
            redrawn[i] = torch.randn(noise[i].shape, generator=rng)
            d_r = renderer_portraits(gen, z, redrawn) - base_r
            d_g = gen.synthesize(ws, noise=redrawn).permute(0, 2, 3, 1).numpy() * 127.5 - base_g
            corr = float((d_r * d_g).sum() / (np.linalg.norm(d_r) * np.linalg.norm(d_g) + 1e-12))
            out[group] = {"render": float(np.abs(d_r).mean()), "model": float(np.abs(d_g).mean()),
                          "correlation": corr, "error": float(np.abs(d_g - d_r).mean())}
    return out
