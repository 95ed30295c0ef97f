"""The neural-renderer trainer (default model v2): learns, mixes by group, exports, resumes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import load_generator
from explorer.cli import main as cli_main
from explorer.training import faces_v2 as V
from explorer.training.faces import FaceDataset, write_dataset
from explorer.training.model_figures import laplacian_energy
from explorer.training.neural_renderer import (SHARP_ENERGIES, RendererConfig, RendererTrainer, group_mixed_ws,
                                               mixed_z, sharp_energy_loss)

TINY = dict(resolution=16, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32, batch=8,
            lr=0.004, ema_kimg=0.05, seed=1)


@pytest.fixture(scope="module")
def faces16v2(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "v2_16.lef"
    write_dataset(path, 48, resolution=16, seed=0, workers=1, renderer=2)
    return path


def _fixed_batch_l1(t: RendererTrainer) -> float:
    seeds = list(range(8))
    out = t.outputs(seeds).astype(np.float32)
    target = np.stack([t.data[s][0] for s in seeds]).astype(np.float32)
    return float(np.abs(out - target).mean())


def test_short_run_learns_the_renders(tmp_path, faces16v2):
    t = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "run")
    before = _fixed_batch_l1(t)
    losses = [t.train_step()["loss"] for _ in range(60)]
    after = _fixed_batch_l1(t)
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5]), losses
    assert after < 0.8 * before, (before, after)
    assert t.nimg == 60 * 8


def test_mixed_ws_take_each_group_from_its_z(tmp_path, faces16v2):
    t = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "run")
    z = torch.randn(3, V.Z_DIM)
    zs = mixed_z(z, torch.Generator().manual_seed(0))
    for group, zg in zs.items():
        keep = V.slot_indices(group)
        assert torch.equal(zg[:, keep], z[:, keep])
        others = np.setdiff1d(np.arange(V.Z_DIM), keep)
        assert not torch.equal(zg[:, others], z[:, others])
    ws = group_mixed_ws(t.G, zs)
    for group, rng in t.G.info.groups.items():
        ref = t.G.mapping(zs[group])
        assert torch.allclose(ws[:, rng.start:rng.stop], ref[:, rng.start:rng.stop])


def test_export_pack_and_cli(tmp_path, faces16v2):
    run = tmp_path / "cli"
    args = ["train-renderer", "--data", str(faces16v2), "--run-dir", str(run), "--kimg", "0.08",
            "--threads", "1"] + sum([[f"--{k.replace('_', '-')}", str(v)] for k, v in TINY.items()], [])
    assert cli_main(args) == 0
    assert (run / "snapshot.pt").is_file() and list(run.glob("samples-*.png"))
    out, pack = tmp_path / "g.safetensors", tmp_path / "pack.safetensors"
    assert cli_main(["export-renderer", "--run-dir", str(run), "--out", str(out), "--pack", str(pack)]) == 0
    g = load_generator(out)
    assert g.info.z_dim == V.Z_DIM and g.info.resolution == 16
    assert g.mapping.normalize_z is False
    assert [s for s, _ in g.config["z_semantics"]["slots"]] == [s.name for s in V.SLOTS]
    with torch.no_grad():
        img = g.synthesize(g.map(torch.randn(2, V.Z_DIM)), noise_mode="random", noise_seed=[1, 2])
    assert torch.isfinite(img).all()
    # warm start from the pack continues the count with the same networks
    t = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "warm")
    t.load_pack(pack)
    assert t.nimg >= 80
    ref = load_generator(out)
    for (k, a), b in zip(t.G_ema.state_dict().items(), ref.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-2), k
    # a pack exports on its own (no run folder): the same generator as the run's export
    again = tmp_path / "from_pack.safetensors"
    assert cli_main(["export-renderer", "--from-pack", str(pack), "--out", str(again)]) == 0
    for (k, a), b in zip(load_generator(again).state_dict().items(), ref.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-2), k
    assert cli_main(["export-renderer", "--from-pack", str(out), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert cli_main(["export-renderer", "--out", str(tmp_path / "y.safetensors")]) == 2
    # the card tells the app the psi to start at, and that early-stopped previews would mislead
    # (a neural renderer's fine blocks carry the colours)
    psi = tmp_path / "psi.safetensors"
    assert cli_main(["export-renderer", "--from-pack", str(pack), "--out", str(psi), "--default-psi", "0.8"]) == 0
    card = load_generator(psi).config["card"]
    assert card["default_psi"] == 0.8 and card["previews"] is False
    assert load_generator(psi).preview_resolution(8) == 16
    assert cli_main(["export-renderer", "--from-pack", str(pack), "--out", str(psi), "--default-psi", "3"]) == 2
    # resume continues from the snapshot: two more steps past it
    assert cli_main(args[:6] + ["0.096", "--resume"] + args[7:]) == 0


def test_edge_loss_penalises_blur_not_offsets(tmp_path, faces16v2):
    t = RendererTrainer(RendererConfig(**TINY, edge_weight=1.0), FaceDataset(faces16v2), tmp_path / "run")
    real = torch.rand(2, 3, 16, 16) * 2 - 1
    blurred = (real + real.roll(1, 2) + real.roll(1, 3)) / 3
    assert float(t.losses(real + 0.1, real)["edge"]) < 1e-6          # a flat offset has the same edges
    assert float(t.losses(blurred, real)["edge"]) > 0.05


@pytest.mark.parametrize("kind", ["grad", "laplacian"])
def test_sharpness_term_asks_for_crisp_edges_wherever_they_lie(tmp_path, faces16v2, kind):
    t = RendererTrainer(RendererConfig(**TINY, sharp_weight=1.0, sharp_kind=kind), FaceDataset(faces16v2),
                        tmp_path / "run")
    real = -torch.ones(1, 3, 16, 16)
    real[..., 5:] = 1.0                                                   # a crisp vertical edge
    moved = -torch.ones(1, 3, 16, 16)
    moved[..., 7:] = 1.0                                                  # the same edge 2 px over
    soft = real.clone()
    soft[..., 3:7] = torch.tensor([-0.8, -0.4, 0.4, 0.8])                # a blurred edge in its place
    sharp = lambda fake: float(t.losses(fake, real)["sharp"])  # noqa: E731
    assert sharp(real) < 1e-6
    assert sharp(moved) < 0.02 * sharp(soft)                             # a misplaced crisp edge costs ~nothing
    assert sharp(soft) > 0.05                                             # a soft one in the right place costs
    l1 = lambda fake: float(t.losses(fake, real)["L1/1"])  # noqa: E731
    assert l1(moved) > l1(soft)                                           # (L1 prefers the ramp: the blur)
    soft.requires_grad_(True)
    t.losses(soft, real)["sharp"].backward()                             # its gradient steepens the edge
    assert float(soft.grad[0, 0, 0, 4]) > 0 > float(soft.grad[0, 0, 0, 5])


def test_laplacian_sharpness_term_tells_the_finest_texture_from_a_coarser_one():
    # the render: the finest texture (period 2 px); G: period 4 px with as much first-difference
    # energy. The "grad" term barely tells them apart, the "laplacian" one (the figure's filter) does.
    x = torch.arange(16)
    real = (1.0 - 2.0 * (x % 2)).expand(1, 3, 16, 16) * 0.5
    fake = (1.0 - 2.0 * ((x // 2) % 2)).expand(1, 3, 16, 16) * 0.5 * 2 ** 0.5
    rel = {kind: float(sharp_energy_loss(fake, real, kind=kind)) / float(SHARP_ENERGIES[kind](real).mean())
           for kind in SHARP_ENERGIES}
    assert rel["grad"] < 0.15
    assert rel["laplacian"] > 0.25 and rel["laplacian"] > 2 * rel["grad"]


def test_unknown_sharpness_kind_is_refused(tmp_path, faces16v2):
    with pytest.raises(ValueError, match="sharp_kind"):
        RendererTrainer(RendererConfig(**TINY, sharp_kind="sobel"), FaceDataset(faces16v2), tmp_path / "run")


def test_shift_tolerant_l1_lets_an_edge_lie_a_pixel_off_but_not_blur(tmp_path, faces16v2):
    t = RendererTrainer(RendererConfig(**TINY, shift_weight=1.0, pool_weights=(0.0, 1.0, 1.0)),
                        FaceDataset(faces16v2), tmp_path / "run")
    real = -torch.ones(1, 3, 16, 16)
    real[..., 5:] = 1.0                                                   # a crisp vertical edge
    off1, off2 = -torch.ones(1, 3, 16, 16), -torch.ones(1, 3, 16, 16)
    off1[..., 6:] = 1.0                                                   # the same edge 1 px over
    off2[..., 7:] = 1.0                                                   # ... and 2 px over
    soft = real.clone()
    soft[..., 4:6] = torch.tensor([-0.33, 0.33])                          # a blur of its possible places
    losses = t.losses(off1, real)
    assert "L1/1" not in losses and "L1/2" in losses                     # full-size L1 replaced
    shift = lambda fake: float(t.losses(fake, real)["shift"])  # noqa: E731
    assert shift(real) == 0.0 and shift(off1) == 0.0                     # a pixel off costs nothing
    assert shift(off2) > shift(soft) > 0.0                                # beyond the radius it costs; a blur costs
    plain = lambda fake: float((fake - real).abs().mean())  # noqa: E731
    assert plain(off1) > plain(soft)                                      # (plain L1 prefers the blur)
    x = soft.clone().requires_grad_(True)
    t.losses(x, real)["shift"].backward()                                 # and its gradient steepens it
    assert float(x.grad[0, 0, 0, 4]) > 0 > float(x.grad[0, 0, 0, 5])


def test_pool_weights_and_shift_weight_on_the_command_line(tmp_path):
    from argparse import Namespace

    from explorer.training.commands_renderer import _config

    cfg = _config(Namespace(run_dir=str(tmp_path), pool_weights="0,1,0.5", shift_weight=2.0))
    assert cfg.pool_weights == (0.0, 1.0, 0.5) and cfg.shift_weight == 2.0
    with pytest.raises(ValueError, match="three numbers"):
        _config(Namespace(run_dir=str(tmp_path), pool_weights="1,2"))


def test_adversarial_finish_trains_both_and_resumes(tmp_path, faces16v2):
    cfg = RendererConfig(**TINY, adv_weight=0.1, d_channel_base=128, d_channel_max=16, r1_interval=2)
    t = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run")
    d0 = [p.detach().clone() for p in t.D.parameters()]
    losses = [t.train_step() for _ in range(4)]
    assert all("adv" in x and "D" in x for x in losses) and any("R1" in x for x in losses)
    assert any(not torch.equal(a, b) for a, b in zip(d0, t.D.parameters()))
    t.save_snapshot()
    again = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run")
    again.load_snapshot()
    for a, b in zip(t.D.state_dict().values(), again.D.state_dict().values()):
        assert torch.equal(a, b)
    # an L1-only snapshot warm-starts a run that switches the GAN term on (fresh D)
    plain = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "plain")
    plain.train_step()
    plain.save_snapshot()
    switched = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "plain")
    switched.load_snapshot()
    assert switched.step == 1 and "adv" in switched.train_step()


def test_conditional_discriminator_judges_images_for_their_z(tmp_path, faces16v2):
    """--adv-cond: D's logit depends on the z it is given (projection), and both nets train with it."""
    cfg = RendererConfig(**TINY, adv_weight=0.1, adv_cond=True, d_channel_base=128, d_channel_max=16,
                         r1_interval=2)
    t = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run")
    assert t.D.embed is not None
    losses = [t.train_step() for _ in range(4)]
    assert all("adv" in x and "D" in x for x in losses) and any("R1" in x for x in losses)
    img = torch.zeros(2, 3, 16, 16)
    z = torch.randn(2, V.Z_DIM)
    with torch.no_grad():
        a, b = t.D(img, z), t.D(img, -z)
    assert not torch.allclose(a, b)                       # the same image, judged per condition
    with pytest.raises(ValueError, match="conditional"):
        t.D(img)


