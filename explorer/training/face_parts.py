"""Drawing code for the procedural cartoon portraits of `faces.py`.

Everything is drawn with Pillow's ImageDraw (polygons and thick lines) on a canvas 4x the
output size; numpy only builds the point lists, so one portrait costs a few milliseconds.

Coordinates: shapes are built in *head space* (units of canvas size, origin at the head centre,
x right, y down) and placed by a `Painter`, which fakes 3-D head yaw cheaply:

* surface points (eyes, nose, mouth, brows) sit on a half-ellipsoid of depth D; yaw rotates
  them about the vertical axis, so features slide sideways and the far eye foreshortens;
* flat points (silhouettes: head outline, hair, ears) only shift by ``dz * sin(yaw)``, so the
  outline keeps its width and the chin, which sticks out, moves with the features.

Then tilt rolls everything around the neck. The body is drawn straight in canvas space.
Shapes that make up the figure's silhouette are also drawn into a mask, which `lighting`
uses after downsampling to shade the figure but not the background.
"""
from __future__ import annotations

import colorsys
import math
from types import SimpleNamespace

import numpy as np
from PIL import Image, ImageDraw

YAW_DEGREES = 24.0   # yaw = +-1 turns the head this much
TILT_DEGREES = 14.0  # tilt = +-1 rolls the head this much

# Region ids of the optional label canvas (renderer v2 puts stochastic texture per region).
REGION_BG, REGION_SKIN, REGION_HAIR, REGION_CLOTH, REGION_FEATURE, REGION_BEARD = range(6)
NUM_REGIONS = 6

# ---------------------------------------------------------------------------------- colours

SKIN_STOPS = np.array([
    (252, 227, 208), (244, 206, 176), (231, 180, 140), (206, 148, 106),
    (166, 110, 74), (124, 80, 54), (88, 57, 41)], dtype=np.float64)

HAIR_COLORS = {  # (darkest, lightest) of each family; the hair_shade detail picks between them
    "black": ((30, 26, 28), (58, 46, 44)),
    "brown": ((78, 48, 30), (146, 96, 58)),
    "blonde": ((206, 164, 92), (242, 216, 152)),
    "red": ((150, 56, 26), (206, 102, 50)),
    "grey": ((140, 140, 144), (236, 234, 230)),
}
DYED_COLORS = ((236, 96, 160), (70, 122, 222), (148, 92, 216), (44, 176, 152), (240, 120, 70))
EYE_COLORS = {"brown": (92, 54, 30), "blue": (64, 128, 204), "green": (72, 142, 84),
              "hazel": (146, 106, 46), "grey": (124, 140, 152)}
CLOTHING_COLORS = {"red": (204, 58, 62), "yellow": (238, 188, 56), "green": (64, 158, 98),
                   "blue": (58, 108, 204), "purple": (128, 78, 182), "white": (240, 240, 234),
                   "grey": (124, 128, 136), "black": (38, 38, 46)}
BG_HUES = {"red": 0.99, "yellow": 0.13, "green": 0.32, "cyan": 0.50, "blue": 0.60,
           "purple": 0.76, "grey": None}
FRAME_COLORS = ((28, 28, 34), (96, 56, 34), (196, 164, 88), (176, 40, 52), (42, 72, 146))
LENS_TINTS = ((24, 26, 34), (40, 30, 26), (22, 40, 58), (54, 28, 44))
LIPSTICKS = ((196, 38, 68), (170, 44, 84), (214, 86, 96), (140, 36, 52))


def clamp8(v: float) -> int:
    return 0 if v < 0 else 255 if v > 255 else int(v + 0.5)


def shade(c, k: float) -> tuple:
    """Colour scaled in brightness (k < 1 darker)."""
    return tuple(clamp8(v * k) for v in c)


def mix(a, b, t: float) -> tuple:
    return tuple(clamp8(x + (y - x) * t) for x, y in zip(a, b))


def rgba(c, alpha: float) -> tuple:
    return (*c[:3], clamp8(alpha))


def luma(c) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def skin_color(tone: float) -> tuple:
    pos = min(max(tone, 0.0), 1.0) * (len(SKIN_STOPS) - 1)
    i = min(int(pos), len(SKIN_STOPS) - 2)
    return tuple(clamp8(v) for v in SKIN_STOPS[i] + (SKIN_STOPS[i + 1] - SKIN_STOPS[i]) * (pos - i))


def hair_color(family: str, shade_t: float, age: float) -> tuple:
    if family == "dyed":
        return DYED_COLORS[int(shade_t * len(DYED_COLORS)) % len(DYED_COLORS)]
    lo, hi = HAIR_COLORS[family]
    c = mix(lo, hi, shade_t)
    if family != "grey" and age > 0.55:  # salt and pepper before going fully grey
        c = mix(c, (176, 176, 178), min(0.5, (age - 0.55) * 1.2))
    return c


def hsl(h: float, s: float, l: float) -> tuple:
    r, g, b = colorsys.hls_to_rgb(h % 1.0, l, s)
    return clamp8(r * 255), clamp8(g * 255), clamp8(b * 255)


# ---------------------------------------------------------------------------------- geometry

_CIRCLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def circle(n: int):
    c = _CIRCLES.get(n)
    if c is None:
        t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
        c = _CIRCLES[n] = (np.cos(t), np.sin(t))
    return c


_LINS: dict[int, np.ndarray] = {}


def lin(a: float, b: float, n: int) -> np.ndarray:
    """lin(a, b, n) from a cached unit ramp (numpy call overhead dominates here)."""
    r = _LINS.get(n)
    if r is None:
        r = _LINS[n] = np.linspace(0.0, 1.0, n)
    return a + (b - a) * r


def ellipse(cx, cy, rx, ry, n=24):
    c, s = circle(n)
    return cx + rx * c, cy + ry * s


def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def band(xs, ys, widths):
    """Polygon around a polyline with per-point widths (tapered strokes: brows, locks)."""
    dx = np.gradient(xs)
    dy = np.gradient(ys)
    norm = np.hypot(dx, dy) + 1e-9
    nx, ny = -dy / norm * widths * 0.5, dx / norm * widths * 0.5
    return np.concatenate([xs + nx, (xs - nx)[::-1]]), np.concatenate([ys + ny, (ys - ny)[::-1]])


