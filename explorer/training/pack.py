"""Training packs: a run's three networks in one small safetensors file, kept in the repository
so that the default model's training continues across machines whose run folders are gone.

A snapshot (`snapshot.pt`) holds everything for an exact resume but weighs about 70 MB (float32
networks plus Adam moments). A pack holds G, G_ema and D in float16 (about 15 MB for the default
model) with the run's config and image count. Warm-starting from it gives the same networks
(to float16 precision) with fresh Adam moments and random streams: with Adam's beta1 = 0 and
beta2 = 0.99 the moments re-fill within a few hundred steps, so training picks up where it was.
A pack is plain tensors and JSON; loading one never runs code.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import FileProblem
from ..export import atomic_path

PACK_FORMAT = "latent-explorer-training-pack"
PACK_VERSION = "1"
NETWORKS = ("G", "G_ema", "D")
# config fields that fix the networks' shapes: a pack only fits a run that agrees on all of them
ARCHITECTURE = ("resolution", "z_dim", "w_dim", "mapping_layers", "g_channel_base", "g_channel_max",
                "d_channel_base", "d_channel_max")


class PackError(FileProblem, ValueError):
    pass


def save_pack(trainer, path: str | os.PathLike) -> Path:
    """Write the trainer's G, G_ema and D (float16) with its config and progress, atomically."""
    tensors = {}
    for name in NETWORKS:
        for key, t in getattr(trainer, name).state_dict().items():
            t = t.detach().to("cpu").contiguous()
            tensors[f"{name}.{key}"] = (t.to(torch.float16) if t.is_floating_point() else t).clone()
    meta = {"format": PACK_FORMAT, "format_version": PACK_VERSION,
            "train_config": json.dumps(dataclasses.asdict(trainer.cfg)),
            "nimg": str(trainer.nimg), "step": str(trainer.step), "seconds": f"{trainer.seconds:.1f}"}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _checked(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise PackError(f"{path}: no such training pack")
    return path


def _pack_metadata(f, path: Path) -> dict:
    meta = f.metadata() or {}
    if meta.get("format") != PACK_FORMAT:
        raise PackError(f"{path}: not a Latent Explorer training pack")
    return meta


def read_pack(path: str | os.PathLike) -> tuple[dict, dict[str, dict[str, torch.Tensor]], dict]:
    """-> (train config dict, {network: float32 state dict}, {nimg, step, seconds})."""
    path = _checked(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = _pack_metadata(f, path)
            states: dict[str, dict[str, torch.Tensor]] = {n: {} for n in NETWORKS}
            for key in f.keys():
                net, _, sub = key.partition(".")
                if net not in states:
                    raise PackError(f"{path}: unexpected tensor {key!r}")
                t = f.get_tensor(key)
                states[net][sub] = t.float() if t.is_floating_point() else t
            config = json.loads(meta["train_config"])
            progress = {"nimg": int(meta["nimg"]), "step": int(meta["step"]),
                        "seconds": float(meta["seconds"])}
    except PackError:
        raise
    except Exception as exc:  # damaged header, truncation, bad metadata
        raise PackError(f"{path}: damaged training pack ({exc})") from exc
    return config, states, progress


def pack_config(path: str | os.PathLike) -> dict:
    """The pack's train config, from its header alone (no tensors are read)."""
    path = _checked(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads(_pack_metadata(f, path)["train_config"])
    except PackError:
        raise
    except Exception as exc:  # damaged header or metadata
        raise PackError(f"{path}: damaged training pack ({exc})") from exc


def load_pack(trainer, path: str | os.PathLike) -> None:
    """Warm-start `trainer` from a pack: networks and image count; optimisers stay fresh and the
    random streams are re-seeded from the step (as when resuming with another process count)."""
    config, states, progress = read_pack(path)
    mismatch = [k for k in ARCHITECTURE if k in config and config[k] != getattr(trainer.cfg, k)]
    if mismatch:
        raise PackError(f"{path}: the pack's networks differ from this run's in " + ", ".join(
            f"{k} ({config[k]} vs {getattr(trainer.cfg, k)})" for k in mismatch))
    for name in NETWORKS:
        try:
            getattr(trainer, name).load_state_dict(states[name])
        except RuntimeError as exc:
            raise PackError(f"{path}: {name} does not fit this run ({exc})") from exc
    trainer.nimg, trainer.step, trainer.seconds = progress["nimg"], progress["step"], progress["seconds"]
    trainer.reseed()
