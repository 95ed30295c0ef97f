"""The headless command line: generate PNGs with recipes, info, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explorer import load_generator
from explorer.cli import main
from explorer.export import read_png_recipe
from explorer.latents import parse_seeds, z_from_seed


def test_parse_seeds():
    assert parse_seeds("0-3,7, 10-11") == [0, 1, 2, 3, 7, 10, 11]
    for bad in ["", "a", "5-2"]:
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_seed_matches_nvidia_convention():
    expect = np.random.RandomState(42).randn(1, 8)[0]
    assert np.allclose(z_from_seed(42, 8), expect)


def test_generate_writes_pngs_with_recipe(tmp_path, fixtures_dir, capsys):
    model = fixtures_dir / "P1_sg2_res32.pkl"
    out = tmp_path / "out"
    assert main(["generate", "--model", str(model), "--seeds", "0-2,5", "--psi", "0.7",
                 "--outdir", str(out)]) == 0
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == ["seed0000.png", "seed0001.png", "seed0002.png", "seed0005.png"]
    gen = load_generator(model)
    recipe = read_png_recipe(out / "seed0005.png")
    assert recipe["seed"] == 5 and recipe["psi"] == 0.7 and recipe["noise_mode"] == "const"
    assert recipe["model"]["fingerprint"] == gen.fingerprint
    # the pixels are exactly what the engine renders for that recipe
    import torch

    from explorer.generators import to_uint8

    with torch.no_grad():
        expect = to_uint8(gen.synthesize(gen.map(torch.from_numpy(z_from_seed(5, 64))[None], psi=0.7)))[0]
    assert np.array_equal(np.asarray(Image.open(out / "seed0005.png")), expect)
    assert "wrote 4 images" in capsys.readouterr().out


def test_generate_conditional_and_info(tmp_path, fixtures_dir, capsys):
    model = fixtures_dir / "P3_sg2_res64_cond4.pkl"
    assert main(["generate", "--model", str(model), "--seeds", "1", "--class", "2",
                 "--noise-mode", "random", "--outdir", str(tmp_path)]) == 0
    assert read_png_recipe(tmp_path / "seed0001.png")["class_index"] == 2
    assert main(["info", str(model)]) == 0
    text = capsys.readouterr().out
    assert "stylegan2, 64px" in text and "coarse ws 0-3" in text


def test_bad_checkpoint_gives_one_line_error(tmp_path, capsys):
    bad = tmp_path / "broken.pkl"
    bad.write_bytes(b"\x80\x04garbage")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: broken.pkl:") and "Traceback" not in err


def test_no_command_opens_the_window_through_the_launcher(monkeypatch):
    import ui.launcher

    opened = []
    monkeypatch.setattr(ui.launcher, "open_window", lambda model: opened.append(model) or 0)
    assert ui.launcher.main(["--model", "some.pkl"]) == 0 and opened == ["some.pkl"]
    assert main([]) == 2, "the engine alone has no window to open"
