"""Per-image noise settings, shared by latents, the render service and the edits."""
from __future__ import annotations

from dataclasses import dataclass

NOISE_MODES = ("const", "random", "none")


@dataclass(frozen=True)
class NoiseSpec:
    """How one image's per-layer noise is drawn.

    mode: 'const' (the model's stored noise), 'random' (drawn from `seed`; the noise of an image
    depends only on its own seed, never on the batch it is rendered in) or 'none'.
    strength scales the noise. layers: for 'random', the ws-index range (start, stop) whose noise
    inputs are resampled; the others keep the stored noise (None = all layers). A 'random' spec
    without a seed gets a fresh random seed when it is submitted to the render service.
    """
    mode: str = "const"
    seed: int | None = None
    strength: float = 1.0
    layers: tuple[int, int] | None = None

    def __post_init__(self):
        if self.mode not in NOISE_MODES:
            raise ValueError(f"noise mode must be one of {NOISE_MODES}, not {self.mode!r}")
        if self.seed is not None:
            object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "strength", float(self.strength))
        if self.layers is not None:
            object.__setattr__(self, "layers", (int(self.layers[0]), int(self.layers[1])))

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

    def to_json(self) -> dict:
        return {"mode": self.mode, "seed": self.seed, "strength": self.strength,
                "layers": list(self.layers) if self.layers else None}

    @classmethod
    def from_json(cls, d: dict | None) -> "NoiseSpec":
        d = d or {}
        layers = d.get("layers")
        return cls(mode=d.get("mode", "const"), seed=d.get("seed"), strength=float(d.get("strength", 1.0)),
                   layers=tuple(layers) if layers else None)


NOISE_NONE = NoiseSpec("none")
