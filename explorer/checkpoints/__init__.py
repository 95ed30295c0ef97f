"""Checkpoint loading: the format is found from the file's content, never its extension.

Supported: NVIDIA StyleGAN2-ADA / StyleGAN3 network pickles (safe unpickler, nothing executed),
rosinality .pt files (torch weights-only loading, zip or legacy stream), and our own safetensors
format. Every failure is a CheckpointError whose message names the file and the problem.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..generators import Generator
from .errors import CheckpointError, UnsafePickleError, read_checkpoint_bytes
from .native import load_native, looks_like_safetensors, save_native

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEFAULT_MODEL = RESOURCES / "default_model.safetensors"

ZIP_MAGIC = b"PK\x03\x04"
# A legacy torch.save stream starts with the pickled magic number 0x1950a86a20f9469cfc6c.
TORCH_LEGACY_PREFIX = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def resolve_model_path(path: str | os.PathLike) -> Path:
    if str(path) == "default":
        if not DEFAULT_MODEL.is_file():
            raise CheckpointError(DEFAULT_MODEL, "the embedded default model is not installed; "
                                                 "pass a checkpoint path instead")
        return DEFAULT_MODEL
    return Path(path).expanduser()


def detect_format(path: str | os.PathLike) -> str:
    """'native' | 'torch' | 'pickle' from the first bytes of the file."""
    path = Path(path)
    head = read_checkpoint_bytes(path, limit=64)
    if not head:
        raise CheckpointError(path, "is empty")
    if head.startswith(ZIP_MAGIC) or head.startswith(TORCH_LEGACY_PREFIX):
        return "torch"
    if looks_like_safetensors(head):
        return "native"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    raise CheckpointError(path, "is not a checkpoint format we know (expected an NVIDIA .pkl, "
                                "a rosinality .pt or a Latent Explorer .safetensors file)")


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """Load any supported checkpoint (or "default") as a Generator on `device`.

    Every failure is a CheckpointError naming the file: the loaders raise their own, and whatever
    else a crafted file manages to trigger in them is turned into one here (never a traceback)."""
    path = resolve_model_path(path)
    try:
        return _load(path, device)
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError(path, "needs more memory than this machine has") from None
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - the one place that names the file
        text = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(path, f"is damaged or not a generator checkpoint ({text[:160]})") from exc


def _load(path: Path, device) -> Generator:
    kind = detect_format(path)
    if kind == "native":
        gen = load_native(path)
    elif kind == "torch":
        from .rosinality import load_rosinality

        gen = load_rosinality(path)
    else:
        from .nvidia import load_nvidia

        gen = load_nvidia(path)
    if str(path) == str(DEFAULT_MODEL):
        gen.config.setdefault("name", "default")
    gen.config.setdefault("source", {}).setdefault("file", path.name)
    return gen.to(device)


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, half: bool = False) -> Path:
    """Write any supported checkpoint as our safetensors format."""
    return save_native(load_generator(src), dst, half=half)


__all__ = ["CheckpointError", "UnsafePickleError", "DEFAULT_MODEL", "convert", "detect_format",
           "load_generator", "load_native", "save_native"]
