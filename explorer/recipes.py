"""Recipes back into latents, and latents to and from JSON files.

A Latent's recipe is a tree: leaves are seeds ({"op": "seed", ...}), inner nodes are plugin edits
({"op": "edit", "plugin", "version", "params", "inputs", ["output"]}). `replay` walks the tree with
the same model and plugins and gives back the same ws: plugins draw their random numbers from a
generator seeded by the recipe itself, so even children and crossbreeds come out identical.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from .export import atomic_path
from .latents import Latent, latent_from_seed

LATENTS_FORMAT = "latent-explorer/latents"
LATENTS_FORMAT_VERSION = 1


class RecipeError(ValueError):
    """A recipe that cannot be replayed (unknown op, plugin version changed, bad output index)."""


def replay(recipe: dict, model, registry, directions=None, *, strict_version: bool = True,
           _memo: dict | None = None) -> Latent:
    """Rebuild the Latent a recipe describes on `model`, running edits through `registry`.

    strict_version: refuse an edit recorded by another version of its plugin (its results may
    differ); with False the installed version runs. Raises RecipeError, PluginError or ParamError.
    """
    memo = {} if _memo is None else _memo
    key = json.dumps(recipe, sort_keys=True, default=str)
    if key in memo:
        return memo[key]
    op = recipe.get("op")
    if op == "seed":
        out = latent_from_seed(model, int(recipe["seed"]), float(recipe.get("psi", 1.0)), recipe.get("cutoff"),
                               recipe.get("class_index"))
    elif op == "edit":
        plugin_id = recipe["plugin"]
        plugin = registry.get(plugin_id)
        if strict_version and str(plugin.version) != str(recipe.get("version")):
            raise RecipeError(f"{plugin_id} made this face at version {recipe.get('version')}, "
                              f"but version {plugin.version} is installed")
        inputs = [replay(r, model, registry, directions, strict_version=strict_version, _memo=memo)
                  for r in recipe.get("inputs", [])]
        outs = registry.apply(plugin_id, inputs, recipe.get("params") or {}, model=model, directions=directions,
                              require_enabled=False)
        index = int(recipe.get("output", 0))
        if not 0 <= index < len(outs):
            raise RecipeError(f"{plugin_id} gave {len(outs)} results; the recipe wants result {index}")
        out = outs[index]
    else:
        raise RecipeError(f"cannot replay a recipe of kind {op!r}")
    memo[key] = out
    return out


def save_latents_json(path: str | os.PathLike, latents: Iterable[Latent]) -> Path:
    """Write latents (ws, noise, recipe, post steps) to one JSON file, atomically."""
    doc = {"format": LATENTS_FORMAT, "version": LATENTS_FORMAT_VERSION,
           "latents": [lat.to_json() for lat in latents]}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")
    return Path(path)


def load_latents_json(path: str | os.PathLike) -> list[Latent]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(doc, dict) and doc.get("format") == LATENTS_FORMAT:
        items = doc.get("latents", [])
    elif isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict) and "ws" in doc:
        items = [doc]
    else:
        raise ValueError(f"{path} is not a latents file")
    return [Latent.from_json(d) for d in items]
