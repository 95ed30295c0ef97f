"""NVIDIA StyleGAN2-ADA / StyleGAN3 network pickles, read without running any code from them.

The safe unpickler (safe_pickle.py) gives a tree of PersistentObject records (class name +
module __dict__). Class names are shared between StyleGAN2 and StyleGAN3 modules, so the
architecture is told from structure (checkpoint-formats.md, 1.2) and every forward-pass
attribute is read from the per-module state, with tensor shapes as the ground truth.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch

from .errors import CheckpointError
from .safe_pickle import PersistentObject, load_pickle

SG2_TAPS = [1, 3, 3, 1]


def _num(v, kind=float):
    """numpy scalar / 0-d array / python number -> python number (None stays None)."""
    if v is None:
        return None
    if isinstance(v, torch.Tensor):
        v = v.item()
    return kind(np.asarray(v).item())


def _pair(v) -> list[int]:
    a = np.asarray(v).reshape(-1).tolist()
    return [int(a[0]), int(a[-1])] if len(a) else [0, 0]


def pick_generator(obj: object, path) -> PersistentObject:
    """The EMA generator from a snapshot dict (or a bare pickled Generator)."""
    if isinstance(obj, PersistentObject):
        if obj.class_name == "Generator":
            return obj
        raise CheckpointError(path, f"holds a single {obj.class_name} network, not a generator")
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"is a pickle of a {type(obj).__name__}, not a network snapshot")
    g = obj.get("G_ema")
    if isinstance(g, PersistentObject):
        if g.class_name != "Generator":
            raise CheckpointError(path, f"'G_ema' is a {g.class_name}, not a Generator")
        return g
    if isinstance(obj.get("G"), PersistentObject):
        raise CheckpointError(path, "holds a training generator 'G' but no EMA generator 'G_ema'")
    if isinstance(obj.get("D"), PersistentObject):
        raise CheckpointError(path, "holds only a discriminator ('D'); a generator is needed")
    keys = ", ".join(map(str, list(obj)[:8]))
    raise CheckpointError(path, f"is a pickle but not a StyleGAN network snapshot (keys: {keys})")


MAX_LAYERS = 64


def _bounded_list(value, what: str, limit: int, path) -> list:
    """A list attribute from the pickle, refused before any loop when it is not a short list."""
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= limit:
        n = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise CheckpointError(path, f"{what} must be a list of 1..{limit} entries, not {n}")
    return list(value)


def _child(obj: PersistentObject, name: str, path) -> PersistentObject:
    c = obj.children().get(name)
    if not isinstance(c, PersistentObject):
        raise CheckpointError(path, f"generator has no '{name}' network")
    return c


def _mapping_config(mapping: PersistentObject, path) -> dict:
    kids = mapping.children()
    n = _num(mapping.attr("num_layers"), int)
    if n is None or not 1 <= n <= MAX_LAYERS:
        raise CheckpointError(path, f"mapping network declares {n} layers (1..{MAX_LAYERS} expected)")
    fcs = [kids.get(f"fc{i}") for i in range(n)]
    if any(not isinstance(fc, PersistentObject) for fc in fcs):
        raise CheckpointError(path, "mapping network is missing fully connected layers")
    weights = [fc.params()["weight"] for fc in fcs]
    features = [int(weights[0].shape[1])] + [int(w.shape[0]) for w in weights]
    lr = _num(fcs[0].attr("bias_gain"))
    if lr is None:
        lr = _num(fcs[0].attr("weight_gain")) * math.sqrt(features[0])
    embed = kids.get("embed")
    return {"features": features, "lr_multiplier": lr,
            "embed_features": int(embed.params()["weight"].shape[0]) if isinstance(embed, PersistentObject) else None,
            "w_avg_beta": _num(mapping.attr("w_avg_beta", 0.998))}


def _sg2_synthesis_config(syn: PersistentObject, path) -> dict:
    kids = syn.children()
    res_list = _bounded_list(syn.attr("block_resolutions"), "block_resolutions", 11, path)
    if any(type(r) is not int or r < 4 or r > 4096 or r & (r - 1) for r in res_list) or len(set(res_list)) != len(res_list):
        raise CheckpointError(path, "block_resolutions must be distinct powers of two from 4 to 4096")
    channels, clamps, archs, use_noise = {}, set(), set(), set()
    for r in res_list:
        block = kids.get(f"b{r}")
        if not isinstance(block, PersistentObject):
            raise CheckpointError(path, f"synthesis network is missing block b{r}")
        conv1 = block.children()["conv1"]
        channels[str(r)] = int(conv1.params()["weight"].shape[0])
        clamps.add(_num(conv1.attr("conv_clamp")))
        archs.add(str(block.attr("architecture", "skip")))
        use_noise.add(bool(conv1.attr("use_noise", True)))
        f = block.buffers().get("resample_filter")
        if f is not None:
            taps = torch.tensor(SG2_TAPS, dtype=torch.float32)
            expect = torch.outer(taps, taps) / torch.outer(taps, taps).sum()
            if f.shape != expect.shape or not torch.allclose(f.float(), expect, atol=1e-6):
                raise CheckpointError(path, f"block b{r} uses a resampling filter other than [1,3,3,1]")
    if len(archs) != 1 or len(clamps) != 1:
        raise CheckpointError(path, "blocks disagree on architecture or conv_clamp; not supported")
    return {"channels": channels, "architecture": archs.pop(), "conv_clamp": clamps.pop(),
            "resample_taps": SG2_TAPS, "use_noise": use_noise == {True}}


def _sg3_synthesis_config(syn: PersistentObject, path) -> dict:
    kids = syn.children()
    inp = kids["input"]
    input_spec = {"channels": int(inp.params()["weight"].shape[0]), "size": _pair(inp.attr("size")),
                  "sampling_rate": _num(inp.attr("sampling_rate")), "bandwidth": _num(inp.attr("bandwidth"))}
    layers = []
    names = _bounded_list(syn.attr("layer_names"), "layer_names", MAX_LAYERS, path)
    if any(not isinstance(n, str) or not n.isidentifier() or n.startswith("_") for n in names) \
            or len(set(names)) != len(names):
        raise CheckpointError(path, "layer_names must be distinct plain layer names")
    for name in names:
        layer = kids.get(name)
        if not isinstance(layer, PersistentObject):
            raise CheckpointError(path, f"synthesis network is missing layer {name}")
        w = layer.params()["weight"]
        bufs = layer.buffers()
        up_f, down_f = bufs.get("up_filter"), bufs.get("down_filter")
        layers.append({
            "name": str(name), "is_torgb": bool(layer.attr("is_torgb")),
            "in_channels": int(w.shape[1]), "out_channels": int(w.shape[0]),
            "in_size": _pair(layer.attr("in_size")), "out_size": _pair(layer.attr("out_size")),
            "conv_kernel": int(w.shape[-1]),
            "in_sampling_rate": _num(layer.attr("in_sampling_rate")),
            "out_sampling_rate": _num(layer.attr("out_sampling_rate")),
            "in_cutoff": _num(layer.attr("in_cutoff")), "out_cutoff": _num(layer.attr("out_cutoff")),
            "up_factor": _num(layer.attr("up_factor"), int), "down_factor": _num(layer.attr("down_factor"), int),
            "up_taps": int(up_f.shape[0]) if up_f is not None else 1,
            "down_taps": int(down_f.shape[0]) if down_f is not None else 1,
            "down_radial": bool(down_f is not None and down_f.ndim == 2),
            "padding": [int(p) for p in layer.attr("padding")],
            "conv_clamp": _num(layer.attr("conv_clamp")),
        })
    return {"input": input_spec, "layers": layers, "output_scale": _num(syn.attr("output_scale", 1.0))}


def nvidia_to_native(g: PersistentObject, path) -> tuple[dict, dict[str, torch.Tensor]]:
    """-> (our config, state dict). Our parameter names are NVIDIA's, so tensors map by name."""
    syn = _child(g, "synthesis", path)
    mapping = _child(g, "mapping", path)
    if syn.attr("layer_names") is not None and "input" in syn.children():
        arch, syn_cfg = "stylegan3", _sg3_synthesis_config(syn, path)
    elif syn.attr("block_resolutions") is not None:
        arch, syn_cfg = "stylegan2", _sg2_synthesis_config(syn, path)
    else:
        raise CheckpointError(path, "has a generator of an architecture we do not know "
                                    "(neither StyleGAN2 blocks nor StyleGAN3 layers)")
    config = {
        "arch": arch, "z_dim": _num(g.attr("z_dim"), int), "w_dim": _num(g.attr("w_dim"), int),
        "c_dim": _num(g.attr("c_dim", 0), int), "img_resolution": _num(g.attr("img_resolution"), int),
        "img_channels": _num(g.attr("img_channels", 3), int),
        "mapping": _mapping_config(mapping, path), "synthesis": syn_cfg,
        "source": {"format": "nvidia-pickle", "file": os.path.basename(str(path))},
    }
    state = {}
    for name, t in g.named_tensors():
        if name.endswith("resample_filter"):
            continue  # rebuilt from the (verified) taps
        state[name] = t.detach().float()
    return config, state


def load_nvidia(path: str | os.PathLike, obj: object | None = None):
    from .build import build_generator

    if obj is None:
        obj = load_pickle(path)
    g = pick_generator(obj, path)
    try:
        config, state = nvidia_to_native(g, path)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(path, f"has a generator whose structure we cannot read ({exc!r})") from exc
    return build_generator(path, config, state)
