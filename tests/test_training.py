"""The trainer on CPU: a tiny model learns, snapshots load, resume continues exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import load_generator
from explorer.training.faces import FaceDataset, write_dataset
from explorer.training.train import Trainer, TrainConfig

TINY = dict(resolution=16, z_dim=16, w_dim=16, mapping_layers=1, g_channel_base=128, g_channel_max=16,
            d_channel_base=128, d_channel_max=16, batch=8, r1_interval=2, seed=3)


@pytest.fixture(scope="module")
def faces16(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "faces16.lef"
    write_dataset(path, 32, resolution=16, seed=0, workers=1)
    return FaceDataset(path)


def test_short_run_improves_discriminator_and_writes_loadable_snapshot(tmp_path, faces16):
    t = Trainer(TrainConfig(**TINY), faces16, tmp_path / "run")
    d_losses = [t.train_step()["D"] for _ in range(12)]
    assert np.mean(d_losses[-4:]) < d_losses[0], f"D loss did not improve: {d_losses}"
    assert t.step == 12 and t.nimg == 12 * 8
    snap = t.save_snapshot()
    assert snap.is_file() and list((tmp_path / "run").glob("samples-*.png"))
    out = t.export_generator(tmp_path / "g.safetensors", half=True, card={"name": "tiny"})
    g = load_generator(out)
    assert g.info.resolution == 16 and g.name == "tiny"
    with torch.no_grad():
        img = g.synthesize(g.map(torch.randn(4, 16)))
    assert torch.isfinite(img).all() and img.std() > 0


def test_resume_continues_exactly(tmp_path, faces16):
    straight = Trainer(TrainConfig(**TINY), faces16, tmp_path / "a")
    for _ in range(4):
        straight.train_step()

    first = Trainer(TrainConfig(**TINY), faces16, tmp_path / "b")
    for _ in range(2):
        first.train_step()
    first.save_snapshot()
    resumed = Trainer(TrainConfig(**TINY), faces16, tmp_path / "b")
    resumed.load_snapshot()
    assert resumed.step == 2 and resumed.nimg == 16
    for _ in range(2):
        resumed.train_step()
    assert resumed.step == 4
    for (name, a), (_, b) in zip(straight.G_ema.state_dict().items(), resumed.G_ema.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name
    for (name, a), (_, b) in zip(straight.D.state_dict().items(), resumed.D.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_wall_clock_budget_stops_with_a_snapshot(tmp_path, faces16):
    t = Trainer(TrainConfig(**TINY), faces16, tmp_path / "run")
    t.train(kimg=1000, minutes=0.0, snapshot_minutes=100)
    assert t.step == 1 and (tmp_path / "run" / "snapshot.pt").is_file()


def test_dataset_resolution_must_match(tmp_path, faces16):
    with pytest.raises(ValueError, match="16px"):
        Trainer(TrainConfig(**{**TINY, "resolution": 32}), faces16, tmp_path)


def test_noise_can_be_switched_off_above_a_resolution(tmp_path, faces16):
    t = Trainer(TrainConfig(**{**TINY, "noise_max_res": 8}), faces16, tmp_path / "run")
    for _ in range(3):
        t.train_step()
    for net in (t.G, t.G_ema):
        for layer in net.synthesis.noise_layers():
            if layer.resolution > 8:
                assert float(layer.noise_strength) == 0.0
    low = [l for l in t.G.synthesis.noise_layers() if l.resolution <= 8]
    assert any(float(l.noise_strength) != 0.0 for l in low), "noise below the limit still trains"


@pytest.mark.parametrize("how", ["signal", "stop-file"])
def test_train_command_stops_gracefully_with_a_snapshot(tmp_path, faces16, how):
    """`latent-explorer train` ends on SIGTERM (or a STOP file in the run folder) with a snapshot."""
    import os
    import signal
    import subprocess
    import sys

    run = tmp_path / "run"
    args = [sys.executable, "-m", "explorer.cli", "train", "--data", str(faces16.path), "--run-dir", str(run),
            "--kimg", "1000", "--threads", "1", "--progress-seconds", "0"]
    for k, v in TINY.items():
        if k != "r1_interval":                    # not a command-line setting
            args += ["--" + k.replace("_", "-"), str(v)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in proc.stdout:                      # wait until it is stepping
        lines.append(line)
        if line.startswith("kimg"):
            break
    if how == "signal":
        proc.send_signal(signal.SIGTERM)
    else:
        (run / "STOP").write_text("")
    out, _ = proc.communicate(timeout=120)
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert "stopping after this step" in text and "stopped at" in text
    snap = torch.load(run / "snapshot.pt", map_location="cpu", weights_only=True)
    assert snap["step"] >= 1


def _rank_checksums(rank, world, port, data_path, run_dir, out_dir):
    from explorer.training.parallel import init_group

    torch.set_num_threads(1)
    par = init_group(rank, world, port)
    t = Trainer(TrainConfig(**TINY), FaceDataset(data_path), run_dir, par=par, log=lambda m: None)
    init = [p.detach().clone() for p in t.G.parameters()]
    for _ in range(3):
        t.train_step()
    t.save_snapshot()
    moved = max(float((p - q).abs().max()) for p, q in zip(t.G.parameters(), init))
    sums = [float(p.detach().double().sum()) for p in list(t.G.parameters()) + list(t.D.parameters())]
    torch.save({"sums": sums, "moved": moved, "nimg": t.nimg, "w_avg": t.G.mapping.w_avg.clone()},
               f"{out_dir}/rank{rank}.pt")
    # leave as the CLI's workers do: a spawned process ending normally while gloo's threads wind
    # down aborts now and then ("terminate called without an active exception")
    import os
    import sys

    import torch.distributed as dist

    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def test_data_parallel_processes_stay_in_step(tmp_path, faces16):
    """Two gloo processes, each on half the batch, end every step with identical networks."""
    import torch.multiprocessing as mp

    from explorer.training.parallel import free_port

    mp.spawn(_rank_checksums, args=(2, free_port(), str(faces16.path), str(tmp_path / "run"), str(tmp_path)),
             nprocs=2)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["sums"] == r1["sums"]                      # same weights after 3 averaged steps
    assert torch.equal(r0["w_avg"], r1["w_avg"])
    assert r0["moved"] > 0 and r0["nimg"] == 3 * TINY["batch"]
    snap = torch.load(tmp_path / "run" / "snapshot.pt", map_location="cpu", weights_only=True)
    assert len(snap["rng_ranks"]) == 2 and snap["step"] == 3
    # a one-process trainer resumes the two-process snapshot (fresh random streams, same weights)
    t = Trainer(TrainConfig(**TINY), faces16, tmp_path / "run")
    t.load_snapshot()
    assert t.step == 3 and t.train_step()["D"] > 0


def test_train_command_with_two_processes(tmp_path, faces16):
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    args = [sys.executable, "-m", "explorer.cli", "train", "--data", str(faces16.path), "--run-dir", str(run),
            "--kimg", "0.04", "--processes", "2", "--threads", "1"]
    for k, v in TINY.items():
        if k != "r1_interval":
            args += ["--" + k.replace("_", "-"), str(v)]
    res = subprocess.run(args, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 processes x 1 threads" in res.stdout and "stopped at 0.04 kimg" in res.stdout
    assert torch.load(run / "snapshot.pt", map_location="cpu", weights_only=True)["step"] == 5


def test_training_pack_warm_starts_networks_and_progress(tmp_path, faces16):
    t = Trainer(TrainConfig(**TINY), faces16, tmp_path / "a")
    for _ in range(3):
        t.train_step()
    pack = t.save_pack(tmp_path / "pack.safetensors")
    warm = Trainer(TrainConfig(**TINY), faces16, tmp_path / "b")
    warm.load_pack(pack)
    assert (warm.step, warm.nimg) == (3, 24)
    for name in ("G", "G_ema", "D"):  # float16 storage: equal to about 1e-3 relative
        for (key, a), (_, b) in zip(getattr(t, name).state_dict().items(),
                                    getattr(warm, name).state_dict().items()):
            assert torch.allclose(a, b, rtol=2e-3, atol=1e-3), f"{name}.{key}"
    fresh = Trainer(TrainConfig(**TINY), faces16, tmp_path / "c")
    assert not torch.allclose(fresh.D.b16.conv0.weight, warm.D.b16.conv0.weight)
    losses = warm.train_step()
    assert warm.step == 4 and np.isfinite(losses["G"]) and np.isfinite(losses["D"])


def test_training_pack_rejects_other_networks_and_damaged_files(tmp_path, faces16):
    from explorer.training.pack import PackError

    t = Trainer(TrainConfig(**TINY), faces16, tmp_path / "a")
    pack = t.save_pack(tmp_path / "pack.safetensors")
    wider = Trainer(TrainConfig(**{**TINY, "g_channel_max": 32}), faces16, tmp_path / "b")
    with pytest.raises(PackError, match="g_channel_max"):
        wider.load_pack(pack)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(pack.read_bytes()[:1000])
    with pytest.raises(PackError, match="damaged"):
        t.load_pack(cut)
    model = t.export_generator(tmp_path / "g.safetensors")
    with pytest.raises(PackError, match="not a Latent Explorer training pack"):
        t.load_pack(model)
    with pytest.raises(PackError, match="no such"):
        t.load_pack(tmp_path / "missing.safetensors")


def test_export_pack_then_train_warm_start_commands(tmp_path, faces16):
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    t = Trainer(TrainConfig(**TINY), faces16, run)
    for _ in range(2):
        t.train_step()
    t.save_snapshot()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "explorer.cli"]
    res = subprocess.run(cli + ["export-model", "--run-dir", str(run), "--out", str(tmp_path / "g.safetensors"),
                                "--pack", str(tmp_path / "pack.safetensors")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "training pack" in res.stdout and (tmp_path / "pack.safetensors").is_file()
    # a new run folder elsewhere, with no settings given: they come from the pack
    res = subprocess.run(cli + ["train", "--data", str(faces16.path), "--run-dir", str(tmp_path / "next"),
                                "--warm-start", str(tmp_path / "pack.safetensors"), "--kimg", "0.032",
                                "--threads", "1"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "warm start from" in res.stdout and "at 0.02 kimg, step 2" in res.stdout
    snap = torch.load(tmp_path / "next" / "snapshot.pt", map_location="cpu", weights_only=True)
    assert snap["step"] == 4 and snap["config"]["g_channel_max"] == TINY["g_channel_max"]


def test_discriminator_input_blur_fades_out(tmp_path, faces16):
    t = Trainer(TrainConfig(**{**TINY, "blur_init_sigma": 1.0, "blur_fade_kimg": 0.016}), faces16, tmp_path)
    assert t.blur_sigma() == 1.0
    img = torch.zeros(4, 3, 16, 16)
    img[:, :, 8, 8] = 1.0      # a point: blurred, it spreads but keeps its mass and the image size
    seen = {}
    t.D.forward = lambda x: seen.setdefault("x", x).sum(dim=[1, 2, 3])
    t.run_D(img)
    x = seen.pop("x")
    assert x.shape == img.shape and x[0, 0, 8, 8] < 0.2 and x[0, 0, 8, 9] > 0.05
    assert torch.allclose(x.sum(dim=[2, 3]), torch.ones(4, 3), atol=1e-5)
    t.nimg = 8                 # half-way through the fade
    assert t.blur_sigma() == pytest.approx(0.5)
    t.nimg = 16
    assert t.blur_sigma() == 0.0
    t.run_D(img)
    assert torch.equal(seen.pop("x"), img)  # faded out: D sees the images as they are
    t.D.forward = type(t.D).forward.__get__(t.D)
    t.nimg = 0
    losses = t.train_step()    # the blur is part of the training step, gradients included
    assert np.isfinite(losses["D"])


def test_pack_config_reads_the_settings_and_refuses_other_files(tmp_path, faces16):
    from explorer.training.pack import PackError, pack_config

    t = Trainer(TrainConfig(**TINY), faces16, tmp_path / "a")
    pack = t.save_pack(tmp_path / "pack.safetensors")
    assert pack_config(pack)["g_channel_max"] == TINY["g_channel_max"]
    with pytest.raises(PackError, match="not a Latent Explorer training pack"):
        pack_config(t.export_generator(tmp_path / "g.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(PackError, match="damaged"):
        pack_config(tmp_path / "junk.safetensors")