def test_feature_loss_from_a_classifier_sees_structure(tmp_path, faces16v2):
    from explorer.training.classifier import AttributeClassifier

    clf_path = AttributeClassifier({"widths": [8, 8, 8, 8], "feature_dim": 8}).save(tmp_path / "judge.safetensors")
    cfg = RendererConfig(**TINY, feature_weight=1.0, feature_classifier=str(clf_path))
    t = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run")
    real = torch.rand(2, 3, 16, 16) * 2 - 1
    assert float(t.losses(real, real)["feat"]) < 1e-6
    assert float(t.losses(real.flip(-1), real)["feat"]) > 0
    before = [p.detach().clone() for p in t.judge[0].parameters()]
    assert "feat" in t.train_step()
    assert all(torch.equal(a, b) for a, b in zip(before, t.judge[0].parameters()))   # the judge stays frozen
    with pytest.raises(ValueError, match="feature_classifier"):
        RendererTrainer(RendererConfig(**TINY, feature_weight=1.0), FaceDataset(faces16v2), tmp_path / "x")


def test_label_loss_asks_for_the_attributes_of_the_targets_z(tmp_path, faces16v2):
    """attr_weight: the frozen classifier's label loss of G's output against the labels its z
    stands for (the renderer's own labels of that face)."""
    from explorer.training.classifier import AttributeClassifier

    torch.manual_seed(0)
    clf = AttributeClassifier({"widths": [8, 8, 8, 8], "feature_dim": 8, "label_names": list(V.LABEL_NAMES_V2)})
    clf_path = clf.save(tmp_path / "judge.safetensors")
    cfg = RendererConfig(**TINY, attr_weight=1.0, feature_classifier=str(clf_path))
    t = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run")
    real, z, _ = t._batch(4)
    parts = t.losses(real, real, z)
    assert "attr" in parts and "feat" not in parts and float(parts["attr"]) > 0
    # the labels are those of z: the same images judged against another face's labels cost differently
    assert float(t.losses(real, real, z.roll(1, 0))["attr"]) != pytest.approx(float(parts["attr"]))
    before = [p.detach().clone() for p in t.judge[0].parameters()]
    assert "attr" in t.train_step()
    assert all(torch.equal(a, b) for a, b in zip(before, t.judge[0].parameters()))
    v1 = AttributeClassifier({"widths": [8, 8, 8, 8], "feature_dim": 8}).save(tmp_path / "v1.safetensors")
    with pytest.raises(ValueError, match="renderer-2 labels"):
        RendererTrainer(RendererConfig(**TINY, attr_weight=1.0, feature_classifier=str(v1)),
                        FaceDataset(faces16v2), tmp_path / "y")