def twice(v):
    """Per-point values of a polyline, repeated for both sides of its band() polygon."""
    return np.concatenate([v, v[::-1]])


class Painter:
    """Projects head-space shapes onto the supersampled canvas and draws them.

    Keeps a silhouette mask (everything but background) so lighting can shade the figure only.
    With labels=True it also keeps a region canvas (REGION_* per pixel, last opaque shape wins)
    in `self.labels`; `self.region` is the id the current part draws with.
    """

    def __init__(self, img: Image.Image, g, labels: bool = False):
        self.img = img
        self.size = img.size[0]
        self.draw = ImageDraw.Draw(img)
        self.blend = ImageDraw.Draw(img, "RGBA")
        self.mask = Image.new("L", img.size, 0)
        self.mdraw = ImageDraw.Draw(self.mask)
        self.labels = Image.new("L", img.size, REGION_BG) if labels else None
        self.ldraw = ImageDraw.Draw(self.labels) if labels else None
        self.region = REGION_FEATURE
        a = math.radians(g.yaw * YAW_DEGREES)
        t = math.radians(g.tilt * TILT_DEGREES)
        self.ca, self.sa = math.cos(a), math.sin(a)
        self.ct, self.st = math.cos(t), math.sin(t)
        self.W, self.D, self.cx, self.cy, self.py = g.W, g.D, g.cx, g.cy, g.pivot_y
        self.k = g.k
        self.inv_w = 1.0 / g.W
        ks = g.k * self.size
        self.axx, self.axy = ks * self.ct, ks * self.st
        self.ax = g.cx * self.size + ks * g.pivot_y * self.st
        self.ay = g.cy * self.size + ks * g.pivot_y * (1.0 - self.ct)

    def _place(self, x, y):
        # rotation about the pivot, head scale and canvas scale folded into one affine map
        y = np.asarray(y, dtype=np.float64)
        out = np.empty(2 * x.size)
        out[0::2] = self.ax + x * self.axx - y * self.axy
        out[1::2] = self.ay + x * self.axy + y * self.axx
        return out.tolist()

    def surface(self, x, y, dz=0.0):
        """Points on the face surface: rotated by yaw on a half-ellipsoid."""
        x = np.asarray(x, dtype=np.float64)
        z = self.D * np.sqrt(np.maximum(1.0 - (x * self.inv_w) ** 2, 0.0)) + dz
        return self._place(x * self.ca + z * self.sa, y)

    def flat(self, x, y, dz=0.0):
        """Silhouette points: shifted by their depth only, so outlines keep their width."""
        return self._place(np.asarray(x, dtype=np.float64) + np.multiply(dz, self.sa), y)

    def canvas(self, x, y):
        """Canvas-space points (fractions of the canvas), not moved by the head."""
        out = np.empty(2 * len(x))
        out[0::2] = np.asarray(x) * self.size
        out[1::2] = np.asarray(y) * self.size
        return out.tolist()

    def poly(self, pts, fill, mask=False, region=None):
        """region: label this shape with that id even if it is translucent (opaque shapes are
        labelled with self.region, translucent ones are overlays and are not)."""
        if len(fill) == 4:
            self.blend.polygon(pts, fill=fill)
        else:
            self.draw.polygon(pts, fill=fill)
        if mask:
            self.mdraw.polygon(pts, fill=255)
        if self.ldraw is not None and (region is not None or len(fill) == 3):
            self.ldraw.polygon(pts, fill=self.region if region is None else region)

    def line(self, pts, fill, width, closed=False):
        if closed:
            pts = pts + pts[:2]
        w = max(1, int(round(width * self.size)))
        d = self.blend if len(fill) == 4 else self.draw
        joint = "curve" if w > 2 else None
        d.line(pts, fill=fill, width=w, joint=joint)
        if self.ldraw is not None and len(fill) == 3:
            self.ldraw.line(pts, fill=self.region, width=w, joint=joint)

    def dot(self, pts, r, fill):
        """Round dot of radius r (canvas fraction) at each projected point."""
        rp = r * self.size
        d = self.blend if len(fill) == 4 else self.draw
        for i in range(0, len(pts), 2):
            d.ellipse((pts[i] - rp, pts[i + 1] - rp, pts[i] + rp, pts[i + 1] + rp), fill=fill)


# -------------------------------------------------------------------------------- geometry setup

