"""The embedded default model, its classifier and its directions, as shipped in resources/."""
from __future__ import annotations

import json

import numpy as np
import torch

from explorer import load_generator
from explorer.checkpoints import DEFAULT_MODEL
from explorer.directions import load_directions
from explorer.latents import latents_from_seeds

RESOURCES = DEFAULT_MODEL.parent


def test_default_model_loads_and_renders_distinct_faces():
    gen = load_generator("default")
    assert gen.name == "default" and gen.info.resolution == 64 and gen.info.arch == "stylegan2"
    lat = latents_from_seeds(gen, range(8), psi=0.7)
    with torch.inference_mode():
        img = gen.synthesize(torch.from_numpy(np.stack([l.ws for l in lat])))
    assert torch.isfinite(img).all()
    per_image_std = img.flatten(1).std(dim=1)
    assert (per_image_std > 0.1).all(), "no flat, degenerate images"
    flat = img.flatten(1)
    dists = torch.cdist(flat, flat)[~torch.eye(8, dtype=bool)]
    assert dists.min() > 1.0, "every seed gives a different face"
    assert 0.2 < img.abs().mean() < 1.5, "in the [-1, 1] range like training images"


def test_default_directions_are_unit_and_belong_to_the_model():
    gen = load_generator("default")
    dirs = load_directions(RESOURCES / "default_directions.json")
    names = {d.name for d in dirs}
    assert {"smile", "old", "glasses"} <= names
    for d in dirs:
        assert abs(np.linalg.norm(d.vector) - 1.0) < 1e-5
        assert d.vector.shape == (gen.info.w_dim,)
        d.check_model(gen.fingerprint)
        assert 0.5 <= d.quality["val_accuracy"] <= 1.0


def test_model_card_matches_the_shipped_model():
    card = (RESOURCES / "MODEL_CARD.md").read_text()
    gen = load_generator("default")
    assert gen.fingerprint in card
    meta = gen.config.get("card", {})
    assert meta.get("kimg", 0) > 0
    assert json.loads(json.dumps(meta))  # plain JSON metadata


def test_training_pack_continues_the_shipped_model():
    """training/default_run.safetensors is the shipped model's run: its G_ema is the shipped
    generator (both float16) and its settings are the ones the card describes."""
    from explorer.checkpoints.native import read_native
    from explorer.training.pack import read_pack

    pack = RESOURCES.parent / "training" / "default_run.safetensors"
    config, states, progress = read_pack(pack)
    _, shipped, meta = read_native(DEFAULT_MODEL)
    assert set(shipped) == set(states["G_ema"])
    for key, value in shipped.items():
        assert torch.equal(value, states["G_ema"][key]), key
    assert abs(progress["nimg"] / 1000 - float(meta["kimg"])) < 0.1
    assert json.loads(meta["train_config"]) == config
    assert len(states["D"]) > 0 and len(states["G"]) == len(states["G_ema"])
