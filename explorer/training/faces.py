"""Procedural cartoon portraits: the training data of the default generator.

No pretrained weights or face datasets can be downloaded, so the default StyleGAN2 model learns
from flat-shaded avatar portraits drawn here (head and shoulders, centred). Every portrait is a
pure function of an integer seed, and every attribute it was drawn with is returned as a label
vector, so latent directions (smile, age, glasses, yaw, ...) can be fitted later on the
generator's outputs against known ground truth.

Public API
    render_face(seed, resolution=64) -> (uint8 image [H, W, 3], float32 labels [NUM_LABELS])
    sample_params(seed) -> FaceParams;  render_face_from_params(params, resolution) -> image
    encode_labels(params) -> labels;    ATTRIBUTES, label_names(), binary_targets(labels)
    write_dataset(path, count, ...) -> Path;  FaceDataset(path)

Label vector: ATTRIBUTES in order; a continuous attribute is one value in its range, a binary
one is 0/1, a categorical one is a one-hot block with one entry per class ('hair_style=bun').

Drawing happens in face_parts.py at 4x the output size and is downsampled with Lanczos, which
antialiases every edge. Only numpy and Pillow are used, so a portrait costs a few milliseconds.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from . import face_parts as fp

RENDERER_VERSION = 1
SUPERSAMPLE = 4


# ------------------------------------------------------------------------------- attributes

@dataclass(frozen=True)
class Attribute:
    """One labelled attribute. kind: 'binary' | 'continuous' | 'categorical'."""
    name: str
    kind: str
    classes: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 1.0
    doc: str = ""

    @property
    def width(self) -> int:
        return len(self.classes) if self.kind == "categorical" else 1

    def to_json(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "doc": self.doc}
        if self.kind == "categorical":
            d["classes"] = list(self.classes)
        else:
            d["range"] = [self.low, self.high]
        return d


HAIR_STYLES = ("bald", "short", "long", "curly", "bun", "ponytail", "mohawk")
HAIR_COLORS = ("black", "brown", "blonde", "red", "grey", "dyed")
EYE_COLORS = ("brown", "blue", "green", "hazel", "grey")
GLASSES = ("none", "glasses", "sunglasses")
FACIAL_HAIR = ("none", "stubble", "moustache", "goatee", "beard")
BG_COLORS = ("red", "yellow", "green", "cyan", "blue", "purple", "grey")
CLOTHING_COLORS = ("red", "yellow", "green", "blue", "purple", "white", "grey", "black")
CLOTHING_STYLES = ("crew", "vneck", "collar", "turtleneck")

ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("skin_tone", "continuous", doc="0 lightest .. 1 darkest skin"),
    Attribute("face_width", "continuous", doc="0 narrow .. 1 wide face"),
    Attribute("jaw", "continuous", doc="0 narrow pointed chin .. 1 broad square jaw"),
    Attribute("hair_style", "categorical", HAIR_STYLES),
    Attribute("hair_color", "categorical", HAIR_COLORS, doc="dyed: pink/blue/purple/teal/orange"),
    Attribute("eye_color", "categorical", EYE_COLORS),
    Attribute("eye_size", "continuous", doc="0 small .. 1 large eyes"),
    Attribute("brow_thickness", "continuous", doc="0 thin .. 1 thick eyebrows"),
    Attribute("nose_size", "continuous", doc="0 small .. 1 large nose"),
    Attribute("smile", "continuous", doc="0 neutral, ~0.4 closed smile, >0.6 open with teeth"),
    Attribute("glasses", "categorical", GLASSES),
    Attribute("facial_hair", "categorical", FACIAL_HAIR),
    Attribute("makeup", "binary", doc="lipstick, winged lash line, blush"),
    Attribute("age", "continuous", doc="0 young adult .. 1 elderly: wrinkles, greying, receding"),
    Attribute("yaw", "continuous", low=-1.0, high=1.0,
              doc=f"head turn, +-1 = +-{fp.YAW_DEGREES:g} deg; >0 features shift to the viewer's right"),
    Attribute("tilt", "continuous", low=-1.0, high=1.0,
              doc=f"head roll, +-1 = +-{fp.TILT_DEGREES:g} deg; >0 clockwise (crown to the viewer's right)"),
    Attribute("light", "continuous", low=-1.0, high=1.0,
              doc="light direction: -1 from the viewer's left, 0 frontal, +1 from the right"),
    Attribute("bg_color", "categorical", BG_COLORS, doc="hue family of the two-colour background"),
    Attribute("bg_lightness", "continuous", doc="0 darker .. 1 lighter background"),
    Attribute("clothing_color", "categorical", CLOTHING_COLORS),
    Attribute("clothing_style", "categorical", CLOTHING_STYLES),
)
ATTRIBUTE_BY_NAME = {a.name: a for a in ATTRIBUTES}


def label_names() -> list[str]:
    """One name per label-vector entry; categorical entries are 'attribute=class'."""
    names = []
    for a in ATTRIBUTES:
        names.extend(f"{a.name}={c}" for c in a.classes) if a.kind == "categorical" else names.append(a.name)
    return names


LABEL_NAMES = tuple(label_names())
NUM_LABELS = len(LABEL_NAMES)


def label_slices() -> dict[str, slice]:
    """Where each attribute lives in the label vector."""
    out, i = {}, 0
    for a in ATTRIBUTES:
        out[a.name] = slice(i, i + a.width)
        i += a.width
    return out


_SLICES = label_slices()


# ------------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class FaceParams:
    """Everything a portrait is drawn from. Labelled attributes first, then unlabelled details
    (all in [0, 1] unless noted) that add variety without being promised as labels."""
    skin_tone: float = 0.3
    face_width: float = 0.5
    jaw: float = 0.5
    hair_style: str = "short"
    hair_color: str = "brown"
    eye_color: str = "brown"
    eye_size: float = 0.5
    brow_thickness: float = 0.5
    nose_size: float = 0.5
    smile: float = 0.3
    glasses: str = "none"
    facial_hair: str = "none"
    makeup: bool = False
    age: float = 0.3
    yaw: float = 0.0
    tilt: float = 0.0
    light: float = -0.5
    bg_color: str = "blue"
    bg_lightness: float = 0.5
    clothing_color: str = "blue"
    clothing_style: str = "crew"
    # unlabelled details
    face_length: float = 0.5
    eye_spacing: float = 0.5
    eye_tilt: float = 0.0          # [-1, 1]
    eye_shade: float = 0.5
    mouth_width: float = 0.5
    brow_arch: float = 0.5
    ear_size: float = 0.5
    hair_shade: float = 0.5
    hair_volume: float = 0.5
    hair_length: float = 0.5
    hair_fringe: float = 0.5
    hair_part: float = 0.0         # [-1, 1]
    bald_sides: bool = False
    beard_volume: float = 0.5
    blush: float = 0.0
    lip_shade: float = 0.5
    frame_style: float = 0.0
    shoulder_width: float = 0.5
    clothing_shade: float = 0.5
    bg_angle: float = 0.0          # radians, gradient direction
    bg_hue_jitter: float = 0.5
    # renderer v2 only (None: the v1 drawing, where these follow other parameters)
    presentation: float | None = None  # 0 feminine .. 1 masculine: jaw, brows, lashes, lips, shoulders
    greying: float | None = None       # salt and pepper in the hair (v1: follows age)
    curl_seed: float | None = None     # layout of curls (v1: follows hair_shade)
    frame_color: float | None = None   # glasses frame / lens colour (v1: follows frame_style)
    freckles: float = 0.0              # freckle density (v2 draws them from the fine noise map)

    def replace(self, **changes) -> "FaceParams":
        return dataclasses.replace(self, **changes)


def _clip(v: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if v < lo else hi if v > hi else float(v)


def sample_params(seed: int) -> FaceParams:
    """Draw a portrait's parameters from its seed.

    Attributes are correlated the way people expect (grey hair with age, beards with broad
    jaws, mostly dark hair and brown eyes with dark skin) but every combination stays possible,
    so the labels are not redundant. All random numbers come from two arrays drawn up front
    (cheaper than ~50 generator calls) and are consumed in a fixed order, so seeds are stable.
    """
    rng = np.random.default_rng(int(seed))
    u = iter(rng.random(64).tolist()).__next__          # uniform [0, 1)
    gauss = iter(rng.standard_normal(8).tolist()).__next__

    def pick(classes: Sequence[str], weights) -> str:
        r = u() * float(sum(weights))
        for c, w in zip(classes, weights):
            r -= float(w)
            if r < 0.0:
                return c
        return classes[-1]

    masc = u()  # latent presentation: not a label, it only correlates beard/makeup/hair/jaw
    age = u() ** 1.3
    skin = u()
    jaw = _clip(0.3 + 0.4 * masc + 0.2 * gauss())
    m = masc
    hair_style = pick(HAIR_STYLES, [0.01 + 0.14 * m + 0.12 * m * age, 0.14 + 0.36 * m, 0.34 - 0.28 * m, 0.14,
                                    0.15 - 0.11 * m, 0.16 - 0.12 * m, 0.03 + 0.04 * m])
    grey = 0.92 / (1.0 + np.exp(-(age - 0.74) * 11.0))
    color_w = np.array([0.18 + 1.1 * skin ** 1.5, 0.3, 0.34 * (1 - skin) ** 2 + 0.02,
                        0.12 * (1 - skin) ** 2 + 0.01, 0.0, 0.05])
    color_w = color_w / color_w.sum() * (1.0 - grey)
    color_w[4] = grey
    hair_color = pick(HAIR_COLORS, color_w)
    eye_color = pick(EYE_COLORS, [0.3 + 0.6 * skin, 0.3 * (1 - skin) + 0.02, 0.15 * (1 - skin) + 0.02,
                                  0.15, 0.1 * (1 - skin) + 0.01])
    r = u()
    facial_hair = "none"
    if masc > 0.55:
        facial_hair = pick(FACIAL_HAIR, [0.32, 0.2, 0.13, 0.13, 0.22])
    makeup = r < (0.62 if masc < 0.45 else 0.02)
    glasses = pick(GLASSES, [0.74 - 0.12 * age, 0.15 + 0.12 * age, 0.1])
    return FaceParams(
        skin_tone=skin,
        face_width=u(),
        jaw=jaw,
        hair_style=hair_style,
        hair_color=hair_color,
        eye_color=eye_color,
        eye_size=_clip(u() * 0.9 + 0.1 * (1 - masc)),
        brow_thickness=_clip(0.3 + 0.4 * masc + 0.22 * gauss()),
        nose_size=u(),
        smile=u(),
        glasses=glasses,
        facial_hair=facial_hair,
        makeup=makeup,
        age=age,
        yaw=_clip(0.5 * gauss(), -1.0, 1.0),
        tilt=_clip(0.4 * gauss(), -1.0, 1.0),
        light=2.0 * u() - 1.0,
        bg_color=pick(BG_COLORS, [1, 1, 1, 1, 1, 1, 0.7]),
        bg_lightness=u(),
        clothing_color=pick(CLOTHING_COLORS, [1] * len(CLOTHING_COLORS)),
        clothing_style=pick(CLOTHING_STYLES, [1.2, 1, 1, 0.7]),
        face_length=u(),
        eye_spacing=u(),
        eye_tilt=2.0 * u() - 1.0,
        eye_shade=u(),
        mouth_width=u(),
        brow_arch=u(),
        ear_size=u(),
        hair_shade=u(),
        hair_volume=u(),
        hair_length=u(),
        hair_fringe=u(),
        hair_part=2.0 * u() - 1.0,
        bald_sides=u() < 0.3 + 0.6 * age,
        beard_volume=u(),
        blush=max(0.0, u() * 1.6 - 0.6),
        lip_shade=u(),
        frame_style=u(),
        shoulder_width=_clip(u() * 0.7 + 0.3 * masc),
        clothing_shade=u(),
        bg_angle=0.5 * gauss(),
        bg_hue_jitter=u(),
    )


def encode_labels(params: FaceParams) -> np.ndarray:
    """The float32 label vector of a parameter set (layout: label_names())."""
    out = np.zeros(NUM_LABELS, dtype=np.float32)
    for a in ATTRIBUTES:
        sl, v = _SLICES[a.name], getattr(params, a.name)
        if a.kind == "categorical":
            out[sl.start + a.classes.index(v)] = 1.0
        else:
            out[sl.start] = float(v)
    return out


def binary_targets(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Binary (bool) version of every attribute, for fitting linear directions (e.g. SVMs).

    labels: [L] or [N, L]. Continuous attributes are split at the middle of their range
    (so 'smile' is smile > 0.5, 'yaw' is yaw > 0), each categorical class gets its own
    'attribute=class' target, and a few readable aliases group classes ('glasses' is any
    glasses, 'beard' any facial hair, 'long_hair', 'bald', 'blonde', 'grey_hair', ...).
    """
    lab = np.atleast_2d(np.asarray(labels, dtype=np.float32))
    out: dict[str, np.ndarray] = {}
    for a in ATTRIBUTES:
        sl = _SLICES[a.name]
        if a.kind == "categorical":
            for j, c in enumerate(a.classes):
                out[f"{a.name}={c}"] = lab[:, sl.start + j] > 0.5
        else:
            out[a.name] = lab[:, sl.start] > (a.low + a.high) / 2.0

    def cls(attr: str, *names: str) -> np.ndarray:
        return np.logical_or.reduce([out[f"{attr}={n}"] for n in names])

    out.update({
        "dark_skin": out["skin_tone"], "wide_face": out["face_width"], "square_jaw": out["jaw"],
        "big_eyes": out["eye_size"], "thick_brows": out["brow_thickness"], "big_nose": out["nose_size"],
        "old": out["age"], "yaw_right": out["yaw"], "tilt_right": out["tilt"],
        "light_from_right": out["light"], "light_background": out["bg_lightness"],
        "glasses": ~out["glasses=none"], "sunglasses": out["glasses=sunglasses"],
        "beard": ~out["facial_hair=none"], "full_beard": out["facial_hair=beard"],
        "bald": out["hair_style=bald"], "long_hair": cls("hair_style", "long", "ponytail", "bun"),
        "curly_hair": out["hair_style=curly"], "blonde": out["hair_color=blonde"],
        "black_hair": out["hair_color=black"], "grey_hair": out["hair_color=grey"],
        "red_hair": out["hair_color=red"], "dyed_hair": out["hair_color=dyed"],
        "light_eyes": cls("eye_color", "blue", "green", "grey"),
        "dark_clothes": cls("clothing_color", "black", "grey"),
    })
    if lab.shape[1] > NUM_LABELS:   # renderer v2's extra continuous labels
        from .faces_v2 import EXTRA_LABELS

        for j, name in enumerate(EXTRA_LABELS):
            out[name] = lab[:, NUM_LABELS + j] > 0.5
        out["masculine"] = out["presentation"]
    if np.ndim(labels) == 1:
        out = {k: v[0] for k, v in out.items()}
    return out


