"""Our own model format: one safetensors file whose metadata carries the JSON config.

safetensors holds only raw tensors and string metadata, so opening one can never run code.
A single file keeps weights and architecture together (nothing to lose when copying).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..generators import Generator
from .errors import CheckpointError

FORMAT_NAME = "latent-explorer-generator"
FORMAT_VERSION = "1"
SAFETENSORS_MAX_HEADER = 100 << 20


def looks_like_safetensors(head: bytes) -> bool:
    """8-byte little-endian header length, then a JSON object."""
    if len(head) < 10:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= SAFETENSORS_MAX_HEADER and head[8:9] == b"{"


def save_native(gen: Generator, path: str | os.PathLike, *, half: bool = False,
                extra_metadata: dict[str, str] | None = None) -> Path:
    """Write `gen` atomically (temp file + rename). half=True stores float16 weights."""
    path = Path(path)
    tensors = {}
    for name, t in gen.state_dict().items():
        t = t.detach().to("cpu").contiguous()
        if half and t.is_floating_point():
            t = t.to(torch.float16)
        tensors[name] = t.clone()
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "config": json.dumps(gen.config, sort_keys=True, default=_json_default)}
    meta.update(extra_metadata or {})
    from ..export import atomic_path

    with atomic_path(path) as tmp:   # temp file + rename, the user's umask, stale temps cleaned
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_native(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor], dict[str, str]]:
    """-> (config, state_dict in float32, metadata)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT_NAME:
                raise CheckpointError(path, "is a safetensors file but not a Latent Explorer generator "
                                            "(no generator config in its metadata)")
            config = json.loads(meta["config"])
            state = {k: f.get_tensor(k) for k in f.keys()}
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors raises its own error types for bad headers/truncation
        raise CheckpointError(path, f"is a damaged safetensors file ({exc})") from exc
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    return config, state, meta


def load_native(path: str | os.PathLike) -> Generator:
    config, state, meta = read_native(path)
    from .build import build_generator

    return build_generator(path, config, state)