def test_patch_discriminator_crops_the_same_window(tmp_path, faces16v2):
    cfg = RendererConfig(**TINY, adv_weight=0.1, adv_crop=8, d_channel_base=128, d_channel_max=16)
    t = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run")
    assert t.D.config["img_resolution"] == 8
    a = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16)
    ca, cb = t._crops(a, a + 1)
    assert ca.shape == (2, 3, 8, 8) and torch.equal(cb, ca + 1)            # one window for both
    assert "adv" in t.train_step()
    with pytest.raises(ValueError, match="power of two"):
        RendererTrainer(RendererConfig(**TINY, adv_weight=0.1, adv_crop=12), FaceDataset(faces16v2), tmp_path / "z")


def test_warm_start_ramps_the_learning_rate_up(tmp_path, faces16v2):
    """A pack carries no Adam moments: after a warm start the step size grows from batch / warmup
    to cfg.lr over warmup_kimg (and a resumed snapshot continues the ramp where it was)."""
    cfg = RendererConfig(**{**TINY, "batch": 8}, warmup_kimg=0.032)
    t = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "a")
    assert t.learning_rate() == cfg.lr                       # a fresh run: no ramp
    t.train_step()
    pack = t.save_pack(tmp_path / "pack.safetensors")
    w = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "b")
    w.load_pack(pack)
    lrs = []
    for _ in range(5):
        lrs.append(w.learning_rate())
        w.train_step()
        assert w.opt.param_groups[0]["lr"] == lrs[-1]
    assert lrs == pytest.approx([cfg.lr * k / 4 for k in (1, 2, 3, 4, 4)])
    w.nimg -= 24                                             # back into the ramp, then a snapshot
    w.save_snapshot()
    r = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "b")
    r.load_snapshot()
    assert r.learning_rate() == pytest.approx(cfg.lr * 3 / 4)


