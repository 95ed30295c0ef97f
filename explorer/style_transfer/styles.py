"""Built-in style pictures, drawn by code (nothing to download): frost, oil paint, charcoal,
mosaic and stained glass. Each is a deterministic uint8 [size, size, 3] image for a seed."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(int(seed) + 0x5EED)


def frost(size: int, seed: int = 0) -> np.ndarray:
    """Ice: frost ferns (branching crystals at 60 degrees) glowing white-cyan on deep blue."""
    rng = _rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([0.05 + 0.10 * yy, 0.16 + 0.18 * xx, 0.32 + 0.25 * (1 - yy)], axis=2)
    img = Image.fromarray((base * 255).astype(np.uint8))
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)

    def fern(x, y, angle, length, depth):
        if depth == 0 or length < 2:
            return
        x2, y2 = x + length * math.cos(angle), y + length * math.sin(angle)
        draw.line([(x, y), (x2, y2)], fill=int(120 + 135 * depth / 5), width=max(1, depth // 2))
        n = int(rng.integers(3, 6))
        for k in range(1, n + 1):
            t = k / (n + 1)
            bx, by = x + t * (x2 - x), y + t * (y2 - y)
            sub = length * (0.55 - 0.3 * t) * rng.uniform(0.7, 1.1)
            fern(bx, by, angle + math.pi / 3, sub, depth - 1)
            fern(bx, by, angle - math.pi / 3, sub, depth - 1)

    for _ in range(max(10, size // 12)):
        fern(rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0, 2 * math.pi),
             rng.uniform(0.2, 0.45) * size, 3)
    for _ in range(max(3, size // 64)):          # long hairline cracks across the ice
        x, y, a = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0, math.pi)
        pts = [(x, y)]
        for _k in range(12):
            a += rng.normal(0, 0.35)
            x, y = x + math.cos(a) * size / 14, y + math.sin(a) * size / 14
            pts.append((x, y))
        draw.line(pts, fill=200, width=1)
    glow = layer.filter(ImageFilter.GaussianBlur(size / 96))
    lines = np.asarray(layer, np.float32)[..., None] / 255.0
    halo = np.asarray(glow, np.float32)[..., None] / 255.0
    speck = (rng.random((size, size, 1)) > 0.985) * rng.uniform(0.4, 1.0, (size, size, 1))
    out = np.asarray(img, np.float32) / 255.0
    ice = np.array([0.80, 0.95, 1.0], np.float32)
    out = out + 0.9 * halo * (ice - out) + lines * (np.array([1.0, 1.0, 1.0]) - out) * 0.9 + speck * 0.6
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def oil(size: int, seed: int = 0) -> np.ndarray:
    """Oil paint: thick short strokes following a swirling flow, a warm-cool palette, impasto ridges."""
    rng = _rng(seed)
    palette = np.array([[214, 90, 42], [240, 190, 70], [42, 86, 160], [30, 130, 120], [235, 226, 200],
                        [150, 40, 60], [90, 150, 60]], np.float32)
    canvas = Image.new("RGB", (size, size), (120, 100, 80))
    draw = ImageDraw.Draw(canvas)
    fx, fy = rng.uniform(1.5, 3.5, 2) * 2 * math.pi / size
    phase = rng.uniform(0, 2 * math.pi, 2)
    strokes = int(size * size / 18)
    for _ in range(strokes):
        x, y = rng.uniform(0, size, 2)
        a = math.sin(x * fx + phase[0]) + math.cos(y * fy + phase[1]) + rng.normal(0, 0.12)
        length = rng.uniform(0.05, 0.1) * size
        width = max(2, int(rng.uniform(0.012, 0.03) * size))
        region = (math.sin(x * fx * 0.7 + phase[1]) + math.sin(y * fy * 0.9 + phase[0]) + 2) / 4
        pick = int(region * (len(palette) - 1) + rng.normal(0, 0.9)) % len(palette)
        col = palette[pick] * rng.uniform(0.8, 1.15) + rng.normal(0, 12, 3)
        dx, dy = math.cos(a) * length / 2, math.sin(a) * length / 2
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=tuple(int(v) for v in np.clip(col, 0, 255)),
                  width=width)
    arr = np.asarray(canvas, np.float32)
    lum = arr.mean(axis=2)
    relief = np.zeros_like(lum)
    relief[1:, 1:] = lum[1:, 1:] - lum[:-1, :-1]
    arr = arr + 0.6 * relief[..., None]
    return np.clip(arr, 0, 255).astype(np.uint8)


def charcoal(size: int, seed: int = 0) -> np.ndarray:
    """Charcoal: dark hatching and smudges on grainy off-white paper, no colour."""
    rng = _rng(seed)
    paper = 0.88 + 0.06 * rng.standard_normal((size, size))
    paper = np.asarray(Image.fromarray((np.clip(paper, 0, 1) * 255).astype(np.uint8))
                       .filter(ImageFilter.GaussianBlur(0.6)), np.float32) / 255.0
    ink = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(ink)
    for _ in range(int(size * 1.5)):
        x, y = rng.uniform(-0.1, 1.1, 2) * size
        a = math.radians(rng.choice([35, 40, 125, 130]) + rng.normal(0, 6))
        length = rng.uniform(0.05, 0.2) * size
        draw.line([(x, y), (x + length * math.cos(a), y + length * math.sin(a))],
                  fill=int(rng.uniform(60, 200)), width=max(1, int(rng.uniform(1, 3))))
    for _ in range(max(4, size // 32)):
        x, y, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.05, 0.15) * size
        draw.ellipse([x - r, y - r, x + r, y + r], fill=int(rng.uniform(40, 90)))
    smear = np.asarray(ink.filter(ImageFilter.GaussianBlur(size / 200)), np.float32) / 255.0
    grain = rng.random((size, size)) < 0.6 + 0.4 * smear       # charcoal skips the paper's pits
    value = paper * (1.0 - 0.85 * smear * grain)
    grey = (np.clip(value, 0, 1) * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _voronoi(size: int, spacing: float, rng: np.random.Generator, jitter: float = 0.8):
    """Voronoi cells of a jittered grid: (cell index per pixel, distance to the nearest border, points)."""
    n = max(2, int(round(size / spacing)))
    step = size / n
    gy, gx = np.mgrid[0:n, 0:n]
    pts = (np.stack([gx, gy], -1).reshape(-1, 2) + 0.5 + rng.uniform(-jitter / 2, jitter / 2, (n * n, 2))) * step
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    ci, cj = np.minimum((yy / step).astype(int), n - 1), np.minimum((xx / step).astype(int), n - 1)
    best = np.full((2, size, size), np.inf, np.float32)
    nearest = np.zeros((size, size), np.int64)
    for di in range(-2, 3):
        for dj in range(-2, 3):
            i, j = np.clip(ci + di, 0, n - 1), np.clip(cj + dj, 0, n - 1)
            idx = i * n + j
            valid = (ci + di == i) & (cj + dj == j)
            d = np.sqrt((xx - pts[idx, 0]) ** 2 + (yy - pts[idx, 1]) ** 2).astype(np.float32)
            d = np.where(valid, d, np.inf)
            closer = d < best[0]
            second = np.where(closer, best[0], np.minimum(best[1], d))
            best[0] = np.where(closer, d, best[0])
            best[1] = second
            nearest = np.where(closer, idx, nearest)
    return nearest, best[1] - best[0], pts


def mosaic(size: int, seed: int = 0) -> np.ndarray:
    """Mosaic: small irregular tiles of a Mediterranean palette set in pale grout."""
    rng = _rng(seed)
    cell, edge, pts = _voronoi(size, max(6.0, size / 22), rng, jitter=0.5)
    palette = np.array([[30, 70, 140], [200, 160, 60], [170, 60, 40], [230, 220, 200], [60, 120, 90],
                        [40, 40, 50]], np.float32)
    colours = palette[rng.integers(len(palette), size=len(pts))] * rng.uniform(0.8, 1.15, (len(pts), 1))
    img = colours[cell]
    shade = np.clip(edge / (size / 40), 0, 1)[..., None]
    img = img * (0.75 + 0.25 * shade) + rng.normal(0, 6, img.shape)
    grout = (edge < max(1.2, size / 160))[..., None]
    img = np.where(grout, np.array([205, 200, 190], np.float32), img)
    return np.clip(img, 0, 255).astype(np.uint8)


def stained_glass(size: int, seed: int = 0) -> np.ndarray:
    """Stained glass: large jewel-coloured panes lit from behind, thick black leading."""
    rng = _rng(seed)
    cell, edge, pts = _voronoi(size, max(12.0, size / 7), rng, jitter=0.9)
    palette = np.array([[180, 20, 40], [20, 60, 170], [230, 170, 20], [20, 130, 60], [120, 30, 140],
                        [30, 150, 170], [240, 110, 20]], np.float32)
    colours = palette[rng.integers(len(palette), size=len(pts))]
    img = colours[cell]
    glow = np.clip(edge / (size / 14), 0, 1)[..., None]      # brighter towards a pane's middle
    streak = 0.1 * np.sin(np.mgrid[0:size, 0:size][1] * 0.25 + rng.uniform(0, 6))[..., None]
    img = img * (0.55 + 0.6 * glow + streak)
    lead = (edge < max(2.0, size / 70))[..., None]
    img = np.where(lead, np.array([15, 12, 10], np.float32), img)
    return np.clip(img, 0, 255).astype(np.uint8)


BUILTIN_STYLES: dict[str, tuple[str, Callable[[int, int], np.ndarray]]] = {
    "frost": ("Frost / ice", frost),
    "oil": ("Oil paint", oil),
    "charcoal": ("Charcoal", charcoal),
    "mosaic": ("Mosaic", mosaic),
    "stained_glass": ("Stained glass", stained_glass),
}

_cache: dict[tuple[str, int, int], np.ndarray] = {}


def builtin_style(name: str, size: int = 256, seed: int = 0) -> np.ndarray:
    """A built-in style picture (uint8 [size, size, 3]); KeyError naming the choices if unknown."""
    if name not in BUILTIN_STYLES:
        raise KeyError(f"unknown style {name!r}; built-in styles: {', '.join(BUILTIN_STYLES)}")
    key = (name, int(size), int(seed))
    if key not in _cache:
        if len(_cache) > 16:
            _cache.clear()
        _cache[key] = BUILTIN_STYLES[name][1](int(size), int(seed))
    return _cache[key].copy()
