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

from ..errors import FileProblem
from ..export import atomic_path
from .direction import Direction, DirectionModelError

FORMAT = "latent-explorer-directions"
VERSION = 1
MAX_FILE_BYTES = 64 * 2 ** 20      # a direction file holds a few vectors of <= MAX_W_DIM floats
MAX_W_DIM = 16384
MAX_ENTRIES = 10_000


class DirectionFileError(FileProblem, ValueError):
    """A direction file (ours or an InterFaceGAN .npy) that cannot be used; names the file."""


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
    """One entry of a direction file; anything malformed is a ValueError saying what."""
    if not isinstance(obj, dict):
        raise ValueError(f"a direction entry is a {type(obj).__name__}, not a table")
    raw = obj.get("vector")
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_W_DIM:
        raise ValueError("direction entry has no usable 'vector' (a list of 1 to "
                         f"{MAX_W_DIM} numbers)")
    try:
        vector = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"direction entry has no usable 'vector': {exc}") from None
    if vector.ndim != 1 or not np.isfinite(vector).all():
        raise ValueError("direction vector must be a flat list of finite numbers")
    w_dim = obj.get("w_dim", vector.size)
    if not isinstance(w_dim, int) or isinstance(w_dim, bool) or w_dim != vector.size:
        raise ValueError(f"direction {str(obj.get('name'))[:40]!r}: vector has {vector.size} values, "
                         f"w_dim says {str(w_dim)[:20]}")
    layers = obj.get("layers")
    scale, bias, quality = obj.get("scale") or 1.0, obj.get("bias"), obj.get("quality") or {}
    for what, v in (("scale", scale), ("bias", bias)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v)):
            raise ValueError(f"direction {what} must be a finite number")
    if not isinstance(quality, dict) or not isinstance(obj.get("name", ""), str) \
            or not isinstance(obj.get("model") or "", str):
        raise ValueError("direction name, model and quality have the wrong types")
    try:
        return Direction(vector=vector, name=str(obj.get("name", "direction"))[:200],
                         layers=tuple(layers) if isinstance(layers, list) else layers,
                         model=obj.get("model"), method=obj.get("method", "import"),
                         quality=quality, scale=float(scale), bias=bias)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None


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
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DirectionFileError(f"{path.name}: is {path.stat().st_size:,} bytes, too big for a direction file")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"direction file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DirectionFileError(f"{path.name}: is not a direction file (invalid JSON: {str(exc)[:120]})") from None
    except OSError as exc:
        raise DirectionFileError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if isinstance(doc, dict) and "directions" in doc:
        if doc.get("format", FORMAT) != FORMAT:
            raise DirectionFileError(f"{path.name}: is a {str(doc.get('format'))[:40]!r} file, not a direction file")
        version = doc.get("version", VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise DirectionFileError(f"{path.name}: has no valid format version")
        if version > VERSION:
            raise DirectionFileError(f"{path.name}: was written by a newer version (format {version} > {VERSION})")
        entries = doc["directions"]
    elif isinstance(doc, dict):
        entries = [doc]
    elif isinstance(doc, list):
        entries = doc
    else:
        raise DirectionFileError(f"{path.name}: is not a direction file")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise DirectionFileError(f"{path.name}: 'directions' must be a list of at most {MAX_ENTRIES} entries")
    out = []
    for e in entries:
        try:
            d = direction_from_json(e)
        except DirectionModelError:
            raise
        except ValueError as exc:
            raise DirectionFileError(f"{path.name}: {exc}") from None
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

def _read_small_npy(path: Path, max_values: int) -> np.ndarray:
    """A .npy array whose header is checked before any data is read: at most `max_values`
    numbers, and no more than the file holds (a header can claim 10^10 floats)."""
    from numpy.lib import format as npy

    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(f, max_header_size=10_000)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npy.read_array_header_2_0(f, max_header_size=10_000)
            else:
                raise ValueError(f"unknown .npy version {version}")
            if dtype.hasobject or dtype.kind not in "fiu":
                raise ValueError(f"holds {dtype} values, not numbers")
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if count > max_values or count * dtype.itemsize > size - f.tell():
                raise ValueError(f"declares shape {shape} of {dtype} (at most {max_values:,} values expected, "
                                 f"and the file has room for {max(size - f.tell(), 0) // dtype.itemsize:,})")
            data = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype, count=count)
    except FileNotFoundError:
        raise FileNotFoundError(f"boundary file {path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises ValueError, SyntaxError, TokenError ...
        raise DirectionFileError(f"{path.name}: is not a usable numpy boundary file "
                                 f"({type(exc).__name__}: {str(exc)[:140]})") from None
    return data.reshape(shape, order="F" if fortran else "C")


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
    arr = _read_small_npy(path, max_values=MAX_W_DIM)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise DirectionFileError(f"{path.name}: expected a boundary of shape (1, {w_dim}), got {arr.shape}")
    if arr.size != int(w_dim):
        raise DirectionFileError(f"{path.name}: boundary is {arr.size}-dimensional but the model's w_dim is {w_dim}")
    try:
        d = Direction(vector=arr.astype(np.float32), name=name or path.stem, layers=layers, model=model,
                      method="import", quality={"source": path.name})
    except ValueError as exc:   # all zeros, NaN ...
        raise DirectionFileError(f"{path.name}: {exc}") from None
    if scale is None and w_samples is not None:
        spread = float(np.std(np.asarray(w_samples, dtype=np.float64) @ d.vector))
        scale = spread if spread > 0 else None
    return d.replace(scale=scale or 1.0)