def test_wrong_data_is_refused(tmp_path):
    path = write_dataset(tmp_path / "v1.lef", 4, resolution=16, workers=1)
    with pytest.raises(ValueError, match="renderer-2"):
        RendererTrainer(RendererConfig(**TINY), FaceDataset(path), tmp_path / "r")


def test_laplacian_energy_orders_sharpness():
    rng = np.random.default_rng(0)
    sharp = (rng.random((2, 16, 16, 3)) > 0.5).astype(np.uint8) * 255
    blurred = ((sharp.astype(np.float32) + np.roll(sharp, 1, 1) + np.roll(sharp, 1, 2)) / 3).astype(np.uint8)
    assert laplacian_energy(sharp) > 2 * laplacian_energy(blurred) > 0


def test_train_renderer_with_two_processes(tmp_path, faces16v2):
    """Two gloo processes each on half the batch: one set of weights, a snapshot that resumes
    in one process."""
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    args = [sys.executable, "-m", "explorer.cli", "train-renderer", "--data", str(faces16v2), "--run-dir",
            str(run), "--kimg", "0.024", "--processes", "2", "--threads", "1"]
    args += sum([[f"--{k.replace('_', '-')}", str(v)] for k, v in TINY.items()], [])
    res = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 processes x 1 threads" in res.stdout
    snap = torch.load(run / "snapshot.pt", map_location="cpu", weights_only=True)
    assert snap["step"] == 3 and snap["nimg"] == 24 and len(snap["rng_ranks"]) == 2
    t = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), run)
    t.load_snapshot()
    assert t.step == 3 and t.train_step()["loss"] > 0


def test_committed_v2_pack_and_classifier_continue_the_run(tmp_path):
    """training/default_v2_run.safetensors (the default model v2's run, issue 13) warm-starts the
    trainer with its networks and image count; the v2 classifier reads renderer-2 labels."""
    from pathlib import Path

    from explorer.training.classifier import AttributeClassifier
    from explorer.training.faces_v2 import LABEL_NAMES_V2

    root = Path(__file__).resolve().parents[1] / "training"

    class NoData:
        resolution, renderer_version = 128, 2

        def __len__(self):
            return 0

    t = RendererTrainer(RendererConfig(), NoData(), tmp_path / "run")
    t.load_pack(root / "default_v2_run.safetensors")
    assert t.nimg > 300_000
    imgs = t.outputs([0, 1])
    assert imgs.shape == (2, 128, 128, 3) and imgs.std() > 10
    clf = AttributeClassifier.load(root.parent / "resources" / "attribute_classifier.safetensors")
    assert clf.config["label_names"] == list(LABEL_NAMES_V2)
    assert clf.predict(imgs).shape == (2, len(LABEL_NAMES_V2))


