"""Photos to project: `explorer.pictures` with a photo's limits and words."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..pictures import PictureError, load_picture, picture_array

MAX_SIDE = 2048               # alignment and detection need no more; larger photos are scaled down
MIN_SIDE = 32


class PhotoError(PictureError):
    """The photo cannot be used; str() says why in one sentence."""


def load_photo(path: str | os.PathLike, notes: list | None = None) -> np.ndarray:
    """uint8 [H, W, 3] RGB, EXIF orientation applied; conversions made are added to `notes`."""
    return load_picture(path, notes, what="Photo", error=PhotoError, min_side=MIN_SIDE, max_side=MAX_SIDE)


def photo_array(arr: np.ndarray) -> np.ndarray:
    """An in-memory photo (pasted) checked the same way."""
    return picture_array(arr, "Photo", PhotoError, MIN_SIDE)


def photo_id(path: str | os.PathLike | None, image: np.ndarray) -> dict:
    """What a projected face's recipe says about its photo: file name and the pixels' hash."""
    return {"file": Path(path).name if path else "pasted image",
            "sha1": hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()[:16],
            "size": [int(image.shape[1]), int(image.shape[0])]}
