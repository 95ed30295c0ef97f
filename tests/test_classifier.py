"""Attribute classifier, Fréchet distance, distribution match and the default-directions pipeline."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.checkpoints import save_native
from explorer.directions import load_directions
from explorer.generators import Generator, stylegan2_config
from explorer.training.classifier import (AttributeClassifier, attribute_distribution_match,
                                          frechet_distance, hard_labels, soft_targets, train_classifier)
from explorer.training.faces import (ATTRIBUTES, NUM_LABELS, binary_targets, label_names, label_slices,
                                     render_face)

SHIPPED = Path(__file__).resolve().parents[1] / "resources" / "attribute_classifier.safetensors"
TINY_CONFIG = {"widths": [8, 16, 16, 32], "feature_dim": 32}


class ArrayFaces:
    """The FaceDataset interface over arrays in memory."""

    def __init__(self, images, labels):
        self.images, self.labels, self.seed, self.resolution = images, labels, 0, images.shape[1]

    def __len__(self):
        return len(self.labels)

    def batch(self, idx):
        return self.images[idx], self.labels[idx]


def rendered(seeds, resolution=64):
    imgs, labs = zip(*(render_face(s, resolution) for s in seeds))
    return np.stack(imgs), np.stack(labs)


@pytest.fixture(scope="module")
def faces():
    return ArrayFaces(*rendered(range(100_000, 100_064)))


@pytest.fixture(scope="module")
def tiny_trained(faces, tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clf") / "tiny.safetensors"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)      # tiny convolutions: thread hand-offs cost more than they save
    try:
        metrics = train_classifier(faces, path, epochs=12, batch=16, val_fraction=0.25, config=TINY_CONFIG,
                                   progress=None, lr=5e-3)
    finally:
        torch.set_num_threads(threads)
    return path, metrics


def test_tiny_classifier_reduces_loss_and_round_trips(tiny_trained, faces, tmp_path):
    path, metrics = tiny_trained
    assert metrics["steps"] == 36
    assert metrics["final_loss"] < 0.8 * metrics["first_loss"], metrics
    clf = AttributeClassifier.load(path)
    assert clf.metrics["attributes"].keys() == {a.name for a in ATTRIBUTES}
    pred = clf.predict(faces.images[:8])
    assert np.array_equal(pred, AttributeClassifier.load(path).predict(faces.images[:8]))
    full = clf.save(tmp_path / "f32.safetensors", half=False)
    again = AttributeClassifier.load(full)
    assert np.array_equal(again.predict(faces.images[:8]), pred)
    assert np.array_equal(again.features(faces.images[:8]), clf.features(faces.images[:8]))
    other = save_native(Generator(stylegan2_config(8, z_dim=4, w_dim=4, channel_base=16, channel_max=4,
                                                   mapping_layers=1)), tmp_path / "g.safetensors")
    with pytest.raises(ValueError, match="not an attribute classifier"):
        AttributeClassifier.load(other)


def test_predict_layout_matches_label_names(tiny_trained, faces):
    clf = AttributeClassifier.load(tiny_trained[0])
    pred = clf.predict(faces.images[:5])
    assert pred.shape == (5, NUM_LABELS) == (5, len(label_names())) and pred.dtype == np.float32
    for a in ATTRIBUTES:
        block = pred[:, label_slices()[a.name]]
        if a.kind == "categorical":
            assert np.allclose(block.sum(1), 1, atol=1e-5)
        else:
            assert (block >= a.low).all() and (block <= a.high).all()
    assert clf.features(faces.images[:5]).shape == (5, 32)
    # other resolutions are resized (antialiased) to the classifier's 64px
    big = np.repeat(np.repeat(faces.images[:2], 2, axis=1), 2, axis=2)
    assert np.abs(clf.predict(big) - pred[:2]).max() < 0.05
    assert clf.predict(faces.images[0]).shape == (1, NUM_LABELS)
    binary = clf.binary(faces.images[:5])
    assert binary["glasses"].shape == (5,) and binary["glasses"].dtype == bool


def test_soft_targets_agree_with_binary_targets():
    _, labels = rendered(range(300, 340))
    soft, hard = soft_targets(labels), binary_targets(labels)
    assert soft.keys() == hard.keys()
    for k in hard:
        assert np.array_equal(soft[k] > 0.5, hard[k]), k
    assert np.array_equal(hard_labels(labels), labels)   # ground truth is already hard


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 8))
    assert abs(frechet_distance(a, a)) < 1e-6
    b = rng.standard_normal((500, 8))
    shifts = [frechet_distance(a, b + s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert shifts == sorted(shifts) and shifts[-1] > 8 * 2.0 ** 2 * 0.9
    with pytest.raises(ValueError):
        frechet_distance(a, a[:, :4])


def test_attribute_distribution_match():
    _, labels = rendered(range(400, 460))
    same = attribute_distribution_match(labels, labels)
    assert all(v.get("tv", v.get("w1")) == 0 for v in same.values())
    shifted = labels.copy()
    sl = label_slices()
    shifted[:, sl["smile"]] = 1.0
    shifted[:, sl["glasses"]] = np.eye(3)[2]
    m = attribute_distribution_match(labels, shifted)
    assert m["smile"]["w1"] > 0.3 and m["glasses"]["tv"] > 0.5 and m["age"]["w1"] == 0


@pytest.mark.skipif(not SHIPPED.is_file(), reason=f"shipped classifier {SHIPPED.name} is absent "
                    "(make it with `latent-explorer train-classifier`)")
def test_shipped_classifier_beats_chance_on_fresh_faces():
    """The shipped classifier reads the default model's renderer (renderer 2's drawing) on seeds
    it never saw (held-out accuracy table in the model card)."""
    from explorer.training.faces_v2 import render_seed_v2

    imgs, labels = map(np.stack, zip(*(render_seed_v2(s, 128) for s in range(7_000_000, 7_000_120))))
    clf = AttributeClassifier.load(SHIPPED)
    pred = clf.predict(imgs)
    truth, got = binary_targets(labels), binary_targets(hard_labels(pred))
    acc = {k: float((truth[k] == got[k]).mean()) for k in ("glasses", "smile", "dark_skin", "beard")}
    sl = label_slices()["hair_style"]
    acc["hair_style"] = float((pred[:, sl].argmax(1) == labels[:, sl].argmax(1)).mean())
    assert acc["glasses"] > 0.9, acc
    assert acc["smile"] > 0.8 and acc["dark_skin"] > 0.8 and acc["hair_style"] > 0.8, acc


# ----- the default-directions pipeline, end to end on a tiny generator ------------------------

@pytest.fixture(scope="module")
def tiny_gen():
    torch.manual_seed(1)
    return Generator(stylegan2_config(32, z_dim=16, w_dim=16, channel_base=256, channel_max=16,
                                      mapping_layers=1))


def test_fit_directions_pipeline_end_to_end(tiny_gen, tiny_trained, tmp_path):
    from explorer.training.commands_directions import register
    from explorer.training.default_directions import fit_default_directions, resolve_attributes

    clf = AttributeClassifier.load(tiny_trained[0])
    out = tmp_path / "dirs.json"
    dirs = fit_default_directions(tiny_gen, clf, samples=96, attributes="smile,age,yaw_right", out_path=out,
                                  efficacy_samples=20, progress=None)
    assert [d.name for d in dirs] == ["smile", "old", "yaw_right"]
    loaded = load_directions(out, model=tiny_gen.fingerprint)
    measured = [e for e in loaded if "efficacy" in e.quality]       # kept in the file, for the app's filter
    assert measured and all(0.0 <= e.quality["efficacy"] <= 1.0 and e.quality["efficacy_amount"] == 3.0
                            and e.quality["leakage"] >= 0.0 for e in measured)
    for d, e in zip(dirs, loaded):
        assert np.array_equal(d.vector, e.vector) and e.method == "svm" and e.model == tiny_gen.fingerprint
        assert e.quality["val_accuracy"] is not None and e.scale > 0
        moved = e.apply(np.zeros((tiny_gen.info.num_ws, 16), np.float32), 1.0, model_fingerprint=tiny_gen.fingerprint)
        assert np.allclose(moved[0], e.scale * e.vector, atol=1e-6)
    with pytest.raises(ValueError, match="unknown attribute"):
        resolve_attributes("smile,wings")

    # the same through the CLI subcommand
    model = save_native(tiny_gen, tmp_path / "tiny.safetensors")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["fit-directions", "--model", str(model), "--classifier", str(tiny_trained[0]),
                              "--samples", "64", "--out", str(tmp_path / "cli.json"), "--attributes", "smile"])
    assert args.func(args) == 0
    doc = json.loads((tmp_path / "cli.json").read_text())
    assert [d["name"] for d in doc["directions"]] == ["smile"]


def test_classifier_on_renderer_v2_labels_predicts_the_extra_attributes(tmp_path):
    from explorer.training.faces import FaceDataset, write_dataset
    from explorer.training.faces_v2 import LABEL_NAMES_V2

    ds = FaceDataset(write_dataset(tmp_path / "v2.lef", 24, resolution=32, workers=1, renderer=2))
    path = tmp_path / "v2clf.safetensors"
    metrics = train_classifier(ds, path, epochs=1, batch=8, val_fraction=0.25, config=TINY_CONFIG, progress=None)
    clf = AttributeClassifier.load(path)
    assert clf.config["label_names"] == list(LABEL_NAMES_V2)
    pred = clf.predict(ds.batch(np.arange(4))[0])
    assert pred.shape == (4, len(LABEL_NAMES_V2)) and np.isfinite(pred).all()
    assert {"presentation", "greying", "freckles"} <= set(metrics["attributes"])
    assert "masculine" in soft_targets(pred) and "masculine" in binary_targets(hard_labels(pred))
    with pytest.raises(ValueError, match="label layout"):
        AttributeClassifier({"label_names": ["a", "b"]})


def test_v2_classifiers_can_fit_the_presentation_direction():
    from explorer.training.default_directions import resolve_attributes
    from explorer.training.faces_v2 import LABEL_NAMES_V2

    assert "masculine" not in resolve_attributes(None)
    v2 = resolve_attributes(None, len(LABEL_NAMES_V2))
    assert v2[-1] == "masculine" and set(resolve_attributes(None)) < set(v2)
    assert resolve_attributes("gender,age", len(LABEL_NAMES_V2)) == ["masculine", "old"]
    with pytest.raises(ValueError, match="unknown attribute"):
        resolve_attributes("gender")            # a v1 classifier cannot judge it


def test_recipe_labels_fit_directions_without_rendering(tmp_path):
    """A renderer-2 model's seeds carry their own labels (each z slot is a drawing parameter): the
    SVMs fit on those (no picture rendered), the classifier only judges the efficacy."""
    from explorer.training import faces_v2 as V
    from explorer.training.commands_directions import register
    from explorer.training.default_directions import fit_default_directions, recipe_labelled
    from explorer.training.neural_renderer import RendererConfig, renderer_generator_config

    torch.manual_seed(0)
    gen = Generator(renderer_generator_config(RendererConfig(resolution=16, w_dim=64, mapping_layers=2,
                                                             channel_base=128, channel_max=16))).eval()
    w, labels = recipe_labelled(gen, 300, seed0=5)
    assert w.shape == (300, 64) and labels.shape == (300, len(V.LABEL_NAMES_V2))
    assert np.array_equal(labels[7], V.encode_labels_v2(V.params_from_z(V.z_of_seed(12))))
    with torch.no_grad():
        assert np.allclose(w[7], gen.mapping(torch.from_numpy(V.z_of_seed(12))[None])[0, 0].numpy(), atol=1e-5)
    clf = AttributeClassifier({"label_names": list(V.LABEL_NAMES_V2), **TINY_CONFIG})   # untrained: judge only
    dirs = fit_default_directions(gen, clf, samples=600, attributes="smile,yaw_right,makeup", labels="recipe",
                                  efficacy_samples=10, progress=None, out_path=tmp_path / "r.json")
    # w is a (random, untrained) function of z alone, so the recipe's labels are largely linearly
    # separable in W (measured 0.74-0.77 held out on 600 samples; chance 0.5)
    assert all(d.quality["val_accuracy"] > 0.65 and d.quality["label_source"] == "recipe" for d in dirs), \
        [(d.name, d.quality["val_accuracy"]) for d in dirs]
    saved = load_directions(tmp_path / "r.json", model=gen.fingerprint)
    assert [d.quality["label_source"] for d in saved] == ["recipe"] * 3
    assert all(np.array_equal(a.vector, b.vector) for a, b in zip(dirs, saved))
    # a model without slot semantics has no recipe labels: a clear error, also from the CLI
    plain = Generator(stylegan2_config(16, z_dim=16, w_dim=16, channel_base=128, channel_max=16, mapping_layers=1))
    with pytest.raises(ValueError, match="slot semantics"):
        recipe_labelled(plain, 4)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["fit-directions", "--model", str(save_native(plain, tmp_path / "p.safetensors")),
                              "--classifier", str(clf.save(tmp_path / "c.safetensors")), "--samples", "8",
                              "--out", str(tmp_path / "d.json"), "--labels", "recipe"])
    assert args.func(args) == 2 and not (tmp_path / "d.json").exists()


def test_slot_directions_move_w_the_way_the_slot_does(tmp_path):
    """method 'slot': each direction is the mean W move of setting the attribute's z slot where the
    attribute holds, for the faces without it; unit vector, InterFaceGAN's scale, saved and loaded."""
    from explorer.training import faces_v2 as V
    from explorer.training.default_directions import fit_default_directions, recipe_labelled
    from explorer.training.neural_renderer import RendererConfig, renderer_generator_config
    from explorer.training.slot_directions import fit_slot_directions, slot_of
    from explorer.training.z_layout import LAYOUT_V2

    # targets: continuous parameters high, a flag on, a class's bin centre
    assert slot_of("smile") == ("smile", None) and slot_of("old") == ("age", None)
    z0 = np.zeros((1, V.Z_DIM), np.float32)
    assert LAYOUT_V2.set_attribute(z0, "smile")[0, V.SLOT_INDEX["smile"]] == 2.0
    assert V.params_from_z(LAYOUT_V2.set_attribute(z0, *slot_of("makeup"))[0]).makeup
    for name, (slot, cls) in {"sunglasses": ("glasses", "sunglasses"), "bald": ("hair_style", "bald"),
                              "hair_color=red": ("hair_color", "red")}.items():
        assert slot_of(name) == (slot, cls)
        assert getattr(V.params_from_z(LAYOUT_V2.set_attribute(z0, slot, cls)[0]), slot) == cls, name
    with pytest.raises(ValueError, match="no renderer slot"):
        slot_of("wings")
    with pytest.raises(ValueError, match="no class"):
        slot_of("hair_color=purple")

    torch.manual_seed(0)
    gen = Generator(renderer_generator_config(RendererConfig(resolution=16, w_dim=32, mapping_layers=2,
                                                             channel_base=128, channel_max=16))).eval()
    dirs = fit_slot_directions(gen, ["smile", "glasses", "makeup"], samples=200, progress=None)
    w, labels = recipe_labelled(gen, 200)
    neg = ~binary_targets(labels)["smile"]
    z = torch.from_numpy(np.stack([V.z_of_seed(s) for s in range(200)]))[torch.from_numpy(neg)]
    moved = z.clone()
    moved[:, V.SLOT_INDEX["smile"]] = 2.0
    with torch.no_grad():
        expect = (gen.mapping(moved)[:, 0] - gen.mapping(z)[:, 0]).mean(0).numpy()
    smile = dirs[0]
    assert smile.method == "slot" and smile.quality["slot"] == "smile" and smile.quality["n_neg"] == neg.sum()
    assert np.allclose(smile.vector, expect / np.linalg.norm(expect), atol=1e-5)
    assert smile.scale == pytest.approx(float((w @ smile.vector).std()), rel=1e-5)
    # the direction points the way the faces move: their projections grow
    with torch.no_grad():
        assert ((gen.mapping(moved)[:, 0].numpy() - gen.mapping(z)[:, 0].numpy()) @ smile.vector > 0).mean() > 0.9

    # through the pipeline with a (v2-layout, untrained) judge, written and read back
    clf = AttributeClassifier({"label_names": list(V.LABEL_NAMES_V2), **TINY_CONFIG})
    out = tmp_path / "slot.json"
    fit_default_directions(gen, clf, samples=200, attributes="smile,age", method="slot", efficacy_samples=8,
                           progress=None, out_path=out)
    saved = load_directions(out, model=gen.fingerprint)
    assert [(d.name, d.method, d.quality["label_source"]) for d in saved] == [("smile", "slot", "recipe"),
                                                                            ("old", "slot", "recipe")]
    with pytest.raises(ValueError, match="method"):
        fit_default_directions(gen, clf, samples=8, method="pca", progress=None)


