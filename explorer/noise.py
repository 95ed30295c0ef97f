"""Per-image noise settings, shared by latents, the render service and the edits."""
from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

NOISE_MODES = ("const", "random", "none", "maps")
MAX_MAP_SIDE = 4096
MAX_MAP_VALUES = 6_000_000          # a 1024 px StyleGAN2 has about 2.8 M noise values
STORE_BYTES = 512 << 20


class NoiseMapStore:
    """Explicit noise maps (a projected photo's), kept by content id so specs stay small and hashable.

    Recipes carry the maps themselves (float16, base64) and register them here when read."""

    def __init__(self, budget: int = STORE_BYTES):
        self._maps: OrderedDict[str, tuple[np.ndarray, ...]] = OrderedDict()
        self._bytes, self._budget = 0, int(budget)
        self._lock = threading.Lock()

    def put(self, maps) -> str:
        # kept as float16 values (what recipes store), so a face renders the same before and after saving
        arrs = tuple(np.ascontiguousarray(np.asarray(m, dtype=np.float32).astype(np.float16).astype(np.float32))
                     for m in maps)
        check_maps(arrs)
        h = hashlib.sha1()
        for a in arrs:
            h.update(str(a.shape).encode())
            h.update(a.astype(np.float16).tobytes())
        key = h.hexdigest()[:20]
        with self._lock:
            if key in self._maps:
                self._maps.move_to_end(key)
                return key
            for a in arrs:
                a.setflags(write=False)
            self._maps[key] = arrs
            self._bytes += sum(a.nbytes for a in arrs)
            while self._bytes > self._budget and len(self._maps) > 1:
                _k, old = self._maps.popitem(last=False)
                self._bytes -= sum(a.nbytes for a in old)
        return key

    def get(self, key: str) -> tuple[np.ndarray, ...]:
        with self._lock:
            maps = self._maps.get(key)
            if maps is not None:
                self._maps.move_to_end(key)
        if maps is None:
            raise KeyError(f"noise maps {key} are not loaded (open the face's recipe again)")
        return maps


def check_maps(maps) -> None:
    """ValueError unless every map is a finite 2-D square of a sane size, in bounds overall."""
    total = 0
    if not 1 <= len(maps) <= 64:
        raise ValueError(f"expected 1 to 64 noise maps, got {len(maps)}")
    for a in maps:
        if a.ndim != 2 or a.shape[0] != a.shape[1] or not 1 <= a.shape[0] <= MAX_MAP_SIDE:
            raise ValueError(f"a noise map must be a square of at most {MAX_MAP_SIDE} px, got {a.shape}")
        total += a.size
        if total > MAX_MAP_VALUES:
            raise ValueError(f"noise maps hold more than {MAX_MAP_VALUES:,} values")
        if not np.isfinite(a).all():
            raise ValueError("noise maps hold non-finite values")


NOISE_MAPS = NoiseMapStore()


@dataclass(frozen=True)
class NoiseSpec:
    """How one image's per-layer noise is drawn.

    mode: 'const' (the model's stored noise), 'random' (drawn from `seed`; the noise of an image
    depends only on its own seed, never on the batch it is rendered in), 'none', or 'maps': explicit
    per-layer maps (a projected photo's), kept in NOISE_MAPS under the content id `maps`.
    strength scales the noise. layers: for 'random', the ws-index range (start, stop) whose noise
    inputs are resampled; the others keep the stored noise (None = all layers). A 'random' spec
    without a seed gets a fresh random seed when it is submitted to the render service.
    """
    mode: str = "const"
    seed: int | None = None
    strength: float = 1.0
    layers: tuple[int, int] | None = None
    maps: str | None = None

    def __post_init__(self):
        if self.mode not in NOISE_MODES:
            raise ValueError(f"noise mode must be one of {NOISE_MODES}, not {self.mode!r}")
        if self.seed is not None:
            object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "strength", float(self.strength))
        if self.layers is not None:
            object.__setattr__(self, "layers", (int(self.layers[0]), int(self.layers[1])))
        if (self.mode == "maps") != (self.maps is not None):
            raise ValueError("noise mode 'maps' goes with a maps id, and only it")

    def canonical(self, has_noise: bool = True) -> "NoiseSpec":
        """The equivalent spec in one spelling, so equal renders share a cache key and a batch."""
        if not has_noise or self.mode == "none" or self.strength == 0.0:
            return NOISE_NONE
        if self.mode == "const":
            return self if (self.seed is None and self.layers is None) else NoiseSpec("const", None, self.strength)
        return self

    @property
    def batch_key(self) -> tuple:
        """What must match for two images to share one synthesize call (seeds may differ)."""
        return (self.mode, self.strength, self.layers)

    def key(self) -> dict:
        """The spec without the maps' data: what cache keys and digests hash."""
        d = {"mode": self.mode, "seed": self.seed, "strength": self.strength,
             "layers": list(self.layers) if self.layers else None}
        if self.maps is not None:
            d["maps"] = self.maps
        return d

    def to_json(self) -> dict:
        d = self.key()
        if self.maps is not None:          # the maps travel with the recipe (float16, base64)
            arrs = NOISE_MAPS.get(self.maps)
            d["map_sides"] = [int(a.shape[0]) for a in arrs]
            d["map_data"] = base64.b64encode(b"".join(a.astype("<f2").tobytes() for a in arrs)).decode("ascii")
        return d

    @classmethod
    def from_json(cls, d: dict | None) -> "NoiseSpec":
        d = d or {}
        layers = d.get("layers")
        maps = None
        if d.get("mode") == "maps":
            maps = NOISE_MAPS.put(decode_maps(d.get("map_sides"), d.get("map_data")))
        return cls(mode=d.get("mode", "const"), seed=d.get("seed"), strength=float(d.get("strength", 1.0)),
                   layers=tuple(layers) if layers else None, maps=maps)

    @classmethod
    def from_maps(cls, maps, strength: float = 1.0) -> "NoiseSpec":
        return cls("maps", None, strength, None, NOISE_MAPS.put(maps))


def decode_maps(sides, data) -> list[np.ndarray]:
    """float16 base64 maps of the given sides, checked before anything is allocated."""
    if not isinstance(sides, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in sides):
        raise ValueError("noise maps need a list of sides")
    if not 1 <= len(sides) <= 64 or any(not 1 <= s <= MAX_MAP_SIDE for s in sides) \
            or sum(s * s for s in sides) > MAX_MAP_VALUES:
        raise ValueError("noise maps of sizes we refuse")
    if not isinstance(data, str) or len(data) > 4 * (2 * MAX_MAP_VALUES) // 3 + 8:
        raise ValueError("noise map data missing or too long")
    raw = base64.b64decode(data, validate=True)
    if len(raw) != 2 * sum(s * s for s in sides):
        raise ValueError("noise map data does not match their sides")
    flat = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    out, at = [], 0
    for s in sides:
        out.append(flat[at:at + s * s].reshape(s, s))
        at += s * s
    return out


NOISE_NONE = NoiseSpec("none")


def noise_for_model(spec: "NoiseSpec", model) -> tuple["NoiseSpec", str | None]:
    """The spec as `model` can render it: explicit maps made for another model's noise inputs give
    way to the stored noise, with a sentence saying so."""
    if spec.mode != "maps":
        return spec, None
    sides = [int(a.shape[0]) for a in NOISE_MAPS.get(spec.maps)]
    inputs = model.noise_inputs() if hasattr(model, "noise_inputs") else []
    if sides == [int(ni.resolution) for ni in inputs]:
        return spec, None
    return NoiseSpec(), "its noise maps belong to another model; this model's stored noise is used"