def test_warm_started_processes_draw_different_batches(tmp_path, faces16v2):
    """After load_pack every data-parallel process has a stream of its own (the same stream gave
    every process the same items: half the work wasted), while the edit-supervision decisions,
    which gate collectives, stay the same on every process."""
    from explorer.training.parallel import Solo

    class Rank(Solo):
        def __init__(self, rank):
            self.rank, self.world = rank, 2

    src = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "s")
    pack = src.save_pack(tmp_path / "p.safetensors")
    cfg = RendererConfig(**TINY, edit_prob=0.5, edit_attributes="blonde")
    ranks = [RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / f"r{r}", par=Rank(r)) for r in (0, 1)]
    for t in ranks:
        t.load_pack(pack)
    (_, z0, _), (_, z1, _) = ranks[0]._batch(4), ranks[1]._batch(4)
    assert not torch.equal(z0, z1)
    assert [ranks[0].edits.supervise_now(0.5) for _ in range(20)] == [ranks[1].edits.supervise_now(0.5)
                                                                      for _ in range(20)]


def test_committed_v3_pack_continues_with_its_trained_directions(tmp_path):
    """training/default_v3_run.safetensors (the shipped model's run: the v2 pack lifted to renderer
    3's z layout and trained on with edit supervision; training continues from it): configuration,
    networks and learned directions load and draw."""
    from pathlib import Path

    from explorer.training.neural_renderer import networks_only, pack_config

    pack = Path(__file__).resolve().parents[1] / "training" / "default_v3_run.safetensors"
    cfg = pack_config(pack)
    assert cfg.renderer_version == 3 and cfg.edit_prob > 0
    t = networks_only(cfg, tmp_path / "run")
    t.load_pack(pack)
    assert t.nimg > 1_100_000 and t.G.info.z_dim == 84
    assert {"blonde", "grey_hair", "glasses", "smile"} <= set(t.edits.names)
    dirs = t.edits.directions(model=None)
    assert all(d.scale > 0 and d.quality["trained"] for d in dirs)
    imgs = t.outputs([0, 1])
    assert imgs.shape == (2, 128, 128, 3) and imgs.std() > 10


def test_device_data_gives_the_per_step_batch(tmp_path, faces16v2):
    """The preloaded (GPU) path hands G the same targets, z and noise as the per-step CPU path."""
    data = FaceDataset(faces16v2)
    plain = RendererTrainer(RendererConfig(**TINY), data, tmp_path / "a")
    held = RendererTrainer(RendererConfig(**TINY), data, tmp_path / "b", preload_workers=2)
    assert held.device_data.images.shape == (48, 16, 16, 3)
    for _ in range(3):
        (t1, z1, n1), (t2, z2, n2) = plain._batch(8), held._batch(8)
        assert torch.equal(t1, t2) and torch.equal(z1, z2)
        assert len(n1) == len(n2) == len(plain.G.noise_inputs())
        for a, b in zip(n1, n2):
            assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-3, atol=2e-3)
    # and it trains: same steps, same loss to float16-noise precision
    la, lb = plain.train_step()["loss"], held.train_step()["loss"]
    assert abs(la - lb) < 1e-3 * max(1.0, la), (la, lb)


