"""Neural style transfer (explorer.style_transfer, plugins/style_transfer.py): the optimisation
lowers the style distance and keeps the content, keeps colours when asked, warm starts stay close
to the previous frame, cancel stops early; style files are checked; the plugin records its edit,
caches its result and runs in clips; the CLI writes a PNG with the recipe."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from explorer.errors import FileProblem
from explorer.plugins import ParamError, Plugin, PluginRegistry, Kind
from explorer.post_cache import PostCache, edit_key
from explorer.style_transfer import (BUILTIN_STYLES, FeatureError, RandomFeatures, StyleImageError, builtin_style,
                                     feature_extractor, load_style_image, stylize)
from explorer.style_transfer.features import VGG19Features, gram
from explorer.style_transfer.optimize import _TO_YIQ


def content_picture(size: int = 64, shift: int = 0) -> np.ndarray:
    """A simple 'face': a skin disc with two dark eyes on a pale background."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((size, size, 3), np.float32) + np.array([0.85, 0.8, 0.9])
    xx = xx - shift / size
    disc = (xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.12
    img[disc] = [0.9, 0.7, 0.55]
    for ex in (0.38, 0.62):
        img[(xx - ex) ** 2 + (yy - 0.42) ** 2 < 0.003] = [0.1, 0.1, 0.15]
    return (img * 255).astype(np.uint8)


# ----- the algorithm ---------------------------------------------------------------------------------
def test_random_features_are_the_same_everywhere():
    a, b = RandomFeatures(), RandomFeatures()
    x = torch.rand(1, 3, 32, 32)
    fa, fb = a(x), b(x)
    assert set(fa) == set(a.style_layers) | {a.content_layer}
    for k in fa:
        assert torch.equal(fa[k], fb[k])
    assert not any(p.requires_grad for p in a.parameters())


def test_stylize_takes_the_style_and_keeps_the_content():
    face, style = content_picture(), builtin_style("mosaic", 96)
    r = stylize(face, style, iterations=40, size=64)
    first, last = r.history[0], r.history[-1]
    assert r.image.shape == face.shape and r.image.dtype == np.uint8
    assert r.iterations == 40 and not r.cancelled and r.features == "random"
    assert last["style"] < 0.3 * first["style"]          # the Gram matrices moved to the style's
    assert first["content"] == pytest.approx(0.0, abs=1e-6)
    # without the content term the face is lost much more
    free = stylize(face, style, iterations=40, size=64, content_weight=0.0)
    assert free.history[-1]["content"] > 1.5 * last["content"]


def test_gram_of_a_constant_picture_holds_its_colour():
    x = torch.ones(1, 4, 5, 5) * 2.0
    assert torch.allclose(gram(x), torch.full((1, 4, 4), 4.0))


def test_keep_colours_changes_brightness_only():
    face = content_picture()
    r = stylize(face, builtin_style("frost", 96), iterations=20, size=64, keep_colours=True)
    yiq = lambda a: np.einsum("ij,hwj->hwi", _TO_YIQ.numpy(), a.astype(np.float32) / 255)  # noqa: E731
    a, b = yiq(face), yiq(r.image)
    chroma = np.abs(a[..., 1:] - b[..., 1:]).mean()
    luma = np.abs(a[..., 0] - b[..., 0]).mean()
    assert chroma < 0.01                   # chroma kept (up to 8-bit rounding and clipping)
    assert luma > 0.01 and luma > 3 * chroma       # luminance repainted
    plain = stylize(face, builtin_style("frost", 96), iterations=20, size=64)
    assert np.abs(a[..., 1:] - yiq(plain.image)[..., 1:]).mean() > 0.02   # frost recolours without it


@pytest.mark.parametrize("shape", [(40, 64, 3), (48, 48, 1), (32, 32, 4)])
def test_any_picture_shape_comes_back_in_its_shape(shape):
    img = (np.random.default_rng(0).random(shape) * 255).astype(np.uint8)
    r = stylize(img, builtin_style("oil", 64), iterations=10, size=64)
    assert r.image.shape == shape


def test_cancel_returns_early_with_what_it_has():
    calls = []
    r = stylize(content_picture(), builtin_style("charcoal", 64), iterations=200, size=64, preview_every=10,
                cancelled=lambda: len(calls) >= 2, progress=calls.append)
    assert r.cancelled and r.iterations < 200 and r.image.shape == (64, 64, 3)


def test_progress_and_preview_are_reported():
    fractions, previews = [], []
    stylize(content_picture(), builtin_style("frost", 64), iterations=30, size=64, preview_every=10,
            progress=fractions.append, preview=lambda im: previews.append(im.shape))
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert previews and all(p == (64, 64, 3) for p in previews)


def test_warm_start_from_the_previous_frame_is_steadier():
    style = builtin_style("oil", 96)
    a, b = content_picture(shift=0), content_picture(shift=1)
    ra = stylize(a, style, iterations=40, size=64)
    cold = stylize(b, style, iterations=40, size=64)
    warm = stylize(b, style, iterations=14, size=64, init=ra.image)
    diff = lambda x, y: np.abs(x.astype(np.float32) - y.astype(np.float32)).mean()  # noqa: E731
    assert diff(warm.image, ra.image) < 0.6 * diff(cold.image, ra.image)


def test_builtin_styles_are_drawn_by_code_and_differ():
    pics = {name: builtin_style(name, 64) for name in BUILTIN_STYLES}
    assert set(pics) == {"frost", "oil", "charcoal", "mosaic", "stained_glass"}
    for name, p in pics.items():
        assert p.shape == (64, 64, 3) and p.dtype == np.uint8
        assert np.array_equal(p, builtin_style(name, 64))          # deterministic
        assert p.std() > 10                                         # a texture, not a flat colour
    names = list(pics)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            assert np.abs(pics[names[i]].astype(int) - pics[names[j]]).mean() > 10
    with pytest.raises(KeyError, match="built-in styles"):
        builtin_style("watercolour")


# ----- style pictures: checked before decoding ------------------------------------------------------
def _save(path, img: Image.Image, **kw):
    img.save(path, **kw)
    return path


def test_style_files_that_cannot_be_used_get_one_sentence(tmp_path):
    cases = {
        "tiny.png": (_save(tmp_path / "tiny.png", Image.new("RGB", (1, 1))), "too small"),
        "missing.png": (tmp_path / "missing.png", "not found"),
        "empty.png": (tmp_path / "empty.png", "empty"),
        "text.png": (tmp_path / "text.png", "not an image"),
        "folder": (tmp_path / "folder", "folder"),
    }
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello, not a picture")
    (tmp_path / "folder").mkdir()
    good = _save(tmp_path / "good.png", Image.fromarray(builtin_style("mosaic", 64)))
    raw = good.read_bytes()
    (tmp_path / "cut.png").write_bytes(raw[: len(raw) // 2])
    cases["cut.png"] = (tmp_path / "cut.png", "damaged or truncated")
    for name, (path, words) in cases.items():
        with pytest.raises(StyleImageError, match=words) as info:
            load_style_image(path)
        assert isinstance(info.value, FileProblem) and "\n" not in str(info.value), name


def test_a_huge_style_picture_is_refused_from_its_header(tmp_path, monkeypatch):
    path = _save(tmp_path / "huge.png", Image.new("L", (8000, 8000)))     # 64 megapixels, tiny file
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self, *a: decoded.append(1))
    with pytest.raises(StyleImageError, match="too large"):
        load_style_image(path)
    assert not decoded


def test_unusual_style_pictures_are_converted_with_a_note(tmp_path):
    rgb = Image.fromarray(builtin_style("oil", 64))
    frames = [rgb, Image.fromarray(builtin_style("frost", 64))]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    cmyk = _save(tmp_path / "cmyk.jpg", rgb.convert("CMYK"))
    deep = tmp_path / "deep.png"
    Image.fromarray((np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)).save(deep)
    rgba = _save(tmp_path / "alpha.png", rgb.convert("RGBA"))
    big = _save(tmp_path / "big.png", rgb.resize((2048, 1024)))
    expected = {gif: "first frame", cmyk: "CMYK", deep: "16-bit", rgba: "transparent", big: "scaled"}
    for path, words in expected.items():
        notes = []
        img = load_style_image(path, notes)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert any(words in n for n in notes), (path.name, notes)
    assert max(load_style_image(big).shape[:2]) == 1024


# ----- VGG19 weights: only the user's file, loaded weights-only and checked -------------------------
def test_vgg19_needs_its_file_and_checks_it(tmp_path, monkeypatch):
    from explorer.style_transfer import features

    monkeypatch.delenv(features.VGG19_ENV, raising=False)
    features.set_vgg19_path(None)
    with pytest.raises(FeatureError, match="VGG19 weights file"):
        feature_extractor("vgg19")
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 5, 5)}, wrong)
    with pytest.raises(FeatureError, match="shape"):
        VGG19Features.from_file(wrong)
    pickled = tmp_path / "code.pth"
    torch.save({"x": Plugin()}, pickled)         # an object, not tensors: weights-only refuses it
    with pytest.raises(FeatureError, match="not a readable"):
        VGG19Features.from_file(pickled)


