"""Writing images with their recipe. Every write is atomic: temp file in the same folder + rename."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

RECIPE_KEY = "latent-explorer-recipe"


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temp path beside `path`; rename onto it on success, delete it on any failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_png(path: str | os.PathLike, image: np.ndarray, recipe: dict | None = None) -> Path:
    """uint8 [H, W, C] -> PNG with the recipe as a JSON text chunk."""
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        info.add_itxt(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    img = Image.fromarray(np.ascontiguousarray(image).squeeze(-1) if image.shape[-1] == 1 else image)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", pnginfo=info)
    return Path(path)


def read_png_recipe(path: str | os.PathLike) -> dict | None:
    """The recipe stored by save_png, or None for a PNG without one."""
    with Image.open(path) as img:
        text = img.text.get(RECIPE_KEY) if hasattr(img, "text") else None
    return json.loads(text) if text else None
