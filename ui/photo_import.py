"""Bringing photos in: File > Import Photo, a photo dropped on the grid, an image pasted.

Each photo is read and checked, its face found and aligned (dlib, as FFHQ was made; the default
model's own framing), then projected into the current model: the encoder's first guess refined by
optimisation, all on one background thread with progress, a live preview and Cancel in the status
bar (the same strip as slow image edits). The result is a new face whose recipe names the photo
(file name and hash) and stores its ws: it edits, mixes, keeps and animates like any face.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import Signal

from .tasks import TaskQueue

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
STEPS = 100                   # the CLI's default too (explorer.commands_project)
SPACE = "w+"


@dataclass(eq=False)
class _Job:
    name: str
    path: str | None
    image: np.ndarray | None
    on_done: Callable
    cancelled: bool = False
    kind: str = "photo"            # 'photo' or 'encoder' (train this model's encoder)
    steps: int = 0
    quad: np.ndarray | None = None     # a square the user chose (photo coordinates)
    ask_crop: bool = False             # let the user crop even when a face is found
    photo: np.ndarray | None = None    # the loaded photo, kept when it goes back for a crop


@dataclass
class _NeedsCrop:
    photo: np.ndarray
    quad: np.ndarray
    reason: str


class PhotoImporter(TaskQueue):
    """import_photo(path or image): on_done(latent, None) or on_done(None, why) on the GUI thread."""
    notice = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, "photo import")
        self.model = None
        self.model_path = None            # the checkpoint file (its discriminator guides the projection)
        self._loss = None                 # (model, loss) built once per model
        self.steps, self.space = STEPS, SPACE
        # crop_chooser(photo, suggested quad, name, reason) -> quad or None, on the GUI thread: asked
        # when no face is found (or when the user asked to crop). None: the centre square is used.
        self.crop_chooser = None

    def import_photo(self, source, on_done: Callable, name: str | None = None, ask_crop: bool = False) -> None:
        """source: a file path, or a uint8 [H, W, 3] picture (pasted)."""
        if isinstance(source, (str, Path)):
            job = _Job(name or Path(source).name, str(source), None, on_done, ask_crop=ask_crop)
        else:
            job = _Job(name or "pasted image", None, np.asarray(source), on_done, ask_crop=ask_crop)
        self.enqueue(job)

    def train_encoder(self, on_done: Callable, steps: int = 2000) -> None:
        """Train the current model's encoder (projection's first guess) in the background; it is kept
        in the user data folder by the model's fingerprint. on_done(path, None) or on_done(None, why)."""
        self.enqueue(_Job("encoder", None, None, on_done, kind="encoder", steps=int(steps)))

    # ----- the worker thread -------------------------------------------------------------------
    def run_job(self, job: _Job):
        return self._train(job) if job.kind == "encoder" else self._work(job)

    def _train(self, job: _Job):
        from explorer.projection.encoder import encoder_path, train_encoder

        gen = self.model
        if gen is None:
            raise RuntimeError("no model is open")
        self.emit(self.started, f"Training the photo encoder of {gen.name or 'this model'} (once)")
        enc = train_encoder(gen, steps=job.steps, progress=lambda f, _info: self.emit(self.progress, f),
                            cancelled=lambda: self.stopping(job))
        if self.stopping(job):
            return None
        return enc.save(encoder_path(gen))

    def _work(self, job: _Job):
        from explorer.commands_project import projected_latent
        from explorer.projection import align, framing_for, load_photo, photo_array, photo_id, project
        from explorer.projection.encoder import encoder_for

        gen = self.model
        if gen is None:
            raise RuntimeError("no model is open")
        self.emit(self.started, f"Projecting {job.name}")
        notes: list[str] = []
        if job.photo is not None:
            photo = job.photo
        else:
            photo = load_photo(job.path, notes) if job.path is not None else photo_array(job.image)
        if job.quad is not None:
            aligned = align(photo, gen.info.resolution, framing_for(gen), quad=job.quad)
        else:
            aligned = align(photo, gen.info.resolution, framing_for(gen))
            if self.crop_chooser is not None and (job.ask_crop or not aligned.face_found):
                reason = "You asked to crop it yourself" if job.ask_crop else aligned.note.split(":")[0].capitalize()
                return _NeedsCrop(photo, aligned.quad, reason)
        notes.append(aligned.note)
        from explorer.projection.loss import loss_for

        if self._loss is None or self._loss[0] is not gen:
            self._loss = (gen, loss_for(gen, self.model_path))
        loss = self._loss[1]
        encoder = encoder_for(gen)
        if encoder is None:
            notes.append("this model has no photo encoder yet: the projection starts from the average face "
                         "(Faces > Train Photo Encoder makes later imports faster and closer)")
        self.emit(self.notice, f"{job.name}: " + "; ".join(notes) + ".")
        self.emit(self.preview, job.name, aligned.image)
        result = project(gen, aligned.image, space=self.space, steps=self.steps,
                         start="encoder" if encoder is not None else "w_avg", encoder=encoder, loss=loss,
                         progress=lambda f: self.emit(self.progress, f),
                         preview=lambda im: self.emit(self.preview, job.name, np.array(im)),
                         cancelled=lambda: self.stopping(job))
        if result.cancelled:
            return None
        return projected_latent(gen, result, photo_id(job.path, photo), aligned.note)

    def deliver(self, job: _Job, latent, error) -> None:
        why = None
        if error is not None:
            from explorer.errors import FileProblem

            if not isinstance(error, FileProblem):
                log.error("photo import failed: %s: %s", type(error).__name__, error)
            why = str(error) if isinstance(error, FileProblem) else f"{type(error).__name__}: {error}"
            job.on_done(None, why)
            return
        if isinstance(latent, _NeedsCrop):          # back from the worker: the user chooses the square
            quad = self.crop_chooser(latent.photo, latent.quad, job.name, latent.reason) \
                if self.crop_chooser is not None else latent.quad
            if quad is None:
                job.on_done(None, "cancelled")
                return
            job.quad, job.photo, job.ask_crop = np.asarray(quad, dtype=np.float64), latent.photo, False
            job.cancelled = False
            self.enqueue(job, front=True)
            return
        if latent is None and why is None:
            why = "cancelled"
        job.on_done(latent, why)


def is_photo(path: str) -> bool:
    """A picture to project (not a face PNG that carries its recipe, not a checkpoint)."""
    p = Path(path)
    if p.suffix.lower() not in PHOTO_SUFFIXES:
        return False
    if p.suffix.lower() == ".png":
        from explorer.export import read_png_recipe

        try:
            return read_png_recipe(p) is None
        except Exception:  # noqa: BLE001 - an unreadable PNG is reported by the photo loader
            return True
    return True