def derive(p) -> SimpleNamespace:
    """All derived sizes and colours of one portrait (head-space units = canvas fractions)."""
    g = SimpleNamespace()
    g.yaw, g.tilt, g.light = p.yaw, p.tilt, p.light
    g.W = 0.168 + 0.044 * p.face_width
    g.D = 0.75 * g.W
    g.Hu = 0.245 + 0.012 * p.face_length
    g.Hl = 0.25 + 0.03 * p.face_length - 0.01 * p.face_width
    g.k = 1.12  # head scale: head space is designed at 1/k of the canvas
    g.cx = 0.5
    g.cy = 0.44
    g.pivot_y = g.Hl + 0.04
    g.eye_y = 0.03 + 0.01 * p.face_length
    g.ew = (0.165 + 0.075 * p.eye_size) * g.W
    g.eh = g.ew * (0.66 - 0.08 * p.age)
    g.eye_dx = (0.39 + 0.07 * p.eye_spacing) * g.W + 0.4 * g.ew - 0.075 * g.W
    g.brow_y = g.eye_y - g.eh - 0.026 - 0.008 * p.smile
    g.nose_y = 0.115 + 0.02 * p.face_length
    g.mouth_y = g.nose_y + 0.064 + 0.012 * p.face_length
    g.mw = (0.24 + 0.06 * p.mouth_width + 0.17 * p.smile) * g.W
    g.jaw_n = 1.9 + 2.4 * p.jaw
    g.jaw_taper = 0.04 + 0.4 * (1.0 - p.jaw)
    # presentation (renderer v2; None in v1): 0 feminine .. 1 masculine, -0.5 .. +0.5 here
    g.pres = None if p.presentation is None else float(p.presentation) - 0.5
    if g.pres is not None:
        g.jaw_n = max(1.6, g.jaw_n + 1.2 * g.pres)
        g.jaw_taper = min(0.5, max(0.0, g.jaw_taper - 0.16 * g.pres))

    g.skin = skin_color(p.skin_tone)
    dark_skin = p.skin_tone > 0.6
    g.skin_shadow = mix(shade(g.skin, 0.84), (120, 60, 90), 0.08)
    g.skin_line = mix(shade(g.skin, 0.66), (110, 40, 40), 0.12)
    if p.greying is None:
        g.hair = hair_color(p.hair_color, p.hair_shade, p.age)
    else:  # renderer v2: salt and pepper is its own (colour) parameter, not a side effect of age
        g.hair = hair_color(p.hair_color, p.hair_shade, 0.0)
        if p.hair_color != "grey" and p.greying > 0:
            g.hair = mix(g.hair, (176, 176, 178), min(0.6, float(p.greying)))
    # keep hair readable against the skin (brown hair on brown skin would merge into one blob)
    lum_h, lum_s = luma(g.hair), luma(g.skin)
    if abs(lum_h - lum_s) < 45:
        if lum_h < lum_s:
            g.hair = shade(g.hair, max(0.35, (lum_s - 45) / max(lum_h, 1.0)))
        else:
            g.hair = shade(g.hair, (lum_s + 45) / max(lum_h, 1.0))
    g.hair_back = shade(g.hair, 0.78)
    g.hair_hi = mix(g.hair, (255, 250, 236), 0.3)
    brow = shade(g.hair, 0.82) if p.hair_color != "blonde" else shade(g.hair, 0.72)
    if p.hair_color == "dyed":  # dyed hair, natural brows
        brow = (58, 42, 34) if p.skin_tone > 0.3 or p.hair_shade < 0.5 else (120, 84, 56)
    g.brow = brow
    g.beard = g.hair if p.hair_color != "dyed" else (60, 44, 36)
    g.eye = shade(EYE_COLORS[p.eye_color], 0.85 + 0.3 * p.eye_shade)
    lip_base = mix(g.skin, (176, 64, 74), 0.42 if not dark_skin else 0.22)
    g.lip = shade(lip_base, 0.9 if not dark_skin else 0.8)
    if p.makeup:
        g.lip = LIPSTICKS[int(p.lip_shade * len(LIPSTICKS)) % len(LIPSTICKS)]
    elif p.greying is not None:  # renderer v2: the lip colour is a colour parameter of its own
        g.lip = mix(g.lip, (196, 70, 84), 0.35 * p.lip_shade)
    g.clothes = shade(CLOTHING_COLORS[p.clothing_color], 0.85 + 0.3 * p.clothing_shade)
    hue = BG_HUES[p.bg_color]
    light = 0.42 + 0.4 * p.bg_lightness
    if hue is None:
        g.bg1 = hsl(0.6, 0.06, light)
        g.bg2 = hsl(0.6, 0.08, light - 0.12)
    else:
        dh = (p.bg_hue_jitter - 0.5) * 0.06
        g.bg1 = hsl(hue + dh, 0.48, light)
        g.bg2 = hsl(hue + dh + 0.05 * (1 if p.bg_angle > 0 else -1), 0.5, light - 0.14)
    return g


def head_outline(g, n=72):
    """Head outline in head space (x, y) plus per-point depth for the flat projection.

    Upper half: an ellipse (the cranium). Lower half: a superellipse whose exponent (jaw) makes
    it squarer and whose taper narrows it towards a pointed chin.
    """
    half = n // 2
    t = np.linspace(np.pi, 2.0 * np.pi, half, endpoint=False)
    ux, uy = g.W * np.cos(t), g.Hu * np.sin(t)
    t = lin(0.0, np.pi, n - half)
    c, s = np.cos(t), np.sin(t)
    e = 2.0 / g.jaw_n
    ly = g.Hl * np.abs(s) ** e
    lx = g.W * np.sign(c) * np.abs(c) ** e * (1.0 - g.jaw_taper * (ly / g.Hl) ** 2)
    x, y = np.concatenate([ux, lx]), np.concatenate([uy, ly])
    return x, y, outline_dz(g, y)


def outline_dz(g, y):
    return g.D * 0.6 * np.clip(y / g.Hl, 0.0, 1.0) ** 2


# ---------------------------------------------------------------------------------- parts

_GRADIENT = Image.linear_gradient("L")  # 256x256, value = row


def background(g, p, size: int) -> Image.Image:
    """Two-colour linear gradient at angle p.bg_angle: PIL's 8-bit ramp mapped affinely onto
    the canvas (cheaper than numpy at this size), then coloured with a per-channel LUT."""
    sa, ca = math.sin(p.bg_angle), math.cos(p.bg_angle)
    span = 255.0 / (abs(sa) + abs(ca))  # keep the ramp inside the source image on diagonals
    d, e = span * sa / size, span * ca / size
    ramp = _GRADIENT.transform((size, size), Image.AFFINE, (0, 0, 128, d, e, 127.5 - 0.5 * size * (d + e)),
                               Image.NEAREST)
    k = np.arange(256) / 255.0
    return Image.merge("RGB", [ramp.point(np.round(a + (b - a) * k).astype(np.uint8).tolist())
                               for a, b in zip(g.bg1, g.bg2)])


