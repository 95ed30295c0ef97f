"""Renderer v2: procedural portraits whose every parameter is read from its own slot of z.

The default model v2 is trained as a *neural renderer* of these portraits: G(z) learns to draw
render_v2(z). That only works if any z ~ N(0, I) is a valid portrait and a slot always means the
same thing, so here (unlike v1's `sample_params`) parameters are independent:

* slot i of z drives exactly one parameter: a continuous one through the normal CDF onto its
  range (or scaled directly, for pose), a category by bins of the CDF, a flag by a threshold;
* each slot belongs to one of StyleGAN's layer groups, as the paper describes them: coarse =
  pose, face shape, hair style, glasses; medium = facial features, expression, facial hair, age;
  fine = the colour scheme (skin, hair, eyes, lips, background, clothing, light).
  Mixing supervision follows: ws whose coarse / medium / fine parts come from z_a / z_b / z_c
  are trained against the render of the z that takes each group's slots from its source;
* stochastic detail (hair waves and strands, skin mottling, freckles, stubble, fabric weave,
  background grain) is drawn from the very per-pixel noise maps G receives for the same sample
  (`noise_maps`: identical to `Generator.make_noise(1, [seed])`), one map per layer group, so
  resampling a group's noise changes only that group's detail.

Public API
    Z_DIM, SLOTS, slot_indices(group), params_from_z(z) -> FaceParams
    noise_maps(seed, resolutions) -> list of float32 [r, r];  noise_resolutions(resolution)
    render_v2(z, noise, resolution) -> uint8 [R, R, 3];  render_seed_v2(seed, resolution)
    encode_labels_v2(params), LABEL_NAMES_V2
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from ..layers import GROUP_NAMES
from . import face_parts as fp
from .faces import (ATTRIBUTES, BG_COLORS, CLOTHING_COLORS, CLOTHING_STYLES, EYE_COLORS, FACIAL_HAIR, GLASSES,
                    HAIR_COLORS, HAIR_STYLES, LABEL_NAMES, SUPERSAMPLE, Attribute, FaceParams, encode_labels)

RENDERER_VERSION = 2
GROUPS = GROUP_NAMES


@dataclass(frozen=True)
class Slot:
    """One entry of z. kind: 'uniform' (CDF onto [low, high]), 'normal' (clip(scale * z, low,
    high)), 'category' (bins of the CDF with `weights`), 'flag' (CDF < p)."""
    name: str
    group: str
    kind: str = "uniform"
    low: float = 0.0
    high: float = 1.0
    scale: float = 1.0
    classes: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    p: float = 0.5


def _cat(name, group, classes, weights):
    assert len(classes) == len(weights)
    return Slot(name, group, "category", classes=tuple(classes), weights=tuple(float(w) for w in weights))


SLOTS: tuple[Slot, ...] = (
    # coarse: pose, face and head shape, hair style, glasses shape, build
    Slot("yaw", "coarse", "normal", -1.0, 1.0, scale=0.5),
    Slot("tilt", "coarse", "normal", -1.0, 1.0, scale=0.4),
    Slot("face_width", "coarse"),
    Slot("face_length", "coarse"),
    Slot("jaw", "coarse"),
    Slot("presentation", "coarse"),
    _cat("hair_style", "coarse", HAIR_STYLES, (0.1, 0.24, 0.22, 0.14, 0.1, 0.12, 0.08)),
    Slot("hair_volume", "coarse"),
    Slot("hair_length", "coarse"),
    Slot("hair_fringe", "coarse"),
    Slot("hair_part", "coarse", low=-1.0, high=1.0),
    Slot("bald_sides", "coarse", "flag", p=0.45),
    Slot("curl_seed", "coarse"),
    Slot("ear_size", "coarse"),
    _cat("glasses", "coarse", GLASSES, (0.58, 0.28, 0.14)),
    Slot("frame_style", "coarse"),
    Slot("shoulder_width", "coarse"),
    _cat("clothing_style", "coarse", CLOTHING_STYLES, (1.2, 1.0, 1.0, 0.8)),
    # medium: facial features, expression, facial hair, makeup, age
    Slot("eye_size", "medium"),
    Slot("eye_spacing", "medium"),
    Slot("eye_tilt", "medium", low=-1.0, high=1.0),
    Slot("brow_thickness", "medium"),
    Slot("brow_arch", "medium"),
    Slot("nose_size", "medium"),
    Slot("mouth_width", "medium"),
    Slot("smile", "medium"),
    _cat("facial_hair", "medium", FACIAL_HAIR, (0.46, 0.14, 0.12, 0.12, 0.16)),
    Slot("beard_volume", "medium"),
    Slot("makeup", "medium", "flag", p=0.3),
    Slot("age", "medium"),
    # fine: the colour scheme and lighting
    Slot("skin_tone", "fine"),
    _cat("hair_color", "fine", HAIR_COLORS, (0.25, 0.25, 0.17, 0.1, 0.12, 0.11)),
    Slot("hair_shade", "fine"),
    Slot("greying", "fine"),
    _cat("eye_color", "fine", EYE_COLORS, (0.4, 0.2, 0.14, 0.14, 0.12)),
    Slot("eye_shade", "fine"),
    Slot("lip_shade", "fine"),
    Slot("blush", "fine"),
    Slot("freckles", "fine"),
    Slot("light", "fine", low=-1.0, high=1.0),
    _cat("bg_color", "fine", BG_COLORS, (1, 1, 1, 1, 1, 1, 0.7)),
    Slot("bg_lightness", "fine"),
    Slot("bg_hue_jitter", "fine"),
    Slot("bg_angle", "fine", "normal", -1.5, 1.5, scale=0.5),
    _cat("clothing_color", "fine", CLOTHING_COLORS, (1,) * len(CLOTHING_COLORS)),
    Slot("clothing_shade", "fine"),
    Slot("frame_color", "fine"),
)
Z_DIM = len(SLOTS)
SLOT_INDEX = {s.name: i for i, s in enumerate(SLOTS)}


def slot_indices(group: str) -> np.ndarray:
    """Indices of z that belong to a layer group ('coarse' | 'medium' | 'fine')."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, not {group!r}")
    return np.array([i for i, s in enumerate(SLOTS) if s.group == group], dtype=np.int64)