def test_vgg19_file_with_the_right_shapes_is_used(tmp_path, monkeypatch):
    from explorer.style_transfer import features

    gen = torch.Generator().manual_seed(0)
    state = {f"features.{k}": torch.randn(*shape, generator=gen) * 0.05
             for k, shape in VGG19Features.expected_shapes().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)       # the classifier is ignored
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    monkeypatch.setenv(features.VGG19_ENV, str(path))
    features.set_vgg19_path(None)
    net = feature_extractor("vgg19")
    assert isinstance(net, VGG19Features)
    assert torch.equal(net.features[0].weight, state["features.0.weight"])
    r = stylize(content_picture(32), builtin_style("frost", 32), features="vgg19", iterations=4, size=32)
    assert r.features == "vgg19" and r.image.shape == (32, 32, 3)


# ----- the plugin, the registry's cache and clips ----------------------------------------------------
@pytest.fixture
def registry(tmp_path):
    reg = PluginRegistry()
    reg.discover(entry_points=True, folder=None)
    reg.post_cache = PostCache(tmp_path / "cache")
    return reg


FAST = {"iterations": 10, "size": 64}


def test_plugin_records_the_edit_and_caches_the_result(registry, make_generator):
    from explorer.latents import latent_from_seed
    from explorer.recipe_text import describe_node, short_label

    gen = make_generator()
    face = latent_from_seed(gen, 3)
    out = registry.apply("builtin.style_transfer", [face], dict(FAST, style="charcoal"), model=gen)[0]
    assert np.array_equal(out.ws, face.ws)
    step = out.post[-1]
    assert step["plugin"] == "builtin.style_transfer" and step["params"]["style"] == "charcoal"
    assert short_label(out.recipe) == "seed 3 · charcoal"
    assert describe_node(out.recipe).startswith("Style transfer of seed 3 with style charcoal (random features")
    assert registry.needs_background(out.post)
    picture = content_picture()
    assert registry.cached_post(picture, out.post, source="face-a") is None
    first = registry.apply_post(picture, out.post, source="face-a")
    assert registry.cached_post(picture, out.post, source="face-a") is not None
    hits = registry.post_cache.hits
    again = registry.apply_post(picture, out.post, source="face-a")
    assert np.array_equal(first, again) and registry.post_cache.hits == hits + 1
    # the cache lives on disk too: a new session finds it
    fresh = PostCache(registry.post_cache.folder)
    assert np.array_equal(fresh.get(edit_key("face-a", picture.shape, out.post)), first)