def body(pt: Painter, g, p):
    """Shoulders in clothing colour, neck, the neckline of the clothing style."""
    chin = pt.flat([0.0], [g.Hl], outline_dz(g, np.array([g.Hl])))
    chin_x, chin_y = chin[0] / pt.size, chin[1] / pt.size
    top = g.cy + g.k * g.Hl + 0.065
    sw = 0.35 + 0.08 * p.shoulder_width + (0.05 * g.pres if g.pres is not None else 0.0)
    c, s = circle(64)
    sel = s <= 0.05
    ex = np.abs(c[sel]) ** 0.7 * np.sign(c[sel])
    bx, by = 0.5 + sw * ex, top + 0.3 + 0.3 * np.clip(s[sel], -1.0, 1.0)
    pt.poly(pt.canvas(bx, by), g.clothes, mask=True)
    nw = g.k * g.W * (0.36 + 0.1 * p.jaw) * (1.0 + 0.1 * p.shoulder_width)
    neck_top = g.cy + g.k * g.Hl * 0.4
    neck_col = shade(g.skin, 0.93)
    style = p.clothing_style
    band_col = shade(g.clothes, 0.78) if p.clothing_color != "black" else (70, 70, 80)
    uw = nw * 1.55
    if style == "turtleneck":
        pts = [(0.5 - nw, neck_top), (0.5 - nw, top + 0.02), (0.5 + nw, top + 0.02), (0.5 + nw, neck_top)]
        pt.poly(pt.canvas(*zip(*pts)), neck_col, mask=True, region=REGION_SKIN)
        chin_shadow(pt, g, chin_x, chin_y, nw)
        y0 = chin_y + 0.045
        xs = [0.5 + f for f in (-nw * 1.15, -nw * 1.2, -uw * 1.1, uw * 1.1, nw * 1.2, nw * 1.15)]
        ys = [y0, top - 0.005, top + 0.035, top + 0.035, top - 0.005, y0]
        pt.poly(pt.canvas(xs, ys), band_col, mask=True)
        for k in (0.35, 0.65):
            yy = y0 + (top - y0) * k
            pt.line(pt.canvas([0.5 - nw * 1.1, 0.5 + nw * 1.1], [yy, yy + 0.004]),
                    shade(band_col, 0.82), 0.007)
        return
    if style == "vneck":
        vx = [0.5 - uw * 0.9, 0.5, 0.5 + uw * 0.9]
        vy = [top - 0.004, top + 0.1, top - 0.004]
    elif style == "collar":
        vx = [0.5 - uw * 0.75, 0.5, 0.5 + uw * 0.75]
        vy = [top - 0.004, top + 0.07, top - 0.004]
    else:  # crew
        tt = lin(0.0, np.pi, 9)
        vx = list(0.5 - uw * np.cos(tt))
        vy = list(top - 0.004 + 0.045 * np.sin(tt))
    xs = [0.5 - nw, 0.5 - nw * 1.05] + vx + [0.5 + nw * 1.05, 0.5 + nw]
    ys = [neck_top, top - 0.02] + vy + [top - 0.02, neck_top]
    pt.poly(pt.canvas(xs, ys), neck_col, mask=True, region=REGION_SKIN)
    chin_shadow(pt, g, chin_x, chin_y, nw)
    if style == "collar":
        white = (244, 244, 240) if p.clothing_color not in ("white",) else (200, 210, 230)
        for sd in (-1, 1):
            cx = [0.5 + sd * uw * 1.15, 0.5 + sd * 0.004, 0.5 + sd * (uw * 1.05 + 0.035)]
            cy = [top - 0.02, top + 0.075, top + 0.045]
            pt.poly(pt.canvas(cx, cy), white)
            pt.line(pt.canvas(cx, cy), shade(white, 0.75), 0.005, closed=True)
    else:
        pt.line(pt.canvas(vx, vy), band_col, 0.016)


def chin_shadow(pt, g, chin_x, chin_y, nw):
    """Shadow of the head on the neck, kept inside the neck."""
    sx, sy = ellipse(chin_x, chin_y + 0.012, nw * 1.3, 0.045, 24)
    pt.poly(pt.canvas(np.clip(sx, 0.5 - nw, 0.5 + nw), sy), g.skin_shadow)


def back_hair(pt: Painter, g, p):
    """Hair behind the head: long hair, curly volume, bun, ponytail."""
    st, W, Hu = p.hair_style, g.W, g.Hu
    col = g.hair_back
    if st == "long":
        ln = 0.3 + 0.14 * p.hair_length
        wide = W + 0.035 + 0.03 * p.hair_volume
        t = lin(np.pi, 2 * np.pi, 28)
        ax, ay = wide * np.cos(t), (Hu + 0.04 + 0.02 * p.hair_volume) * np.sin(t) - 0.01
        sx = np.array([wide + 0.02, wide + 0.03, wide * 0.55])
        sy = np.array([0.12, ln, ln + 0.02])
        x = np.concatenate([[-wide * 0.55, -wide - 0.03, -wide - 0.02], ax, sx])
        y = np.concatenate([[ln + 0.02, ln, 0.12], ay, sy])
        pt.poly(pt.flat(x, y, -0.2 * g.D), col, mask=True)
    elif st == "curly":
        rx = W + 0.06 + 0.05 * p.hair_volume
        ry = Hu + 0.05 + 0.035 * p.hair_volume
        k = 13 + int(6 * (p.hair_shade if p.curl_seed is None else p.curl_seed))
        c, s = circle(96)
        r = 1.0 + 0.05 * np.abs(np.sin(k * np.arctan2(s, c) * 0.5 + p.hair_part))
        pt.poly(pt.flat(rx * c * r, -0.04 + ry * s * r, -0.1 * g.D), col, mask=True)
    elif st == "bun":
        r = 0.048 + 0.02 * p.hair_volume
        bx = 0.06 * p.hair_part
        x, y = ellipse(bx, -Hu - r * 0.45, r, r * 0.9, 32)
        pt.poly(pt.flat(x, y), g.hair, mask=True)
        x, y = ellipse(bx - 0.3 * r, -Hu - r * 0.75, r * 0.35, r * 0.2, 16)
        pt.poly(pt.flat(x, y), rgba(g.hair_hi, 150))
    elif st == "ponytail":
        sd = 1.0 if p.hair_part >= 0 else -1.0
        tt = lin(0.0, 1.0, 16)
        px = sd * (W * 0.35 + (W * 0.65 + 0.045) * np.sin(np.minimum(tt * 2.4, np.pi / 2)) - 0.03 * tt ** 2)
        py = -Hu * 0.7 + (0.5 + 0.14 * p.hair_length) * tt ** 1.2
        wd = (0.075 + 0.035 * p.hair_volume) * np.sin(0.5 + tt * 2.64) ** 0.7 + 0.012
        x, y = band(px, py, wd)
        pt.poly(pt.flat(x, y, -0.3 * g.D), col, mask=True)


def ears(pt: Painter, g, p):
    for sd in (-1, 1):
        rx, ry = 0.024 + 0.01 * p.ear_size, 0.048 + 0.014 * p.ear_size
        x, y = ellipse(sd * (g.W - 0.004), g.eye_y + 0.035, rx, ry, 20)
        pt.poly(pt.flat(x, y, -0.4 * g.D), g.skin, mask=True)
        x, y = ellipse(sd * (g.W + rx * 0.15), g.eye_y + 0.04, rx * 0.5, ry * 0.6, 16)
        pt.poly(pt.flat(x, y, -0.4 * g.D), g.skin_shadow)


