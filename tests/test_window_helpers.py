"""The Qt-free helpers the window builds on: recipe words (explorer.recipe_text) and faces as
files (explorer.face_files). No window here."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import Generator, stylegan2_config
from explorer.export import save_png
from explorer.face_files import FaceFileError, file_stem, latent_from_png, png_payload, unique_path
from explorer.latents import Latent, edit_recipe, latent_from_seed, seed_recipe
from explorer.noise import NoiseSpec
from explorer.recipe_text import layers_text, recipe_tree, short_label

GROUPS = {"coarse": range(0, 4), "medium": range(4, 8), "fine": range(8, 10)}


@pytest.fixture(scope="module")
def gen():
    import torch

    torch.manual_seed(0)
    return Generator(stylegan2_config(32, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=1))


def mix(a, b, layers="coarse"):
    return edit_recipe("builtin.style_mix", 1, {"layers": layers}, [seed_recipe(a, 0.7), seed_recipe(b, 0.7)])


def test_short_labels():
    assert short_label(seed_recipe(42, 0.7)) == "seed 42"
    assert short_label(mix(3, 7)) == "3 × 7 · coarse"
    assert short_label(mix(3, 7, [2, 5])) == "3 × 7 · layers 2-4"
    anti = edit_recipe("builtin.antiface", 1, {"layers": "all"}, [mix(3, 7)])
    assert short_label(anti) == "anti (3 × 7 · coarse)"
    assert short_label({"op": "import", "name": "face.png"}) == "face.png"
    kids = [dict(edit_recipe("builtin.children", 1, {"count": 3}, [anti]), output=i) for i in range(3)]
    assert [short_label(k) for k in kids] == ["child 1 of (anti …)", "child 2 of (anti …)", "child 3 of (anti …)"]
    litter = dict(edit_recipe("builtin.crossbreed", 1, {}, [seed_recipe(1), seed_recipe(2)]), output=1)
    assert short_label(litter) == "1 ⚭ 2 #2"


def test_recipe_tree_reads_like_the_paper():
    tree = recipe_tree(edit_recipe("builtin.antiface", 1, {"layers": "fine"}, [mix(3, 7)]), GROUPS)
    lines = tree.lines()
    assert lines[0] == "Antiface of 3 × 7 · coarse on fine layers 8-9"
    assert lines[1] == "  input 1: Mix of seed 3 and seed 7 over coarse layers 0-3 (pose, face shape)"
    assert lines[2] == "    target (kept elsewhere): Seed 3 (ψ 0.70)"
    assert lines[3] == "    source (styles taken): Seed 7 (ψ 0.70)"
    assert layers_text([0, 1]) == "layer 0" and layers_text("all") == "all layers"


def test_png_round_trip_keeps_the_whole_latent(gen, tmp_path):
    lat = latent_from_seed(gen, 5, 0.6).with_noise(NoiseSpec("random", 9, 0.5, (2, 6)))
    path = unique_path(tmp_path, file_stem(lat))
    assert path.name == "seed0005.png"
    save_png(path, np.zeros((32, 32, 3), np.uint8), png_payload(lat, "tiny"))
    back, warning = latent_from_png(path, gen)
    assert warning is None
    assert np.array_equal(back.ws, lat.ws) and back.noise == lat.noise and back.recipe == lat.recipe
    assert unique_path(tmp_path, "seed0005").name == "seed0005-2.png"


def test_png_from_another_model_or_without_recipe(gen, tmp_path):
    other = Latent(ws=np.zeros((gen.info.num_ws, gen.info.w_dim)), recipe=seed_recipe(1), model="someone-else")
    p = tmp_path / "other.png"
    save_png(p, np.zeros((8, 8, 3), np.uint8), png_payload(other, "their model"))
    lat, warning = latent_from_png(p, gen)
    assert "their model" in warning
    wrong = Latent(ws=np.zeros((3, 4)), recipe=seed_recipe(1), model="x")
    save_png(p, np.zeros((8, 8, 3), np.uint8), png_payload(wrong))
    with pytest.raises(FaceFileError, match="another shape"):
        latent_from_png(p, gen)
    save_png(p, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FaceFileError, match="no face recipe"):
        latent_from_png(p, gen)


def test_cli_generated_png_comes_back_from_its_seed(gen, tmp_path):
    p = tmp_path / "seed0003.png"
    save_png(p, np.zeros((8, 8, 3), np.uint8), {"version": 1, "kind": "seed", "seed": 3, "psi": 0.5,
                                                "model": {"fingerprint": gen.fingerprint}})
    lat, warning = latent_from_png(p, gen)
    assert warning is None
    assert np.array_equal(lat.ws, latent_from_seed(gen, 3, 0.5).ws)


def _png_with_text(path, text: str):
    from PIL import Image, PngImagePlugin

    from explorer.export import RECIPE_KEY

    info = PngImagePlugin.PngInfo()
    info.add_text(RECIPE_KEY, text)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)


@pytest.mark.parametrize("recipe", [
    "[1]", "[" * 2000 + "]" * 2000, '{"kind": "seed", "seed": Infinity}', '{"kind": "seed", "seed": 3, "psi": "abc"}',
    '{"kind": "seed", "seed": -4}', '{"kind": "seed", "seed": 3, "cutoff": 999}', '{"latent": [1, 2]}',
    '{"latent": {"ws": "abc"}}', '{"latent": {"ws": [[1, 2]], "post": "abc"}}', "not json at all", '"text"',
])
def test_broken_recipe_pngs_give_one_clear_error(gen, tmp_path, recipe):
    from explorer.errors import FileProblem

    p = tmp_path / "bad.png"
    _png_with_text(p, recipe)
    with pytest.raises(FaceFileError, match="bad.png") as info:
        latent_from_png(p, gen)
    assert isinstance(info.value, FileProblem)


def test_recipe_with_non_finite_styles_is_refused_not_rendered_black(gen, tmp_path):
    lat = latent_from_seed(gen, 5, 0.6)
    ws = lat.ws.copy()
    ws[0, 0] = np.nan
    bad = Latent(ws=ws, recipe=lat.recipe, model=lat.model)
    p = tmp_path / "nan.png"
    save_png(p, np.zeros((8, 8, 3), np.uint8), png_payload(bad))
    with pytest.raises(FaceFileError, match="not finite"):
        latent_from_png(p, gen)