def test_a_missing_style_file_is_a_parameter_error(registry):
    with pytest.raises(ParamError) as info:
        registry.apply_image("builtin.style_transfer", content_picture(),
                             dict(FAST, style="file", style_file="/no/such/style.png"))
    assert info.value.field == "style_file" and "not found" in info.value.message
    assert registry.record("builtin.style_transfer").enabled          # a user error does not disable it


class PreviousSeen(Plugin):
    id = "test.previous_seen"
    kind = Kind.IMAGE
    slow = True
    seen: list = []

    def apply(self, inputs, params, context):
        PreviousSeen.seen.append(None if context.previous is None else context.previous.copy())
        return np.clip(inputs[0].astype(np.int16) + 1, 0, 255).astype(np.uint8)


def test_a_clip_hands_each_frame_the_previous_result(registry):
    registry.register(PreviousSeen)
    PreviousSeen.seen = []
    post = [{"plugin": "test.previous_seen", "version": 1, "params": {}}]
    seq: dict = {}
    a = registry.apply_post(content_picture(shift=0), post, sequence=seq)
    registry.apply_post(content_picture(shift=2), post, sequence=seq)
    assert PreviousSeen.seen[0] is None and np.array_equal(PreviousSeen.seen[1], a)


def test_a_stylised_clip_exports_every_frame(registry, make_generator, tmp_path):
    from explorer.animation import export_clip
    from explorer.latents import latent_from_seed
    from explorer.timeline import Timeline

    gen = make_generator()
    faces = [registry.apply("builtin.style_transfer", [latent_from_seed(gen, s)], dict(FAST, style="frost"),
                            model=gen)[0] for s in (1, 2)]
    tl = Timeline.from_latents(faces, duration=0.5, fps=8)
    calls = []
    real = registry.apply_image

    def counting(*a, **kw):
        calls.append(kw.get("previous") is not None)
        return real(*a, **kw)
    registry.apply_image = counting
    result = export_clip(gen, tl, tmp_path / "frames", fmt="png", registry=registry, sidecar=False)
    assert result.frames == 4 and len(calls) == 4
    assert calls[0] is False and all(calls[1:])        # every later frame starts from the one before
    frame = np.asarray(Image.open(sorted((tmp_path / "frames").glob("*.png"))[1]))
    assert frame.shape[:2] == (gen.info.resolution, gen.info.resolution)