def head(pt: Painter, g, p):
    """Face shape, the shading of its unlit side, cheeks, wrinkles."""
    x, y, dz = head_outline(g)
    pt.poly(pt.flat(x, y, dz), g.skin, mask=True)
    if abs(p.light) > 0.12:
        sd = -1.0 if p.light > 0 else 1.0  # the side away from the light
        cut = g.W * (1.02 - 0.5 * abs(p.light)) - 0.05 * np.clip(y / g.Hl, 0.0, 1.0) ** 2
        cut = cut + 0.03 * np.clip(-y / g.Hu, 0.0, 1.0) ** 2
        # clamp to the terminator, but never outside the (symmetric) outline at that height
        xs = np.maximum(x * sd, np.minimum(cut, np.abs(x))) * sd
        pt.poly(pt.flat(xs, y, dz), rgba(g.skin_shadow, 150 * min(1.0, abs(p.light) * 1.4)))
    # cheeks
    blush = 55 * p.blush + (45 if p.makeup else 0)
    if blush > 8:
        for sd in (-1, 1):
            cx, cy = ellipse(sd * (g.eye_dx + 0.01), g.mouth_y - 0.045 - 0.01 * p.smile,
                             0.034, 0.02, 20)
            pt.poly(pt.surface(cx, cy), rgba((232, 96, 110), blush))
    # age: forehead lines, nasolabial folds, crow's feet
    a = min(1.0, max(0.0, (p.age - 0.42) / 0.5))
    if a > 0:
        col = rgba(g.skin_line, 60 + 150 * a)
        wl = 0.0055
        for k in range(1 + int(a * 2.5)):
            yy = g.brow_y - 0.04 - 0.022 * k
            xx = lin(-0.45 * g.W, 0.45 * g.W, 9)
            pt.line(pt.surface(xx, yy + 0.012 * (xx / g.W) ** 2), col, wl)
        for sd in (-1, 1):
            tt = lin(0.0, 1.0, 7)
            xx = sd * (0.09 * g.W + 0.05 + (g.mw * 0.75) * tt ** 1.3 - 0.03 * tt)
            yy = g.nose_y - 0.012 + (g.mouth_y - g.nose_y + 0.02) * tt
            pt.line(pt.surface(xx, yy), col, wl)
            ox = sd * (g.eye_dx + g.ew + 0.008)
            for dy in (-0.01, 0.006):
                pt.line(pt.surface([ox, ox + sd * 0.022], [g.eye_y + dy * 0.3, g.eye_y + dy * 1.6]), col, wl)
            xx = sd * g.eye_dx + lin(-0.6, 0.6, 5) * g.ew
            pt.line(pt.surface(xx, np.full_like(xx, g.eye_y + g.eh + 0.014)),  # under-eye bags
                    rgba(g.skin_line, 40 + 80 * a), wl)


def eyes(pt: Painter, g, p):
    """Almond whites, iris and pupil clipped to the lids, highlight, lash line."""
    squint = min(1.0, max(0.0, (p.smile - 0.6) / 0.4))
    gaze = pt.sa * g.ew * 0.45
    for sd in (-1, 1):
        ex, ey, ew, eh = sd * g.eye_dx, g.eye_y, g.ew, g.eh
        lh = eh * (0.78 - 0.38 * squint)
        tilt = 0.06 * ew * sd * p.eye_tilt
        u = np.cos(lin(np.pi, 0.0, 17))
        root = np.sqrt(1.0 - u * u)
        up = ey - eh * root ** 0.85 - tilt * u * sd
        lo = ey + lh * root - tilt * u * sd
        xs = ex + ew * u
        pt.poly(pt.surface(np.concatenate([xs, xs[::-1]]), np.concatenate([up, lo[::-1]])),
                (250, 248, 244))
        ir = min(eh * 1.02, ew * 0.56)
        ix, iy = ex + gaze, ey + 0.08 * eh

        def clip(cx, cy, r, n=20):
            x, y = ellipse(cx, cy, r, r, n)
            x = np.clip(x, ex - ew, ex + ew)
            uu = (x - ex) / ew
            rt = np.sqrt(np.clip(1.0 - uu * uu, 0.0, 1.0))
            y = np.clip(y, ey - eh * rt ** 0.85 - tilt * uu * sd, ey + lh * rt - tilt * uu * sd)
            return pt.surface(x, y)

        pt.poly(clip(ix, iy, ir), g.eye)
        pt.poly(clip(ix, iy, ir * 0.52, 16), (22, 18, 22))
        hl = -0.4 if p.light <= 0 else 0.4
        pt.poly(clip(ix + hl * ir, iy - 0.4 * ir, ir * 0.3, 10), (255, 255, 255))
        # lash line along the upper lid, extended into a wing with makeup
        k = 1.08
        lx = ex + ew * u * k
        ly = ey - eh * root ** 0.85 - tilt * u * sd + 0.002
        width = 0.0085 + (0.004 if p.makeup else 0.0)
        if p.makeup:  # wing at the outer corner: the start of the lid for the left eye
            wx, wy = ex + sd * ew * 1.3, ey - eh * 0.45 - tilt
            lx = np.append(lx, wx) if sd > 0 else np.insert(lx, 0, wx)
            ly = np.append(ly, wy) if sd > 0 else np.insert(ly, 0, wy)
        pt.line(pt.surface(lx, ly), (34, 24, 26), width)
        if g.pres is not None and g.pres < 0:  # feminine presentation: lashes at the outer lid
            n = 3
            for j in range(n):
                uu = 0.35 + 0.22 * j
                bx, by = ex + sd * ew * uu, ey - eh * (1.0 - uu * uu) ** 0.425 - tilt * uu
                ln = (0.012 + 0.004 * j) * min(1.0, -2.4 * g.pres)
                pt.line(pt.surface([bx, bx + sd * ln * 0.6], [by, by - ln]), (34, 24, 26), 0.005)


