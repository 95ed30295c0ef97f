"""Loading checkpoints safely: own format round trip, bad files, malicious .pt, format by content."""
from __future__ import annotations

import os

import pytest
import torch

from explorer import Generator, load_generator, stylegan2_config, stylegan3_config
from explorer.checkpoints import CheckpointError, UnsafePickleError, detect_format, save_native


def tiny_sg2(**kw) -> Generator:
    torch.manual_seed(0)
    cfg = stylegan2_config(16, z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=2, **kw)
    g = Generator(cfg)
    with torch.no_grad():  # make every term matter
        for name, p in g.named_parameters():
            if "noise_strength" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
        g.mapping.w_avg.normal_()
    return g


def tiny_sg3() -> Generator:
    torch.manual_seed(1)
    return Generator(stylegan3_config(16, z_dim=8, w_dim=8, channel_base=128, channel_max=16))


@pytest.mark.parametrize("make", [tiny_sg2, tiny_sg3, lambda: tiny_sg2(c_dim=3),
                                  lambda: tiny_sg2(architecture="resnet", conv_clamp=1.0),
                                  lambda: tiny_sg2(architecture="orig")])
def test_native_round_trip_is_exact(tmp_path, make):
    g = make()
    path = save_native(g, tmp_path / "model.safetensors")
    h = load_generator(path)
    assert h.info == g.info and h.fingerprint == g.fingerprint
    z = torch.randn(3, g.info.z_dim)
    c = torch.eye(3)[:3] if g.info.c_dim else None
    with torch.no_grad():
        assert torch.equal(g(z, c, psi=0.5), h(z, c, psi=0.5))
    assert not list(tmp_path.glob("*.tmp")), "atomic save leaves no temp file"


def test_native_half_storage_is_close_and_renamed_file_loads(tmp_path):
    g = tiny_sg2()
    path = save_native(g, tmp_path / "model.safetensors", half=True)
    renamed = tmp_path / "weights.bin"  # the extension does not matter, the content does
    path.rename(renamed)
    h = load_generator(renamed)
    z = torch.randn(2, 8)
    with torch.no_grad():
        assert (g(z) - h(z)).abs().max() < 0.05
    assert os.path.getsize(renamed) < sum(t.numel() * 4 for t in g.state_dict().values())


