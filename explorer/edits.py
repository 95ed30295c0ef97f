"""Core edits: pure functions on ws arrays [num_ws, w_dim] (numpy float32).

Everything a user does to a face is one of these, or a plugin built from them. They take and
return plain arrays so they are trivially testable; the plugin layer wraps them into Latents
with recipes. `layers` is always a ws-index range (see latents.resolve_layers).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

Ws = np.ndarray  # [num_ws, w_dim] float32


def _layers(layers: range | None, num_ws: int) -> range:
    return range(num_ws) if layers is None else layers


def mix_layers(target: Ws, source: Ws, layers: range) -> Ws:
    """Style mixing (StyleGAN paper, 3.1): the source's styles on `layers`, the target's elsewhere."""
    if target.shape != source.shape:
        raise ValueError(f"cannot mix latents of shapes {target.shape} and {source.shape}")
    out = np.array(target, dtype=np.float32, copy=True)
    out[layers.start:layers.stop] = source[layers.start:layers.stop]
    return out


def truncate(ws: Ws, w_avg: np.ndarray, psi: float, layers: range | None = None) -> Ws:
    """w <- w_avg + psi (w - w_avg) on `layers`. psi = -1 is the antiface, 0 the average face."""
    out = np.array(ws, dtype=np.float32, copy=True)
    r = _layers(layers, len(ws))
    out[r.start:r.stop] = w_avg + psi * (out[r.start:r.stop] - w_avg)
    return out


def antiface(ws: Ws, w_avg: np.ndarray, layers: range | None = None) -> Ws:
    """Reflection about the mean: w' = 2 w_avg - w (on `layers`)."""
    out = np.array(ws, dtype=np.float32, copy=True)
    r = _layers(layers, len(ws))
    out[r.start:r.stop] = 2 * w_avg - out[r.start:r.stop]
    return out


def move(ws: Ws, direction: np.ndarray, amount: float, layers: range | None = None) -> Ws:
    """w + amount * d on `layers` (d a unit vector in W, [w_dim])."""
    out = np.array(ws, dtype=np.float32, copy=True)
    r = _layers(layers, len(ws))
    out[r.start:r.stop] += np.float32(amount) * np.asarray(direction, dtype=np.float32)
    return out


def exaggerate(ws: Ws, w_avg: np.ndarray, factors: dict[str, float], groups: dict[str, range]) -> Ws:
    """Move away from (factor > 1) or toward (< 1) the average face, separately per layer group."""
    out = np.array(ws, dtype=np.float32, copy=True)
    for name, f in factors.items():
        r = groups[name]
        out[r.start:r.stop] = w_avg + np.float32(f) * (out[r.start:r.stop] - w_avg)
    return out


def average(all_ws: Sequence[Ws], weights: Sequence[float] | None = None) -> Ws:
    """Weighted mean of several faces in W+ (weights normalised to sum 1)."""
    stack = np.stack([np.asarray(w, dtype=np.float32) for w in all_ws])
    if weights is None:
        return stack.mean(axis=0)
    wts = np.asarray(weights, dtype=np.float32)
    if wts.shape != (len(stack),) or wts.sum() == 0:
        raise ValueError("need one non-zero-sum weight per face")
    return np.tensordot(wts / wts.sum(), stack, axes=1).astype(np.float32)


def mutate(ws: Ws, fresh: Ws, strengths: dict[str, float], groups: dict[str, range]) -> Ws:
    """A child: pull each layer group toward a freshly sampled face by its strength in [0, 1].

    Interpolating toward a real sample (not adding raw Gaussian noise in W) keeps the child on the
    distribution the generator knows, so children stay plausible at any strength.
    """
    out = np.array(ws, dtype=np.float32, copy=True)
    for name, s in strengths.items():
        r = groups[name]
        out[r.start:r.stop] += np.float32(s) * (fresh[r.start:r.stop] - out[r.start:r.stop])
    return out


def crossbreed(a: Ws, b: Ws, rng: np.random.Generator, blend: float = 0.5) -> Ws:
    """A child of two faces: each ws entry from one parent at random (Artbreeder-style), lightly
    blended toward the other so the seams between layers stay smooth."""
    pick = rng.random(len(a)) < 0.5
    first = np.where(pick[:, None], a, b)
    second = np.where(pick[:, None], b, a)
    return (first + np.float32(blend * 0.5) * (second - first)).astype(np.float32)