def test_slot_directions_of_a_renderer3_model_raise_the_class_slot():
    """Renderer 3 (one z slot per class): 'towards blonde' raises the blonde slot above its rivals
    for every face without blonde hair, so each moved face is blonde, whatever its colour was."""
    from explorer.training.default_directions import recipe_labelled
    from explorer.training.neural_renderer import RendererConfig, renderer_generator_config
    from explorer.training.slot_directions import fit_slot_directions
    from explorer.training.z_layout import LAYOUT_V3

    torch.manual_seed(0)
    gen = Generator(renderer_generator_config(RendererConfig(resolution=16, w_dim=32, mapping_layers=2,
                                                             channel_base=128, channel_max=16,
                                                             renderer_version=3))).eval()
    assert gen.info.z_dim == LAYOUT_V3.z_dim
    dirs = fit_slot_directions(gen, ["blonde", "glasses"], samples=300, progress=None)
    _, labels = recipe_labelled(gen, 300)
    neg = np.flatnonzero(~binary_targets(labels)["blonde"])
    z = np.stack([LAYOUT_V3.z_of_seed(s) for s in range(300)])[neg]
    moved = LAYOUT_V3.set_attribute(z, "hair_color", "blonde")
    assert all(LAYOUT_V3.params_from_z(m).hair_color == "blonde" for m in moved)
    # only the blonde slot moved, never down
    diff = moved - z
    assert (diff[:, LAYOUT_V3.slot_index["hair_color=blonde"]] > 0).all()
    assert np.count_nonzero(np.delete(diff, LAYOUT_V3.slot_index["hair_color=blonde"], axis=1)) == 0
    with torch.no_grad():
        expect = (gen.mapping(torch.from_numpy(moved))[:, 0] - gen.mapping(torch.from_numpy(z))[:, 0]).mean(0)
    blonde = dirs[0]
    assert blonde.quality["slot"] == "hair_color=blonde" and blonde.quality["renderer_version"] == 3
    assert np.allclose(blonde.vector, (expect / expect.norm()).numpy(), atol=1e-5)


