"""Latent directions: fitted from labels (InterFaceGAN SVMs), conditioned on each other,
found without labels (GANSpace PCA, SeFa), imported/exported, and kept per model.

A Direction is a unit vector in W bound to one model's fingerprint; moves are in units of its
`scale` (the latent spread along it). See direction.py for the type, fit.py for SVMs and
conditioning, unsupervised.py for PCA/SeFa, io.py for files, library.py for the user's store.
"""
from .direction import Direction, DirectionModelError, normalise_layers, weak_fit_reason
from .fit import condition, fit_svm, split_by_labels, suggest_to_label
from .io import (DirectionFileError, direction_from_json, direction_to_json, load_direction, load_directions,
                 load_interfacegan, save_directions, save_interfacegan)
from .library import DirectionLibrary, default_root
from .unsupervised import pca_directions, pca_from_samples, sample_w, sefa_directions, style_affines

__all__ = ["Direction", "DirectionFileError", "DirectionLibrary", "DirectionModelError", "weak_fit_reason", "condition", "default_root",
           "direction_from_json", "direction_to_json", "fit_svm", "load_direction", "load_directions",
           "load_interfacegan", "normalise_layers", "pca_directions", "pca_from_samples", "sample_w",
           "save_directions", "save_interfacegan", "sefa_directions", "split_by_labels",
           "style_affines", "suggest_to_label"]
