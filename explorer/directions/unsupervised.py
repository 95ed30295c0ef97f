"""Directions without labels: GANSpace (PCA of sampled w) and SeFa (closed-form factorisation).

GANSpace (Härkönen et al., 2020): the principal axes of the sampled W distribution are the
directions along which faces vary most; each is moved in units of its own std (sqrt of its
eigenvalue). SeFa (Shen & Zhou, 2021): the style affines A of the chosen layers turn w into
modulation styles, so the unit vectors n maximising ||A n||^2 - the top eigenvectors of A^T A -
change those layers' styles the most; they need no sampling at all (sampling only sets `scale`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..latents import label_vector, resolve_layers
from .direction import Direction

DEFAULT_SAMPLES = 10000
SCALE_SAMPLES = 2000        # samples for a SeFa direction's scale
MAP_BATCH = 1024


def sample_w(gen, n: int, seed: int = 0, batch: int = MAP_BATCH) -> np.ndarray:
    """n latents w [n, w_dim] (psi 1) from a seeded Gaussian z."""
    z = np.random.RandomState(int(seed)).randn(int(n), gen.info.z_dim).astype(np.float32)
    c = None
    if gen.info.c_dim:
        c = torch.from_numpy(label_vector(0, gen.info.c_dim))[None]
    out = []
    with torch.inference_mode():
        for i in range(0, len(z), batch):
            zb = torch.from_numpy(z[i:i + batch])
            ws = gen.map(zb, None if c is None else c.expand(len(zb), -1))
            out.append(ws[:, 0].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, gen.info.w_dim), np.float32)


def _fix_sign(vectors: np.ndarray) -> np.ndarray:
    """Eigenvectors have no sign; make each one's largest-magnitude entry positive (reproducible)."""
    idx = np.abs(vectors).argmax(axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), idx])
    signs[signs == 0] = 1
    return vectors * signs[:, None]


def pca_from_samples(w: np.ndarray, k: int = 10, model: str | None = None, layers=None,
                     prefix: str = "PC") -> list[Direction]:
    """Principal axes of w [N, w_dim], ranked by explained variance."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or len(w) < 2:
        raise ValueError(f"PCA needs w [N >= 2, w_dim], got shape {w.shape}")
    centred = w - w.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s ** 2 / (len(w) - 1)
    total = float(var.sum()) or 1.0
    k = int(min(k, len(var)))
    vt = _fix_sign(vt[:k])
    out = []
    for i in range(k):
        out.append(Direction(vector=vt[i].astype(np.float32), name=f"{prefix}{i + 1}", layers=layers,
                             model=model, method="pca", scale=float(np.sqrt(max(var[i], 1e-12))),
                             quality={"rank": i + 1, "explained_variance": float(var[i]),
                                      "explained_variance_ratio": float(var[i] / total),
                                      "n_samples": int(len(w))}))
    return out


def pca_directions(gen, n_samples: int = DEFAULT_SAMPLES, k: int = 10, seed: int = 0,
                   layers=None) -> list[Direction]:
    """GANSpace: the top-k principal axes of n_samples sampled w (scale = sqrt(eigenvalue))."""
    return pca_from_samples(sample_w(gen, n_samples, seed), k, model=gen.fingerprint, layers=layers)


def style_affines(gen) -> list[tuple[str, int, torch.Tensor]]:
    """(module name, ws index it reads, affine weight [C_in, w_dim]) for every modulated layer.

    StyleGAN2: synthesis.b{r}.conv0 / conv1 / torgb in the order the network consumes ws.
    StyleGAN3: synthesis.L* (ws[0] drives the Fourier input's transform, not a style: skipped).
    """
    syn = gen.synthesis
    out = []
    if gen.info.arch == "stylegan2":
        w_idx = 0
        for block in syn.blocks():
            name = f"synthesis.b{block.resolution}"
            if block.in_channels != 0:
                out.append((f"{name}.conv0", w_idx, block.conv0.affine.weight))
                out.append((f"{name}.conv1", w_idx + 1, block.conv1.affine.weight))
            else:
                out.append((f"{name}.conv1", w_idx, block.conv1.affine.weight))
            if block.num_torgb:
                out.append((f"{name}.torgb", w_idx + block.num_conv, block.torgb.affine.weight))
            w_idx += block.num_conv
    elif gen.info.arch == "stylegan3":
        for i, lname in enumerate(syn.layer_names):
            out.append((f"synthesis.{lname}", 1 + i, getattr(syn, lname).affine.weight))
    else:
        raise ValueError(f"SeFa does not know the layers of a {gen.info.arch} generator")
    return out


def sefa_directions(gen, k: int = 10, layers=None, n_samples: int = SCALE_SAMPLES,
                    seed: int = 0) -> list[Direction]:
    """SeFa: top-k eigenvectors of A^T A, A = the (row-normalised) style affines of `layers`.

    layers: None (all), a group name or (start, stop); the directions are tagged with it, since
    they are meant to move exactly the layers whose styles they were derived from. Rows are
    normalised to unit length as in the authors' code, so wide layers do not drown narrow ones.
    """
    info = gen.info
    r = resolve_layers(layers, info.num_ws, info.groups)
    chosen = [(n, i, wt) for n, i, wt in style_affines(gen) if i in r]
    if not chosen:
        raise ValueError(f"no modulated layers read ws {r.start}-{r.stop - 1}")
    a = torch.cat([wt.detach().float().cpu() for _, _, wt in chosen]).double().numpy()  # [sum C, w_dim]
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    evals, evecs = np.linalg.eigh(a.T @ a)            # ascending
    order = np.argsort(evals)[::-1]
    k = int(min(k, len(order)))
    evals, vecs = evals[order], _fix_sign(evecs[:, order].T[:k])
    total = float(evals.sum()) or 1.0
    w = sample_w(gen, n_samples, seed) if n_samples else None
    out = []
    for i in range(k):
        scale = float(np.std(w @ vecs[i])) if w is not None and len(w) > 1 else 1.0
        out.append(Direction(vector=vecs[i].astype(np.float32), name=f"SeFa {i + 1}", layers=layers,
                             model=gen.fingerprint, method="sefa", scale=scale if scale > 0 else 1.0,
                             quality={"rank": i + 1, "eigenvalue": float(evals[i]),
                                      "eigenvalue_ratio": float(evals[i] / total),
                                      "modules": [n for n, _, _ in chosen], "n_samples": int(n_samples)}))
    return out