def _cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def slot_value(slot: Slot, x: float):
    """The parameter value slot `slot` takes for z entry x."""
    if slot.kind == "normal":
        return min(max(slot.scale * x, slot.low), slot.high)
    u = _cdf(x)
    if slot.kind == "uniform":
        return slot.low + (slot.high - slot.low) * u
    if slot.kind == "flag":
        return u < slot.p
    r = u * sum(slot.weights)
    for c, w in zip(slot.classes, slot.weights):
        r -= w
        if r < 0.0:
            return c
    return slot.classes[-1]


def params_from_z(z: Sequence[float]) -> FaceParams:
    """The portrait z stands for. z: [Z_DIM] (extra entries are ignored)."""
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    if z.size < Z_DIM:
        raise ValueError(f"z needs {Z_DIM} entries, got {z.size}")
    v = {s.name: slot_value(s, float(z[i])) for i, s in enumerate(SLOTS)}
    v["blush"] = max(0.0, v["blush"] * 1.6 - 0.8)          # most faces have none
    v["freckles"] = max(0.0, v["freckles"] * 2.0 - 1.0)    # half the faces have none
    v["greying"] = max(0.0, v["greying"] * 1.5 - 0.75)     # a third show some grey
    return FaceParams(**v)


# ------------------------------------------------------------------------------ noise maps

def noise_resolutions(resolution: int) -> list[int]:
    """Resolutions of a StyleGAN2 generator's noise inputs, in its order (4, 8, 8, 16, 16 ...)."""
    out, r = [4], 8
    while r <= resolution:
        out += [r, r]
        r *= 2
    return out


