"""Photo projection (explorer.projection): photos are checked, faces aligned as FFHQ was made (dlib),
projection in W / W+ gets close to the photo, cancels, the encoder trains, saves and loads, and the
`project` command writes the face with its recipe, its ws and a side-by-side."""
from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.errors import FileProblem
from explorer.projection import (DEFAULT_MODEL_FRAMING, FFHQ_FRAMING, PhotoError, align, dlib_available, load_photo,
                                 photo_id, project, psnr)
from explorer.projection.align import centre_square, crop_quad, ffhq_quad, reframe
from explorer.projection.encoder import Encoder, EncoderError, encoder_for, train_encoder


def rendered_face(seed: int = 1, side: int = 256) -> np.ndarray:
    from explorer.training.faces_v2 import render_seed_v2

    return np.ascontiguousarray(render_seed_v2(seed, side)[0])


def photo_of(face: np.ndarray, angle: float = 4.0, canvas=(700, 560), at=(250, 100), size=320) -> np.ndarray:
    """A 'photo': the face scaled, turned and placed off-centre on a larger green background."""
    big = Image.new("RGB", canvas, (90, 120, 90))
    im = Image.fromarray(face).resize((size, size), Image.LANCZOS).rotate(angle, expand=True, fillcolor=(90, 120, 90))
    big.paste(im, at)
    return np.asarray(big)


