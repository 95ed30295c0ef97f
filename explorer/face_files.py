"""Faces as files: what an exported PNG carries, and how a PNG becomes a Latent again.

An exported PNG stores the whole `Latent.to_json()` (ws, noise, recipe, model fingerprint), so
opening it gives back the identical latent, bit for bit. PNGs written by `latent-explorer
generate` (seed recipes only) are understood too: their seed is mapped again on the model.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from .errors import FileProblem
from .export import read_png_recipe
from .latents import Latent, describe, latent_from_seed
from .recipe_text import describe_node, short_label

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
APP = "latent-explorer"


class FaceFileError(FileProblem, ValueError):
    """A file that holds no face we can bring back; str() is one sentence for the window."""


def is_png(path: str | os.PathLike) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == PNG_MAGIC
    except OSError:
        return False


def png_payload(latent: Latent, model_name: str = "", extra: dict | None = None) -> dict:
    """The recipe dict written into an exported PNG (explorer.export.save_png's `recipe`)."""
    payload = {"app": APP, "latent": latent.to_json(), "label": short_label(latent.recipe),
               "description": describe(latent.recipe), "summary": describe_node(latent.recipe), "model": {"fingerprint": latent.model, "name": model_name}}
    payload.update(extra or {})
    return payload


def latent_from_png(path: str | os.PathLike, model) -> tuple[Latent, str | None]:
    """(the face stored in a PNG, a warning or None). Raises FaceFileError (one sentence), never
    anything else, whatever the file holds: a damaged, hostile or foreign recipe is refused, and
    so is a face that would not render (NaN / infinite styles). A multi-face PNG (a mixing
    matrix) gives its first face; latents_from_png gives them all."""
    lats, warning = latents_from_png(path, model)
    return lats[0], warning


MAX_FACES_PER_FILE = 256


def latents_from_png(path: str | os.PathLike, model) -> tuple[list[Latent], str | None]:
    """Every face a PNG carries: one for an exported face, the sources then the destinations for
    an exported mixing matrix. (faces, a warning or None); raises FaceFileError."""
    path = Path(path)
    try:
        meta = read_png_recipe(path)
    except (OSError, ValueError, RecursionError, SyntaxError) as e:
        raise FaceFileError(f"{path.name} could not be read as a PNG with a recipe ({str(e)[:120]}).") from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types on crafted PNGs
        raise FaceFileError(f"{path.name} could not be read as a PNG ({type(e).__name__}).") from None
    if not meta:
        raise FaceFileError(f"{path.name} carries no face recipe (only PNGs exported by Latent Explorer do).")
    if not isinstance(meta, dict):
        raise FaceFileError(f"{path.name} carries a recipe this version cannot read.")
    try:
        if meta.get("kind") == "mixing-matrix":
            return _matrix_faces(path, meta, model)
        lat, warning = _latent_from_meta(path, meta, model)
        return [lat], warning
    except FaceFileError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed value in the recipe: one clear sentence
        raise FaceFileError(f"{path.name} has a damaged face recipe ({type(e).__name__}: {str(e)[:120]}).") from None


def _matrix_faces(path: Path, meta: dict, model) -> tuple[list[Latent], str | None]:
    faces = list(meta.get("sources") or []) + list(meta.get("destinations") or [])
    if not faces or len(faces) > MAX_FACES_PER_FILE:
        raise FaceFileError(f"{path.name} is a mixing matrix without usable faces.")
    out, warnings = [], []
    for doc in faces:
        lat, warning = _latent_from_meta(path, {"latent": doc, "model": meta.get("model")}, model)
        out.append(lat)
        if warning:
            warnings.append(warning)
    return out, (warnings[0] if warnings else None)


def _finite(value, what: str, lo: float, hi: float) -> float:
    v = float(value)
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{what} {value!r} is out of range")
    return v


def _latent_from_meta(path: Path, meta: dict, model) -> tuple[Latent, str | None]:
    info = model.info
    if "latent" in meta:
        lat = Latent.from_json(meta["latent"])
        if lat.ws.shape != (info.num_ws, info.w_dim):
            raise FaceFileError(f"{path.name} was made with a model of another shape "
                                f"({lat.ws.shape[0]}×{lat.ws.shape[1]} styles; this one has "
                                f"{info.num_ws}×{info.w_dim}); open that model first.")
        if not np.isfinite(lat.ws).all() or not math.isfinite(lat.noise.strength):
            raise FaceFileError(f"{path.name} holds styles that are not finite numbers (it would render "
                                "as a black square); the file is damaged.")
        warning = None
        from .noise import noise_for_model

        spec, why = noise_for_model(lat.noise, model)
        if why:
            lat, warning = lat.with_noise(spec), f"{path.name}: {why}."
        if lat.model != model.fingerprint:
            name = (meta.get("model") or {}).get("name") if isinstance(meta.get("model"), dict) else None
            warning = (f"{path.name} was made with {name or 'another model'}; it is shown with the current "
                       "model and may look different." + (f" {warning}" if warning else ""))
        return lat, warning
    if meta.get("kind") == "seed" and "seed" in meta:   # `latent-explorer generate` output
        seed = meta["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
            raise FaceFileError(f"{path.name} names seed {str(seed)[:30]}, which is not a seed.")
        psi = _finite(meta.get("psi", 1.0), "psi", -10.0, 10.0)
        cutoff = meta.get("cutoff")
        if cutoff is not None and (isinstance(cutoff, bool) or not isinstance(cutoff, int)
                                   or not 0 < cutoff <= info.num_ws):
            raise FaceFileError(f"{path.name} has a truncation cutoff this model does not have.")
        lat = latent_from_seed(model, seed, psi, cutoff, meta.get("class_index"))
        fp = (meta.get("model") or {}).get("fingerprint") if isinstance(meta.get("model"), dict) else None
        warning = None if fp in (None, model.fingerprint) else \
            f"{path.name} was generated with another model; its seed is shown with the current one."
        return lat, warning
    raise FaceFileError(f"{path.name} carries a recipe this version cannot read.")


def file_stem(latent: Latent) -> str:
    """A safe, readable file name for a face: 'seed0042', '3-x-7-coarse' ..."""
    r = latent.recipe
    if r.get("op") == "seed":
        return f"seed{int(r.get('seed', 0)):04d}"
    text = short_label(r).replace("×", "x").replace("ψ", "psi")
    text = re.sub(r"[^0-9A-Za-z.+-]+", "-", text).strip("-.").lower()
    return (text or "face")[:60]


def unique_path(folder: Path, stem: str, taken: set | None = None) -> Path:
    """folder/stem.png, or stem-2.png ... when that exists (on disk or in `taken`)."""
    taken = taken if taken is not None else set()
    n = 1
    while True:
        name = f"{stem}.png" if n == 1 else f"{stem}-{n}.png"
        p = folder / name
        if not p.exists() and str(p) not in taken:
            taken.add(str(p))
            return p
        n += 1
