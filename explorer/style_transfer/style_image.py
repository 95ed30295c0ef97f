"""Style pictures: `explorer.pictures` with the style transfer's limits and words."""
from __future__ import annotations

import os

import numpy as np

from ..pictures import PictureError, load_picture, picture_array

MAX_SIDE = 1024                  # style statistics do not need more


class StyleImageError(PictureError):
    """The style picture cannot be used; str() says why in one sentence."""


def load_style_image(path: str | os.PathLike, notes: list | None = None) -> np.ndarray:
    """uint8 [H, W, 3] RGB (at most MAX_SIDE a side); conversions made are added to `notes`."""
    return load_picture(path, notes, what="Style image", error=StyleImageError, max_side=MAX_SIDE)


def image_for_style(arr: np.ndarray) -> np.ndarray:
    """An in-memory style picture checked the same way (uint8 [H, W, 3])."""
    return picture_array(arr, "Style image", StyleImageError)
