"""Bringing a photo into a model's latent space: load, align (dlib, as FFHQ was made), project.

`photo.load_photo` checks the file; `align.align` finds the face and crops it the way the model's
faces are framed; `encoder.Encoder` gives a first guess of the latent (trained per model on the
model's own pictures); `project.project` refines it by optimisation. No Qt here.
"""
from .align import DEFAULT_MODEL_FRAMING, FFHQ_FRAMING, Aligned, align, dlib_available, framing_for
from .photo import PhotoError, load_photo, photo_array, photo_id
from .project import SPACES, ProjectionResult, project, psnr

__all__ = ["Aligned", "DEFAULT_MODEL_FRAMING", "FFHQ_FRAMING", "PhotoError", "ProjectionResult", "SPACES",
           "align", "dlib_available", "framing_for", "load_photo", "photo_array", "photo_id", "project", "psnr"]
