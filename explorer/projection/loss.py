"""The projection's loss: pixels at three scales plus a perceptual term, without ImageNet weights.

The perceptual term compares unit-normalised activations of a frozen CNN (as LPIPS does, with
equal layer weights): the default model's attribute classifier (trained on the same procedural
faces: it sees eyes, mouths, glasses); VGG16 at LPIPS's five layers when the user has given
torchvision's VGG16 weights (a setting, or LATENT_EXPLORER_VGG16); the checkpoint's own discriminator when the file carries one
(NVIDIA snapshots: its residual blocks' outputs; it has seen the model's domain); otherwise the
fixed seeded random CNN of the style transfer. Pixels: mean absolute difference at full, half and
quarter size (plus a squared-error term for the default model: `WEIGHTS`).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEFAULT_CLASSIFIER = RESOURCES / "attribute_classifier.safetensors"


# Weights per feature kind: (feature term, squared-error term). The default model's classifier
# features: a heavier feature term and a squared-error term beside the L1 ones, chosen on 16
# held-out faces of its domain (both starts gain: PSNR +0.2-0.6 dB, feature distance -0.3) and
# measured on the 64 by bench/bench_projection.py. Other kinds keep equal L1 weights.
WEIGHTS = {"classifier": (1.6, 2.0)}


class ProjectionLoss(nn.Module):
    def __init__(self, features: str = "random", pixel_weight: float = 1.0, feature_weight: float | None = None,
                 classifier_path: str | Path | None = None, discriminator=None, mse_weight: float | None = None):
        super().__init__()
        fw, mw = WEIGHTS.get(features, (1.0, 0.0))
        self.pixel_weight = float(pixel_weight)
        self.feature_weight = float(fw if feature_weight is None else feature_weight)
        self.mse_weight = float(mw if mse_weight is None else mse_weight)
        self.kind = features
        if features == "classifier":
            from ..training.classifier import AttributeClassifier

            clf = AttributeClassifier.load(classifier_path or DEFAULT_CLASSIFIER)
            self.trunk = clf.net.trunk.eval().requires_grad_(False)
            self.resolution = clf.resolution
            self.normalise = None
        elif features == "vgg16":
            from ..style_transfer.features import vgg16_features

            net = vgg16_features()
            if net is None:
                raise ValueError("VGG16 features need torchvision's VGG16 weights (LATENT_EXPLORER_VGG16)")
            self.vgg = net
            self.trunk = None
            self.resolution = None
            self.normalise = None
        elif features == "discriminator":
            if discriminator is None:
                raise ValueError("discriminator features need the discriminator")
            self.disc = discriminator.eval().requires_grad_(False)
            self.trunk = None
            self.resolution = None
            self.normalise = None
        elif features == "random":
            from ..style_transfer.features import RandomFeatures

            net = RandomFeatures()
            self.trunk = nn.Sequential(*[m for _n, m in net.steps])
            self.resolution = None
            self.normalise = net.normalise
        else:
            raise ValueError(f"unknown feature kind {features!r}")
        for p in self.parameters():
            p.requires_grad_(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x in [-1, 1] -> unit-normalised activations after each ReLU."""
        if self.resolution is not None and x.shape[-1] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", antialias=True,
                              align_corners=False)
        if self.kind == "vgg16":
            feats = self.vgg((x + 1) / 2, self.vgg.style_layers)
            return [f / (f.square().sum(1, keepdim=True).sqrt() + 1e-6) for f in feats.values()]
        if self.kind == "discriminator":
            from ..checkpoints.discriminator import block_features

            return [f / (f.square().sum(1, keepdim=True).sqrt() + 1e-6) for f in block_features(self.disc, x)]
        if self.normalise is not None:
            x = self.normalise((x + 1) / 2)
        out = []
        for layer in self.trunk:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                out.append(x / (x.square().sum(1, keepdim=True).sqrt() + 1e-6))
        return out

    def pixel(self, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean absolute difference at full, half and quarter size, plus `mse_weight` times the
        mean squared difference at full size."""
        mse = self.mse_weight * (fake - target).square().mean() if self.mse_weight else 0.0
        total = (fake - target).abs().mean()
        for _ in range(2):
            fake, target = F.avg_pool2d(fake, 2), F.avg_pool2d(target, 2)
            total = total + (fake - target).abs().mean()
        return total / 3 + mse

    def forward(self, fake: torch.Tensor, target: torch.Tensor, target_feats=None) -> torch.Tensor:
        loss = self.pixel_weight * self.pixel(fake, target)
        if self.feature_weight:
            tf = target_feats if target_feats is not None else self.features(target)
            ff = self.features(fake)
            loss = loss + self.feature_weight * sum((a - b).abs().mean() for a, b in zip(ff, tf)) / len(ff)
        return loss


def is_default_model(gen) -> bool:
    """Whether `gen` is the embedded default model (its classifier and renderer fit it)."""
    return str((gen.config.get("source") or {}).get("file", "")).startswith("default_model") \
        or gen.config.get("name") == "default"


def loss_for(gen, path=None) -> ProjectionLoss:
    """The default model's classifier features when projecting into it; the discriminator in the
    checkpoint at `path` when it has one; random features otherwise."""
    if is_default_model(gen) and DEFAULT_CLASSIFIER.is_file():
        return ProjectionLoss("classifier")
    from ..style_transfer.features import FeatureError, vgg16_features

    try:
        if vgg16_features() is not None:          # the user gave VGG16 weights: LPIPS-style distances
            return ProjectionLoss("vgg16")
    except FeatureError:
        pass
    if path is not None and str(path) != "default":
        from ..checkpoints import CheckpointError
        from ..checkpoints.discriminator import load_discriminator

        try:
            disc = load_discriminator(path)
        except (CheckpointError, OSError):
            disc = None
        if disc is not None and disc.config["img_resolution"] == gen.info.resolution:
            return ProjectionLoss("discriminator", discriminator=disc.to(gen.device))
    return ProjectionLoss("random")
