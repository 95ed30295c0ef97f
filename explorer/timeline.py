"""Timelines: keyframed faces, easing, interpolation in W (linear, cubic) and Z (slerp), frame sampling.

A `Timeline` is a list of `Keyframe`s on the clip's normalised position p in [0, 1] (seconds are
p * duration). Each keyframe holds a Latent (so its recipe travels with the clip), optionally an
edit step run on it when the timeline is resolved ("this face, +2 along smile"), and the settings
of the `Segment` that leaves it: interpolation, easing and the layers that move. With `loop` the
last keyframe's segment runs back to the first, so the clip repeats without a jump.

`Timeline.resolve(model)` turns that description into numbers once (edits applied, recipes of
other models replayed, tangents and Z references computed) and returns a `ResolvedTimeline` whose
`ws_at(t)` / `frames_ws(ts)` give the styles of any frame.

Promises the tests hold us to:
- a frame whose position falls on a keyframe is that keyframe's ws bit for bit (t=0 is the first
  keyframe, t=1 the last one without loop); with loop, position 1 is position 0 again;
- frames do not depend on how they are batched: every step is element-wise, and z -> w mapping
  runs one z at a time (a batched matmul rounds differently);
- layers a segment does not move keep the segment start's values exactly (a cubic path eases
  them into and out of such a hold: zero speed where a layer stops or starts moving).

Keyframe ws along a timeline are cumulative: a segment that moves only the coarse layers arrives
at a face with the next keyframe's coarse styles and the previous colours, and that face is where
the next segment starts (no jump at the keyframe). The closing segment of a loop also moves any
layer that differs from the first keyframe, or the loop could not close.

Z-slerp: when both ends come from seeds (directly or through single-input edits, e.g. a seed
moved along "smile"), the path is the W line plus the bend that slerp in Z adds:
    ws(u) = lerp(S_a, S_b, u) + M(slerp(z_a, z_b, u)) - lerp(M(z_a), M(z_b), u)
with M the mapping truncated by the keyframes' (interpolated) psi. For two plain seeds this is
exactly map(slerp(z_a, z_b)); for edited keyframes the edit offsets blend linearly on top. Other
segments marked slerp fall back to linear in W (listed in `ResolvedTimeline.notes`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import plugin_ids as ids
from .errors import FileProblem
from .latents import Latent, label_vector, latent_from_seed, z_from_seed
from .layers import LayerSpec
from .noise import NoiseSpec

TIMELINE_FORMAT = "latent-explorer/timeline"
TIMELINE_VERSION = 1
CLIP_FORMAT = "latent-explorer/clip"        # an export's sidecar: timeline(s) + export settings
DEFAULT_FPS = 30.0
DEFAULT_DURATION = 4.0                      # seconds
INTERPOLATIONS = ("linear", "slerp", "cubic")
MOVE_DIRECTION_PLUGIN = ids.MOVE_DIRECTION
_PARALLEL_ANGLE = 1e-6                      # radians: below this slerp is lerp (sin(omega) ~ 0)


# ----- easing ------------------------------------------------------------------------------------
# Each maps the segment's local time u in [0, 1] to progress in [0, 1]; all are monotone with
# f(0) = 0 and f(1) = 1 (`ease` pins the ends exactly, whatever the float rounding).
def _linear(u):
    return u


def _ease_in(u):           # cubic
    return u ** 3


def _ease_out(u):
    return 1.0 - (1.0 - u) ** 3


def _ease_in_out(u):
    return np.where(u < 0.5, 4.0 * u ** 3, 1.0 - (2.0 - 2.0 * u) ** 3 / 2.0)


def _sine_in(u):
    return 1.0 - np.cos(u * (np.pi / 2))


def _sine_out(u):
    return np.sin(u * (np.pi / 2))


def _sine_in_out(u):
    return (1.0 - np.cos(np.pi * u)) / 2.0


def _smoothstep(u):
    return u * u * (3.0 - 2.0 * u)


def _smootherstep(u):       # Perlin: zero first and second derivative at both ends
    return u ** 3 * (u * (6.0 * u - 15.0) + 10.0)


EASINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": _linear, "ease_in": _ease_in, "ease_out": _ease_out, "ease_in_out": _ease_in_out,
    "sine_in": _sine_in, "sine_out": _sine_out, "sine_in_out": _sine_in_out,
    "smoothstep": _smoothstep, "smootherstep": _smootherstep,
}


def ease(name: str, u):
    """Eased progress of local time u (scalar or array), clipped to [0, 1], ends exact."""
    try:
        f = EASINGS[name]
    except KeyError:
        raise ValueError(f"unknown easing {name!r}; choose one of {', '.join(EASINGS)}") from None
    x = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    y = np.clip(f(x), 0.0, 1.0)
    y = np.where(x <= 0.0, 0.0, np.where(x >= 1.0, 1.0, y))
    return float(y) if np.ndim(u) == 0 else y


# ----- interpolation primitives ------------------------------------------------------------------
def lerp(a: np.ndarray, b: np.ndarray, u) -> np.ndarray:
    """(1 - u) a + u b, broadcast over leading frame axes of u; exactly a at u=0 and b at u=1."""
    u = np.asarray(u, dtype=np.float64)
    w = u.reshape(u.shape + (1,) * np.ndim(a))
    return (1.0 - w) * np.asarray(a, np.float64) + w * np.asarray(b, np.float64)


def slerp(a: np.ndarray, b: np.ndarray, u) -> np.ndarray:
    """Spherical interpolation of two vectors [D] at u (scalar or [N]) -> [D] or [N, D] float64.

    The direction moves along the great circle and the length moves linearly from |a| to |b|,
    so equal-length ends (Gaussian z's are all about sqrt(D) long) keep their length all the way,
    where a straight line would dip through the low-density middle of the Gaussian.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    scalar = np.ndim(u) == 0
    u = np.atleast_1d(np.asarray(u, dtype=np.float64))
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        out = lerp(a, b, u)
    else:
        da, db = a / na, b / nb
        omega = math.acos(min(1.0, max(-1.0, float(da @ db))))
        if omega < _PARALLEL_ANGLE or math.pi - omega < _PARALLEL_ANGLE:
            d = lerp(da, db, u)
            d /= np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
        else:
            s = math.sin(omega)
            d = (np.sin((1.0 - u) * omega)[:, None] * da + np.sin(u * omega)[:, None] * db) / s
        out = d * ((1.0 - u) * na + u * nb)[:, None]
    out = np.where((u <= 0.0)[:, None], a, np.where((u >= 1.0)[:, None], b, out))
    return out[0] if scalar else out


def hermite(p0, p1, m0, m1, u) -> np.ndarray:
    """Cubic Hermite on local time u with end tangents m0, m1 (already scaled by the segment length)."""
    u = np.asarray(u, dtype=np.float64)
    sh = u.shape + (1,) * np.ndim(p0)
    u2, u3 = u * u, u * u * u
    h00 = (2 * u3 - 3 * u2 + 1).reshape(sh)
    h10 = (u3 - 2 * u2 + u).reshape(sh)
    h01 = (-2 * u3 + 3 * u2).reshape(sh)
    h11 = (u3 - u2).reshape(sh)
    return h00 * p0 + h10 * m0 + h01 * p1 + h11 * m1


# ----- layers ------------------------------------------------------------------------------------
def normalise_layers(spec) -> str | tuple[int, int]:
    """'all' | 'coarse' | 'coarse+medium' | [names] | (start, stop) | range -> 'all', 'a+b' or (start, stop)."""
    return LayerSpec.parse(spec).canonical()


def layer_rows(spec, num_ws: int, groups: Mapping[str, range] | None = None) -> np.ndarray:
    """bool [num_ws]: the ws rows a layer spec selects on a model (groups from model.info.groups)."""
    rows = np.zeros(num_ws, dtype=bool)
    rows[LayerSpec.parse(spec).rows(num_ws, dict(groups) if groups is not None else None)] = True
    return rows


def _layers_json(spec):
    return list(spec) if isinstance(spec, tuple) else spec


# ----- keyframes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """How the clip moves from one keyframe to the next.

    interp: 'linear' (straight line in W), 'slerp' (spherical in Z; needs seed keyframes) or
    'cubic' (Catmull-Rom through the neighbouring keyframes in W, closed when looping).
    easing: a name in EASINGS. layers: what changes ('all', 'coarse', 'coarse+medium', (start, stop));
    the other layers keep the segment start's values.
    """
    interp: str = "linear"
    easing: str = "linear"
    layers: Any = "all"

    def __post_init__(self):
        if self.interp not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {self.interp!r}; choose one of {', '.join(INTERPOLATIONS)}")
        if self.easing not in EASINGS:
            raise ValueError(f"unknown easing {self.easing!r}; choose one of {', '.join(EASINGS)}")
        object.__setattr__(self, "layers", normalise_layers(self.layers))

    def to_json(self) -> dict:
        return {"interp": self.interp, "easing": self.easing, "layers": _layers_json(self.layers)}

    @classmethod
    def from_json(cls, d: Mapping | None) -> "Segment":
        d = d or {}
        return cls(interp=d.get("interp", "linear"), easing=d.get("easing", "linear"), layers=d.get("layers", "all"))


@dataclass(frozen=True)
class EditStep:
    """A plugin edit run on a keyframe's face when the timeline is resolved (e.g. +2 along smile)."""
    plugin: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.plugin, str) or not self.plugin:
            raise ValueError("an edit step needs a plugin id")
        object.__setattr__(self, "params", json.loads(json.dumps(dict(self.params or {}))))

    @classmethod
    def move(cls, direction: str, amount: float, layers="all") -> "EditStep":
        """'this face, `amount` along `direction`' (the built-in move-along-direction edit)."""
        return cls(MOVE_DIRECTION_PLUGIN, {"direction": str(direction), "amount": float(amount),
                                           "layers": _layers_json(normalise_layers(layers))})

    def describe(self) -> str:
        p = self.params
        if self.plugin == MOVE_DIRECTION_PLUGIN and "direction" in p:
            return f"{float(p.get('amount', 1.0)):+g} {p['direction']}"
        args = ", ".join(f"{k}={v}" for k, v in p.items())
        return f"{self.plugin.split('.')[-1]}({args})"

    def to_json(self) -> dict:
        return {"plugin": self.plugin, "params": dict(self.params)}

    @classmethod
    def from_json(cls, d: Mapping | None) -> "EditStep | None":
        return None if not d else cls(d["plugin"], d.get("params") or {})