def test_cache_survives_damage_and_a_full_disk(tmp_path, monkeypatch, caplog):
    cache = PostCache(tmp_path / "c")
    img = builtin_style("mosaic", 32)
    cache.put("k1", img)
    path = cache._path("k1")
    path.write_bytes(b"garbage")
    cache.clear_memory()
    assert cache.get("k1") is None and not path.exists()          # a damaged entry is a miss, removed

    import explorer.post_cache as pc

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(pc, "atomic_path", full)
    cache.put("k2", img)                                            # the write fails visibly in the log
    assert np.array_equal(cache.get("k2"), img)                     # and memory still serves it
    assert "cannot write" in caplog.text


def test_cache_folder_keeps_to_its_budget(tmp_path):
    cache = PostCache(tmp_path / "c", disk_bytes=60_000)
    for i in range(12):
        cache.put(f"{i:02d}" + "x" * 38, (np.random.default_rng(i).random((64, 64, 3)) * 255).astype(np.uint8))
    cache.trim()
    total = sum(p.stat().st_size for p in (tmp_path / "c").glob("*/*.png"))
    assert 0 < total <= 60_000


# ----- the command line ---------------------------------------------------------------------------
def test_cli_stylize_writes_a_png_with_its_recipe(tmp_path, capsys):
    from explorer.cli import main
    from explorer.export import read_png_recipe

    out = tmp_path / "x.png"
    rc = main(["stylize", "--model", "default", "--seed", "3", "--style", "frost", "--iterations", "10",
               "--work-size", "64", "--out", str(out), "--quiet", "--side-by-side"])
    assert rc == 0, capsys.readouterr().err
    recipe = read_png_recipe(out)
    post = recipe["latent"]["post"]
    assert post[0]["plugin"] == "builtin.style_transfer" and post[0]["params"]["style"] == "frost"
    assert recipe["summary"].startswith("Style transfer of seed 3 with style frost")
    assert (tmp_path / "x-side.png").exists()
    assert "wrote" in capsys.readouterr().out


def test_cli_stylize_refuses_a_bad_style_picture(tmp_path, capsys):
    from explorer.cli import main

    bad = tmp_path / "one.png"
    Image.new("RGB", (1, 1)).save(bad)
    rc = main(["stylize", "--seed", "1", "--style-file", str(bad), "--out", str(tmp_path / "y.png")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "too small" in err and "Traceback" not in err
    assert not (tmp_path / "y.png").exists()
