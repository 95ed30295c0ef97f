"""Check a generator config before anything is allocated from it.

A config comes from a file the user opened (NVIDIA pickle attributes, a rosinality argparse
namespace, our safetensors metadata). Building a network from it allocates tensors of the sizes
it declares, so every size, count, depth and type is checked against sane limits first, and a
bad one is a ConfigError (a ValueError) naming the field. Limits:

* resolution a power of two in [4, 4096]; image channels 1..4; z_dim 0..4096, w_dim 1..4096,
  c_dim 0..65,536; channels per layer 1..4096 (StyleGAN's largest use 512, SG3-R 1024 x 2);
* mapping: 1..64 layers of width 1..8192; synthesis: 1..64 StyleGAN3 layers, kernels and
  filters at most 64 taps, padding at most 4096, up/down factors 1..8;
* the config nests at most 8 levels deep, its keys are strings, its numbers finite;
* the declared parameter count at most MAX_PARAMETERS (and, when the caller knows how many
  values the file really holds, not more than those: `declared_parameters`).
"""
from __future__ import annotations

import math
from numbers import Real

MAX_RESOLUTION = 4096
MAX_DIM = 4096
MAX_C_DIM = 65_536
MAX_CHANNELS = 4096
MAX_LAYERS = 64
MAX_WIDTH = 8192
MAX_TAPS = 64
MAX_DEPTH = 8
MAX_PARAMETERS = 500_000_000    # 2 GB of float32; NVIDIA's largest generators have about 30 M


class ConfigError(ValueError):
    """A generator config that cannot be built safely."""


def _depth(obj, limit: int) -> int:
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if not isinstance(o, (dict, list, tuple)):
            continue
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(o, dict):
            for k in o:
                if not isinstance(k, str):
                    raise ConfigError(f"config key {k!r} is not a name")
            stack.extend((v, d + 1) for v in o.values())
        else:
            stack.extend((v, d + 1) for v in o)
    return deepest


def _int(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Real)) or not math.isfinite(float(value)) \
            or float(value) != int(value):
        raise ConfigError(f"{name} must be a whole number, not {type(value).__name__} {str(value)[:40]}")
    v = int(value)
    if not lo <= v <= hi:
        raise ConfigError(f"{name} is {v}, outside {lo}..{hi}")
    return v