def test_empty_truncated_garbage_and_missing_files(tmp_path):
    g = tiny_sg2()
    good = save_native(g, tmp_path / "good.safetensors").read_bytes()
    cases = {"empty.pkl": b"", "garbage.pt": os.urandom(4096), "text.pkl": b"hello world\n" * 10,
             "half.safetensors": good[: len(good) // 2]}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(CheckpointError) as err:
            load_generator(p)
        assert name in str(err.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="folder"):
        load_generator(tmp_path)


def test_safetensors_that_is_not_a_generator(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "classifier.safetensors"
    save_file({"fc.weight": torch.zeros(2, 2)}, str(p))
    with pytest.raises(CheckpointError, match="not a Latent Explorer generator"):
        load_generator(p)


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_torch_file_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    p = tmp_path / "evil.pt"
    torch.save({"g_ema": _Evil(target)}, p)  # a zip whose data.pkl calls os.system
    with pytest.raises(UnsafePickleError) as err:
        load_generator(p)
    assert "system" in str(err.value) and "evil.pt" in str(err.value)
    assert not target.exists()


def test_torch_files_of_the_wrong_kind(tmp_path):
    p = tmp_path / "classifier.pt"
    torch.save({"state_dict": {"fc.weight": torch.zeros(3, 3)}}, p)
    with pytest.raises(CheckpointError, match="no StyleGAN2 generator"):
        load_generator(p)
    d = tmp_path / "disc.pt"
    torch.save({"d": {"convs.0.0.weight": torch.zeros(1)}}, d)
    with pytest.raises(CheckpointError, match="only a discriminator"):
        load_generator(d)
    t = tmp_path / "trunc.pt"
    torch.save({"g_ema": {"x": torch.zeros(1000)}}, t)
    t.write_bytes(t.read_bytes()[:300])
    with pytest.raises(CheckpointError):
        load_generator(t)


def test_detect_format_by_content(tmp_path, fixtures_dir):
    assert detect_format(fixtures_dir / "P1_sg2_res32.pkl") == "pickle"
    assert detect_format(fixtures_dir / "R1_rosinality_s64_cm2.pt") == "torch"
    assert detect_format(fixtures_dir / "R1c_rosinality_s64_cm2_convert_format_legacy_serialization.pt") == "torch"
    assert detect_format(save_native(tiny_sg2(), tmp_path / "x.pkl")) == "native"


@pytest.mark.parametrize("name", ["P1_sg2_res32.pkl", "P2_sg3t_res32.pkl", "R1_rosinality_s64_cm2.pt"])
def test_convert_foreign_checkpoint_keeps_outputs(tmp_path, fixtures_dir, name):
    from explorer.cli import main

    out = tmp_path / "converted.safetensors"
    assert main(["convert", str(fixtures_dir / name), str(out)]) == 0
    a, b = load_generator(fixtures_dir / name), load_generator(out)
    assert a.fingerprint == b.fingerprint
    z = torch.randn(2, a.info.z_dim)
    with torch.no_grad():
        assert torch.equal(a(z), b(z))


def test_nvidia_pickle_of_discriminator_only(tmp_path, fixtures_dir):
    from explorer.checkpoints.safe_pickle import load_pickle

    snap = load_pickle(fixtures_dir / "P1_sg2_res32.pkl")
    assert set(snap) >= {"G", "D", "G_ema"}
    # Rebuild a pickle holding only D by patching the top-level dict bytes is fragile; instead
    # check the selection logic on the parsed tree directly.
    from explorer.checkpoints.nvidia import pick_generator

    with pytest.raises(CheckpointError, match="only a discriminator"):
        pick_generator({"D": snap["D"]}, tmp_path / "d.pkl")
    with pytest.raises(CheckpointError, match="no EMA generator"):
        pick_generator({"G": snap["G"], "D": snap["D"]}, tmp_path / "g.pkl")
    assert pick_generator(snap, tmp_path / "ok.pkl") is snap["G_ema"]


def _unframed(data: bytes) -> bytes:
    """The same pickle without its FRAME opcodes (optional in protocol 4), so it can be edited."""
    import pickletools

    out, last = [], 0
    for op, _arg, pos in pickletools.genops(data):
        if op.name == "FRAME":
            out.append(data[last:pos])
            last = pos + 9
    out.append(data[last:])
    return b"".join(out)


def test_huge_attribute_lists_are_refused_before_looping(fixtures_dir, tmp_path):
    """block_resolutions = [4] * 1,000,000 took 40 s; SG3 layer_names x 20,000 likewise."""
    import time

    data = _unframed((fixtures_dir / "P1_sg2_res32.pkl").read_bytes())
    path = tmp_path / "plain.pkl"
    path.write_bytes(data)
    assert load_generator(path).info.resolution == 32      # unframing keeps it valid
    old = b"(K\x04K\x08K\x10K e"                    # the list [4, 8, 16, 32] in G's and G_ema's state
    assert data.count(old) >= 2
    bomb = data.replace(old, b"(" + b"K\x04" * 1_000_000 + b"e")
    path = tmp_path / "bomb.pkl"
    path.write_bytes(bomb)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match="block_resolutions must be a list of 1..11"):
        load_generator(path)
    assert time.perf_counter() - t0 < 20        # a hang guard, not a speed figure
    from explorer.checkpoints import nvidia
    from explorer.checkpoints.safe_pickle import PersistentObject

    inp = PersistentObject("SynthesisInput", {"_parameters": {"weight": torch.zeros(4, 4)}, "size": [36, 36],
                                              "sampling_rate": 16, "bandwidth": 2})
    syn = PersistentObject("SynthesisNetwork", {"layer_names": ["L0_36_512"] * 20_000, "_modules": {"input": inp}})
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match="layer_names must be a list of 1..64"):
        nvidia._sg3_synthesis_config(syn, tmp_path / "sg3.pkl")
    assert time.perf_counter() - t0 < 5
