"""Seeds -> latents, and the layer-group vocabulary shared by every edit.

A seed's z is drawn exactly as NVIDIA's gen_images.py draws it (numpy RandomState(seed).randn),
so seed 42 here is seed 42 in their tools too.
"""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import torch

from .layers import GROUP_NAMES  # noqa: E402,F401 - the one vocabulary; re-exported for old imports


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """float32 [z_dim]; identical to NVIDIA's `np.random.RandomState(seed).randn(1, z_dim)`."""
    return np.random.RandomState(int(seed) % (2 ** 32)).randn(1, z_dim).astype(np.float32)[0]


def z_from_seeds(seeds: Iterable[int], z_dim: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([z_from_seed(s, z_dim) for s in seeds]))


def parse_seeds(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ValueError(f"seed range {part!r} runs backwards")
            seeds.extend(range(lo, hi + 1))
        elif re.fullmatch(r"\d+", part):
            seeds.append(int(part))
        else:
            raise ValueError(f"not a seed or seed range: {part!r}")
    if not seeds:
        raise ValueError("no seeds given")
    return seeds


def label_vector(class_index: int | None, c_dim: int) -> np.ndarray | None:
    """One-hot label for conditional models (None for unconditional ones)."""
    if c_dim == 0:
        return None
    c = np.zeros(c_dim, dtype=np.float32)
    c[int(class_index or 0) % c_dim] = 1.0
    return c


# ----- the latent-as-recipe model --------------------------------------------------------------
import base64  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402

from .noise import NoiseSpec  # noqa: E402

RECIPE_VERSION = 1


@dataclass(frozen=True, eq=False)
class Latent:
    """A face: W+ styles [num_ws, w_dim] + noise + the recipe that made it + its model's fingerprint.

    Immutable; edits return new Latents. `recipe` is a JSON-able tree (see `seed_recipe`,
    `edit_recipe`) that `explorer.recipes.replay` turns back into the same ws.
    """
    ws: np.ndarray
    recipe: dict
    model: str
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    post: tuple = ()  # image edits applied after rendering: ({"plugin", "version", "params"}, ...)

    def __post_init__(self):
        ws = np.array(self.ws, dtype=np.float32, copy=True)
        if ws.ndim != 2:
            raise ValueError(f"a latent's ws must be [num_ws, w_dim], got shape {ws.shape}")
        ws.setflags(write=False)
        object.__setattr__(self, "ws", ws)

    def digest(self) -> str:
        """Content key for caches: styles + noise (not the recipe: same face, same pixels)."""
        h = hashlib.sha1(self.ws.tobytes())
        h.update(json.dumps(self.noise.key(), sort_keys=True).encode())
        return h.hexdigest()

    def with_noise(self, noise: NoiseSpec) -> "Latent":
        return replace(self, noise=noise)

    def to_json(self) -> dict:
        return {"version": RECIPE_VERSION, "model": self.model, "recipe": self.recipe,
                "noise": self.noise.to_json(), "post": list(self.post), "shape": list(self.ws.shape),
                "ws": base64.b64encode(self.ws.astype("<f4").tobytes()).decode("ascii")}

    @classmethod
    def from_json(cls, d: dict) -> "Latent":
        shape = tuple(d["shape"])
        ws = np.frombuffer(base64.b64decode(d["ws"]), dtype="<f4").reshape(shape)
        return cls(ws=ws, recipe=d["recipe"], model=d["model"], noise=NoiseSpec.from_json(d.get("noise")),
                   post=tuple(d.get("post") or ()))

    def label(self) -> str:
        return describe(self.recipe, short=True)


def seed_recipe(seed: int, psi: float = 1.0, cutoff: int | None = None, class_index: int | None = None) -> dict:
    return {"op": "seed", "seed": int(seed), "psi": float(psi), "cutoff": cutoff, "class_index": class_index}


def edit_recipe(plugin_id: str, version: int | str, params: dict, inputs: list[dict]) -> dict:
    return {"op": "edit", "plugin": plugin_id, "version": version, "params": params, "inputs": inputs}


def describe(recipe: dict, short: bool = False) -> str:
    """Human-readable one-liner: 'seed 7 (psi 0.70)', 'style_mix(seed 3, seed 7)' ..."""
    op = recipe.get("op")
    if op == "seed":
        s = f"seed {recipe['seed']}"
        if recipe.get("psi", 1.0) != 1.0 and not short:
            s += f" (psi {recipe['psi']:.2f})"
        return s
    if op == "edit":
        inner = ", ".join(describe(r, short=True) for r in recipe.get("inputs", []))
        name = recipe.get("plugin", "edit").split(".")[-1]
        if short:
            return f"{name}({inner})" if len(inner) < 28 else f"{name}(…)"
        params = ", ".join(f"{k}={v}" for k, v in recipe.get("params", {}).items())
        return f"{name}({inner}; {params})" if params else f"{name}({inner})"
    if op == "import":
        return recipe.get("name", "imported")
    return str(op)


def latent_from_seed(gen, seed: int, psi: float = 1.0, cutoff: int | None = None,
                     class_index: int | None = None) -> Latent:
    """The Latent of a seed: NVIDIA's z for the seed, mapped and truncated."""
    z = torch.from_numpy(z_from_seed(seed, gen.info.z_dim))[None]
    c = label_vector(class_index, gen.info.c_dim)
    with torch.inference_mode():
        ws = gen.map(z, None if c is None else torch.from_numpy(c)[None], psi=psi, cutoff=cutoff)
    return Latent(ws=ws[0].cpu().numpy(), recipe=seed_recipe(seed, psi, cutoff, class_index if gen.info.c_dim else None),
                  model=gen.fingerprint)


def latents_from_seeds(gen, seeds, psi: float = 1.0, cutoff: int | None = None) -> list[Latent]:
    """One Latent per seed. Seeds are mapped one at a time on purpose: a batched matmul rounds
    differently (~1e-7), and a cell's ws must not depend on the batch it was made in, so that
    replaying its recipe gives the identical latent. Mapping is cheap (~0.1 ms a seed)."""
    return [latent_from_seed(gen, s, psi, cutoff) for s in seeds]


def resolve_layers(spec, num_ws: int, groups: dict[str, range] | None = None) -> range:
    """'coarse' | 'medium' | 'fine' | 'all' | (start, stop) | range -> a ws index range
    (explorer.layers.LayerSpec does the work)."""
    from .layers import LayerSpec

    if isinstance(spec, range) and spec.step == 1 and (spec.start < 0 or spec.stop > num_ws or spec.start >= spec.stop):
        raise ValueError(f"layer range {spec.start}-{spec.stop - 1} is outside 0-{num_ws - 1}")
    return LayerSpec.parse(spec).resolve(num_ws, groups)