def png_claiming(path, width: int, height: int):
    """A tiny valid PNG whose header claims width x height (a size bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


# ----- photos ----------------------------------------------------------------------------------------
def test_bad_photos_get_one_sentence_and_nothing_else(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    png_claiming(tmp_path / "bomb.png", 20000, 20000)
    good = tmp_path / "good.jpg"
    Image.fromarray(rendered_face()).save(good, quality=90)
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:2000])
    (tmp_path / "notes.txt").write_text("not a photo")
    for name, words in (("dot.png", "too small"), ("bomb.png", "too large"), ("cut.jpg", "damaged"),
                        ("notes.txt", "not an image"), ("missing.jpg", "not found")):
        with pytest.raises(PhotoError, match=words) as info:
            load_photo(tmp_path / name)
        assert isinstance(info.value, FileProblem) and str(info.value).startswith("Photo ")


def test_exif_orientation_and_odd_modes_are_honoured(tmp_path):
    face = rendered_face(side=128)[:, :96]                 # a portrait picture, 96 x 128
    exif = Image.Exif()
    exif[0x0112] = 6                                         # 'rotate 90 clockwise to display'
    Image.fromarray(face).save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    img = load_photo(tmp_path / "turned.jpg")
    assert img.shape == (96, 128, 3)                         # shown the way the camera meant
    Image.fromarray(face).convert("CMYK").save(tmp_path / "cmyk.jpg")
    notes = []
    assert load_photo(tmp_path / "cmyk.jpg", notes).shape == (128, 96, 3) and "CMYK" in notes[0]
    Image.fromarray(face).convert("RGBA").save(tmp_path / "alpha.png")
    notes = []
    assert load_photo(tmp_path / "alpha.png", notes).shape == (128, 96, 3) and "transparent" in notes[0]
    Image.fromarray((np.arange(128 * 96, dtype=np.uint16).reshape(128, 96) * 5)).save(tmp_path / "deep.png")
    notes = []
    assert load_photo(tmp_path / "deep.png", notes).shape == (128, 96, 3) and "16-bit" in notes[0]


def test_photo_id_names_the_file_and_hashes_the_pixels():
    a, b = rendered_face(1, 64), rendered_face(2, 64)
    ia = photo_id("/x/jon.jpg", a)
    assert ia["file"] == "jon.jpg" and ia["size"] == [64, 64]
    assert ia["sha1"] == photo_id("/y/other.jpg", a)["sha1"] != photo_id("/x/jon.jpg", b)["sha1"]


# ----- alignment -------------------------------------------------------------------------------------
def test_ffhq_quad_of_level_eyes_is_upright_and_centred():
    lm = np.zeros((68, 2))
    lm[36:42] = [100, 100]
    lm[42:48] = [160, 100]
    lm[48], lm[54] = [110, 170], [150, 170]
    q = ffhq_quad(lm)
    (tl, bl, br, tr) = q
    assert np.allclose(tl[1], tr[1]) and np.allclose(tl[0], bl[0])          # upright square
    side = np.hypot(*(tr - tl))
    assert side == pytest.approx(2 * max(60 * 2.0, 70 * 1.8))
    assert np.allclose(q.mean(0), [130, 100 + 70 * 0.1])                    # a little below the eyes
    assert np.allclose(reframe(q, FFHQ_FRAMING), q)
    wider = reframe(q, DEFAULT_MODEL_FRAMING)
    assert np.hypot(*(wider[3] - wider[0])) == pytest.approx(side / DEFAULT_MODEL_FRAMING[1])


def test_crop_outside_the_photo_repeats_its_border():
    img = np.zeros((50, 50, 3), np.uint8)
    img[:, :] = [200, 10, 10]
    quad = np.array([[-40, -40], [-40, 90], [90, 90], [90, -40]], float)
    out = crop_quad(img, quad, 32)
    assert out.shape == (32, 32, 3) and (out.reshape(-1, 3) == [200, 10, 10]).all()


@pytest.mark.skipif(not dlib_available(), reason="dlib-bin / face-recognition-models not installed")
def test_a_turned_off_centre_face_is_found_and_aligned():
    small = lambda x: np.asarray(Image.fromarray(x).resize((16, 16), Image.BOX))  # noqa: E731 - layout, not texture
    for seed in (1, 2):
        face = rendered_face(seed, 256)
        a = align(photo_of(face), 128, DEFAULT_MODEL_FRAMING)
        assert a.face_found and "68 landmarks" in a.note
        reference = small(np.asarray(Image.fromarray(face).resize((128, 128), Image.LANCZOS)))
        assert psnr(small(a.image), reference) > 20.0           # framed as the renderer frames its faces
        centre = align(photo_of(face), 128, DEFAULT_MODEL_FRAMING, detect=False)
        assert not centre.face_found and psnr(small(centre.image), reference) < psnr(small(a.image), reference) - 4


def test_no_face_falls_back_to_the_centre_square():
    rng = np.random.default_rng(0)
    photo = (rng.random((90, 160, 3)) * 255).astype(np.uint8)
    a = align(photo, 64)
    assert not a.face_found and "centre square" in a.note and a.image.shape == (64, 64, 3)
    assert np.allclose(a.quad, centre_square(photo))


# ----- projection and the encoder --------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_gen():
    from explorer import load_generator

    return load_generator("default")


def model_face(gen, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from explorer.generators import to_uint8
    from explorer.latents import latent_from_seed

    lat = latent_from_seed(gen, seed, 0.7)
    with torch.no_grad():
        return lat.ws, to_uint8(gen.synthesize(torch.from_numpy(np.array(lat.ws))[None]))[0]


def test_projection_gets_close_to_a_face_the_model_made(default_gen):
    _ws, face = model_face(default_gen, 11)
    previews = []
    r = project(default_gen, face, space="w+", steps=60, start="w_avg", preview=previews.append, preview_every=20)
    assert r.ws.shape == (default_gen.info.num_ws, default_gen.info.w_dim) and r.start == "w_avg"
    assert r.psnr > r.history[0]["psnr"] + 6 and r.psnr > 22
    assert len(previews) == 3 and previews[-1].shape == face.shape
    w = project(default_gen, face, space="w", steps=30, start="w_avg")
    assert np.allclose(w.ws, w.ws[0])                       # one w for every layer


def test_projection_cancels_and_starts_where_told(default_gen):
    ws, face = model_face(default_gen, 4)
    calls = []
    r = project(default_gen, face, steps=500, cancelled=lambda: len(calls) > 3, progress=calls.append)
    assert r.cancelled and r.steps <= 5
    # a face it made, from its own ws (and its own, constant, noise): exact
    exact = project(default_gen, face, steps=5, start=ws, lr=1e-6, noise_factor=0.0, optimize_noise=False)
    assert exact.start == "given" and exact.psnr > 40
    # the noise maps optimised from fresh Gaussian noise: only stochastic detail differs
    fresh = project(default_gen, face, steps=5, start=ws, lr=1e-6, noise_factor=0.0)
    assert 30 < fresh.psnr < exact.psnr


def test_encoder_trains_saves_loads_and_is_found_by_fingerprint(tmp_path, make_generator, monkeypatch):
    from explorer.projection import encoder as enc_mod

    gen = make_generator(res=32, dim=16)
    enc = train_encoder(gen, steps=6, batch=8)
    pred = enc.predict((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
    assert pred.shape == (gen.info.num_ws, gen.info.w_dim) and np.isfinite(pred).all()
    monkeypatch.setenv(enc_mod.ENCODER_DIR_ENV, str(tmp_path / "encoders"))
    monkeypatch.setattr(enc_mod, "SHIPPED", tmp_path / "none.safetensors")
    assert encoder_for(gen) is None
    enc.save(enc_mod.encoder_path(gen))
    again = encoder_for(gen)
    assert again is not None and np.allclose(again.predict(np.zeros((32, 32, 3), np.uint8)),
                                              enc.predict(np.zeros((32, 32, 3), np.uint8)), atol=1e-3)  # float16 file
    other = make_generator(res=32, dim=16, seed=5)
    assert encoder_for(other) is None                          # another model's encoder is not used
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 40)
    with pytest.raises(EncoderError, match="not a usable encoder"):
        Encoder.load(bad)


def test_a_sibling_model_s_encoder_is_adopted_only_when_it_fits(make_generator):
    """`train-encoder --adopt`: an encoder of a model of the same shape (an earlier snapshot) is
    taken over with the new model's fingerprint (and where it came from), guessing as before; one
    of another shape is refused with the reason."""
    from explorer.projection.encoder import adopt_encoder

    gen = make_generator(res=32, dim=16)
    enc = train_encoder(gen, steps=2, batch=4)
    sibling = make_generator(res=32, dim=16, seed=5)
    taken = adopt_encoder(enc, sibling)
    assert taken.meta["fingerprint"] == str(sibling.fingerprint) != str(gen.fingerprint)
    assert taken.meta["adopted_from"] == str(gen.fingerprint)
    face = np.zeros((32, 32, 3), np.uint8)
    assert np.array_equal(taken.predict(face), enc.predict(face))
    with pytest.raises(EncoderError, match="resolution"):
        adopt_encoder(enc, make_generator(res=64, dim=16))


def test_the_default_model_ships_its_encoder(default_gen):
    enc = encoder_for(default_gen)
    assert enc is not None and enc.meta["fingerprint"] == str(default_gen.fingerprint)
    ws, face = model_face(default_gen, 21)
    guess = enc.predict(face)
    with torch.no_grad():
        from explorer.generators import to_uint8

        avg = to_uint8(default_gen.synthesize(default_gen.w_avg[None, None].repeat(1, default_gen.info.num_ws, 1)))[0]
        seen = to_uint8(default_gen.synthesize(torch.from_numpy(guess)[None]))[0]
    assert psnr(seen, face) > psnr(avg, face) + 3               # a much better start than the average face


# ----- the command line ---------------------------------------------------------------------------
def test_cli_project_writes_face_ws_and_side_by_side(tmp_path, capsys, default_gen):
    from explorer.cli import main
    from explorer.export import read_png_recipe

    photo = tmp_path / "jon.jpg"
    Image.fromarray(photo_of(rendered_face(1))).save(photo, quality=92)
    bad = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(bad)
    rc = main(["project", str(photo), str(bad), "--model", "default", "--out", str(tmp_path / "out"),
               "--steps", "20"])
    captured = capsys.readouterr()
    assert rc == 1 and "too small" in captured.err                # the bad one is reported ...
    out = tmp_path / "out"
    recipe = read_png_recipe(out / "jon.png")                      # ... the good one is written
    r = recipe["latent"]["recipe"]
    assert r["op"] == "import" and r["photo"]["file"] == "jon.jpg" and len(r["photo"]["sha1"]) == 16
    assert r["space"] == "w+" and r["steps"] == 20
    data = np.load(out / "jon.npz")
    info = default_gen.info
    assert data["ws"].shape == (info.num_ws, info.w_dim)
    side = Image.open(out / "jon-side.png")                        # the photo beside the face
    assert side.size == (2 * info.resolution, info.resolution)
    assert "PSNR" in captured.out


# ----- the checkpoint's own discriminator as the perceptual loss ---------------------------------
def test_nvidia_discriminator_matches_nvidias_code(fixtures_dir):
    """Block outputs and logits of the P1 fixture's D against NVIDIA's networks_stylegan2 (run
    outside the project on the same weights; tests/data/P1_sg2_res32.D_ref.npz): float32, CPU."""
    from pathlib import Path

    from explorer.checkpoints.discriminator import block_features, load_discriminator

    net = load_discriminator(fixtures_dir / "P1_sg2_res32.pkl")
    assert net is not None and net.complete
    ref = np.load(Path(__file__).parent / "data" / "P1_sg2_res32.D_ref.npz")
    img = torch.from_numpy(ref["img"])
    with torch.no_grad():
        feats = block_features(net, img)
        logits = net(img)
    for name, f in zip(("b32", "b16", "b8"), feats):
        assert np.abs(f.numpy() - ref[name]).max() < 1e-5, name
    assert np.abs(logits.numpy() - ref["logits"]).max() < 1e-5


def test_files_without_a_discriminator_give_none(fixtures_dir, tmp_path, make_generator):
    from explorer.checkpoints import save_native
    from explorer.checkpoints.discriminator import load_discriminator

    assert load_discriminator(fixtures_dir / "R1c_rosinality_s64_cm2_convert_format.pt") is None   # g_ema only
    save_native(make_generator(), tmp_path / "g.safetensors")
    assert load_discriminator(tmp_path / "g.safetensors") is None


def test_projection_into_an_nvidia_checkpoint_uses_its_discriminator(fixtures_dir):
    from explorer import load_generator
    from explorer.projection.loss import loss_for

    path = fixtures_dir / "P1_sg2_res32.pkl"
    gen = load_generator(path)
    loss = loss_for(gen, path)
    assert loss.kind == "discriminator"
    _ws, face = model_face(gen, 2)
    r = project(gen, face, steps=20, start="w_avg", loss=loss, record_every=5)
    losses = [h["loss"] for h in r.history[1:]]
    assert r.loss_kind == "discriminator" and losses[-1] < 0.8 * losses[0]   # an untrained fixture: the
    # loss is what it optimises; its pictures are noise, so PSNR says little here


# ----- StyleGAN2 noise maps: optimised, kept in the face's recipe, rendered back exactly ----------
def test_noise_maps_are_optimised_stored_and_rendered_back(make_generator, tmp_path):
    from explorer.commands_project import projected_latent
    from explorer.export import save_png
    from explorer.face_files import latent_from_png, png_payload
    from explorer.generators import to_uint8
    from explorer.latents import Latent, latent_from_seed
    from explorer.noise import NoiseSpec
    from explorer.render import RenderService

    gen = make_generator(res=32, dim=16)
    lat = latent_from_seed(gen, 3)
    with torch.no_grad():
        face = to_uint8(gen.synthesize(torch.from_numpy(np.array(lat.ws))[None], noise_mode="random", noise_seed=5))[0]
    r = project(gen, face, steps=30, start="w_avg", record_every=5)
    assert r.noise_maps is not None and [m.shape[0] for m in r.noise_maps] == \
        [ni.resolution for ni in gen.noise_inputs()]
    for m in r.noise_maps:                                 # kept Gaussian-like: zero mean, unit variance
        assert abs(float(m.mean())) < 0.05 and abs(float(m.std()) - 1) < 0.05
    face_lat = projected_latent(gen, r, {"file": "x.jpg", "sha1": "0" * 16, "size": [32, 32]}, "centre")
    assert face_lat.noise.mode == "maps" and face_lat.recipe["noise_maps"] is True
    with RenderService(gen) as svc:                        # the render service draws it as projected
        shown = svc.render(face_lat.ws[None], None, noise=[face_lat.noise]).images[0]
    assert np.array_equal(shown, r.image)
    back = Latent.from_json(face_lat.to_json())            # the recipe carries the maps (float16)
    assert back.noise == face_lat.noise and back.digest() == face_lat.digest()
    save_png(tmp_path / "f.png", r.image, png_payload(face_lat, "tiny"))
    again, warning = latent_from_png(tmp_path / "f.png", gen)
    assert again.noise.maps == face_lat.noise.maps and warning is None
    from explorer.noise import noise_for_model

    other = make_generator(res=64, dim=16)                 # another model's noise inputs: stored noise
    spec, why = noise_for_model(face_lat.noise, other)
    assert spec == NoiseSpec() and "another model" in why


def test_bad_noise_maps_in_a_recipe_are_refused():
    from explorer.noise import NoiseSpec

    good = {"mode": "maps", "seed": None, "strength": 1.0, "layers": None, "map_sides": [4, 8],
            "map_data": base64.b64encode(np.zeros(80, "<f2").tobytes()).decode()}
    assert NoiseSpec.from_json(good).mode == "maps"
    for bad in ({"map_sides": [4, 8], "map_data": "AAAA"}, {"map_sides": [5000]}, {"map_sides": "x"},
                {"map_sides": [4] * 65}, {"map_sides": [4], "map_data": None}):
        with pytest.raises(ValueError):
            NoiseSpec.from_json(dict(good, **bad))


def test_rosinality_discriminator_matches_its_maths_written_out(fixtures_dir):
    """rosinality's D for the R1 fixture against its forward written out here with plain torch ops
    (EqualConv2d scale 1/sqrt(fan_in), FusedLeakyReLU = lrelu(x + b, 0.2) * sqrt(2), Blur [1,3,3,1]
    padded 2 before the strided 3x3 and 1 before the strided 1x1 skip, blocks summed / sqrt(2))."""
    import math

    import torch.nn.functional as F

    from explorer.checkpoints.discriminator import block_features, load_discriminator
    from explorer.checkpoints.rosinality import torch_load_weights_only

    path = fixtures_dir / "R1_rosinality_s64_cm2.pt"
    net = load_discriminator(path)
    sd = torch_load_weights_only(path)["d"]
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = (k[:, None] * k[None]) / (k.sum() ** 2)

    def blur(x, pad):
        x = F.pad(x, (pad, pad, pad, pad))
        return F.conv2d(x, k.flip([0, 1])[None, None].repeat(x.shape[1], 1, 1, 1), groups=x.shape[1])

    def conv(x, w, stride=1, padding=0):
        return F.conv2d(x, w / math.sqrt(w[0].numel()), stride=stride, padding=padding)

    def act(x, b):
        return F.leaky_relu(x + b.view(1, -1, 1, 1), 0.2) * math.sqrt(2)

    img = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    x = act(conv(img, sd["convs.0.0.weight"]), sd["convs.0.1.bias"])
    expected = []
    for i in range(1, 5):
        out = act(conv(x, sd[f"convs.{i}.conv1.0.weight"], padding=1), sd[f"convs.{i}.conv1.1.bias"])
        out = act(conv(blur(out, 2), sd[f"convs.{i}.conv2.1.weight"], stride=2), sd[f"convs.{i}.conv2.2.bias"])
        skip = conv(blur(x, 1), sd[f"convs.{i}.skip.1.weight"], stride=2)
        x = (out + skip) / math.sqrt(2)
        expected.append(x)
    with torch.no_grad():
        got = block_features(net, img)
    for a, b in zip(got, expected):
        assert a.shape == b.shape and (a - b).abs().max() < 1e-4


def test_encoder_finetune_lowers_the_reconstruction_of_its_pictures(make_generator):
    """Fine-tuning by reconstruction through the frozen model makes the guesses render closer to
    the pictures it is shown, leaves the model untouched and records itself in the metadata."""
    from explorer.generators import to_uint8
    from explorer.projection.encoder_finetune import finetune_encoder
    from explorer.projection.loss import ProjectionLoss

    torch.manual_seed(0)
    gen = make_generator(res=32, dim=16)
    enc = train_encoder(gen, steps=4, batch=8)
    rng0 = np.random.default_rng(3)
    pool = np.stack([np.full((32, 32, 3), rng0.integers(0, 256, 3), np.uint8) for _ in range(6)])  # flat colours

    def pictures(n, rng):
        return pool[rng.integers(0, len(pool), n)]

    def error(e):
        with torch.no_grad():
            out = to_uint8(gen.synthesize(torch.from_numpy(np.stack([e.predict(p) for p in pool]))))
        return float(np.abs(out.astype(np.float32) - pool).mean())

    before_state = {k: v.clone() for k, v in gen.state_dict().items()}
    loss = ProjectionLoss("random", feature_weight=0.0)
    tuned = finetune_encoder(gen, enc, pictures, steps=40, batch=6, lr=3e-3, loss=loss, latent_weight=0.1)
    assert error(tuned) < 0.8 * error(enc), (error(enc), error(tuned))
    assert all(torch.equal(v, gen.state_dict()[k]) for k, v in before_state.items())
    assert all(not p.requires_grad for p in tuned.net.parameters())
    assert tuned.meta["finetune_steps"] == 40 and tuned.meta["fingerprint"] == enc.meta["fingerprint"]


def test_encoder_finetune_pictures_come_from_the_model_s_own_renderer(default_gen, make_generator):
    """The default model (a neural renderer of renderer 2) is fine-tuned on renderer-2 pictures of
    its own z layout; a model without slot semantics on the first renderer's."""
    from explorer.projection.encoder_finetune import HELD_OUT_SEED, renderer_pictures
    from explorer.training.faces import render_face
    from explorer.training.z_layout import layout_of

    rng = np.random.default_rng(3)
    got = renderer_pictures(32, default_gen)(2, rng)
    seeds = np.random.default_rng(3).integers(0, HELD_OUT_SEED, size=2)
    layout = layout_of(default_gen)
    assert got.shape == (2, 32, 32, 3)
    for img, s in zip(got, seeds):
        np.testing.assert_array_equal(img, layout.render_seed(int(s), 32)[0][..., :3])
    plain = renderer_pictures(32, make_generator())(1, np.random.default_rng(3))
    np.testing.assert_array_equal(plain[0], render_face(int(seeds[0]), 32)[0][..., :3])