@dataclass(frozen=True)
class ZSource:
    """The seed-space origin of a keyframe: z [z_dim] and how it was mapped (psi, cutoff, class)."""
    z: np.ndarray
    psi: float = 1.0
    cutoff: int | None = None
    class_index: int | None = None


def _seed_leaf(recipe: Mapping | None) -> Mapping | None:
    """The seed recipe under a chain of single-input edits, None for mixes of several faces."""
    r = recipe
    while isinstance(r, Mapping):
        if r.get("op") == "seed":
            return r
        if r.get("op") != "edit" or len(r.get("inputs") or []) != 1:
            return None
        r = r["inputs"][0]
    return None


@dataclass(frozen=True, eq=False)
class Keyframe:
    """A face at a position of the clip, plus the settings of the segment that leaves it.

    position: normalised time in [0, 1] (seconds = position * timeline.duration).
    edit: optional plugin step applied to `latent` at resolve time.
    z: explicit Z origin [z_dim]; without it one is found in the recipe when the face is a seed
    (or a seed under single-input edits), which is what makes slerp in Z possible.
    """
    latent: Latent
    position: float = 0.0
    edit: EditStep | None = None
    segment: Segment = field(default_factory=Segment)
    z: np.ndarray | None = None
    label: str = ""

    def __post_init__(self):
        if not isinstance(self.latent, Latent):
            raise TypeError(f"a keyframe holds a Latent, not {type(self.latent).__name__}")
        p = float(self.position)
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise ValueError(f"keyframe position must be in [0, 1], got {self.position!r}")
        object.__setattr__(self, "position", p)
        if self.z is not None:
            z = np.array(self.z, dtype=np.float32, copy=True).reshape(-1)
            z.setflags(write=False)
            object.__setattr__(self, "z", z)

    def with_(self, **changes) -> "Keyframe":
        return replace(self, **changes)

    def z_source(self, z_dim: int | None = None) -> ZSource | None:
        leaf = _seed_leaf(self.latent.recipe)
        psi = float(leaf.get("psi", 1.0)) if leaf else 1.0
        cutoff = leaf.get("cutoff") if leaf else None
        cls_ = leaf.get("class_index") if leaf else None
        if self.z is not None:
            return ZSource(self.z, psi, cutoff, cls_)
        if leaf is None or z_dim is None:
            return None
        return ZSource(z_from_seed(int(leaf["seed"]), z_dim), psi, cutoff, cls_)

    def describe(self) -> str:
        s = self.label or self.latent.label()
        return f"{s}, {self.edit.describe()}" if self.edit else s

    def to_json(self) -> dict:
        return {"position": self.position, "latent": self.latent.to_json(),
                "edit": None if self.edit is None else self.edit.to_json(), "segment": self.segment.to_json(),
                "z": None if self.z is None else [float(v) for v in self.z], "label": self.label}

    @classmethod
    def from_json(cls, d: Mapping) -> "Keyframe":
        return cls(latent=Latent.from_json(d["latent"]), position=float(d.get("position", 0.0)),
                   edit=EditStep.from_json(d.get("edit")), segment=Segment.from_json(d.get("segment")),
                   z=None if d.get("z") is None else np.asarray(d["z"], np.float32), label=d.get("label", ""))


