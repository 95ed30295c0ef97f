"""Generator configs from files are checked before anything is allocated (hostile sizes, types, depth)."""
from __future__ import annotations

import copy
import tracemalloc

import pytest
import torch

from explorer.checkpoints.build import build_generator
from explorer.checkpoints.errors import CheckpointError
from explorer.generators import Generator, stylegan2_config, stylegan3_config
from explorer.generators.config_check import ConfigError, check_config

SG2 = stylegan2_config(32, z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=1)


def _deep(n):
    v = 1
    for _ in range(n):
        v = [v]
    return v


def _with(path: str, value):
    cfg = copy.deepcopy(SG2)
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    node[last] = value
    return cfg


BAD = {
    "w_dim 1e7": _with("w_dim", 10 ** 7),
    "resolution 65536": _with("img_resolution", 65536),
    "resolution 0": _with("img_resolution", 0),
    "resolution inf": _with("img_resolution", float("inf")),
    "resolution not a power of two": _with("img_resolution", 48),
    "c_dim 1e9": _with("c_dim", 10 ** 9),
    "bool size": _with("z_dim", True),
    "string size": _with("w_dim", "8"),
    "no mapping layers": _with("mapping.features", [8]),
    "tensor use_noise": _with("synthesis.use_noise", torch.ones(3)),
    "deep value": _with("synthesis.conv_clamp", _deep(900)),
    "huge channels": _with("synthesis.channels", {str(r): 10 ** 6 for r in (4, 8, 16, 32)}),
    "missing resolution": _with("synthesis.channels", {"4": 8, "8": 8}),
    "unknown arch": _with("arch", "stylegan9"),
    "NaN clamp": _with("synthesis.conv_clamp", float("nan")),
    "numeric key": _with("synthesis.channels", {4: 8, 8: 8, 16: 8, 32: 8, 1.5: 8}),
    "class run past z": _with("mapping.class_groups", [{"start": 6, "stop": 10, "offsets": [0] * 4}]),
    "overlapping class runs": _with("mapping.class_groups", [{"start": 0, "stop": 3, "offsets": [0] * 3},
                                                             {"start": 2, "stop": 4, "offsets": [0] * 2}]),
    "one-class run": _with("mapping.class_groups", [{"start": 0, "stop": 1, "offsets": [0]}]),
    "offsets count": _with("mapping.class_groups", [{"start": 0, "stop": 3, "offsets": [0] * 2}]),
    "NaN offset": _with("mapping.class_groups", [{"start": 0, "stop": 2, "offsets": [0, float("nan")]}]),
    "class groups not a list": _with("mapping.class_groups", {"start": 0}),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_configs_are_refused_before_allocating(name):
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError):
            Generator(BAD[name])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"{name}: {peak} bytes traced before refusing"


def test_sg3_layer_names_and_counts():
    cfg = stylegan3_config(32, z_dim=8, w_dim=8, channel_base=256, channel_max=16)
    check_config(cfg)
    bad = copy.deepcopy(cfg)
    bad["synthesis"]["layers"][0]["name"] = "__class__"
    with pytest.raises(ConfigError, match="name"):
        check_config(bad)
    many = copy.deepcopy(cfg)
    many["synthesis"]["layers"] = many["synthesis"]["layers"] * 20_000
    with pytest.raises(ConfigError, match="entries"):
        check_config(many)


def test_good_configs_pass_and_count_their_parameters():
    for cfg in (SG2, stylegan2_config(1024), stylegan3_config(64, channel_base=512, channel_max=32)):
        declared = check_config(cfg)
        actual = sum(p.numel() for p in Generator(cfg).state_dict().values())
        assert 0.5 * actual <= declared <= 1.5 * actual


def test_a_small_file_cannot_declare_a_big_network(tmp_path):
    big = stylegan2_config(1024)                        # ~30 M parameters declared
    tiny_state = {"mapping.w_avg": torch.zeros(512)}    # what the file actually holds
    with pytest.raises(CheckpointError, match="declares .* parameters but holds only 512"):
        build_generator(tmp_path / "x.pkl", big, tiny_state)
    with pytest.raises(CheckpointError, match="will not build"):
        build_generator(tmp_path / "x.pkl", BAD["w_dim 1e7"], tiny_state)


def test_any_failure_inside_a_loader_is_a_checkpoint_error(tmp_path, monkeypatch):
    from explorer import checkpoints

    one = tmp_path / "one.pkl"
    one.write_bytes(b"\x80")                                  # 1 byte: was an IndexError in detect_format
    with pytest.raises(CheckpointError, match="one.pkl"):
        checkpoints.load_generator(one)

    def boom(path):
        raise OverflowError("cannot convert float infinity to integer")

    import explorer.checkpoints.native as native
    monkeypatch.setattr(native, "load_native", boom)
    monkeypatch.setattr(checkpoints, "load_native", boom)
    path = tmp_path / "m.safetensors"
    checkpoints.save_native(Generator(SG2), path)
    with pytest.raises(CheckpointError, match=r"m.safetensors: is damaged .*OverflowError"):
        checkpoints.load_generator(path)


def test_class_groups_turn_class_slots_into_a_near_one_hot():
    """mapping.class_groups (renderer 3's layout): each run of z goes through a low-temperature
    softmax with its offsets before the first layer; other entries pass as they are."""
    cfg = _with("mapping.class_groups", [{"start": 2, "stop": 5, "offsets": [0.0, 1.0, -1.0]}])
    cfg["mapping"]["class_temperature"] = 0.01
    g = Generator(cfg)
    z = torch.tensor([[0.3, -0.7, 0.5, 0.0, 1.5, 1.1, 0.2, -0.4]])
    x = g.mapping.classes_soft_one_hot(z)
    assert torch.equal(x[:, :2], z[:, :2]) and torch.equal(x[:, 5:], z[:, 5:])
    torch.testing.assert_close(x[0, 2:5], torch.tensor([0.0, 1.0, 0.0]))   # 0.0 + 1.0 beats 0.5 + 0 and 1.5 - 1
    with pytest.raises(ConfigError):
        Generator(dict(cfg, mapping={**cfg["mapping"], "class_temperature": 0.0}))
