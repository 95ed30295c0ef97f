"""Reading a picture the user gives (a style picture, a photo to project): checked before
decoding, EXIF orientation applied, converted to 8-bit RGB.

Refused with one clear sentence: a missing, empty or corrupt file, something that is not an
image, an image smaller than `min_side` px or larger than `max_pixels` (checked from the header,
before the pixels are decoded: a size bomb never allocates). Accepted with a note: CMYK, 16-bit,
greyscale, palette and alpha images (converted to RGB; alpha composited on white), an animated
GIF or WebP (its first frame), a very large picture (scaled down to `max_side`).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import FileProblem

MIN_SIDE = 16
MAX_PIXELS = 50_000_000          # 7,000 x 7,000
MAX_SIDE = 1024
MAX_FILE_BYTES = 200 << 20


class PictureError(FileProblem):
    """A picture cannot be used; str() says why in one sentence."""


def load_picture(path: str | os.PathLike, notes: list | None = None, *, what: str = "Picture",
                 error: type[PictureError] = PictureError, min_side: int = MIN_SIDE,
                 max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> np.ndarray:
    """uint8 [H, W, 3] RGB; notes (if given) receives sentences about conversions made.
    `what` starts every message ("Style image", "Photo"); `error` is the type raised."""
    path = Path(path).expanduser()
    notes = notes if notes is not None else []
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise error(f"{what} {path}: file not found.") from None
    except OSError as e:
        raise error(f"{what} {path}: cannot read it ({e.strerror or e}).") from None
    if path.is_dir():
        raise error(f"{what} {path}: is a folder, not an image file.")
    if size == 0:
        raise error(f"{what} {path}: the file is empty.")
    if size > MAX_FILE_BYTES:
        raise error(f"{what} {path}: {size / 2**20:.0f} MB is too large a file "
                              f"({MAX_FILE_BYTES >> 20} MB at most).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise error(f"{what} {path}: {w} x {h} px is too large "
                                          f"({max_pixels / 1e6:.0f} megapixels at most); scale it down first.")
                if min(w, h) < min_side:
                    raise error(f"{what} {path}: {w} x {h} px is too small "
                                          f"(at least {min_side} px a side).")
                fmt, mode = im.format or "image", im.mode
                if getattr(im, "n_frames", 1) > 1:
                    notes.append(f"{fmt} with {im.n_frames} frames: its first frame is used")
                im.seek(0)
                if max(w, h) > 2 * max_side:
                    im.draft("RGB", (max_side, max_side))   # JPEG decodes at a reduced scale
                im.load()
                img = ImageOps.exif_transpose(im)
                img = _to_rgb(img, mode, notes)
    except PictureError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise error(f"{what} {path}: the picture is too large ({max_pixels / 1e6:.0f} megapixels at most); "
                    "scale it down first.") from None
    except UnidentifiedImageError as e:
        raise error(f"{what} {path}: not an image this app can read "
                              f"({type(e).__name__}).") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise error(f"{what} {path}: the file is damaged or truncated ({e}).") from None
    except MemoryError:
        raise error(f"{what} {path}: too large to decode in the memory available.") from None
    except Exception as e:  # noqa: BLE001 - a damaged file makes Pillow raise almost anything
        raise error(f"{what} {path}: the file is damaged ({type(e).__name__} while "
                              "decoding it).") from None
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        new = (max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale)))
        notes.append(f"scaled from {img.size[0]} x {img.size[1]} to {new[0]} x {new[1]} px")
        img = img.resize(new, Image.LANCZOS)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8)[..., :3])


def _to_rgb(img: Image.Image, mode: str, notes: list) -> Image.Image:
    if mode == "RGB":
        return img
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB")
        return img.convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        notes.append(f"{'16-bit' if hi > 255 else mode} greyscale converted to 8-bit RGB")
        grey = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2))
    if "A" in mode or mode == "P" and "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("transparent parts shown on white")
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode in ("L", "1"):
        notes.append("greyscale image: the style carries no colour")
    return img.convert("RGB")


def picture_array(arr: np.ndarray, what: str = "Picture", error: type[PictureError] = PictureError,
                  min_side: int = MIN_SIDE) -> np.ndarray:
    """An in-memory picture checked the same way (uint8 [H, W, 3])."""
    arr = np.asarray(arr)
    if arr.ndim != 3 or arr.shape[2] < 3 or arr.dtype != np.uint8:
        raise error(f"{what}: expected uint8 [H, W, 3], got {arr.dtype} {arr.shape}.")
    if min(arr.shape[:2]) < min_side:
        raise error(f"{what}: {arr.shape[1]} x {arr.shape[0]} px is too small "
                    f"(at least {min_side} px a side).")
    return np.ascontiguousarray(arr[..., :3])