def test_measure_directions_judges_directions_from_a_file(tmp_path):
    """measure-directions: efficacy and leakage of given directions (e.g. an edit-supervised
    renderer's), written to a new file; directions of another model are refused."""
    from explorer import load_generator
    from explorer.cli import main as cli_main
    from explorer.directions import save_directions
    from explorer.training import faces_v2 as V
    from explorer.training.neural_renderer import RendererConfig, renderer_generator_config
    from explorer.training.slot_directions import fit_slot_directions

    torch.manual_seed(0)
    gen = Generator(renderer_generator_config(RendererConfig(resolution=16, w_dim=32, mapping_layers=2,
                                                             channel_base=128, channel_max=16,
                                                             renderer_version=3))).eval()
    model = save_native(gen, tmp_path / "m.safetensors")
    fp = load_generator(model).fingerprint
    dirs = fit_slot_directions(load_generator(model), ["smile", "blonde"], samples=100, progress=None)
    save_directions(dirs, tmp_path / "d.json")
    clf = AttributeClassifier({"label_names": list(V.LABEL_NAMES_V2), **TINY_CONFIG})
    clf_path = clf.save(tmp_path / "c.safetensors")
    args = ["measure-directions", "--model", str(model), "--classifier", str(clf_path), "--directions",
            str(tmp_path / "d.json"), "--efficacy-samples", "6", "--out", str(tmp_path / "m.json")]
    assert cli_main(args) == 0
    measured = load_directions(tmp_path / "m.json", model=fp)
    assert [d.name for d in measured] == ["smile", "blonde"]
    for d in measured:
        assert 0.0 <= d.quality["efficacy"] <= 1.0 and d.quality["efficacy_n"] <= 6 and "leakage" in d.quality
    assert "efficacy" not in load_directions(tmp_path / "d.json", model=fp)[0].quality   # the input is kept
    torch.manual_seed(1)      # the same architecture, other weights: another fingerprint
    other = Generator(renderer_generator_config(RendererConfig(resolution=16, w_dim=32, mapping_layers=2,
                                                               channel_base=128, channel_max=16,
                                                               renderer_version=3)))
    # several files judged together; the first file that names a direction wins
    save_directions([dirs[1]], tmp_path / "e.json")
    both = ["measure-directions", "--model", str(model), "--classifier", str(clf_path), "--directions",
            str(tmp_path / "e.json"), str(tmp_path / "d.json"), "--efficacy-samples", "4"]
    assert cli_main(both) == 2                                   # no --out for several files
    assert cli_main(both + ["--out", str(tmp_path / "both.json")]) == 0
    assert [d.name for d in load_directions(tmp_path / "both.json", model=fp)] == ["blonde", "smile"]
    assert all(d.quality["judge"] == "c.safetensors" for d in load_directions(tmp_path / "both.json", model=fp))
    # --order: the named ones first, in that order (the app lists them so); unknown names refused
    ordered = both + ["--out", str(tmp_path / "ordered.json"), "--order", "smile"]
    assert cli_main(ordered) == 0
    assert [d.name for d in load_directions(tmp_path / "ordered.json", model=fp)] == ["smile", "blonde"]
    assert cli_main(both + ["--out", str(tmp_path / "x.json"), "--order", "smile,wings"]) == 2
    assert not (tmp_path / "x.json").exists()
    args[2] = str(save_native(other, tmp_path / "o.safetensors"))
    assert cli_main(args) == 2
