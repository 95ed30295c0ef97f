"""Judge-free figures: structure vs colour following, noise change, on known images and a tiny model."""
from __future__ import annotations

import numpy as np
import torch

from explorer.generators import Generator, stylegan2_config
from explorer.training.model_figures import follows, mixing_shares, noise_change


def _shape(kind: str, colour, bg) -> np.ndarray:
    img = np.empty((32, 32, 3), np.uint8)
    img[:] = bg
    if kind == "square":
        img[8:24, 8:24] = colour
    else:
        yy, xx = np.mgrid[:32, :32]
        img[(yy - 16) ** 2 + (xx - 10) ** 2 < 50] = colour
    return img


def test_follows_tells_structure_from_colour():
    a = np.stack([_shape("square", (250, 40, 40), (20, 20, 120))] * 3)     # source: square, red on blue
    b = np.stack([_shape("disc", (40, 220, 60), (230, 230, 200))] * 3)     # dest: disc, green on cream
    coarse_like = np.stack([_shape("square", (40, 220, 60), (230, 230, 200))] * 3)   # A's shape, B's colours
    fine_like = np.stack([_shape("disc", (250, 40, 40), (20, 20, 120))] * 3)         # B's shape, A's colours
    assert follows(coarse_like, a, b) == {"structure": 1.0, "colour": 0.0}
    assert follows(fine_like, a, b) == {"structure": 0.0, "colour": 1.0}


def test_tiny_model_figures_run_and_are_bounded():
    torch.manual_seed(0)
    g = Generator(stylegan2_config(32, z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=1))
    with torch.no_grad():
        for layer in g.synthesis.noise_layers():
            layer.noise_strength.fill_(0.5)
    shares = mixing_shares(g, range(6), range(100, 106))
    assert set(shares) == {name for name, r in g.info.groups.items() if len(r)} == {"coarse", "medium"}
    for v in shares.values():
        assert 0.0 <= v["structure"] <= 1.0 and 0.0 <= v["colour"] <= 1.0
    assert noise_change(g, range(40), layers=None, batch=16) > 0
    with torch.no_grad():
        for layer in g.synthesis.noise_layers():
            layer.noise_strength.zero_()
    assert noise_change(g, range(4)) == 0.0
