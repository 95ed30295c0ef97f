"""Direction: a unit vector in W, the model it belongs to, the layers it acts on, and its units.

A direction only means something for the generator whose W space it was measured in, so every
Direction carries that model's fingerprint and refuses to move latents of another model. Moves
are in units of `scale`, the spread (std) of sampled latents along the vector, so "+2" means
"two standard deviations further" for a fitted, a PCA and a SeFa direction alike.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..edits import move
from ..latents import resolve_layers
from ..layers import LayerSpec

METHODS = ("svm", "pca", "sefa", "import", "conditional", "slot")   # slot: read off a renderer-2 model's z
UNIT_TOLERANCE = 1e-5   # vectors this close to unit length are kept bit-exact (JSON round trips)


# A fitted direction "works" when its classifier separates both classes (balanced accuracy: plain
# accuracy is 94% for a label that is positive in 1% of faces and never predicted) and, where the
# fit measured it, moving along it turns the attribute on for most faces.
MIN_BALANCED_ACCURACY = 0.75
MIN_EFFICACY = 0.8


def weak_fit_reason(quality: dict) -> str | None:
    """Why a fitted direction is not worth a slider (None: it is). Directions with no measured
    quality (PCA, SeFa, imported) are never called weak."""
    bal = quality.get("val_balanced_accuracy")
    if isinstance(bal, (int, float)) and bal < MIN_BALANCED_ACCURACY:
        return f"balanced validation accuracy {bal:.0%} (below {MIN_BALANCED_ACCURACY:.0%})"
    eff = quality.get("efficacy")
    if isinstance(eff, (int, float)) and eff < MIN_EFFICACY:
        return f"turns the attribute on for {eff:.0%} of faces (below {MIN_EFFICACY:.0%})"
    return None


class DirectionModelError(ValueError):
    """A direction applied to latents of a model other than the one it was fitted on."""


def normalise_layers(layers) -> None | str | range:
    """None / 'all' -> None, a group name stays, (start, stop) / range -> range(start, stop).

    Explicit ranges are kept as `range` so code that expects `.layers` to be range | None (the
    edit functions, plugins) can use it directly; a group name needs `layer_range(info)`."""
    spec = LayerSpec.parse(layers)
    if spec.is_all:
        return None
    if spec.span is not None:
        return range(*spec.span)
    if spec.group is None:
        raise ValueError(f"a direction acts on one layer group or one range, not {spec.canonical()!r}")
    return spec.group


def unit_vector(vector, what: str = "direction") -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError(f"{what} vector is empty or not finite")
    norm = float(np.linalg.norm(v.astype(np.float64)))
    if norm < 1e-12:
        raise ValueError(f"{what} vector is zero")
    if abs(norm - 1.0) > UNIT_TOLERANCE:
        v = (v.astype(np.float64) / norm).astype(np.float32)
    return v


@dataclass(eq=False)
class Direction:
    """vector: unit float32 [w_dim]. layers: None (all), 'coarse' | 'medium' | 'fine', or a ws
    index range (given as range or (start, stop), stored as range). model: fingerprint of the
    generator it was fitted on (None: not bound).
    scale: std of sampled w along the vector (moves are in these units). bias: SVM offset in
    the same units as w . vector, so score(w) is a signed distance to the decision boundary."""
    vector: np.ndarray
    name: str = "direction"
    layers: Any = None
    model: str | None = None
    method: str = "svm"
    quality: dict = field(default_factory=dict)
    scale: float = 1.0
    bias: float | None = None

    def __post_init__(self):
        self.vector = unit_vector(self.vector, f"direction {self.name!r}")
        self.vector.setflags(write=False)
        self.layers = normalise_layers(self.layers)
        if self.method not in METHODS:
            raise ValueError(f"unknown direction method {self.method!r}; one of {', '.join(METHODS)}")
        self.scale = float(self.scale)
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"direction {self.name!r}: scale must be a positive number, got {self.scale}")
        self.bias = None if self.bias is None else float(self.bias)
        self.quality = dict(self.quality or {})

    @property
    def w_dim(self) -> int:
        return int(self.vector.shape[0])

    # ----- model binding ------------------------------------------------------------------
    def check_model(self, fingerprint: str | None) -> None:
        """Raise DirectionModelError if this direction belongs to another model than `fingerprint`."""
        if self.model and fingerprint and self.model != fingerprint:
            raise DirectionModelError(
                f"direction {self.name!r} was fitted on model {self.model} and cannot be applied to "
                f"model {fingerprint}: directions are only meaningful in the W space they were "
                "measured in. Fit or import it again for this model.")

    def layer_range(self, info, groups: dict[str, range] | None = None) -> range:
        """The ws index range this direction acts on, for a model's info (or a num_ws int)."""
        if isinstance(info, (int, np.integer)):
            num_ws = int(info)
        else:
            num_ws = int(info.num_ws)
            groups = groups if groups is not None else getattr(info, "groups", None)
        return resolve_layers(self.layers, num_ws, groups)

    # ----- using it -----------------------------------------------------------------------
    def apply(self, ws: np.ndarray, amount: float, groups: dict[str, range] | None = None,
              model_fingerprint: str | None = None) -> np.ndarray:
        """ws [num_ws, w_dim] or [N, num_ws, w_dim] -> ws + amount * scale * d on this direction's
        layers. `groups` resolves a group name; `model_fingerprint` is checked against `model`."""
        self.check_model(model_fingerprint)
        ws = np.asarray(ws, dtype=np.float32)
        if ws.ndim not in (2, 3) or ws.shape[-1] != self.w_dim:
            raise ValueError(f"direction {self.name!r} is {self.w_dim}-dimensional; ws must be "
                             f"[num_ws, {self.w_dim}] or [N, num_ws, {self.w_dim}], got {list(ws.shape)}")
        r = resolve_layers(self.layers, ws.shape[-2], groups)
        step = float(amount) * self.scale
        if ws.ndim == 2:
            return move(ws, self.vector, step, r)
        return np.stack([move(w, self.vector, step, r) for w in ws]) if len(ws) else ws.copy()

    def score(self, w: np.ndarray) -> np.ndarray:
        """w [N, w_dim] (or [w_dim]) -> signed distance to the boundary (w . d + bias)."""
        w = np.asarray(w, dtype=np.float32)
        if w.shape[-1] != self.w_dim or w.ndim > 2:
            raise ValueError(f"score needs w [N, {self.w_dim}], got {list(w.shape)}")
        return (w @ self.vector + np.float32(self.bias or 0.0)).astype(np.float32)

    # ----- variants -----------------------------------------------------------------------
    def replace(self, **changes) -> "Direction":
        return dataclasses.replace(self, **changes)

    def negated(self, name: str | None = None) -> "Direction":
        """The opposite direction ('young' from 'old'), with the boundary kept."""
        return self.replace(vector=-self.vector, name=name or f"-{self.name}",
                            bias=None if self.bias is None else -self.bias)

    def __repr__(self) -> str:
        acc = self.quality.get("val_accuracy")
        acc = f", val_acc={acc:.3f}" if isinstance(acc, (float, int)) else ""
        return (f"Direction({self.name!r}, method={self.method}, w_dim={self.w_dim}, layers={self.layers}, "
                f"model={self.model}, scale={self.scale:.4g}{acc})")
