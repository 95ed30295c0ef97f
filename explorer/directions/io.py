"""Direction files: our JSON format and InterFaceGAN's boundary .npy.

Ours is one JSON document holding a list of directions, each with its metadata and its vector
as a list of floats (w_dim <= 512 keeps that small; float32 values survive the round trip
exactly because JSON writes the shortest repr of the float64 they widen to):

    {"format": "latent-explorer-directions", "version": 1,
     "directions": [{"name": "smile", "model": "3f2a...", "method": "svm", "layers": null,
                     "scale": 0.41, "bias": -0.02, "quality": {...}, "w_dim": 128,
                     "vector": [0.013, ...]}]}

InterFaceGAN's boundaries are bare unit normals of shape (1, w_dim): they say nothing about
the model, so loading one needs the target model's fingerprint and w_dim. Every write goes to a
temporary file that replaces the target (os.replace): a crash never leaves half a file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..export import atomic_path
from .direction import Direction

FORMAT = "latent-explorer-directions"
VERSION = 1


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def direction_to_json(d: Direction) -> dict:
    return {"name": d.name, "model": d.model, "method": d.method,
            "layers": [d.layers.start, d.layers.stop] if isinstance(d.layers, range) else d.layers,
            "scale": d.scale, "bias": d.bias, "quality": _jsonable(d.quality), "w_dim": d.w_dim,
            "vector": [float(v) for v in d.vector]}


def direction_from_json(obj: dict) -> Direction:
    try:
        vector = np.asarray(obj["vector"], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"direction entry has no usable 'vector': {exc}") from None
    if "w_dim" in obj and int(obj["w_dim"]) != vector.size:
        raise ValueError(f"direction {obj.get('name')!r}: vector has {vector.size} values, w_dim says {obj['w_dim']}")
    layers = obj.get("layers")
    return Direction(vector=vector, name=str(obj.get("name", "direction")),
                     layers=tuple(layers) if isinstance(layers, list) else layers,
                     model=obj.get("model"), method=obj.get("method", "import"),
                     quality=obj.get("quality") or {}, scale=float(obj.get("scale") or 1.0),
                     bias=obj.get("bias"))


def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def save_directions(directions: Direction | Iterable[Direction], path) -> Path:
    """Write one or several directions as one JSON file (atomically)."""
    items = [directions] if isinstance(directions, Direction) else list(directions)
    doc = {"format": FORMAT, "version": VERSION, "directions": [direction_to_json(d) for d in items]}
    return _write_text(Path(path), json.dumps(doc, indent=1) + "\n")


def load_directions(path, model: str | None = None) -> list[Direction]:
    """Every direction in one of our JSON files. With `model`, refuse a file whose directions
    belong to another model (DirectionModelError)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"direction file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a direction file (invalid JSON: {exc})") from None
    if isinstance(doc, dict) and "directions" in doc:
        if doc.get("format", FORMAT) != FORMAT:
            raise ValueError(f"{path} is a {doc.get('format')!r} file, not a direction file")
        if int(doc.get("version", VERSION)) > VERSION:
            raise ValueError(f"{path} was written by a newer version (format {doc['version']} > {VERSION})")
        entries = doc["directions"]
    elif isinstance(doc, dict):
        entries = [doc]
    elif isinstance(doc, list):
        entries = doc
    else:
        raise ValueError(f"{path} is not a direction file")
    out = []
    for e in entries:
        try:
            d = direction_from_json(e)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        if model is not None:
            d.check_model(model)
        out.append(d)
    return out


def load_direction(path, model: str | None = None) -> Direction:
    """The single direction in a file (ValueError if it holds several or none)."""
    items = load_directions(path, model)
    if len(items) != 1:
        raise ValueError(f"{path} holds {len(items)} directions, expected one")
    return items[0]


# ----- InterFaceGAN -------------------------------------------------------------------------

def save_interfacegan(direction: Direction, path) -> Path:
    """The unit vector as InterFaceGAN's boundary file: float32 array of shape (1, w_dim)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, direction.vector.astype(np.float32)[None], allow_pickle=False)
    return Path(path)


def load_interfacegan(path, *, model: str, w_dim: int, name: str | None = None, layers=None,
                      scale: float | None = None, w_samples: np.ndarray | None = None) -> Direction:
    """An InterFaceGAN boundary .npy ((1, w_dim) or (w_dim,)) as a Direction of `model`.

    The file carries no model identity, so the caller states which model it is for (its
    fingerprint) and its w_dim, which must match. scale: given, or the std of `w_samples` along
    the vector, or 1.0 (InterFaceGAN's raw units).
    """
    path = Path(path)
    if not model:
        raise ValueError("loading an InterFaceGAN boundary needs the target model's fingerprint")
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"boundary file {path} does not exist") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not a numpy boundary file ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise ValueError(f"{path} does not hold a numeric array")
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise ValueError(f"{path}: expected a boundary of shape (1, {w_dim}), got {arr.shape}")
    if arr.size != int(w_dim):
        raise ValueError(f"{path}: boundary is {arr.size}-dimensional but the model's w_dim is {w_dim}")
    d = Direction(vector=arr.astype(np.float32), name=name or path.stem, layers=layers, model=model,
                  method="import", quality={"source": path.name})
    if scale is None and w_samples is not None:
        spread = float(np.std(np.asarray(w_samples, dtype=np.float64) @ d.vector))
        scale = spread if spread > 0 else None
    return d.replace(scale=scale or 1.0)