def test_a_narrow_pack_widens_without_changing_its_pictures(tmp_path, faces16v2):
    """--channels-at on a warm start: the pack's layers gain channels, the outputs stay the same
    (new channels start unheard), and training then uses them."""
    narrow = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "n")
    for _ in range(3):
        narrow.train_step()
    pack = narrow.save_pack(tmp_path / "pack.safetensors")
    cfg = RendererConfig(**TINY, channels_at="8:40,16:24")
    logged = []
    wide = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "w", log=logged.append)
    wide.load_pack(pack)
    before = {r: c for r, c in zip((4, 8, 16), (32, 32, 16))}
    after = {int(r): c for r, c in wide.G_ema.config["synthesis"]["channels"].items()}
    assert after == {**before, 8: 40, 16: 24}
    assert any("16 px 16->24" in m for m in logged)
    assert sum(p.numel() for p in wide.G.parameters()) > sum(p.numel() for p in narrow.G.parameters())
    # the pack's float16 networks, narrow and widened, draw the same pictures
    ref = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "r")
    ref.load_pack(pack)
    z = torch.randn(4, V.Z_DIM, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for net in ("G", "G_ema"):
            a, b = getattr(ref, net), getattr(wide, net)
            noise = a.make_noise(4, [1, 2, 3, 4])
            ws = a.mapping(z)
            torch.testing.assert_close(b.synthesis(ws, noise), a.synthesis(ws, noise), atol=1e-5, rtol=1e-4)
    # the new channels learn: after a step their outgoing weights are no longer zero
    torgb = wide.G.synthesis.b16.torgb.weight
    assert torgb[:, 16:].abs().max() == 0
    wide.train_step()
    assert torgb[:, 16:].abs().max() > 0
    # a pack wider than the configuration is refused
    with pytest.raises(ValueError, match="wider"):
        ref2 = RendererTrainer(RendererConfig(**{**TINY, "channel_base": 128}), FaceDataset(faces16v2), tmp_path / "x")
        ref2.load_pack(pack)
    for bad in ("16", "12:8", "32:8", "16:0", "x:y"):
        with pytest.raises(ValueError, match="channels_at"):
            RendererTrainer(RendererConfig(**TINY, channels_at=bad), FaceDataset(faces16v2), tmp_path / "y")


def test_a_renderer2_pack_lifts_to_renderer3_exactly_and_trains_on(tmp_path, faces16v2):
    """lift-pack: renderer 3's networks from renderer 2's with no training; for z whose classes do
    not nearly tie they draw what renderer 2's model draws for the same portrait (categories at
    their bin centres); the renderer-3 pack continues on the same renderer-2 data with lifted z."""
    from explorer.training.lift_pack import lift_pack, v2_z_of
    from explorer.training.neural_renderer import pack_config
    from explorer.training.z_layout import LAYOUT_V3

    t2 = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "a")
    for _ in range(3):
        t2.train_step()
    pack2 = t2.save_pack(tmp_path / "v2.safetensors")
    figures = lift_pack(pack2, tmp_path / "v3.safetensors", check=2048, log=lambda m: None)
    assert figures["w_error_clear"] < 0.05 and figures["within_1pct"] > 0.5, figures
    assert pack_config(tmp_path / "v3.safetensors").renderer_version == 3
    t3 = RendererTrainer(RendererConfig(**TINY, renderer_version=3), FaceDataset(faces16v2), tmp_path / "b")
    t3.load_pack(tmp_path / "v3.safetensors")
    assert t3.nimg == t2.nimg and t3.G.info.z_dim == LAYOUT_V3.z_dim
    ref = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "r")
    ref.load_pack(pack2)
    # the same pictures where every category has a clear winner
    z3 = torch.randn(256, LAYOUT_V3.z_dim, generator=torch.Generator().manual_seed(5))
    z3 = z3[torch.from_numpy(LAYOUT_V3.class_gaps(z3.numpy()) > 0.1)][:8]
    assert np.allclose(v2_z_of(z3).numpy(), np.stack([LAYOUT_V3.to_v2(v) for v in z3.numpy()]), atol=1e-6)
    noise = ref.G_ema.make_noise(len(z3), list(range(len(z3))))
    with torch.no_grad():
        torch.testing.assert_close(t3.G_ema.synthesis(t3.G_ema.mapping(z3), noise),
                                   ref.G_ema.synthesis(ref.G_ema.mapping(v2_z_of(z3)), noise), atol=2e-3, rtol=1e-3)
    # a batch: renderer-2 pictures with lifted z, which stand for the same portraits
    real, z, _ = t3._batch(4)
    assert z.shape == (4, LAYOUT_V3.z_dim)
    assert t3.train_step()["loss"] > 0
    # a renderer-2 pack is not loaded into a renderer-3 trainer, and lift-pack takes renderer-2 packs
    with pytest.raises(ValueError, match="do not fit"):
        t3.load_pack(pack2)
    assert cli_main(["lift-pack", "--pack", str(tmp_path / "v3.safetensors"), "--out",
                     str(tmp_path / "x.safetensors")]) == 2
    assert not (tmp_path / "x.safetensors").exists()


