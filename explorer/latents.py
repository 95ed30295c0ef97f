"""Seeds -> latents, and the layer-group vocabulary shared by every edit.

A seed's z is drawn exactly as NVIDIA's gen_images.py draws it (numpy RandomState(seed).randn),
so seed 42 here is seed 42 in their tools too.
"""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import torch

GROUP_NAMES = ("coarse", "medium", "fine")


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
