"""Directions engine: SVM fitting, conditioning, PCA/SeFa, files, the per-model library."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer.directions import (Direction, DirectionLibrary, DirectionModelError, condition, fit_svm,
                                 load_direction, load_directions, load_interfacegan, pca_directions,
                                 save_directions, save_interfacegan, sefa_directions, style_affines,
                                 suggest_to_label)
from explorer.generators import Generator, stylegan2_config, to_uint8

W_DIM = 16


@pytest.fixture(scope="module")
def tiny_gen():
    torch.manual_seed(0)
    return Generator(stylegan2_config(32, z_dim=16, w_dim=16, channel_base=256, channel_max=16,
                                      mapping_layers=1))


def planted(n: int, w_dim: int = 32, seed: int = 0, noise: float = 0.3):
    """Latents with an offset mean and labels given by a known hyperplane (plus label noise)."""
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal(w_dim)
    truth /= np.linalg.norm(truth)
    w = rng.standard_normal((n, w_dim)) * rng.uniform(0.5, 2.0, w_dim) + rng.standard_normal(w_dim) * 3
    margin = (w - w.mean(0)) @ truth
    labels = margin + noise * rng.standard_normal(n) > 0
    return w.astype(np.float32), labels, truth, margin


def test_svm_recovers_planted_direction():
    w, labels, truth, _ = planted(2000)
    d = fit_svm(w, labels, name="planted", model="m1")
    assert float(d.vector @ truth) > 0.95
    assert abs(np.linalg.norm(d.vector) - 1) < 1e-5
    q = d.quality
    assert q["val_accuracy"] > 0.85 and q["n_pos"] + q["n_neg"] == 2000 and q["n_val"] == 600
    # oriented so positive labels score positive, bias included
    s = d.score(w)
    assert (s[labels] > 0).mean() > 0.85 and (s[~labels] < 0).mean() > 0.85
    assert np.isclose(d.scale, np.std(w @ d.vector), rtol=1e-4)


def test_svm_with_continuous_scores_takes_top_and_bottom():
    w, _, truth, margin = planted(1000, seed=1)
    d = fit_svm(w, margin, name="score")           # continuous: top/bottom 30% by default
    assert d.quality["n_pos"] == d.quality["n_neg"] == 300
    assert float(d.vector @ truth) > 0.9


def test_svm_works_with_twenty_per_side():
    w, labels, truth, _ = planted(400, seed=2, noise=0.0)
    pos, neg = np.flatnonzero(labels)[:20], np.flatnonzero(~labels)[:20]
    idx = np.concatenate([pos, neg])
    d = fit_svm(w[idx], labels[idx], name="few")
    assert d.quality["n_pos"] == d.quality["n_neg"] == 20 and d.quality["val_accuracy"] is not None
    assert float(d.vector @ truth) > 0.6
    with pytest.raises(ValueError, match="both classes"):
        fit_svm(w[pos], labels[pos])


def random_direction(rng, name, w_dim=W_DIM, model="m1"):
    return Direction(vector=rng.standard_normal(w_dim), name=name, model=model)


def test_condition_is_orthogonal_to_every_condition_and_keeps_most_of_d():
    rng = np.random.default_rng(3)
    d = random_direction(rng, "smile")
    others = [random_direction(rng, n) for n in ("age", "glasses", "yaw", "light")]
    c = condition(d, others)
    assert c.method == "conditional" and abs(np.linalg.norm(c.vector) - 1) < 1e-5
    for o in others:
        assert abs(float(c.vector @ o.vector)) < 1e-5
    # the least-squares projection: no other unit vector orthogonal to the span is closer to d
    basis, _ = np.linalg.qr(np.stack([o.vector for o in others], 1).astype(np.float64))
    for _ in range(200):
        v = rng.standard_normal(W_DIM)
        v -= basis @ (basis.T @ v)
        v /= np.linalg.norm(v)
        assert v @ d.vector <= c.vector @ d.vector + 1e-6
    assert np.isclose(c.quality["kept"], float(c.vector @ d.vector), atol=1e-5)
    # dependent conditions are fine; a direction inside their span is refused
    c2 = condition(d, others + [others[0].replace(name="age again")])
    assert np.allclose(c2.vector, c.vector, atol=1e-5)
    inside = Direction(vector=others[0].vector + 2 * others[1].vector, name="mix", model="m1")
    with pytest.raises(ValueError, match="span"):
        condition(inside, others)
    with pytest.raises(DirectionModelError):
        condition(d, [random_direction(rng, "x", model="other")])


def test_direction_refuses_a_foreign_model():
    d = Direction(vector=np.ones(W_DIM), name="smile", model="aaaa1111")
    ws = np.zeros((4, W_DIM), np.float32)
    with pytest.raises(DirectionModelError) as err:
        d.apply(ws, 1.0, model_fingerprint="bbbb2222")
    assert "aaaa1111" in str(err.value) and "bbbb2222" in str(err.value) and "smile" in str(err.value)
    assert isinstance(err.value, ValueError)
    d.apply(ws, 1.0, model_fingerprint="aaaa1111")   # its own model is fine
    with pytest.raises(ValueError, match="16-dimensional"):
        d.apply(np.zeros((4, 8), np.float32), 1.0)


def test_apply_moves_only_the_chosen_layers(tiny_gen):
    info = tiny_gen.info
    d = Direction(vector=np.eye(W_DIM)[3], name="x", layers="coarse", model=tiny_gen.fingerprint, scale=0.5)
    ws = np.random.default_rng(0).standard_normal((info.num_ws, W_DIM)).astype(np.float32)
    out = d.apply(ws, 2.0, info.groups, tiny_gen.fingerprint)
    coarse = info.groups["coarse"]
    assert d.layer_range(info) == coarse
    delta = out - ws
    assert np.allclose(delta[coarse.start:coarse.stop, 3], 1.0)        # 2.0 units * scale 0.5
    assert np.allclose(np.delete(delta, 3, axis=1), 0)
    assert np.allclose(delta[coarse.stop:], 0)
    batch = d.replace(layers=(2, 5)).apply(np.stack([ws, ws]), -1.0)
    assert np.allclose(batch[:, 2:5, 3] - ws[2:5, 3], -0.5) and np.allclose(batch[:, :2], ws[:2])
    assert Direction(vector=np.ones(W_DIM), layers=(1, 3)).layers == range(1, 3)
    with pytest.raises(ValueError, match="layer group"):
        d.apply(ws, 1.0)          # a group name needs the model's groups


def test_suggest_to_label_picks_samples_nearest_the_boundary():
    w, labels, _, _ = planted(500, seed=4)
    d = fit_svm(w, labels)
    idx = suggest_to_label(d, w, 10)
    dist = np.abs(d.score(w))
    assert len(idx) == 10 and set(idx) == set(np.argsort(dist)[:10])
    again = suggest_to_label(d, w, 10, exclude=idx)
    assert not set(again) & set(idx)


def test_interfacegan_npy_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    d = random_direction(rng, "smile")
    p = save_interfacegan(d, tmp_path / "boundary_smile.npy")
    arr = np.load(p)
    assert arr.shape == (1, W_DIM) and arr.dtype == np.float32
    back = load_interfacegan(p, model="m1", w_dim=W_DIM)
    assert np.array_equal(back.vector, d.vector) and back.method == "import" and back.model == "m1"
    assert back.name == "boundary_smile"
    with pytest.raises(ValueError, match="w_dim"):
        load_interfacegan(p, model="m1", w_dim=32)
    with pytest.raises(ValueError, match="fingerprint"):
        load_interfacegan(p, model="", w_dim=W_DIM)
    np.save(tmp_path / "bad.npy", np.zeros((2, W_DIM), np.float32))
    with pytest.raises(ValueError, match="shape"):
        load_interfacegan(tmp_path / "bad.npy", model="m1", w_dim=W_DIM)


def test_json_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(6)
    d = Direction(vector=rng.standard_normal(W_DIM), name="smile", layers="medium", model="abc123",
                  method="svm", quality={"val_accuracy": np.float64(0.93), "n_pos": np.int64(40)},
                  scale=0.37, bias=-0.125)
    e = Direction(vector=rng.standard_normal(W_DIM), name="yaw", layers=(0, 4), model="abc123", method="pca")
    path = save_directions([d, e], tmp_path / "dirs.json")
    assert not list(tmp_path.glob("*.tmp"))
    assert json.loads(path.read_text())["format"] == "latent-explorer-directions"
    a, b = load_directions(path)
    assert np.array_equal(a.vector, d.vector) and np.array_equal(b.vector, e.vector)
    assert (a.name, a.layers, a.model, a.method, a.scale, a.bias) == ("smile", "medium", "abc123", "svm", 0.37, -0.125)
    assert a.quality == {"val_accuracy": 0.93, "n_pos": 40}
    assert b.layers == range(0, 4) and b.bias is None
    single = save_directions(d, tmp_path / "one.json")
    assert np.array_equal(load_direction(single).vector, d.vector)
    with pytest.raises(DirectionModelError):
        load_directions(path, model="other")


def test_pca_on_tiny_generator_is_ranked_unit_and_moves_images(tiny_gen):
    dirs = pca_directions(tiny_gen, n_samples=500, k=4)
    assert [d.name for d in dirs] == ["PC1", "PC2", "PC3", "PC4"]
    assert all(d.method == "pca" and d.model == tiny_gen.fingerprint for d in dirs)
    var = [d.quality["explained_variance"] for d in dirs]
    assert var == sorted(var, reverse=True)
    assert np.allclose([d.scale for d in dirs], np.sqrt(var))
    gram = np.stack([d.vector for d in dirs]) @ np.stack([d.vector for d in dirs]).T
    assert np.allclose(gram, np.eye(4), atol=1e-5)
    _assert_moves_images(tiny_gen, dirs[0])


def test_sefa_on_tiny_generator_is_ranked_unit_and_moves_images(tiny_gen):
    names = [n for n, _, _ in style_affines(tiny_gen)]
    assert names[:3] == ["synthesis.b4.conv1", "synthesis.b4.torgb", "synthesis.b8.conv0"]
    dirs = sefa_directions(tiny_gen, k=5, n_samples=200)
    assert [d.name for d in dirs][:2] == ["SeFa 1", "SeFa 2"] and all(d.method == "sefa" for d in dirs)
    ev = [d.quality["eigenvalue"] for d in dirs]
    assert ev == sorted(ev, reverse=True)
    for d in dirs:
        assert abs(np.linalg.norm(d.vector) - 1) < 1e-5 and d.scale > 0
    coarse = sefa_directions(tiny_gen, k=3, layers="coarse", n_samples=0)
    # ws 0-3 feed b4, b8 and (through ws 3, shared with b8's ToRGB) b16's first conv
    assert coarse[0].layers == "coarse" and coarse[0].quality["modules"] == [
        "synthesis.b4.conv1", "synthesis.b4.torgb", "synthesis.b8.conv0", "synthesis.b8.conv1",
        "synthesis.b8.torgb", "synthesis.b16.conv0"]
    # SeFa's first direction changes the chosen layers' styles more than a random direction does
    a = torch.cat([w for _, i, w in style_affines(tiny_gen)]).double().numpy()
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    rnd = np.random.default_rng(0).standard_normal(W_DIM)
    assert np.linalg.norm(a @ dirs[0].vector) > np.linalg.norm(a @ (rnd / np.linalg.norm(rnd)))
    _assert_moves_images(tiny_gen, dirs[0])


def _assert_moves_images(gen, d: Direction):
    from explorer.latents import latent_from_seed

    ws = latent_from_seed(gen, 7).ws
    moved = d.apply(ws, 3.0, gen.info.groups, gen.fingerprint)
    with torch.inference_mode():
        a, b = (to_uint8(gen.synthesize(torch.tensor(x)[None])) for x in (ws, moved))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 0.5


def test_library_save_list_delete(tmp_path):
    lib = DirectionLibrary(tmp_path / "dirs")
    rng = np.random.default_rng(7)
    a = random_direction(rng, "smile", model="fp1")
    b = random_direction(rng, "big smile / wide", model="fp1")
    c = random_direction(rng, "smile", model="fp2")
    for d in (a, b, c):
        lib.save(d)
    assert lib.list("fp1") == ["big smile / wide", "smile"] and lib.list("fp2") == ["smile"]
    assert lib.list("fp3") == []
    assert np.array_equal(lib.get("fp1", "smile").vector, a.vector)
    lib.save(a.replace(scale=2.0))                                  # replaces, same name
    assert len(lib.load_all("fp1")) == 2 and lib.get("fp1", "smile").scale == 2.0
    lib.delete("fp1", "smile")
    assert lib.list("fp1") == ["big smile / wide"] and ("fp2", "smile") in lib
    with pytest.raises(KeyError):
        lib.delete("fp1", "smile")
    with pytest.raises(ValueError):
        lib.save(a.replace(model=None))
    with pytest.raises(ValueError):
        lib.list("../escape")
    assert DirectionLibrary().root.name == "directions"


def test_weak_fit_reason_uses_balanced_accuracy_and_efficacy():
    from explorer.directions import weak_fit_reason

    assert weak_fit_reason({}) is None                                   # PCA / SeFa / imported
    assert weak_fit_reason({"val_accuracy": 0.94, "val_balanced_accuracy": 0.9}) is None
    assert "balanced" in weak_fit_reason({"val_accuracy": 0.94, "val_balanced_accuracy": 0.53})
    assert "turns the attribute on for 40%" in weak_fit_reason({"val_balanced_accuracy": 0.9, "efficacy": 0.4})


# ----- hostile and broken direction files ------------------------------------------------------
def test_npy_header_claiming_billions_of_values_is_refused_without_allocating(tmp_path):
    import tracemalloc

    from explorer.directions import DirectionFileError, load_interfacegan

    path = tmp_path / "bomb.npy"
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 10000000000), }"
    header += " " * (63 - len(header) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 64)
    tracemalloc.start()
    try:
        with pytest.raises(DirectionFileError, match="bomb.npy: .*declares shape"):
            load_interfacegan(path, model="abc", w_dim=512)
        assert tracemalloc.get_traced_memory()[1] < 5_000_000
    finally:
        tracemalloc.stop()
    path.write_bytes(b"\x93NUMPY\x01\x00" + b"\x10\x00" + b"{'descr': '|O',}" + b"\0" * 8)
    with pytest.raises(DirectionFileError):
        load_interfacegan(path, model="abc", w_dim=512)


@pytest.mark.parametrize("content", [
    '{"directions": [1]}', '{"directions": [{"vector": [1, "x"]}]}', '[' * 3000 + ']' * 3000,
    '{"directions": [{"vector": [1, 2], "w_dim": "2"}]}', '{"directions": [{"vector": [NaN, 1]}]}',
    '{"directions": "many"}', '{"format": "latent-explorer-directions", "version": "1", "directions": []}',
    '{"directions": [{"vector": [1, 0], "scale": "big"}]}', b'\xff\xfe\x00garbage',
])
def test_broken_direction_files_give_one_error_type(tmp_path, content):
    from explorer.directions import DirectionFileError
    from explorer.errors import FileProblem

    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DirectionFileError, match="bad.json") as info:
        load_directions(path)
    assert isinstance(info.value, FileProblem)


def test_one_bad_library_file_does_not_lose_the_good_ones(tmp_path):
    lib = DirectionLibrary(tmp_path)
    v = np.zeros(8, np.float32)
    v[0] = 1
    lib.save(Direction(v, name="good one", model="cafe1234"))
    lib.save(Direction(v[::-1].copy(), name="another", model="cafe1234"))
    (lib.folder("cafe1234") / "broken.json").write_text("[" * 5000)
    problems = []
    names = [d.name for d in lib.load_all("cafe1234", problems)]
    assert names == ["another", "good one"]
    assert len(problems) == 1 and "broken.json" in problems[0]
