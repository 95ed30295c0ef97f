"""Procedural face renderer: determinism, labels, attribute effects, dataset file round trip."""
from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from explorer.training import faces as F


def test_same_seed_same_pixels_and_labels():
    a_img, a_lab = F.render_face(123, 64)
    b_img, b_lab = F.render_face(123, 64)
    assert a_img.dtype == np.uint8 and a_img.shape == (64, 64, 3)
    assert a_lab.dtype == np.float32 and a_lab.shape == (F.NUM_LABELS,)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)


def test_different_seeds_differ():
    imgs = [F.render_face(s, 32)[0] for s in range(6)]
    for i in range(len(imgs)):
        for j in range(i + 1, len(imgs)):
            assert not np.array_equal(imgs[i], imgs[j])


def test_resolution_128():
    img, _ = F.render_face(5, 128)
    assert img.shape == (128, 128, 3)
    assert img.std() > 10  # a picture, not a flat fill


def test_label_layout_and_ranges():
    names = F.label_names()
    assert len(names) == F.NUM_LABELS == sum(a.width for a in F.ATTRIBUTES)
    assert len(set(names)) == len(names)
    assert "hair_style=bun" in names and "smile" in names
    slices = F.label_slices()
    labs = np.stack([F.render_face(s, 16)[1] for s in range(40)])
    for a in F.ATTRIBUTES:
        block = labs[:, slices[a.name]]
        if a.kind == "categorical":
            assert set(np.unique(block)) <= {0.0, 1.0}
            np.testing.assert_array_equal(block.sum(1), 1.0)
        elif a.kind == "binary":
            assert set(np.unique(block)) <= {0.0, 1.0}
        else:
            assert block.min() >= a.low and block.max() <= a.high, a.name


def test_sampled_attributes_vary():
    labs = np.stack([F.encode_labels(F.sample_params(s)) for s in range(400)])
    slices = F.label_slices()
    for a in F.ATTRIBUTES:
        block = labs[:, slices[a.name]]
        if a.kind == "categorical":
            assert (block.sum(0) > 0).all(), f"{a.name}: a class never sampled"
        else:
            assert block.std() > 0.1, a.name


def test_binary_targets():
    labs = np.stack([F.render_face(s, 16)[1] for s in range(30)])
    t = F.binary_targets(labs)
    for key in ("smile", "age", "old", "glasses", "beard", "yaw_right", "dark_skin", "blonde", "bald",
                "hair_style=bun", "makeup", "light"):
        assert t[key].dtype == bool and t[key].shape == (30,), key
    for a in F.ATTRIBUTES:  # every attribute has a binary version
        assert a.name in t or f"{a.name}={a.classes[0]}" in t
    np.testing.assert_array_equal(t["smile"], labs[:, F.label_names().index("smile")] > 0.5)
    single = F.binary_targets(labs[0])
    assert single["glasses"] == t["glasses"][0]


def _render(params, res=64):
    return F.render_face_from_params(params, res).astype(np.int16)


def test_glasses_change_pixels():
    p = F.sample_params(7).replace(glasses="none")
    plain = _render(p)
    for kind in ("glasses", "sunglasses"):
        diff = np.abs(_render(p.replace(glasses=kind)) - plain).sum(-1)
        assert (diff > 30).sum() > 20, kind
    sun = _render(p.replace(glasses="sunglasses"))
    assert sun[20:36].mean() < plain[20:36].mean()  # dark lenses around the eye line


def test_smile_changes_mouth_region():
    p = F.sample_params(11).replace(yaw=0.0, tilt=0.0, facial_hair="none")
    low, high = _render(p.replace(smile=0.0)), _render(p.replace(smile=1.0))
    diff = np.abs(high - low).sum(-1)
    mouth = diff[36:50, 20:44]
    # mostly around the mouth (the rest: squinting eyes, raised brows), nothing below the chin
    assert mouth.sum() > 0.45 * diff.sum()
    assert diff[52:].sum() < 0.02 * diff.sum()
    assert (mouth > 60).sum() > 15
    assert high[36:50, 20:44].max() > 230          # teeth visible when smiling wide


def test_other_attributes_change_pixels():
    p = F.sample_params(3)
    base = _render(p)
    changes = {"hair_style": "bald" if p.hair_style != "bald" else "long", "age": 1.0 - p.age,
               "yaw": -p.yaw if abs(p.yaw) > 0.3 else 0.9, "skin_tone": 1.0 - p.skin_tone,
               "facial_hair": "beard" if p.facial_hair != "beard" else "none",
               "clothing_color": "red" if p.clothing_color != "red" else "blue"}
    for name, value in changes.items():
        assert np.abs(_render(p.replace(**{name: value})) - base).sum() > 2000, name


def test_write_dataset_round_trip(tmp_path):
    path = tmp_path / "faces.lxf"
    calls = []
    F.write_dataset(path, 40, resolution=32, seed=100, workers=2,
                    progress=lambda done, total: calls.append((done, total)),
                    mp_context=multiprocessing.get_context("fork"))
    assert calls and calls[-1] == (40, 40)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    ds = F.FaceDataset(path)
    assert len(ds) == 40 and ds.resolution == 32 and ds.label_names == F.label_names()
    assert isinstance(ds.images, np.memmap) and not ds.images.flags.writeable
    assert ds.images.shape == (40, 32, 32, 3) and ds.labels.shape == (40, F.NUM_LABELS)
    for i in range(40):
        img, lab = F.render_face(100 + i, 32)
        np.testing.assert_array_equal(ds.images[i], img)
        np.testing.assert_array_equal(ds.labels[i], lab)
    imgs, labs = ds.batch([3, 0, 39])
    np.testing.assert_array_equal(imgs[0], ds.images[3])
    np.testing.assert_array_equal(labs[2], ds.labels[39])
    assert imgs.dtype == np.uint8 and labs.dtype == np.float32


def test_write_dataset_single_process(tmp_path):
    path = F.write_dataset(tmp_path / "one.lxf", 5, resolution=16, seed=7, workers=1)
    ds = F.FaceDataset(path)
    np.testing.assert_array_equal(ds.images[4], F.render_face(11, 16)[0])
    assert ds.header["seed"] == 7 and ds.header["seed_end"] == 12


def test_write_dataset_is_atomic(tmp_path):
    path = tmp_path / "faces.lxf"
    F.write_dataset(path, 3, resolution=16, seed=0, workers=1)
    before = path.read_bytes()

    def boom(done, total):
        if done >= 4:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        F.write_dataset(path, 20, resolution=16, seed=50, workers=2, progress=boom,
                        mp_context=multiprocessing.get_context("fork"))
    assert path.read_bytes() == before                  # old file untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.lxf"]  # no temp left
    with pytest.raises(RuntimeError):
        F.write_dataset(tmp_path / "new.lxf", 10, resolution=16, workers=1, progress=boom)
    assert not (tmp_path / "new.lxf").exists()


def test_not_a_dataset(tmp_path):
    bad = tmp_path / "bad.lxf"
    bad.write_bytes(b"hello world, not a dataset")
    with pytest.raises(ValueError):
        F.FaceDataset(bad)


def test_contact_sheet_cli(tmp_path):
    out = tmp_path / "sheet.png"
    assert F.main(["--sheet", str(out), "--resolution", "32", "--count", "6"]) == 0
    from PIL import Image

    im = Image.open(out)
    assert im.size == (3 * 34 + 2, 2 * 34 + 2)