def even_positions(n: int, loop: bool) -> list[float]:
    """n keyframes spread over the clip: 0 .. 1 (ends on the last one), or 0 .. (n-1)/n when looping."""
    if n <= 1:
        return [0.0] * n
    return [i / n for i in range(n)] if loop else [i / (n - 1) for i in range(n)]


# ----- timeline ----------------------------------------------------------------------------------
MAX_FPS = 240.0
MAX_DURATION = 3600.0            # seconds: an hour-long clip is already far beyond what anyone renders
MAX_KEYFRAMES = 10_000
MAX_TIMELINE_BYTES = 64 * 2 ** 20


class TimelineError(FileProblem, ValueError):
    """A timeline or clip sidecar file that cannot be used; names the file."""


@dataclass(eq=False)
class Timeline:
    """Keyframes (kept sorted by position), clip settings, and the noise lock.

    noise: None = every frame takes the noise of its nearest keyframe; a NoiseSpec = that noise
    for every frame (locked: texture does not boil). A 'random' lock without a seed gets a fixed
    one at resolve time, derived from the timeline, so re-renders match.
    """
    keyframes: list = field(default_factory=list)
    duration: float = DEFAULT_DURATION
    fps: float = DEFAULT_FPS
    loop: bool = False
    noise: NoiseSpec | None = None
    name: str = ""

    def __post_init__(self):
        self.duration = float(self.duration)
        self.fps = float(self.fps)
        if not (math.isfinite(self.duration) and 0 < self.duration <= MAX_DURATION):
            raise ValueError(f"duration must be a positive number of seconds up to {MAX_DURATION:g}, "
                             f"got {self.duration!r}")
        if not (math.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            raise ValueError(f"fps must be in (0, {MAX_FPS:g}], got {self.fps!r}")
        self.loop = bool(self.loop)
        for kf in self.keyframes:
            if not isinstance(kf, Keyframe):
                raise TypeError(f"keyframes must be Keyframe objects, got {type(kf).__name__}")
        self._sort()

    def _sort(self) -> None:
        self.keyframes = sorted(self.keyframes, key=lambda k: k.position)  # stable: ties keep their order

    # ----- building ---------------------------------------------------------------------------
    @classmethod
    def from_latents(cls, latents: Sequence[Latent], *, interp: str = "linear", easing: str = "linear",
                     layers="all", positions: Sequence[float] | None = None, **settings) -> "Timeline":
        """Keyframes for faces, equally spaced unless positions are given, one segment style for all."""
        loop = bool(settings.get("loop", False))
        pos = even_positions(len(latents), loop) if positions is None else list(positions)
        if len(pos) != len(latents):
            raise ValueError(f"got {len(pos)} positions for {len(latents)} faces")
        seg = Segment(interp, easing, layers)
        return cls([Keyframe(lat, p, segment=seg) for lat, p in zip(latents, pos)], **settings)

    @classmethod
    def from_seeds(cls, model, seeds: Iterable[int], psi: float = 1.0, cutoff: int | None = None,
                   **kwargs) -> "Timeline":
        """Keyframes from seeds (mapped one at a time, like grid cells: the same ws bit for bit)."""
        lats = [latent_from_seed(model, int(s), psi, cutoff) for s in seeds]
        if not lats:
            raise ValueError("no seeds given")
        return cls.from_latents(lats, **kwargs)

    def copy(self) -> "Timeline":
        return Timeline(list(self.keyframes), self.duration, self.fps, self.loop, self.noise, self.name)

    # ----- editing ----------------------------------------------------------------------------
    def add(self, keyframe: Keyframe) -> int:
        """Insert a keyframe; returns its index (after keyframes at the same position)."""
        self.keyframes.append(keyframe)
        self._sort()
        return max(i for i, k in enumerate(self.keyframes) if k is keyframe)

    def remove(self, index: int) -> Keyframe:
        return self.keyframes.pop(index)

    def replace_keyframe(self, index: int, keyframe: Keyframe) -> int:
        self.keyframes[index] = keyframe
        self._sort()
        return max(i for i, k in enumerate(self.keyframes) if k is keyframe)

    def move(self, index: int, position: float | None = None, *, seconds: float | None = None) -> int:
        """Move a keyframe in time (normalised position or seconds); returns its new index.
        Its outgoing segment settings travel with it."""
        if (position is None) == (seconds is None):
            raise ValueError("give either position or seconds")
        p = float(seconds) / self.duration if seconds is not None else float(position)
        return self.replace_keyframe(index, self.keyframes[index].with_(position=min(1.0, max(0.0, p))))

    def set_segment(self, index: int, segment: Segment | None = None, **changes) -> None:
        """Settings of the segment leaving keyframe `index` (the last one's closes the loop)."""
        kf = self.keyframes[index]
        seg = segment if segment is not None else replace(kf.segment, **changes)
        self.keyframes[index] = kf.with_(segment=seg)

    def set_all_segments(self, **changes) -> None:
        for i in range(len(self.keyframes)):
            self.set_segment(i, **changes)

    def spread(self) -> None:
        """Space the keyframes evenly (the right way for the loop flag: a loop ends before 1)."""
        pos = even_positions(len(self.keyframes), self.loop)
        self.keyframes = [k.with_(position=p) for k, p in zip(self.keyframes, pos)]

    def set_loop(self, loop: bool, respace: bool = True) -> None:
        """Turn looping on/off; with respace, evenly spaced keyframes are re-spread for the new mode."""
        pos = [k.position for k in self.keyframes]
        was_even = bool(pos) and np.allclose(pos, even_positions(len(pos), self.loop), atol=0.02)
        self.loop = bool(loop)
        if respace and was_even:
            self.spread()

    # ----- facts ------------------------------------------------------------------------------
    @property
    def model(self) -> str | None:
        """Fingerprint of the model the keyframes were made with (None without keyframes)."""
        return self.keyframes[0].latent.model if self.keyframes else None

    @property
    def segment_count(self) -> int:
        n = len(self.keyframes)
        return n if (self.loop and n > 1) else max(0, n - 1)

    def seconds(self, index: int) -> float:
        return self.keyframes[index].position * self.duration

    def frame_count(self, frames: int | None = None, fps: float | None = None,
                    duration: float | None = None) -> int:
        """Frames of one pass (one cycle when looping): `frames`, else round(fps * duration)."""
        if frames is not None:
            if int(frames) < 1:
                raise ValueError(f"frame count must be at least 1, got {frames}")
            return int(frames)
        fps = self.fps if fps is None else float(fps)
        duration = self.duration if duration is None else float(duration)
        return max(1, int(round(fps * duration)))

    def frame_positions(self, n: int | None = None) -> np.ndarray:
        """Normalised positions of n frames: k/(n-1) (first and last on the clip's ends), or k/n
        when looping (frame n would be frame 0 of the next cycle)."""
        return frame_positions(self.frame_count(n), self.loop)

    # ----- evaluating -------------------------------------------------------------------------
    def resolve(self, model=None, registry=None, directions=None, *, strict_version: bool = False
                ) -> "ResolvedTimeline":
        """Apply edits, replay recipes of other models, and precompute the path (see module doc).

        model: the Generator (needed for layer groups, Z-slerp, edits and replays); None works for
        timelines whose keyframes need none of those. registry: a PluginRegistry for edits (the
        default discovery when None). directions: named directions for direction edits.
        """
        return ResolvedTimeline(self, model, registry, directions, strict_version=strict_version)

    def frame_ws(self, t: float, model=None, **kwargs) -> np.ndarray:
        """ws [num_ws, w_dim] at position t (resolves on every call: use resolve() for many)."""
        return self.resolve(model, **kwargs).ws_at(t)

    def frame_latents(self, n: int | None = None, model=None, registry=None, directions=None,
                      chunk: int | None = None) -> Iterator[np.ndarray]:
        """ws of each of the n frames (default fps * duration) in order: [num_ws, w_dim] each, or
        chunks [<=chunk, num_ws, w_dim] with `chunk` (what RenderService.submit_job takes)."""
        return self.resolve(model, registry, directions).iter_frames(n, chunk)

    # ----- files ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"format": TIMELINE_FORMAT, "version": TIMELINE_VERSION, "name": self.name,
                "duration": self.duration, "fps": self.fps, "loop": self.loop,
                "noise": None if self.noise is None else self.noise.to_json(), "model": self.model,
                "keyframes": [k.to_json() for k in self.keyframes]}

    @classmethod
    def from_json(cls, doc: Mapping) -> "Timeline":
        """A timeline document, or an export sidecar (its first clip's timeline)."""
        if not isinstance(doc, Mapping):
            raise ValueError("not a timeline document")
        if doc.get("format") == CLIP_FORMAT:
            doc = doc["timeline"]
            if not isinstance(doc, Mapping):
                raise ValueError("the sidecar holds no timeline")
        if doc.get("format", TIMELINE_FORMAT) != TIMELINE_FORMAT:
            raise ValueError(f"a {str(doc.get('format'))[:40]!r} document is not a timeline")
        version = doc.get("version", TIMELINE_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("the timeline has no valid format version")
        if version > TIMELINE_VERSION:
            raise ValueError(f"timeline written by a newer version (format {version} > {TIMELINE_VERSION})")
        loop = doc.get("loop", False)
        if not isinstance(loop, bool):      # "loop": "no" must not mean True
            raise ValueError(f"loop must be true or false, not {str(loop)[:20]!r}")
        for key, default in (("duration", DEFAULT_DURATION), ("fps", DEFAULT_FPS)):
            v = doc.get(key, default)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{key} must be a number, not {str(v)[:20]!r}")
        keyframes = doc.get("keyframes", [])
        if not isinstance(keyframes, list) or len(keyframes) > MAX_KEYFRAMES:
            raise ValueError(f"keyframes must be a list of at most {MAX_KEYFRAMES}")
        try:
            return cls([Keyframe.from_json(k) for k in keyframes],
                       duration=doc.get("duration", DEFAULT_DURATION), fps=doc.get("fps", DEFAULT_FPS),
                       loop=loop, noise=None if doc.get("noise") is None else NoiseSpec.from_json(doc["noise"]),
                       name=str(doc.get("name", ""))[:200])
        except ValueError:
            raise
        except Exception as e:  # noqa: BLE001 - KeyError, TypeError, AttributeError ... from crafted values
            raise ValueError(f"malformed timeline: {type(e).__name__}: {str(e)[:120]}") from None

    def save(self, path: str | os.PathLike) -> Path:
        from .export import save_json

        return save_json(path, self.to_json())

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Timeline":
        """A saved timeline, or the sidecar an export wrote (`clip.mp4.timeline.json`)."""
        path = Path(path)
        doc = read_json_document(path, "timeline")
        try:
            return cls.from_json(doc)
        except ValueError as e:
            raise TimelineError(f"{path.name}: {e}") from None


def read_json_document(path: Path, what: str):
    """A timeline / sidecar file's JSON, size-checked first; TimelineError names the file."""
    try:
        if path.stat().st_size > MAX_TIMELINE_BYTES:
            raise TimelineError(f"{path.name}: is {path.stat().st_size:,} bytes, too big for a {what} file")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise TimelineError(f"{path.name}: is not a {what} file (invalid JSON: {str(e)[:120]})") from None
    except OSError as e:
        raise TimelineError(f"{path.name}: cannot be read ({e.strerror or e})") from None


def frame_positions(n: int, loop: bool) -> np.ndarray:
    n = int(n)
    if n < 1:
        raise ValueError("need at least one frame")
    k = np.arange(n, dtype=np.float64)
    if loop:
        return k / n
    return k / (n - 1) if n > 1 else np.zeros(1)


# ----- the resolved path -------------------------------------------------------------------------
@dataclass
class _Seg:
    a: int                   # start keyframe index
    b: int                   # end keyframe index (0 for a loop's closing segment)
    p0: float
    p1: float                # > 1 for the closing segment
    interp: str              # effective: 'linear' | 'cubic' | 'slerp'
    easing: str
    move: np.ndarray         # bool [num_ws]: rows that change in this segment
    m0: np.ndarray | None = None   # cubic: tangents * segment length, [num_ws, w_dim] float64
    m1: np.ndarray | None = None
    za: ZSource | None = None      # slerp
    zb: ZSource | None = None
    ma: np.ndarray | None = None   # slerp: M(z_a), M(z_b) [num_ws, w_dim] float64
    mb: np.ndarray | None = None


def _default_registry():
    from .plugins import PluginRegistry

    reg = PluginRegistry()
    reg.discover()
    return reg


def _fixed_noise(spec: NoiseSpec, salt: str) -> NoiseSpec:
    """A 'random' spec without a seed gets one derived from `salt`, so every frame (and every
    re-render) draws the same noise."""
    if spec.mode == "random" and spec.seed is None:
        seed = int.from_bytes(hashlib.sha256(salt.encode()).digest()[:4], "little") & 0x7FFFFFFF
        return replace(spec, seed=seed)
    return spec


class ResolvedTimeline:
    """A timeline turned into numbers for one model: `ws_at(t)`, `frames_ws(ts)`, per-frame noise.

    states: [K, num_ws, w_dim] float32, the ws each keyframe position shows (edits applied, layer
    carries included); latents: the resolved keyframe Latents; notes: fallbacks taken (e.g. a slerp
    segment between faces that are not seeds runs linear in W).
    """

    def __init__(self, timeline: Timeline, model=None, registry=None, directions=None, *,
                 strict_version: bool = False):
        tl = timeline
        kfs = sorted(tl.keyframes, key=lambda k: k.position)
        if not kfs:
            raise ValueError("the timeline has no keyframes")
        self.timeline, self.keyframes, self.model, self.loop = tl, kfs, model, tl.loop
        self.notes: list[str] = []
        self.positions = np.array([k.position for k in kfs], dtype=np.float64)
        if self.loop and len(kfs) > 1 and self.positions[-1] - self.positions[0] >= 1.0:
            raise ValueError("in a loop the last keyframe must come before position 1 (position 1 is the "
                             "first keyframe again); spread the keyframes or move the last one")
        info = getattr(model, "info", None)
        self._registry = registry
        self.latents = [self._resolve_latent(k, i, model, directions, strict_version) for i, k in enumerate(kfs)]
        shapes = {lat.ws.shape for lat in self.latents}
        if len(shapes) != 1:
            raise ValueError(f"keyframes have ws of different shapes {sorted(shapes)}: they come from different models")
        self.num_ws, self.w_dim = shapes.pop()
        if info is not None and (info.num_ws, info.w_dim) != (self.num_ws, self.w_dim):
            raise ValueError(f"keyframes have ws [{self.num_ws}, {self.w_dim}] but the model takes "
                             f"[{info.num_ws}, {info.w_dim}]")
        groups = getattr(info, "groups", None)
        z_dim = getattr(info, "z_dim", None)
        self._w_avg = None if model is None else np.asarray(_to_numpy(model.w_avg), np.float64)

        # cumulative keyframe states: a segment that moves some layers carries the others forward
        K = len(kfs)
        self._moves = [layer_rows(k.segment.layers, self.num_ws, groups) for k in kfs]
        states = [self.latents[0].ws]
        for i in range(1, K):
            states.append(np.where(self._moves[i - 1][:, None], self.latents[i].ws, states[-1]).astype(np.float32))
        self.states = np.stack(states).astype(np.float32)
        self.states.setflags(write=False)
        self._s64 = self.states.astype(np.float64)

        self.segments: list[_Seg] = []
        n_seg = K if (self.loop and K > 1) else K - 1
        for i in range(n_seg):
            j = (i + 1) % K
            seg = kfs[i].segment
            p1 = self.positions[j] + (1.0 if j == 0 else 0.0)
            move = self._moves[i].copy()
            differs = np.any(self.states[i] != self.states[j], axis=1)
            if j == 0:
                move |= differs        # the loop must close: everything that differs moves
            move &= differs            # rows equal at both ends stay exactly as they are
            self.segments.append(_Seg(i, j, float(self.positions[i]), float(p1), seg.interp, seg.easing, move))
        for s in self.segments:
            if s.interp == "cubic":
                s.m0, s.m1 = self._tangents(s.a, s.p1 - s.p0)
            elif s.interp == "slerp":
                self._prepare_slerp(s, kfs[s.a], kfs[s.b], z_dim)
        self.effective_interp = [s.interp for s in self.segments]

        # noise and image post-steps per keyframe
        salt = json.dumps([k.latent.digest() for k in kfs])
        self.noise_locked = None if tl.noise is None else _fixed_noise(tl.noise, "lock:" + salt)
        self._kf_noise = [_fixed_noise(lat.noise, f"kf{i}:" + lat.digest()) for i, lat in enumerate(self.latents)]

    # ----- setup helpers ----------------------------------------------------------------------
    @property
    def registry(self):
        if self._registry is None:
            self._registry = _default_registry()
        return self._registry

    def _resolve_latent(self, kf: Keyframe, index: int, model, directions, strict_version: bool) -> Latent:
        lat = kf.latent
        fp = None if model is None else str(model.fingerprint)
        if fp is not None and lat.model != fp:
            from .recipes import replay

            try:
                made = replay(lat.recipe, model, self.registry, directions, strict_version=strict_version)
            except Exception as e:
                raise ValueError(f"keyframe {index + 1} ({lat.label()}) was made with another model and its "
                                 f"recipe cannot be replayed on this one: {e}") from e
            lat = replace(made, noise=lat.noise, post=lat.post)
            self.notes.append(f"keyframe {index + 1}: recipe replayed on model {fp}")
        if kf.edit is not None:
            if model is None:
                raise ValueError(f"keyframe {index + 1} has an edit ({kf.edit.describe()}); resolving it needs the model")
            out = self.registry.apply(kf.edit.plugin, [lat], kf.edit.params, model=model, directions=directions,
                                      require_enabled=False)
            lat = out[0]
        return lat

    def _node(self, k: int) -> tuple[np.ndarray, float]:
        """Keyframe node k of the (cyclically extended, when looping) chain: (state, position)."""
        K = len(self.keyframes)
        if self.loop:
            q, r = divmod(k, K)
            return self._s64[r], float(self.positions[r] + q)
        k = min(max(k, 0), K - 1)
        return self._s64[k], float(self.positions[k])

    def _tangent(self, k: int) -> np.ndarray:
        """Catmull-Rom tangent (per unit of position) at node k: central difference over the
        neighbours' actual times; one-sided at the ends of an open clip. A row that holds still in
        the segment before or after node k gets a zero tangent there, so it eases into and out of
        the hold instead of arriving at speed and stopping dead (or overshooting a held value)."""
        K, n_seg = len(self.keyframes), len(self.segments)
        lo = k - 1 if (self.loop or k > 0) else k
        hi = k + 1 if (self.loop or k < K - 1) else k
        (pa, ta), (pb, tb) = self._node(lo), self._node(hi)
        if tb - ta <= 0:
            return np.zeros_like(pa)
        m = (pb - pa) / (tb - ta)
        moving = np.ones(self.num_ws, dtype=bool)
        for si in ((k - 1), k):     # the segments arriving at and leaving node k
            if self.loop:
                moving &= self.segments[si % n_seg].move
            elif 0 <= si < n_seg:
                moving &= self.segments[si].move
        return m * moving[:, None]

    def _tangents(self, i: int, length: float) -> tuple[np.ndarray, np.ndarray]:
        """Hermite end tangents of segment i (node i -> i+1), scaled by its length in position."""
        return self._tangent(i) * length, self._tangent(i + 1) * length

    def _prepare_slerp(self, s: _Seg, ka: Keyframe, kb: Keyframe, z_dim: int | None) -> None:
        why = None
        za, zb = ka.z_source(z_dim), kb.z_source(z_dim)
        if self.model is None:
            raise ValueError("slerp in Z needs the model (its mapping network); pass it to resolve()")
        if za is None or zb is None:
            why = "an end is not a seed"
        elif za.class_index != zb.class_index:
            why = "the ends have different classes"
        elif za.z.shape != (self.model.info.z_dim,) or zb.z.shape != (self.model.info.z_dim,):
            why = "the seeds' z do not fit this model"
        if why is None and np.array_equal(za.z, zb.z) and (za.psi, za.cutoff) == (zb.psi, zb.cutoff):
            s.interp = "linear"    # same z at both ends: the Z path is a point, the W line is exact
            return
        if why is not None:
            self.notes.append(f"segment {s.a + 1}: slerp needs seed keyframes ({why}); linear in W instead")
            s.interp = "linear"
            return
        s.za, s.zb = za, zb
        s.ma = self._truncate(self._map(za.z, za.class_index), self._psi_rows(za))
        s.mb = self._truncate(self._map(zb.z, zb.class_index), self._psi_rows(zb))

    def _psi_rows(self, src: ZSource) -> np.ndarray:
        rows = np.ones(self.num_ws, np.float64)
        end = self.num_ws if src.cutoff is None else int(src.cutoff)
        rows[:end] = src.psi
        return rows

    def _map(self, z: np.ndarray, class_index) -> np.ndarray:
        """Raw (psi 1) ws [num_ws, w_dim] float64 of one z. One z per call: see the module doc."""
        import torch

        info = self.model.info
        c = label_vector(class_index, info.c_dim)
        with torch.inference_mode():
            ws = self.model.map(torch.from_numpy(np.array(z, np.float32))[None],
                                None if c is None else torch.from_numpy(c)[None], psi=1.0)
        return np.asarray(_to_numpy(ws)[0], np.float64)

    def _truncate(self, w: np.ndarray, psi_rows: np.ndarray) -> np.ndarray:
        return self._w_avg + psi_rows[:, None] * (w - self._w_avg)

    # ----- evaluation -------------------------------------------------------------------------
    def _locate(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(segment index or -1, keyframe index when on a keyframe/outside the path, local u)."""
        K, pos = len(self.keyframes), self.positions
        n = len(ts)
        seg = np.full(n, -1, np.int64)
        kf = np.zeros(n, np.int64)
        u = np.zeros(n, np.float64)
        if K == 1:
            return seg, kf, u
        t = np.asarray(ts, np.float64)
        if self.loop:
            t = t - np.floor(t)
            t = np.where(t < pos[0], t + 1.0, t)
            i = np.clip(np.searchsorted(pos, t, side="right") - 1, 0, K - 1)
        else:
            i = np.clip(np.searchsorted(pos, t, side="right") - 1, 0, K - 2)
        for idx in range(n):
            ii = int(i[idx])
            tt = float(t[idx])
            if not self.loop and tt <= pos[0]:
                kf[idx] = 0
                continue
            if not self.loop and tt >= pos[-1]:
                kf[idx] = K - 1
                continue
            s = self.segments[ii]
            length = s.p1 - s.p0
            uu = (tt - s.p0) / length if length > 0 else 1.0
            if uu <= 0.0:
                kf[idx] = s.a
            elif uu >= 1.0:
                kf[idx] = s.b
            else:
                seg[idx], u[idx] = ii, uu
        return seg, kf, u

    def frames_ws(self, ts) -> np.ndarray:
        """ws [N, num_ws, w_dim] float32 at positions ts (any order; element-wise, batch-independent)."""
        ts = np.atleast_1d(np.asarray(ts, np.float64))
        seg, kf, u = self._locate(ts)
        out = np.empty((len(ts), self.num_ws, self.w_dim), np.float32)
        on_kf = seg < 0
        out[on_kf] = self.states[kf[on_kf]]
        for si in np.unique(seg[seg >= 0]):
            sel = np.nonzero(seg == si)[0]
            out[sel] = self._segment_ws(self.segments[int(si)], u[sel])
        return out

    def ws_at(self, t: float) -> np.ndarray:
        """ws [num_ws, w_dim] float32 at normalised position t."""
        return self.frames_ws([t])[0]

    def _segment_ws(self, s: _Seg, u: np.ndarray) -> np.ndarray:
        ue = ease(s.easing, u)
        sa, sb = self._s64[s.a], self._s64[s.b]
        if s.interp == "cubic":
            path = hermite(sa, sb, s.m0, s.m1, ue)
        else:
            path = lerp(sa, sb, ue)
            if s.interp == "slerp":
                path = path + self._slerp_bend(s, ue)
        res = np.where(s.move[None, :, None], path, sa[None]).astype(np.float32)
        res[ue <= 0.0] = self.states[s.a]
        res[ue >= 1.0] = self.states[s.b]
        return res

    def _slerp_bend(self, s: _Seg, ue: np.ndarray) -> np.ndarray:
        """M(slerp(z_a, z_b, u)) - lerp(M(z_a), M(z_b), u): what the Z path adds to the W line."""
        zs = slerp(s.za.z, s.zb.z, ue)
        pa, pb = self._psi_rows(s.za), self._psi_rows(s.zb)
        out = np.empty((len(ue), self.num_ws, self.w_dim), np.float64)
        for k, (z, v) in enumerate(zip(zs, ue)):
            m = self._truncate(self._map(z, s.za.class_index), (1.0 - v) * pa + v * pb)
            out[k] = m - ((1.0 - v) * s.ma + v * s.mb)
        return out

    # ----- per-frame extras -------------------------------------------------------------------
    def nearest_keyframe(self, t: float) -> int:
        """Index of the keyframe nearest in time (circular when looping; ties go to the earlier)."""
        pos = self.positions
        t = float(t)
        if self.loop:
            t -= math.floor(t)
            d = np.abs(pos - t)
            d = np.minimum(d, 1.0 - d)
        else:
            d = np.abs(pos - t)
        return int(np.argmin(d))

    def noise_at(self, t: float) -> NoiseSpec:
        if self.noise_locked is not None:
            return self.noise_locked
        return self._kf_noise[self.nearest_keyframe(t)]

    def noise_for(self, ts) -> list[NoiseSpec]:
        return [self.noise_at(t) for t in np.atleast_1d(ts)]

    def post_at(self, t: float) -> tuple:
        """Image edits (Latent.post) of the nearest keyframe: image edits cannot be interpolated."""
        return tuple(self.latents[self.nearest_keyframe(t)].post)

    # ----- sampling ---------------------------------------------------------------------------
    def frame_count(self, frames: int | None = None, fps: float | None = None,
                    duration: float | None = None) -> int:
        return self.timeline.frame_count(frames, fps, duration)

    def frame_positions(self, n: int | None = None) -> np.ndarray:
        return frame_positions(self.frame_count(n), self.loop)

    def iter_frames(self, n: int | None = None, chunk: int | None = None) -> Iterator[np.ndarray]:
        ts = self.frame_positions(n)
        step = chunk or 32
        for start in range(0, len(ts), step):
            block = self.frames_ws(ts[start:start + step])
            if chunk:
                yield block
            else:
                yield from block


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").float().numpy()
    return np.asarray(x)