def noise_maps(seed: int, resolutions: Sequence[int]) -> list[np.ndarray]:
    """The per-layer noise a generator gets for `seed` in 'random' mode: the same numbers as
    `Generator.make_noise(1, [seed])` (one torch CPU generator, one randn per input, in order)."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    return [torch.randn(1, 1, r, r, generator=gen)[0, 0].numpy() for r in resolutions]


# Which noise input drives which detail: the first input at the group's resolution.
DETAIL_RES = {"coarse": 8, "medium": 32, "fine": None}   # None: the image's own resolution


def detail_noise(maps: Sequence[np.ndarray], resolution: int) -> dict[str, np.ndarray]:
    """The three noise maps of the detail (coarse, medium, fine) from a generator's noise list."""
    res = [m.shape[-1] for m in maps]
    out = {}
    for group, r in DETAIL_RES.items():
        r = resolution if r is None else min(r, resolution)   # a small (test) model: its finest
        out[group] = np.asarray(maps[res.index(r)], dtype=np.float32)
    return out


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    if a.shape[0] == size:
        return a
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))


def _streaks(n: np.ndarray, axis: int) -> np.ndarray:
    """Noise smeared along one axis (hair strands run down, fabric weave across)."""
    k = (1.0, 2.0, 3.0, 2.0, 1.0)
    out = np.zeros_like(n)
    for w, s in zip(k, range(-2, 3)):
        out += w * np.roll(n, s, axis=axis)
    return out / 4.36  # unit variance: sqrt(sum k^2) = 4.36


def region_cover(labels: Image.Image, resolution: int) -> np.ndarray:
    """[NUM_REGIONS, R, R] share of each output pixel covered by each region."""
    lab = np.asarray(labels)
    f = lab.shape[0] // resolution
    out = np.empty((fp.NUM_REGIONS, resolution, resolution), dtype=np.float32)
    for r in range(fp.NUM_REGIONS):
        out[r] = (lab == r).reshape(resolution, f, resolution, f).mean(axis=(1, 3))
    return out


def add_detail(img: np.ndarray, cover: np.ndarray, noise: dict[str, np.ndarray], p: FaceParams,
               g) -> np.ndarray:
    """Stochastic texture on a float image [R, R, 3] (0..255), a pure function of the noise."""
    res = img.shape[0]
    nc = np.clip(_resize(noise["coarse"], res), -2.5, 2.5)
    nm = np.clip(_resize(noise["medium"], res), -2.5, 2.5)
    nf = _resize(noise["fine"], res)
    hair, skin, cloth, bg, beard = (cover[fp.REGION_HAIR], cover[fp.REGION_SKIN], cover[fp.REGION_CLOTH],
                                    cover[fp.REGION_BG], cover[fp.REGION_BEARD])
    if p.facial_hair == "beard":
        hair = hair + beard
    gain = 1.0 + hair * (0.10 * nc + 0.05 * np.clip(_streaks(nf, 0), -2.5, 2.5))   # waves, strands
    gain += skin * 0.035 * nm                                                     # skin mottling
    gain += cloth * 0.045 * np.clip(_streaks(nf, 1), -2.5, 2.5)                    # fabric weave
    gain += bg * 0.018 * np.clip(nf, -2.5, 2.5)                                   # paper grain
    out = img * gain[..., None]
    if p.freckles > 0:  # on the cheeks and nose: the fine map's peaks
        rows = (np.arange(res, dtype=np.float32) + 0.5) / res
        top, bot = g.cy + g.k * (g.eye_y + 0.02), g.cy + g.k * (g.mouth_y - 0.02)
        band = ((rows > top) & (rows < bot)).astype(np.float32)[:, None]
        spots = skin * band * (nf > 2.3 - 1.2 * p.freckles)
        out *= 1.0 - (spots * (0.2 + 0.15 * p.freckles))[..., None] * np.array([0.8, 1.0, 1.1], np.float32)
    if p.facial_hair == "stubble":
        dots = beard * (nf > 0.7)
        out = out * (1.0 - 0.45 * dots[..., None]) + (0.45 * dots)[..., None] * np.asarray(g.beard, np.float32)
    return out