def test_edit_supervision_learns_directions_that_travel_with_the_pack(tmp_path, faces16v2):
    """--edit-prob: G(w + 3 sigma u_a) is trained against the render of the face with attribute a
    set; u_a start at the slot directions, learn, are saved in packs and snapshots, and export as
    the model's directions."""
    from explorer.directions import load_directions
    from explorer.training.z_layout import LAYOUT_V3

    cfg = RendererConfig(**TINY, renderer_version=3, edit_prob=1.0, edit_items=4,
                         edit_attributes="blonde,glasses")
    t = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run")
    assert t.edits.names == ["blonde", "glasses"]
    # the start: the slot direction of the current mapping
    z = torch.randn(512, LAYOUT_V3.z_dim, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        moved = torch.from_numpy(LAYOUT_V3.set_attribute(z.numpy(), "hair_color", "blonde"))
        d = (t.G_ema.mapping(moved)[:, 0] - t.G_ema.mapping(z)[:, 0]).mean(0)
    assert float(torch.nn.functional.cosine_similarity(d, t.edits.unit().detach()[0], dim=0)) > 0.95
    start = t.edits.vectors.detach().clone()
    losses = t.train_step()
    assert {"edit/L1/1", "L1/1"} <= set(losses) and losses["edit/L1/1"] > 0
    assert not torch.equal(t.edits.vectors.detach(), start)
    # packs and snapshots keep them
    pack = t.save_pack(tmp_path / "pack.safetensors")
    t2 = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run2")
    t2.load_pack(pack)
    torch.testing.assert_close(t2.edits.vectors.detach(), t.edits.vectors.detach())
    t.save_snapshot()
    t3 = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run")
    t3.load_snapshot()
    torch.testing.assert_close(t3.edits.vectors.detach(), t.edits.vectors.detach())
    # exported with the model, bound to its fingerprint, in InterFaceGAN's unit
    assert cli_main(["export-renderer", "--from-pack", str(pack), "--out", str(tmp_path / "m.safetensors"),
                     "--directions", str(tmp_path / "d.json")]) == 0
    gen = load_generator(tmp_path / "m.safetensors")
    dirs = load_directions(tmp_path / "d.json", model=gen.fingerprint)
    assert [(d.name, d.method, d.quality["slot"]) for d in dirs] == [("blonde", "slot", "hair_color=blonde"),
                                                                   ("glasses", "slot", "glasses=glasses")]
    assert dirs[0].scale == pytest.approx(float(t.edits.scale[0]), rel=1e-5)
    # a run without edit supervision has no directions to export
    plain = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "p")
    plain_pack = plain.save_pack(tmp_path / "plain.safetensors")
    assert cli_main(["export-renderer", "--from-pack", str(plain_pack), "--out", str(tmp_path / "m2.safetensors"),
                     "--directions", str(tmp_path / "d2.json")]) == 2
    assert not (tmp_path / "m2.safetensors").exists()
    with pytest.raises(ValueError, match="renderer slot"):
        RendererTrainer(RendererConfig(**TINY, edit_prob=0.5, edit_attributes="wings"), FaceDataset(faces16v2),
                        tmp_path / "x")


def test_networks_only_needs_no_loss_classifier(tmp_path):
    """Exporting a pack loads no loss network: a pack whose feature classifier has moved or gone
    (as the v2 classifier did when it shipped) still exports."""
    from explorer.training.neural_renderer import networks_only

    cfg = RendererConfig(**TINY, feature_weight=0.5, feature_classifier=str(tmp_path / "gone.safetensors"))
    with pytest.raises((ValueError, OSError), match="gone.safetensors"):
        RendererTrainer(cfg, type("D", (), {"resolution": 16, "renderer_version": 2, "__len__": lambda s: 0})(),
                        tmp_path / "train")
    t = networks_only(cfg, tmp_path / "export")
    assert t.judge is None and t.G_ema is not None


def _coarse_noise_error(t: RendererTrainer, n: int = 6) -> float:
    """Mean |(G(w, noise') - G(w, noise)) - (render(z, noise') - render(z, noise))| (0..255 scale)
    with the coarse (8 px) map redrawn, on fixed faces outside the batch stream."""
    g = torch.Generator().manual_seed(77)
    z = torch.randn(n, t.layout.z_dim, generator=g)
    noise = t.G.make_noise(n, list(range(900, 900 + n)))
    redrawn = list(noise)
    i = t.noise_sup.indices[0]
    redrawn[i] = torch.randn(redrawn[i].shape, generator=g)
    errs = []
    with torch.no_grad():
        ws = t.G.mapping(z)
        d_fake = (t.G.synthesis(ws, redrawn) - t.G.synthesis(ws, noise)) * 127.5
        for k in range(n):
            a, b = ([m[k, 0].numpy() for m in maps] for maps in (noise, redrawn))
            ra = V.render_params_v2(t.layout.params_from_z(z[k].numpy()), V.detail_noise(a, 16), 16)
            rb = V.render_params_v2(t.layout.params_from_z(z[k].numpy()), V.detail_noise(b, 16), 16)
            d_real = torch.from_numpy(rb.astype(np.float32) - ra.astype(np.float32)).permute(2, 0, 1)
            errs.append(float((d_fake[k] - d_real).abs().mean()))
    return float(np.mean(errs))