def brows(pt: Painter, g, p):
    th = 0.008 + 0.016 * p.brow_thickness + (0.008 * g.pres if g.pres is not None else 0.0)
    for sd in (-1, 1):
        tt = lin(0.0, 1.0, 10)
        x = sd * (g.eye_dx - g.ew * 1.0 + g.ew * 2.25 * tt)
        arch = (0.008 + 0.012 * p.brow_arch) * np.sin(np.pi * np.clip(tt * 1.15, 0, 1))
        y = g.brow_y - arch + 0.006 * tt
        w = th * (1.05 - 0.55 * tt ** 1.5)
        bx, by = band(x, y, w)
        pt.poly(pt.surface(bx, by), g.brow)


def nose(pt: Painter, g, p):
    """Flat-style nose: a shadow on the unlit flank and a curved base line."""
    nb = (0.09 + 0.16 * p.nose_size) * g.W + 0.004
    pro = 0.02 + 0.03 * p.nose_size
    sd = -1.0 if p.light > 0 else 1.0
    tt = lin(0.0, 1.0, 8)
    x = sd * (0.012 + nb * 0.6 * tt ** 2)
    y = g.brow_y + 0.03 + (g.nose_y - g.brow_y - 0.045) * tt
    bx, by = band(x, y, 0.004 + (0.01 + 0.008 * p.nose_size) * tt)
    pt.poly(pt.surface(bx, by, twice(pro * tt)), rgba(g.skin_shadow, 170))
    u = lin(-1.0, 1.0, 11)
    x = nb * u
    y = g.nose_y + 0.0072 * (1 - u * u) - 0.01 * u ** 2
    bx, by = band(x, y, (0.007 + 0.005 * p.nose_size) * (1.2 - 0.5 * np.abs(u)))
    pt.poly(pt.surface(bx, by, twice(pro * (1 - u * u))), g.skin_line)


def mouth(pt: Painter, g, p):
    """Neutral line -> smile -> open smile with teeth, driven by p.smile."""
    s = p.smile
    mw, my = g.mw, g.mouth_y
    lift = 0.03 * s - 0.004
    opn = min(1.0, max(0.0, (s - 0.42) / 0.5))
    u = lin(-1.0, 1.0, 17)
    x = mw * u
    top = my - lift * u ** 2 + 0.004 * (1 - u ** 2) * (1 - opn)
    depth = opn * (0.056 + 0.018 * p.mouth_width)
    if depth < 0.004:
        pt.line(pt.surface(x, top), shade(g.lip, 0.62), 0.0085)
        lx = 0.55 * mw * u
        if p.makeup:  # full lower lip in lipstick
            bx, by = band(lx, np.full_like(u, my + 0.009), 0.012 * (1 - 0.6 * u ** 2))
            pt.poly(pt.surface(bx, by), g.lip)
            pt.line(pt.surface(x, top), shade(g.lip, 0.6), 0.008)
        elif g.pres is not None and g.pres < 0:  # feminine presentation: a fuller lower lip
            bx, by = band(lx, np.full_like(u, my + 0.01), (0.006 - 0.016 * g.pres) * (1 - 0.6 * u ** 2))
            pt.poly(pt.surface(bx, by), shade(g.lip, 0.95))
            pt.line(pt.surface(x, top), shade(g.lip, 0.62), 0.0085)
        else:  # a hint of the lower lip
            pt.line(pt.surface(lx, my + 0.016 - 0.004 * u ** 2), rgba(shade(g.lip, 0.85), 120), 0.006)
    else:
        bot = top + depth * (1 - u ** 2) ** 0.8
        mx = np.concatenate([x, x[::-1]])
        myy = np.concatenate([top - 0.002, bot[::-1]])
        pt.poly(pt.surface(mx, myy), (96, 26, 38))
        if opn > 0.25:
            teeth = np.minimum(myy, top.min() + 0.004 + depth * 0.36 + lift * 0.3)
            teeth = np.maximum(teeth, np.concatenate([top, top[::-1]]))
            pt.poly(pt.surface(mx * 0.96, teeth), (250, 248, 240))
            tongue = np.maximum(myy, bot.max() - depth * 0.32)
            pt.poly(pt.surface(mx * 0.62, tongue), (214, 92, 104))
        lipw = 0.0075 if not p.makeup else 0.011
        pt.line(pt.surface(mx, myy), g.lip if p.makeup else shade(g.lip, 0.8), lipw, closed=True)
    if s > 0.3:  # smile creases at the corners
        a = min(1.0, (s - 0.3) / 0.4) * 110
        for sd in (-1, 1):
            cx = sd * (mw + 0.008)
            pt.line(pt.surface([cx - sd * 0.004, cx + sd * 0.003, cx - sd * 0.001],
                               [my - lift - 0.012, my - lift, my - lift + 0.012]),
                    rgba(g.skin_line, a), 0.005)


def facial_hair(pt: Painter, g, p, stage: str):
    """stage 'under' (beard/stubble/goatee, before the mouth) or 'over' (moustache)."""
    fh = p.facial_hair
    if fh == "none":
        return
    col = g.beard
    my, mw = g.mouth_y, g.mw
    lift = 0.03 * p.smile - 0.004
    if stage == "under" and fh in ("beard", "stubble"):
        x, y, dz = head_outline(g)
        sel = y > g.eye_y + 0.06
        ox, oy, odz = x[sel], y[sel], dz[sel]
        grow = 0.004 + (0.018 * p.beard_volume if fh == "beard" else 0.0)
        ox, oy = ox * (1.0 + grow / g.W), oy + grow
        # inner edge: from the cheek down to above the mouth, right to left
        hx = np.array([0.8 * g.W, 0.5 * g.W, mw + 0.02, 0.35 * mw])
        hy = np.array([g.eye_y + 0.06, g.nose_y, my - 0.022, my - 0.03])
        ix, iy = np.concatenate([hx, -hx[::-1]]), np.concatenate([hy, hy[::-1]])
        if fh == "stubble":
            iy = iy + np.array([0.03, 0.03, 0.0, 0.0, 0.0, 0.0, 0.03, 0.03])
        pts = pt.flat(ox, oy, odz) + pt.surface(ix[::-1], iy[::-1])
        stubble = rgba(mix(col, g.skin_line, 0.5), 70)
        pt.poly(pts, col if fh == "beard" else stubble, mask=(fh == "beard"), region=REGION_BEARD)
        if fh == "beard":  # a little skin and lip around the mouth
            x, y = ellipse(0.0, my + 0.004 - 0.4 * lift, mw * 1.05, 0.022, 20)
            pt.poly(pt.surface(x, y), rgba(shade(g.skin, 0.92), 150))
    elif stage == "under" and fh == "goatee":
        u = lin(-1.0, 1.0, 13)
        x = 0.55 * mw * u
        cy = np.interp(np.abs(x), [0.0, 0.6 * g.W], [g.Hl, g.Hl * 0.8]) + 0.006
        # top edge on the face surface, bottom edge on the chin outline (projected like it)
        pts = pt.surface(x, np.full_like(x, my + 0.018)) + pt.flat(x[::-1], cy[::-1], outline_dz(g, cy[::-1]))
        pt.poly(pts, col)
    if stage == "over" and fh in ("beard", "moustache", "goatee"):
        u = lin(-1.0, 1.0, 15)
        x = (mw * 1.12 + 0.006) * u
        y = my - 0.017 - lift * u ** 2 + 0.014 * u ** 4
        w = (0.013 + 0.009 * p.beard_volume) * (1.1 - 0.55 * u ** 2)
        bx, by = band(x, y - w * 0.5, w)
        pt.poly(pt.surface(bx, by), col)