def _num(value, name: str, lo: float = -math.inf, hi: float = math.inf, optional: bool = False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a finite number, not {str(value)[:40]}")
    if not lo <= float(value) <= hi:
        raise ConfigError(f"{name} is {value}, outside {lo}..{hi}")
    return float(value)


def _bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, not {type(value).__name__}")
    return value


def _list(value, name: str, lo: int, hi: int) -> list:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{name} must be a list, not {type(value).__name__}")
    if not lo <= len(value) <= hi:
        raise ConfigError(f"{name} has {len(value)} entries, outside {lo}..{hi}")
    return list(value)


def _dict(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a table of settings, not {type(value).__name__}")
    return value


def check_config(cfg) -> int:
    """Raise ConfigError for anything unsafe or malformed; return the declared parameter count."""
    cfg = _dict(cfg, "the config")
    if _depth(cfg, MAX_DEPTH) > MAX_DEPTH:
        raise ConfigError(f"the config nests more than {MAX_DEPTH} levels deep")
    arch = cfg.get("arch")
    if arch not in ("stylegan2", "stylegan3"):
        raise ConfigError(f"unknown generator architecture {str(arch)[:40]!r}")
    z_dim = _int(cfg.get("z_dim"), "z_dim", 0, MAX_DIM)
    w_dim = _int(cfg.get("w_dim"), "w_dim", 1, MAX_DIM)
    c_dim = _int(cfg.get("c_dim", 0), "c_dim", 0, MAX_C_DIM)
    res = _int(cfg.get("img_resolution"), "img_resolution", 4, MAX_RESOLUTION)
    if res & (res - 1):
        raise ConfigError(f"img_resolution {res} is not a power of two")
    img_ch = _int(cfg.get("img_channels", 3), "img_channels", 1, 4)
    params = _check_mapping(_dict(cfg.get("mapping"), "mapping"), z_dim, w_dim, c_dim)
    syn = _dict(cfg.get("synthesis"), "synthesis")
    if arch == "stylegan2":
        params += _check_sg2(syn, res, w_dim, img_ch)
    else:
        params += _check_sg3(syn, w_dim)
    if params > MAX_PARAMETERS:
        raise ConfigError(f"the config declares {params:,} parameters (at most {MAX_PARAMETERS:,})")
    return params


def _check_mapping(m: dict, z_dim: int, w_dim: int, c_dim: int) -> int:
    feats = [_int(f, "mapping width", 1, MAX_WIDTH) for f in _list(m.get("features"), "mapping.features", 2,
                                                                     MAX_LAYERS + 1)]
    embed = m.get("embed_features")
    embed = None if embed is None else _int(embed, "mapping.embed_features", 1, MAX_WIDTH)
    if c_dim and embed is None:
        raise ConfigError("a conditional model needs mapping.embed_features")
    if feats[0] != z_dim + (embed if c_dim else 0) or feats[-1] != w_dim:
        raise ConfigError(f"mapping widths {feats[0]} -> {feats[-1]} do not fit z_dim {z_dim} / w_dim {w_dim}")
    _num(m.get("lr_multiplier", 0.01), "mapping.lr_multiplier", 1e-8, 1e8)
    _num(m.get("w_avg_beta", 0.998), "mapping.w_avg_beta", 0.0, 1.0)
    _bool(m.get("normalize_z", True), "mapping.normalize_z")
    _check_class_groups(m, z_dim)
    params = sum(a * b + b for a, b in zip(feats, feats[1:]))
    return params + (c_dim * embed + embed if c_dim else 0)


def _check_sg2(syn: dict, res: int, w_dim: int, img_ch: int) -> int:
    raw = _dict(syn.get("channels"), "synthesis.channels")
    expected = [2 ** i for i in range(2, int(math.log2(res)) + 1)]
    keys = sorted(int(k) if str(k).isdigit() else -1 for k in raw)
    if keys != expected:
        raise ConfigError(f"synthesis.channels must name resolutions {expected[0]}..{res}, got {list(raw)[:8]}")
    ch = {int(k): _int(v, f"channels at {k} px", 1, MAX_CHANNELS) for k, v in raw.items()}
    if syn.get("architecture", "skip") not in ("skip", "resnet", "orig"):
        raise ConfigError(f"unknown synthesis architecture {str(syn.get('architecture'))[:40]!r}")
    _num(syn.get("conv_clamp"), "synthesis.conv_clamp", 0.0, 1e9, optional=True)
    [_num(t, "resample tap", -1e6, 1e6) for t in _list(syn.get("resample_taps", [1, 3, 3, 1]),
                                                        "synthesis.resample_taps", 1, MAX_TAPS)]
    _bool(syn.get("use_noise", True), "synthesis.use_noise")
    params, prev = ch[4] * 16, ch[4]
    for r in expected:
        c = ch[r]
        convs = [(c, c)] if r == 4 else [(prev, c), (c, c)]
        params += sum(o * i * 9 + w_dim * i + o for i, o in convs)
        params += img_ch * c + w_dim * c + r * r * len(convs)
        prev = c
    return params


_SG3_INT = {"in_channels": (1, MAX_CHANNELS), "out_channels": (1, MAX_CHANNELS), "conv_kernel": (1, 9),
            "up_factor": (1, 8), "down_factor": (1, 8), "up_taps": (1, MAX_TAPS), "down_taps": (1, MAX_TAPS)}


def _check_sg3(syn: dict, w_dim: int) -> int:
    inp = _dict(syn.get("input"), "synthesis.input")
    in_ch = _int(inp.get("channels"), "synthesis.input.channels", 1, MAX_CHANNELS)
    [_int(s, "synthesis.input.size", 1, 4 * MAX_RESOLUTION) for s in _list(inp.get("size"), "input size", 2, 2)]
    _num(inp.get("sampling_rate"), "synthesis.input.sampling_rate", 0.0, 1e6)
    _num(inp.get("bandwidth"), "synthesis.input.bandwidth", 0.0, 1e6)
    _num(syn.get("output_scale", 0.25), "synthesis.output_scale", -1e6, 1e6)
    layers = _list(syn.get("layers"), "synthesis.layers", 1, MAX_LAYERS)
    params, names = w_dim * 4 + in_ch * (in_ch + 4), set()
    for i, spec in enumerate(layers):
        spec = _dict(spec, f"synthesis layer {i}")
        name = spec.get("name")
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_") or len(name) > 64 \
                or name in names:
            raise ConfigError(f"synthesis layer {i} has a bad or repeated name {str(name)[:40]!r}")
        names.add(name)
        v = {k: _int(spec.get(k), f"{name}.{k}", lo, hi) for k, (lo, hi) in _SG3_INT.items()}
        if spec.get("is_torgb") not in (True, False, 0, 1) or isinstance(spec.get("is_torgb"), float):
            raise ConfigError(f"{name}.is_torgb must be true or false")
        [_int(p, f"{name}.padding", -MAX_RESOLUTION, MAX_RESOLUTION) for p in _list(spec.get("padding"),
                                                                                  f"{name}.padding", 4, 4)]
        [_int(s, f"{name}.out_size", 1, 4 * MAX_RESOLUTION) for s in _list(spec.get("out_size"),
                                                                          f"{name}.out_size", 2, 2)]
        _num(spec.get("conv_clamp"), f"{name}.conv_clamp", 0.0, 1e9, optional=True)
        _num(spec.get("out_cutoff", 1.0), f"{name}.out_cutoff", 0.0, 1e6)
        params += v["out_channels"] * v["in_channels"] * v["conv_kernel"] ** 2 + w_dim * v["in_channels"]
        params += v["up_taps"] + v["down_taps"] ** 2
    return params


def _check_class_groups(m: dict, z_dim: int) -> None:
    """mapping.class_groups: sorted, disjoint runs of 2..64 z entries inside z, finite offsets."""
    groups = m.get("class_groups")
    if groups is None:
        return
    _num(m.get("class_temperature", 0.1), "mapping.class_temperature", 1e-3, 10.0)
    end = 0
    for g in _list(groups, "mapping.class_groups", 0, MAX_DIM):
        g = _dict(g, "mapping.class_groups[]")
        a, b = _int(g.get("start"), "class group start", 0, z_dim), _int(g.get("stop"), "class group stop", 0, z_dim)
        if a < end or not 2 <= b - a <= 64:
            raise ConfigError(f"mapping.class_groups: run {a}..{b} overlaps, is out of order or has not 2..64 classes")
        offsets = _list(g.get("offsets"), "class group offsets", b - a, b - a)
        for v in offsets:
            _num(v, "class group offset", -100.0, 100.0)
        end = b