def test_noise_supervision_teaches_the_coarse_maps_effect(tmp_path, faces16v2):
    """--noise-prob: for a few items the coarse map is redrawn and G's change is trained against
    the render's change; the term is reported, and G's change comes nearer the render's."""
    errors, losses = {}, []
    for prob in (1.0, 0.0):             # the same start, with the term and without it
        cfg = RendererConfig(**TINY, noise_prob=1.0, noise_items=4, noise_weight=8.0)
        t = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / f"run{prob}")
        res = [ni.resolution for ni in t.G.noise_inputs()]
        assert t.noise_sup.indices == [res.index(8)]              # the map the renderer's waves read
        t.cfg.noise_prob = prob
        with torch.no_grad():
            for layer in t.G.synthesis.noise_layers():
                layer.noise_strength.fill_(0.5)                   # a start whose noise does something
        before = _coarse_noise_error(t)
        losses += [t.train_step() for _ in range(50)]
        errors[prob] = _coarse_noise_error(t)
    assert all("noise" in p and np.isfinite(float(p["noise"])) for p in losses[:50])
    assert not any("noise" in p for p in losses[50:])
    # (measured: 66.9 -> 11.9 with the term, 20.2 without)
    assert errors[1.0] < 0.25 * before and errors[1.0] < 0.75 * errors[0.0], (before, errors)
    with pytest.raises(ValueError, match="noise_groups"):
        RendererTrainer(RendererConfig(**TINY, noise_prob=0.5, noise_groups="huge"), FaceDataset(faces16v2),
                        tmp_path / "x")


def test_noise_supervision_on_the_command_line(tmp_path):
    from argparse import Namespace

    from explorer.training.commands_renderer import _config

    cfg = _config(Namespace(run_dir=str(tmp_path), noise_prob=0.5, noise_weight=3.0, noise_items=6,
                            noise_groups="coarse,medium"))
    assert (cfg.noise_prob, cfg.noise_weight, cfg.noise_items, cfg.noise_groups) == (0.5, 3.0, 6, "coarse,medium")


def test_noise_floor_holds_the_supervised_maps_layer_open(tmp_path, faces16v2):
    cfg = RendererConfig(**TINY, noise_prob=1.0, noise_items=2, noise_floor=0.05)
    t = RendererTrainer(cfg, FaceDataset(faces16v2), tmp_path / "run")
    layers = t.G.synthesis.noise_layers()
    i = t.noise_sup.indices[0]
    with torch.no_grad():
        layers[i].noise_strength.fill_(-0.01)
        for k, layer in enumerate(layers):
            if k != i:
                layer.noise_strength.fill_(0.001)
    t.train_step()
    assert float(layers[i].noise_strength.detach()) <= -0.05               # its sign kept, held at the floor
    assert all(abs(float(layer.noise_strength.detach())) < 0.05 for k, layer in enumerate(layers) if k != i)
    plain = RendererTrainer(RendererConfig(**TINY, noise_prob=1.0, noise_items=2), FaceDataset(faces16v2),
                            tmp_path / "p")
    with torch.no_grad():
        plain.G.synthesis.noise_layers()[i].noise_strength.fill_(0.0)
    plain.train_step()
    assert abs(float(plain.G.synthesis.noise_layers()[i].noise_strength.detach())) < 0.05   # no floor by default


def test_noise_fidelity_sets_the_models_change_against_the_renders(tmp_path, faces16v2):
    """model_figures.noise_fidelity (the bench's and the shipped-model test's measure of 'coarse noise
    moves the curls'): the render's change for a redrawn map, the model's for the same map, their
    correlation; a model whose coarse layer ignores its noise changes by nothing there."""
    from explorer.training.model_figures import noise_fidelity

    t = RendererTrainer(RendererConfig(**TINY), FaceDataset(faces16v2), tmp_path / "run")
    res = [ni.resolution for ni in t.G_ema.noise_inputs()]
    with torch.no_grad():
        for k, layer in enumerate(t.G_ema.synthesis.noise_layers()):
            layer.noise_strength.fill_(0.0 if res[k] == 8 else 0.3)
    g = load_generator(t.export_generator(tmp_path / "g.safetensors", half=False))
    fid = noise_fidelity(g, range(5), seed=3)
    assert fid == noise_fidelity(g, range(5), seed=3)                       # deterministic
    assert set(fid) == {"coarse", "medium", "fine"}                         # 16 px: medium and fine read 16
    assert all(v["render"] > 0.05 for v in fid.values()), fid               # the renderer draws every group
    assert fid["coarse"]["model"] == 0.0 and fid["coarse"]["correlation"] == 0.0
    assert fid["coarse"]["error"] == pytest.approx(fid["coarse"]["render"])
    assert fid["fine"]["model"] > 0.05 and -1.0 <= fid["fine"]["correlation"] <= 1.0