# -------------------------------------------------------------------------------- rendering

def render_params_v2(p: FaceParams, noise: dict[str, np.ndarray], resolution: int = 128) -> np.ndarray:
    """Draw a portrait (at 4x, Lanczos down), shade it, then put the noise-driven detail on."""
    size = SUPERSAMPLE * int(resolution)
    g = fp.derive(p)
    img = fp.background(g, p, size)
    pt = fp.Painter(img, g, labels=True)
    for region, part in ((fp.REGION_HAIR, fp.back_hair), (fp.REGION_CLOTH, fp.body), (fp.REGION_SKIN, fp.ears),
                         (fp.REGION_SKIN, fp.head), (fp.REGION_FEATURE, fp.nose), (fp.REGION_FEATURE, fp.eyes),
                         (fp.REGION_FEATURE, fp.brows)):
        pt.region = region
        part(pt, g, p)
    pt.region = fp.REGION_BEARD
    fp.facial_hair(pt, g, p, "under")
    pt.region = fp.REGION_FEATURE
    fp.mouth(pt, g, p)
    pt.region = fp.REGION_HAIR
    fp.facial_hair(pt, g, p, "over")
    fp.front_hair(pt, g, p)
    pt.region = fp.REGION_FEATURE
    fp.glasses(pt, g, p)
    small = np.asarray(img.resize((int(resolution), int(resolution)), Image.LANCZOS), dtype=np.float32)
    shaded = fp.lighting(small, pt.mask, p.light).astype(np.float32)
    detailed = add_detail(shaded, region_cover(pt.labels, int(resolution)), noise, p, g)
    return np.clip(detailed + 0.5, 0, 255).astype(np.uint8)


def render_v2(z: Sequence[float], noise: Sequence[np.ndarray], resolution: int = 128) -> np.ndarray:
    """uint8 [R, R, 3]: the portrait of z with the detail of a generator's noise list."""
    return render_params_v2(params_from_z(z), detail_noise(noise, resolution), resolution)


def z_of_seed(seed: int) -> np.ndarray:
    """A seed's z exactly as the app draws it (explorer.latents.z_from_seed)."""
    return np.random.RandomState(int(seed) % (2 ** 32)).randn(1, Z_DIM).astype(np.float32)[0]


# Labels: v1's layout plus the parameters v2 adds (continuous, appended).
EXTRA_ATTRIBUTES = (
    Attribute("presentation", "continuous", doc="0 feminine .. 1 masculine: jaw, brows, lashes, lips, shoulders"),
    Attribute("greying", "continuous", doc="salt and pepper in the hair"),
    Attribute("freckles", "continuous", doc="freckle density"),
)
EXTRA_LABELS = tuple(a.name for a in EXTRA_ATTRIBUTES)
ATTRIBUTES_V2 = tuple(ATTRIBUTES) + EXTRA_ATTRIBUTES
LABEL_NAMES_V2 = tuple(LABEL_NAMES) + EXTRA_LABELS


def encode_labels_v2(p: FaceParams) -> np.ndarray:
    return np.concatenate([encode_labels(p), np.array([p.presentation, p.greying, p.freckles], np.float32)])


def render_seed_v2(seed: int, resolution: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(image, labels) of dataset item `seed`: z from the seed, noise from the same seed."""
    p = params_from_z(z_of_seed(seed))
    noise = detail_noise(noise_maps(seed, noise_resolutions(resolution)), resolution)
    return render_params_v2(p, noise, resolution), encode_labels_v2(p)