# -------------------------------------------------------------------------------- rendering

def render_face_from_params(params: FaceParams, resolution: int = 64) -> np.ndarray:
    """Draw a portrait at 4x `resolution` and Lanczos-downsample it (antialiasing)."""
    size = SUPERSAMPLE * int(resolution)
    g = fp.derive(params)
    img = fp.background(g, params, size)
    pt = fp.Painter(img, g)
    fp.back_hair(pt, g, params)
    fp.body(pt, g, params)
    fp.ears(pt, g, params)
    fp.head(pt, g, params)
    fp.nose(pt, g, params)
    fp.eyes(pt, g, params)
    fp.brows(pt, g, params)
    fp.facial_hair(pt, g, params, "under")
    fp.mouth(pt, g, params)
    fp.facial_hair(pt, g, params, "over")
    fp.front_hair(pt, g, params)
    fp.glasses(pt, g, params)
    small = np.asarray(img.resize((int(resolution), int(resolution)), Image.LANCZOS), dtype=np.float32)
    return fp.lighting(small, pt.mask, params.light)


def render_face(seed: int, resolution: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image [resolution, resolution, 3], float32 labels [NUM_LABELS]) for a seed."""
    params = sample_params(seed)
    return render_face_from_params(params, resolution), encode_labels(params)


def contact_sheet(seeds: Sequence[int], resolution: int = 64, cols: int | None = None,
                  gap: int = 2) -> Image.Image:
    """Grid of portraits for eyeballing the renderer."""
    seeds = list(seeds)
    cols = cols or int(np.ceil(np.sqrt(len(seeds))))
    rows = (len(seeds) + cols - 1) // cols
    step = resolution + gap
    sheet = Image.new("RGB", (cols * step + gap, rows * step + gap), (24, 24, 28))
    for i, s in enumerate(seeds):
        img, _ = render_face(s, resolution)
        sheet.paste(Image.fromarray(img), (gap + (i % cols) * step, gap + (i // cols) * step))
    return sheet


# ---------------------------------------------------------------------------------- dataset

MAGIC = b"LXFACES\n"
FORMAT_VERSION = 1
_ALIGN = 4096


def renderer_of(version: int) -> tuple[Callable[[int, int], tuple[np.ndarray, np.ndarray]], tuple[str, ...]]:
    """(render(seed, resolution) -> (image, labels), label names) of renderer 1 or 2."""
    if version == 1:
        return render_face, LABEL_NAMES
    if version == 2:
        from .faces_v2 import LABEL_NAMES_V2, render_seed_v2

        return render_seed_v2, LABEL_NAMES_V2
    raise ValueError(f"unknown renderer version {version}")


def _render_chunk(args: tuple[int, int, int, int, int]) -> tuple[int, np.ndarray, np.ndarray]:
    """Worker: images and labels for seeds [start, start + n) (offsets from the dataset seed)."""
    offset, n, seed0, resolution, version = args
    render, names = renderer_of(version)
    imgs = np.empty((n, resolution, resolution, 3), dtype=np.uint8)
    labs = np.empty((n, len(names)), dtype=np.float32)
    for i in range(n):
        imgs[i], labs[i] = render(seed0 + offset + i, resolution)
    return offset, imgs, labs


def _default_context() -> multiprocessing.context.BaseContext:
    """fork on Linux: workers start instantly with this module already imported (spawn or
    forkserver re-import the package, torch included: seconds per pool). Like torch's
    DataLoader, which forks too; the workers only run numpy and Pillow. spawn elsewhere."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def write_dataset(path, count: int, resolution: int = 64, seed: int = 0, workers: int | None = None,
                  progress: Callable[[int, int], None] | None = None, mp_context=None,
                  renderer: int = RENDERER_VERSION) -> Path:
    """Render seeds [seed, seed + count) into one memory-mappable file at `path`.

    Layout: MAGIC (8 bytes), header length (uint64 little-endian), UTF-8 JSON header, then at
    4096-aligned offsets recorded in the header the uint8 image block [N, H, W, 3] and the
    float32 label block [N, L]. Written to a temporary file beside `path` and moved into place
    with os.replace, so `path` is either the old file or a complete new one, never partial.
    workers: processes (default: all cores); progress(done, total) is called from this process.
    renderer: 1 (sample_params from the seed) or 2 (faces_v2: z and noise maps from the seed).
    """
    path = Path(path)
    count, resolution = int(count), int(resolution)
    if count < 1 or resolution < 8:
        raise ValueError("count must be >= 1 and resolution >= 8")
    if not workers:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, int(workers or 1))
    _, names = renderer_of(int(renderer))
    img_bytes = count * resolution * resolution * 3
    header = {
        "magic": "latent-explorer-faces", "version": FORMAT_VERSION, "renderer_version": int(renderer),
        "count": count, "resolution": resolution, "seed": int(seed), "seed_end": int(seed) + count,
        "label_names": list(names), "attributes": [a.to_json() for a in ATTRIBUTES],
        "images_dtype": "uint8", "images_shape": [count, resolution, resolution, 3],
        "labels_dtype": "<f4", "labels_shape": [count, len(names)],
        "images_offset": 0, "labels_offset": 0,
    }
    # offsets depend on the header length, which depends on the offsets' digits: iterate
    for _ in range(3):
        blob = json.dumps(header).encode()
        header["images_offset"] = _align(16 + len(blob) + 64)
        header["labels_offset"] = _align(header["images_offset"] + img_bytes)
    blob = json.dumps(header).encode()
    assert 16 + len(blob) <= header["images_offset"]
    total = header["labels_offset"] + count * len(names) * 4

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack("<Q", len(blob)) + blob)
            f.truncate(total)
        images = np.memmap(tmp, np.uint8, "r+", header["images_offset"], (count, resolution, resolution, 3))
        labels = np.memmap(tmp, "<f4", "r+", header["labels_offset"], (count, len(names)))
        chunk = max(1, min(256, -(-count // (workers * 8))))
        jobs = [(o, min(chunk, count - o), int(seed), resolution, int(renderer)) for o in range(0, count, chunk)]
        done = 0

        def store(result):
            nonlocal done
            o, imgs, labs = result
            images[o:o + len(imgs)] = imgs
            labels[o:o + len(labs)] = labs
            done += len(imgs)
            if progress is not None:
                progress(done, count)

        if workers == 1 or len(jobs) == 1:
            for job in jobs:
                store(_render_chunk(job))
        else:
            ctx = mp_context or _default_context()
            with ctx.Pool(min(workers, len(jobs))) as pool:
                for result in pool.imap_unordered(_render_chunk, jobs):
                    store(result)
        images.flush()
        labels.flush()
        del images, labels
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def read_header(path) -> dict:
    with open(path, "rb") as f:
        head = f.read(16)
        if len(head) < 16 or head[:8] != MAGIC:
            raise ValueError(f"{path}: not a face dataset")
        (n,) = struct.unpack("<Q", head[8:])
        header = json.loads(f.read(n))
    if header.get("magic") != "latent-explorer-faces" or header.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported face dataset version {header.get('version')}")
    return header


class FaceDataset:
    """Read-only view of a file from write_dataset; images are memory-mapped, not loaded.

    Image i is render_face(seed + i, resolution)."""

    def __init__(self, path):
        self.path = Path(path)
        self.header = h = read_header(self.path)
        self.resolution = int(h["resolution"])
        self.renderer_version = int(h.get("renderer_version", 1))
        self.seed = int(h["seed"])
        self.label_names = list(h["label_names"])
        self.attributes = h["attributes"]
        self.images = np.memmap(self.path, np.uint8, "r", h["images_offset"], tuple(h["images_shape"]))
        self.labels = np.array(np.memmap(self.path, "<f4", "r", h["labels_offset"], tuple(h["labels_shape"])),
                               dtype=np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.images[i]), self.labels[i]

    def batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 [B, H, W, 3], float32 [B, L]) copies for the given indices."""
        idx = np.asarray(indices, dtype=np.int64)
        return np.asarray(self.images[idx]), self.labels[idx]


# -------------------------------------------------------------------------------------- CLI

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m explorer.training.faces",
                                 description="Render procedural cartoon portraits.")
    ap.add_argument("--sheet", help="write a contact sheet PNG here")
    ap.add_argument("--write", help="write a dataset file here")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args(argv)
    if not (args.sheet or args.write):
        ap.error("nothing to do: give --sheet and/or --write")
    if args.sheet:
        contact_sheet(range(args.seed, args.seed + args.count), args.resolution).save(args.sheet)
        print(f"wrote {args.sheet}")
    if args.write:
        def report(done, total):
            print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)
        write_dataset(args.write, args.count, args.resolution, args.seed, args.workers, report)
        print(f"\nwrote {args.write}")
    return 0


if __name__ == "__main__":
    from explorer.training import faces as _faces  # pickle workers by their importable name

    raise SystemExit(_faces.main())