def _hairline(g, h0, slope, bend, side_y, x, scallop=0.0, freq=9.0):
    u = x / g.W
    y = h0 + slope * u + bend * u * u
    if scallop:
        y = y + scallop * np.abs(np.sin(freq * u * 1.6 + 0.7))
    return y + (side_y - y) * smoothstep(0.72, 1.0, np.abs(u))


def _cap(pt, g, col, top_th, side_th, side_y, h0, slope, bend, scallop=0.0, n=40, shadow=True,
         spikes=0.0, quiff=0.0):
    """Hair over the skull: outer arc (flat) + hairline across the forehead (surface).

    spikes: amplitude of a jagged top (tousled crop); quiff: signed extra volume over one
    side of the forehead (sign = side)."""
    rx, ry = g.W + side_th, g.Hu + top_th
    t = lin(np.pi, 2.0 * np.pi, n)
    c, s = np.cos(t), np.sin(t)
    r = 1.0
    if spikes:
        saw = np.abs(((t - np.pi) / np.pi * 8.5) % 1.0 - 0.5) * 2.0
        r = 1.0 + spikes * s * s * saw / ry
    ax, ay = rx * c * r, ry * s * r - top_th * 0.2
    if quiff:
        ay = ay - abs(quiff) * np.exp(-((c - np.sign(quiff) * 0.4) / 0.75) ** 2)
    ox = np.concatenate([[-rx], ax, [rx]])
    oy = np.concatenate([[side_y + 0.01], ay, [side_y + 0.01]])
    hx = lin(g.W * 0.99, -g.W * 0.99, 25)
    hy = _hairline(g, h0, slope, bend, side_y, hx, scallop)
    if shadow:  # the hair's shadow on the forehead
        pts = pt.flat(ox, oy + 0.012) + pt.surface(hx, hy + 0.014)
        pt.poly(pts, rgba(g.skin_shadow, 200))
    pt.poly(pt.flat(ox, oy) + pt.surface(hx, hy), col, mask=True)
    return rx, ry


def _sheen(pt, g, rx, ry, width=0.012):
    """A light crescent on the lit side of the hair (flat-shaded highlight)."""
    sd = 1.0 if g.light > 0 else -1.0
    t = lin(1.42 * np.pi, 1.18 * np.pi, 9) if sd < 0 else lin(1.58 * np.pi, 1.82 * np.pi, 9)
    x, y = rx * 0.84 * np.cos(t), ry * 0.86 * np.sin(t)
    bx, by = band(x, y, width * np.sin(lin(0.2, np.pi - 0.2, 9)))
    pt.poly(pt.flat(bx, by), rgba(g.hair_hi, 170))


