"""How a neural-renderer model reads its z: renderer 2's layout and renderer 3's.

Renderer 2 (`faces_v2`) gives every drawing parameter one slot of z; a categorical parameter
(hair colour: black, brown, blonde, red, grey, dyed) takes its class from bins of that one slot.
A direction in W towards a class in the middle of the bins cannot exist: blonde is reached from
brown by moving the slot up and from red by moving it down, so the faces' moves cancel.

Renderer 3 draws the same pictures from the same parameters, but a categorical parameter has one
slot per class and takes the class whose slot, plus a fixed per-class offset, is the largest. The
offsets are solved so each class keeps renderer 2's prior, so z ~ N(0, I) still draws the same
distribution of faces. "Towards blonde" is then the blonde slot going up, from any face, and
"towards glasses" never passes through sunglasses.

Renderer 3's data are renderer 2's: dataset item `seed` is renderer 2's picture of that seed with
its z *lifted* (`lift`): the same non-categorical slots, and each category's class slots drawn
from N(0, I) given that the item's class wins (exact: the lifted z are N(0, I) distributed). So a
renderer-2 dataset trains a renderer-3 model without drawing a picture again.

Public API: Layout (version, slots, z_dim, slot_index, slot_indices, params_from_z, z_of_seed,
item_z, render_seed, set_attribute), LAYOUTS, layout_for(version), layout_of(generator),
LAYOUT_V2, LAYOUT_V3; class_offsets(weights).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy.stats import norm

from . import faces_v2 as V

HIGH_Z = 2.0        # where a continuous parameter is set by set_attribute: 97.7% of its prior below
CLASS_MARGIN = 0.5  # how far a class slot is raised above its strongest rival


def bin_centres(slot: V.Slot) -> np.ndarray:
    """Renderer 2's z value in the middle of each class's bin of a categorical slot."""
    w = np.asarray(slot.weights, dtype=np.float64) / sum(slot.weights)
    edges = np.concatenate([[0.0], np.cumsum(w)])
    return norm.ppf((edges[:-1] + edges[1:]) / 2)


@lru_cache(maxsize=None)
def class_offsets(weights: tuple[float, ...]) -> np.ndarray:
    """Offsets b such that argmax(x + b), x ~ N(0, I), picks class c with probability
    weights[c] / sum(weights) (to ~1e-6; solved by fixed-point iteration on a quadrature of
    P(c) = integral phi(t) prod_{j != c} Phi(t + b_c - b_j) dt)."""
    w = np.asarray(weights, dtype=np.float64) / sum(weights)
    t = np.linspace(-9.0, 9.0, 6001)
    dt, pdf = t[1] - t[0], norm.pdf(t)
    b = np.zeros(len(w))
    for _ in range(200):
        p = np.array([(pdf * np.prod([norm.cdf(t + b[c] - b[j]) for j in range(len(w)) if j != c], axis=0)).sum()
                      for c in range(len(w))]) * dt
        b += 0.7 * (np.log(w) - np.log(p))
        b -= b.mean()
        if np.abs(p - w).max() < 1e-7:
            break
    return b


class Layout:
    """Renderer 2's layout (one slot per parameter)."""
    version = 2
    data_version = 2    # the renderer whose datasets it trains on

    def __init__(self):
        self.slots: tuple[tuple[str, str], ...] = tuple((s.name, s.group) for s in V.SLOTS)
        self.z_dim = len(self.slots)
        self.slot_index = {name: i for i, (name, _) in enumerate(self.slots)}

    def slot_indices(self, group: str) -> np.ndarray:
        if group not in V.GROUPS:
            raise ValueError(f"group must be one of {V.GROUPS}, not {group!r}")
        return np.array([i for i, (_, g) in enumerate(self.slots) if g == group], dtype=np.int64)

    def to_v2(self, z: Sequence[float]) -> np.ndarray:
        """Renderer 2's z for the same portrait."""
        return np.asarray(z, dtype=np.float64).reshape(-1)[:V.Z_DIM]

    def params_from_z(self, z: Sequence[float]) -> V.FaceParams:
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        if z.size < self.z_dim:
            raise ValueError(f"z needs {self.z_dim} entries, got {z.size}")
        return V.params_from_z(self.to_v2(z))

    def labels(self, z: Sequence[float]) -> np.ndarray:
        return V.encode_labels_v2(self.params_from_z(z))

    def z_of_seed(self, seed: int) -> np.ndarray:
        """A seed's z exactly as the app draws it (explorer.latents.z_from_seed)."""
        return np.random.RandomState(int(seed) % (2 ** 32)).randn(1, self.z_dim).astype(np.float32)[0]

    def item_z(self, seed: int) -> np.ndarray:
        """The z of renderer-2 dataset item `seed` in this layout."""
        return V.z_of_seed(seed)

    def render_seed(self, seed: int, resolution: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """(image, labels) of the app's seed `seed`: its z in this layout, noise from the seed."""
        p = self.params_from_z(self.z_of_seed(seed))
        noise = V.detail_noise(V.noise_maps(seed, V.noise_resolutions(resolution)), resolution)
        return V.render_params_v2(p, noise, resolution), V.encode_labels_v2(p)

    def set_attribute(self, z: np.ndarray, slot: str, cls: str | None = None) -> np.ndarray:
        """z [N, z_dim] moved so that parameter `slot` (class `cls` of a categorical one) holds:
        a class's bin centre, a flag's 'on' side, a continuous parameter's high end (HIGH_Z)."""
        s = self._v2_slot(slot)
        z = np.array(z, dtype=np.float32, copy=True)
        if s.kind == "category":
            z[:, self.slot_index[slot]] = bin_centres(s)[self._class_index(s, cls)]
        else:
            z[:, self.slot_index[slot]] = self._high(s, cls)
        return z

    def mapping_class_groups(self) -> list[dict]:
        """The mapping network's class runs (MappingNetwork class_groups) for this layout."""
        return []

    # helpers
    @staticmethod
    def _v2_slot(name: str) -> V.Slot:
        if name not in V.SLOT_INDEX:
            raise ValueError(f"no renderer slot draws {name!r}")
        return V.SLOTS[V.SLOT_INDEX[name]]

    @staticmethod
    def _class_index(s: V.Slot, cls: str | None) -> int:
        if cls not in s.classes:
            raise ValueError(f"{s.name} has no class {cls!r}")
        return s.classes.index(cls)

    @staticmethod
    def _high(s: V.Slot, cls: str | None) -> float:
        if cls is not None:
            raise ValueError(f"{s.name} is not categorical")
        return float(norm.ppf(s.p / 2)) if s.kind == "flag" else HIGH_Z   # a flag is on below p


class LayoutV3(Layout):
    """Renderer 3: each categorical parameter is one slot per class ('hair_color=blonde'), the
    class the argmax of its slots plus `class_offsets(weights)`."""
    version = 3

    def __init__(self):
        slots, self.categories = [], {}
        for k, s in enumerate(V.SLOTS):
            if s.kind == "category":
                first = len(slots)
                slots += [(f"{s.name}={c}", s.group) for c in s.classes]
                self.categories[s.name] = (k, np.arange(first, len(slots)), class_offsets(s.weights),
                                           bin_centres(s))
            else:
                slots.append((s.name, s.group))
        self.slots = tuple(slots)
        self.z_dim = len(slots)
        self.slot_index = {name: i for i, (name, _) in enumerate(self.slots)}
        self.plain = np.array([self.slot_index[s.name] for s in V.SLOTS if s.kind != "category"])
        self.plain_v2 = np.array([k for k, s in enumerate(V.SLOTS) if s.kind != "category"])

    def classes_of(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """Per categorical parameter, the class index each row of z [N, z_dim] draws."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        return {name: np.argmax(z[:, idx] + b, axis=1) for name, (_, idx, b, _) in self.categories.items()}

    def class_gaps(self, z: np.ndarray) -> np.ndarray:
        """[N]: over all categories, the smallest lead of the winning class's score over the
        runner-up's (small: two classes nearly tie and the mapping's softmax blends them)."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        tops = [np.sort(z[:, idx] + b, axis=1)[:, -2:] for _, idx, b, _ in self.categories.values()]
        return np.min([t[:, 1] - t[:, 0] for t in tops], axis=0)

    def to_v2(self, z: Sequence[float]) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        out = np.empty(V.Z_DIM)
        out[self.plain_v2] = z[self.plain]
        for name, c in self.classes_of(z[None]).items():
            k, _, _, centres = self.categories[name]
            out[k] = centres[c[0]]
        return out

    def lift(self, z2: Sequence[float], rng: np.random.Generator) -> np.ndarray:
        """A renderer-3 z drawing the same portrait as renderer 2's z2: class slots drawn from
        N(0, I) given that z2's class wins (rejection sampling)."""
        z2 = np.asarray(z2, dtype=np.float64).reshape(-1)
        out = np.empty(self.z_dim, dtype=np.float64)
        out[self.plain] = z2[self.plain_v2]
        for name, (k, idx, b, _) in self.categories.items():
            s = V.SLOTS[k]
            cls = s.classes.index(V.slot_value(s, float(z2[k])))
            while True:
                x = rng.standard_normal((64, len(idx)))
                hit = np.flatnonzero(np.argmax(x + b, axis=1) == cls)
                if len(hit):
                    out[idx] = x[hit[0]]
                    break
        return out.astype(np.float32)

    def item_z(self, seed: int) -> np.ndarray:
        return self.lift(V.z_of_seed(seed), np.random.default_rng([int(seed), 3]))

    def mapping_class_groups(self) -> list[dict]:
        return [{"start": int(idx[0]), "stop": int(idx[-1]) + 1, "offsets": [round(float(v), 6) for v in b]}
                for _, idx, b, _ in self.categories.values()]

    def set_attribute(self, z: np.ndarray, slot: str, cls: str | None = None) -> np.ndarray:
        """As Layout.set_attribute; a class is set by raising its slot CLASS_MARGIN above the
        strongest rival (offsets included), so it wins for every face."""
        z = np.array(z, dtype=np.float32, copy=True)
        if slot in self.categories:
            s = self._v2_slot(slot)
            c = self._class_index(s, cls)
            _, idx, b, _ = self.categories[slot]
            rivals = np.delete(z[:, idx] + b, c, axis=1).max(axis=1)
            z[:, idx[c]] = np.maximum(z[:, idx[c]], rivals - b[c] + CLASS_MARGIN)
            return z
        s = self._v2_slot(slot)
        z[:, self.slot_index[slot]] = self._high(s, cls)
        return z


LAYOUT_V2 = Layout()
LAYOUT_V3 = LayoutV3()
LAYOUTS = {2: LAYOUT_V2, 3: LAYOUT_V3}


def layout_for(version: int) -> Layout:
    if int(version) not in LAYOUTS:
        raise ValueError(f"unknown renderer version {version!r} (known: {sorted(LAYOUTS)})")
    return LAYOUTS[int(version)]


def layout_of(gen) -> Layout:
    """The layout of a generator whose z has renderer slot semantics; ValueError for any other."""
    sem = (getattr(gen, "config", None) or {}).get("z_semantics") or {}
    version = sem.get("renderer_version")
    if version not in LAYOUTS:
        raise ValueError("this needs a model whose z has renderer slot semantics (the neural-renderer "
                         "default model)")
    layout = LAYOUTS[version]
    if [tuple(s) for s in sem.get("slots", [])] != list(layout.slots):
        raise ValueError(f"the model's z slots differ from renderer {version}'s")
    return layout


__all__ = ["Layout", "LayoutV3", "LAYOUT_V2", "LAYOUT_V3", "LAYOUTS", "layout_for", "layout_of",
           "class_offsets", "bin_centres"]
