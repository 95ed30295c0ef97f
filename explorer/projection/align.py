"""Face alignment the way FFHQ was made: 68 dlib landmarks -> the eye-mouth quad -> crop.

The quad: from the mean of each eye's six points and the mouth's corners, an oriented square
centred a little below the eyes, sized by the larger of twice the eye distance and 1.8 times the
eye-to-mouth distance, turned so the eyes are level (Karras et al. 2019, the FFHQ dataset). The
picture inside the quad is resampled to the model's size. A model whose faces are framed
differently (the default model's renderer) gets the quad scaled and moved to that framing.
When no face is found (or dlib is not installed), a centred square crop stands in and says so.
"""
from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# Where the FFHQ quad of a face sits in a model's picture: centre (x, y) and side, as fractions of
# the picture. FFHQ models: the quad is the picture. The default model's renderer (renderer 2's
# drawing) draws faces whose quad is centred at (0.506, 0.494) with side 0.700 (dlib on 30 of 40
# renders at 256 px, sd 0.098; `python bench/bench_projection.py --framing`; the first renderer's
# was (0.493, 0.497), 0.701).
FFHQ_FRAMING = ((0.5, 0.5), 1.0)
DEFAULT_MODEL_FRAMING = ((0.506, 0.494), 0.700)
DETECT_SIDE = 1024          # detection runs on a copy at most this large (dlib's HOG is slow on big photos)

_lock = threading.Lock()
_models: dict = {}


@dataclass
class Aligned:
    image: np.ndarray           # uint8 [size, size, 3]
    quad: np.ndarray            # [4, 2] corners in the photo (top-left, bottom-left, bottom-right, top-right)
    face_found: bool
    note: str = ""


def _predictor_path() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    return path if path.is_file() else None


def dlib_available() -> bool:
    return importlib.util.find_spec("dlib") is not None and _predictor_path() is not None


def _dlib():
    with _lock:
        if "detector" not in _models:
            import dlib

            _models["detector"] = dlib.get_frontal_face_detector()
            _models["predictor"] = dlib.shape_predictor(str(_predictor_path()))
        return _models["detector"], _models["predictor"]


def landmarks(image: np.ndarray) -> np.ndarray | None:
    """68 (x, y) landmarks of the largest face in a uint8 RGB picture, or None (no face, no dlib)."""
    if not dlib_available():
        return None
    import dlib

    h, w = image.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    small = image if scale == 1.0 else np.asarray(
        Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR))
    detector, predictor = _dlib()
    small = np.ascontiguousarray(small[..., :3])
    faces = detector(small, 1)
    if not len(faces):
        return None
    face = max(faces, key=lambda r: r.width() * r.height())
    rect = dlib.rectangle(int(face.left() / scale), int(face.top() / scale), int(face.right() / scale),
                          int(face.bottom() / scale))
    shape = predictor(np.ascontiguousarray(image[..., :3]), rect)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def ffhq_quad(lm: np.ndarray) -> np.ndarray:
    """The FFHQ crop quad [4, 2] of 68 landmarks."""
    eye_l, eye_r = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eye_avg, eye_to_eye = (eye_l + eye_r) / 2, eye_r - eye_l
    mouth_avg = (lm[48] + lm[54]) / 2
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def reframe(quad: np.ndarray, framing=FFHQ_FRAMING) -> np.ndarray:
    """The crop quad that puts `quad` where `framing` ((cx, cy), side) says a model's faces are."""
    (cx, cy), side = framing
    centre = quad.mean(axis=0)
    right = (quad[3] - quad[0]) / side          # the crop's x axis (the quad's, scaled)
    down = (quad[1] - quad[0]) / side
    origin = centre - right * cx - down * cy
    return np.stack([origin, origin + down, origin + down + right, origin + right])


def crop_quad(image: np.ndarray, quad: np.ndarray, size: int) -> np.ndarray:
    """Resample the picture inside `quad` (corners TL, BL, BR, TR) to size x size; outside the
    photo, its border is repeated (no black corners)."""
    h, w = image.shape[:2]
    side = float(np.hypot(*(quad[3] - quad[0])))
    pad = int(np.ceil(max(0.0, -quad[:, 0].min(), -quad[:, 1].min(), quad[:, 0].max() - w,
                              quad[:, 1].max() - h))) + 2
    src = image
    if pad > 0:
        pad = min(pad, 4 * max(h, w))
        src = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    q = quad + pad
    img = Image.fromarray(np.ascontiguousarray(src[..., :3]))
    if side > 2 * size:                          # shrink first: QUAD sampling does not antialias
        k = max(1, int(side // (2 * size)))
        img = img.reduce(k)
        q = q / k
    out = img.transform((size, size), Image.QUAD, tuple(q.flatten()), Image.BICUBIC)
    return np.asarray(out, dtype=np.uint8)


def centre_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of the picture as a quad."""
    h, w = image.shape[:2]
    s = min(h, w)
    x0, y0 = (w - s) / 2, (h - s) / 2
    return np.array([[x0, y0], [x0, y0 + s], [x0 + s, y0 + s], [x0 + s, y0]], dtype=np.float64)


def align(image: np.ndarray, size: int, framing=FFHQ_FRAMING, *, detect: bool = True,
          quad: np.ndarray | None = None) -> Aligned:
    """The face of a photo cropped for a model of `size` px whose faces sit at `framing`.
    `quad` (photo coordinates) overrides detection: a manual crop."""
    if quad is not None:
        q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
        return Aligned(crop_quad(image, q, size), q, False, "cropped where you chose")
    lm = landmarks(image) if detect else None
    if lm is None:
        q = centre_square(image)
        why = ("no face found" if dlib_available() else "face detection (dlib) is not installed") if detect \
            else "face detection off"
        return Aligned(crop_quad(image, q, size), q, False, f"{why}: the centre square is used")
    q = reframe(ffhq_quad(lm), framing)
    return Aligned(crop_quad(image, q, size), q, True, "face aligned as FFHQ was (68 landmarks)")


def framing_for(gen) -> tuple:
    """Where a model's faces sit: the default model's renderer framing, FFHQ's for any other."""
    name = str(gen.config.get("name", ""))
    source = str((gen.config.get("source") or {}).get("file", ""))
    return DEFAULT_MODEL_FRAMING if name == "default" or source.startswith("default_model") else FFHQ_FRAMING


__all__ = ["Aligned", "DEFAULT_MODEL_FRAMING", "FFHQ_FRAMING", "align", "centre_square", "crop_quad",
           "dlib_available", "ffhq_quad", "framing_for", "landmarks", "reframe"]