def front_hair(pt: Painter, g, p):
    st, W = p.hair_style, g.W
    part = p.hair_part
    recede = 0.05 * max(0.0, p.age - 0.45) * (p.facial_hair != "none" or p.jaw > 0.6)
    if st == "short":
        v = p.hair_fringe  # picks crop / tousled / quiff
        top = 0.018 + 0.03 * p.hair_volume
        sd = 1.0 if part >= 0 else -1.0
        rx, ry = _cap(pt, g, g.hair, top, 0.012, 0.02, -0.14 - 0.02 * v + recede,
                      0.045 * part if v < 0.66 else 0.07 * sd, 0.03, n=48,
                      scallop=0.008 if v < 0.33 else 0.0,
                      spikes=(0.03 + 0.03 * p.hair_volume) if 0.33 <= v < 0.66 else 0.0,
                      quiff=sd * (0.012 + 0.016 * p.hair_volume) if v >= 0.66 else 0.0)
        _sheen(pt, g, rx, ry)
    elif st == "long":
        bangs = p.hair_fringe > 0.62
        h0 = -0.085 if bangs else -0.14 + 0.02 * p.hair_fringe
        rx, ry = _cap(pt, g, g.hair, 0.03 + 0.02 * p.hair_volume, 0.02, 0.1, h0,
                      0.0 if bangs else 0.07 * part, 0.02 if bangs else 0.05,
                      scallop=0.012 if bangs else 0.0)
        ln = 0.18 + 0.12 * p.hair_length
        for sd in (-1, 1):
            heavy = 1.0 + 0.5 * (sd * part > 0.2)
            x = sd * np.array([W * 0.66, W * 0.9, W * 1.0, W * 1.01, W + 0.03 * heavy, W + 0.035, W + 0.02])
            y = np.array([-0.15, -0.02, 0.09, ln, ln + 0.01, 0.05, -0.12])
            pt.poly(pt.flat(x, y), g.hair, mask=True)
        _sheen(pt, g, rx, ry)
    elif st == "curly":
        rx, ry = _cap(pt, g, g.hair, 0.04, 0.03, 0.06, -0.13 + 0.02 * p.hair_fringe, 0.02 * part, 0.04,
                      scallop=0.016, shadow=True)
        curl = p.hair_shade if p.curl_seed is None else p.curl_seed
        rng = np.random.default_rng(int(curl * 1e6))  # curl texture, part of the params
        ang = rng.uniform(np.pi * 1.05, np.pi * 1.95, 14)
        rad = rng.uniform(0.75, 1.0, 14)
        cx = np.cos(ang) * rad * (W + 0.03)
        cy = np.sin(ang) * rad * (g.Hu + 0.03)
        for i in range(14):
            tt = lin(0.2, 2.6, 6)
            pt.line(pt.flat(cx[i] + 0.012 * np.cos(tt), cy[i] + 0.01 * np.sin(tt)),
                    rgba(shade(g.hair, 0.7), 150), 0.005)
    elif st in ("bun", "ponytail"):
        rx, ry = _cap(pt, g, g.hair, 0.012, 0.008, 0.0, -0.165 + recede, 0.03 * part, 0.05)
        px = 0.02 + 0.3 * W * part
        tt = lin(0.0, 1.0, 6)
        pt.line(pt.flat(px + 0.01 * tt, -g.Hu - 0.008 + 0.08 * tt ** 1.5),  # the parting
                rgba(shade(g.hair, 0.7), 170), 0.005)
        _sheen(pt, g, rx, ry)
    elif st == "mohawk":
        _cap(pt, g, rgba(g.hair, 70), 0.004, 0.004, 0.0, -0.16, 0.0, 0.04, shadow=False)
        mw = 0.036 + 0.016 * p.hair_volume
        h = 0.06 + 0.05 * p.hair_length
        u = lin(-1.0, 1.0, 9)
        spikes = np.where(np.arange(9) % 2 == 1, h, h * 0.45)
        x = np.concatenate([mw * u, [mw, -mw]])
        y = np.concatenate([-g.Hu - spikes * (1 - 0.3 * u * u) + 0.01, [-0.14, -0.14]])
        pt.poly(pt.flat(x, y), g.hair, mask=True)
    elif st == "bald":
        x, y = ellipse(0.25 * W * (1 if p.light > 0 else -1), -g.Hu * 0.72, W * 0.32, g.Hu * 0.14, 20)
        pt.poly(pt.flat(x, y), rgba((255, 255, 255), 60))
        if p.bald_sides:
            y = lin(-0.13, 0.01, 8)
            x = W * np.sqrt(np.clip(1.0 - (np.minimum(y, 0.0) / g.Hu) ** 2, 0.0, 1.0)) + 0.003
            w = 0.022 * np.sin(lin(0.15, np.pi - 0.5, 8)) + 0.004
            for sd in (-1, 1):
                bx, by = band(sd * x, y, w)
                pt.poly(pt.flat(bx, by), g.hair)


def glasses(pt: Painter, g, p):
    kind = p.glasses
    if kind == "none":
        return
    tint = p.frame_style if p.frame_color is None else p.frame_color  # v2: colour is its own slot
    frame = FRAME_COLORS[int(tint * 7) % len(FRAME_COLORS)]
    shape = int(p.frame_style * 3) % 3  # round / rectangular / cat-eye-ish
    sun = kind == "sunglasses"
    if sun:
        frame = FRAME_COLORS[0] if tint < 0.6 else FRAME_COLORS[2]
    rx, ry = g.ew * 1.42 + 0.004, g.ew * 1.05 + 0.006 + (0.006 if sun else 0.0)
    fw = 0.0095 + 0.005 * (p.frame_style > 0.5)
    c, s = circle(28)
    inner = []
    for sd in (-1, 1):
        cx, cy = sd * g.eye_dx, g.eye_y + 0.004
        if shape == 0:
            x, y = cx + rx * c, cy + ry * s
        else:
            e = 0.45
            x = cx + rx * np.sign(c) * np.abs(c) ** e
            y = cy + ry * np.sign(s) * np.abs(s) ** e
            if shape == 2:
                y = y - 0.012 * np.clip(sd * c, 0.0, 1.0) * (s < 0)
        pts = pt.surface(x, y, 0.012)
        if sun:
            pt.poly(pts, rgba(LENS_TINTS[int(tint * 11) % len(LENS_TINTS)], 238), region=REGION_FEATURE)
            gx = cx + np.array([-0.5, -0.1, 0.05, -0.35]) * rx
            gy = cy + np.array([-0.1, -0.7, -0.45, 0.2]) * ry
            pt.poly(pt.surface(gx, gy, 0.013), rgba((255, 255, 255), 60))
        else:
            pt.poly(pts, rgba((220, 236, 255), 38))
        pt.line(pts, frame, fw, closed=True)
        inner.append((cx - sd * rx, cy - ry * 0.25))
    (lx, ly), (rx2, ry2) = inner
    tt = lin(0.0, 1.0, 5)
    pt.line(pt.surface(lx + (rx2 - lx) * tt, ly - 0.006 * np.sin(np.pi * tt), 0.012), frame, fw * 0.9)
    for sd in (-1, 1):
        x0 = sd * (g.eye_dx + rx)
        pt.line(pt.surface([x0, sd * g.W * 0.99], [g.eye_y - ry * 0.2, g.eye_y + 0.002], 0.006),
                frame, fw * 0.8)


_RAMPS: dict[int, np.ndarray] = {}
_SHADOW_TINT = np.array([0.4, 0.38, 0.22], dtype=np.float32)  # cool shadows: less blue lost


def lighting(img: np.ndarray, mask: Image.Image, light: float) -> np.ndarray:
    """Darkens the figure (not the background) towards the side away from the light.

    Applied after downsampling: the shading is a smooth ramp, so doing it on the small image
    with the box-filtered silhouette mask looks the same and costs a fraction.
    """
    res = img.shape[0]
    ramp = _RAMPS.get(res)
    if ramp is None:
        ramp = _RAMPS[res] = ((np.arange(res, dtype=np.float32) + 0.5) / res)[None, :, None]
    m = np.asarray(mask.reduce(mask.size[0] // res), dtype=np.float32)[..., None] * (1.0 / 255.0)
    side = ramp if light <= 0 else ramp[:, ::-1]
    dark = (0.42 * (0.15 + 0.85 * abs(light))) * side * m * _SHADOW_TINT
    return (img * (1.0 - dark) + 0.5).astype(np.uint8)
