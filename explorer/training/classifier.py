"""Attribute classifier for portraits: the judge that labels generated faces.

The face renderer knows the ground truth of every portrait it draws, but a generator's samples
come without labels. This small CNN learns the renderer's label vector from its images, so it can
(1) label generated faces for fitting latent directions (InterFaceGAN's recipe), (2) measure how
well an edit changes what it should and nothing else, and (3) give a feature space for a Fréchet
distance between real and generated faces (FID's formula, with our own features, since no
Inception weights can be downloaded).

One linear head over shared features emits the whole label vector (layout: faces.label_names());
each attribute's slice is read according to its kind: a regression value for continuous
attributes (trained on the range-normalised value), logits for binary ones and softmax logits
for categorical one-hot blocks.

Public API
    AttributeClassifier(config) / .load(path) / .save(path)
    .predict(images uint8 [N, H, W, 3]) -> float32 [N, NUM_LABELS]  (probabilities for class blocks)
    .features(images) -> float32 [N, F];  .binary(images) -> dict name -> bool [N]
    train_classifier(dataset, out_path, epochs, batch, ...) -> metrics
    frechet_distance(feats_a, feats_b);  attribute_distribution_match(labels_real, labels_fake)
"""
from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .faces import ATTRIBUTES, LABEL_NAMES, NUM_LABELS, binary_targets

INPUT_RESOLUTION = 64
FORMAT = "latent-explorer-attribute-classifier"
FORMAT_VERSION = 1
REGRESSION_WEIGHT = 10.0   # MSE of a [0, 1] value at chance is ~0.08; this puts it near CE's scale
EVAL_BATCH = 256

DEFAULT_CONFIG = {"widths": [24, 48, 96, 128], "feature_dim": 192, "resolution": INPUT_RESOLUTION}


# ------------------------------------------------------------------------------- the network

def _conv_bn(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class ClassifierNet(nn.Module):
    """uint8-derived images [N, 3, 64, 64] in [-1, 1] -> (features [N, F], raw outputs [N, L]).

    A stride-2 stem then stride-2 + stride-1 conv pairs (64 -> 32 -> 16 -> 8 -> 4), a 2x2 average
    pool (keeps left/right, which yaw, tilt and light need) and one hidden layer: the features.
    """

    def __init__(self, widths=(24, 48, 96, 128), feature_dim: int = 192, num_outputs: int = NUM_LABELS):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for i, w in enumerate(widths):
            layers += _conv_bn(c, w, 2)
            if i > 0:
                layers += _conv_bn(w, w, 1)
            c = w
        layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten()]
        self.trunk = nn.Sequential(*layers)
        self.embed = nn.Linear(c * 4, feature_dim)
        self.head = nn.Linear(feature_dim, num_outputs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = F.relu(self.embed(self.trunk(x)))
        return feats, self.head(feats)


# ------------------------------------------------------------------------- label-vector maths

def layout_attributes(width: int = NUM_LABELS) -> tuple:
    """The attributes of a label vector of this width: renderer v1's, or v2's (v1's plus its
    extra continuous parameters, appended)."""
    if width == NUM_LABELS:
        return ATTRIBUTES
    from .faces_v2 import ATTRIBUTES_V2, LABEL_NAMES_V2

    if width == len(LABEL_NAMES_V2):
        return ATTRIBUTES_V2
    raise ValueError(f"no face label layout has {width} entries")


def label_layout(width: int = NUM_LABELS) -> list[tuple[str, str, slice, float, float]]:
    """(name, kind, slice in the label vector, low, high) of each attribute of a label vector."""
    out, i = [], 0
    for a in layout_attributes(width):
        out.append((a.name, a.kind, slice(i, i + a.width), a.low, a.high))
        i += a.width
    return out


_layout = label_layout


def _label_names(width: int) -> list[str]:
    names = []
    for a in layout_attributes(width):
        names.extend(f"{a.name}={c}" for c in a.classes) if a.kind == "categorical" else names.append(a.name)
    return names


def _normalised_targets(labels: torch.Tensor) -> torch.Tensor:
    """Continuous entries mapped to [0, 1]; others unchanged."""
    out = labels.clone()
    for _, kind, sl, lo, hi in _layout(labels.shape[1]):
        if kind == "continuous":
            out[:, sl] = (labels[:, sl] - lo) / (hi - lo)
    return out


def label_loss(raw: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum over attributes: weighted MSE (continuous), BCE (binary), CE (categorical)."""
    target = _normalised_targets(labels)
    total = raw.new_zeros(())
    parts = {}
    for name, kind, sl, _, _ in _layout(raw.shape[1]):
        if kind == "continuous":
            loss = REGRESSION_WEIGHT * F.mse_loss(raw[:, sl], target[:, sl])
        elif kind == "binary":
            loss = F.binary_cross_entropy_with_logits(raw[:, sl], target[:, sl])
        else:
            loss = F.cross_entropy(raw[:, sl], target[:, sl].argmax(1))
        total = total + loss
        parts[name] = float(loss.detach())
    return total, parts


def decode_outputs(raw: torch.Tensor) -> torch.Tensor:
    """Raw head outputs -> label-vector layout: values in range, probabilities for class blocks."""
    out = torch.empty_like(raw)
    for _, kind, sl, lo, hi in _layout(raw.shape[1]):
        if kind == "continuous":
            out[:, sl] = lo + (hi - lo) * raw[:, sl].clamp(0.0, 1.0)
        elif kind == "binary":
            out[:, sl] = torch.sigmoid(raw[:, sl])
        else:
            out[:, sl] = torch.softmax(raw[:, sl], dim=1)
    return out


def hard_labels(pred: np.ndarray) -> np.ndarray:
    """Predicted label vectors with class blocks one-hot (argmax) and binaries 0/1, so that
    faces.binary_targets reads them like ground truth (a 0.45/0.40/0.15 block has no entry
    above 0.5, yet its face clearly belongs to the first class)."""
    out = np.array(pred, dtype=np.float32, copy=True)
    for _, kind, sl, _, _ in _layout(out.shape[-1]):
        if kind == "binary":
            out[:, sl] = out[:, sl] > 0.5
        elif kind == "categorical":
            block = out[:, sl]
            out[:, sl] = np.eye(block.shape[1], dtype=np.float32)[block.argmax(1)]
    return out


# Soft (probability-like, in [0, 1]) versions of faces.binary_targets' readable aliases: a
# continuous attribute's range-normalised value, or the summed probability of a set of classes.
_SOFT_SAME = {"dark_skin": "skin_tone", "wide_face": "face_width", "square_jaw": "jaw", "big_eyes": "eye_size",
              "thick_brows": "brow_thickness", "big_nose": "nose_size", "old": "age", "yaw_right": "yaw",
              "tilt_right": "tilt", "light_from_right": "light", "light_background": "bg_lightness"}
_SOFT_ANY = {"sunglasses": ("glasses", ("sunglasses",)), "full_beard": ("facial_hair", ("beard",)),
             "bald": ("hair_style", ("bald",)), "long_hair": ("hair_style", ("long", "ponytail", "bun")),
             "curly_hair": ("hair_style", ("curly",)), "blonde": ("hair_color", ("blonde",)),
             "black_hair": ("hair_color", ("black",)), "grey_hair": ("hair_color", ("grey",)),
             "red_hair": ("hair_color", ("red",)), "dyed_hair": ("hair_color", ("dyed",)),
             "light_eyes": ("eye_color", ("blue", "green", "grey")),
             "dark_clothes": ("clothing_color", ("black", "grey"))}
_SOFT_NOT = {"glasses": "glasses=none", "beard": "facial_hair=none"}


def soft_targets(pred: np.ndarray) -> dict[str, np.ndarray]:
    """Every key of faces.binary_targets as a score in [0, 1] whose > 0.5 is that binary target:
    for measuring how much an edit changes an attribute, not just whether it flips."""
    p = np.atleast_2d(np.asarray(pred, dtype=np.float32))
    out: dict[str, np.ndarray] = {}
    attrs = {a.name: a for a in layout_attributes(p.shape[1])}
    for name, kind, sl, lo, hi in _layout(p.shape[1]):
        if kind == "categorical":
            cls = attrs[name].classes
            for j, c in enumerate(cls):
                out[f"{name}={c}"] = p[:, sl.start + j]
        elif kind == "binary":
            out[name] = p[:, sl.start]
        else:
            out[name] = np.clip((p[:, sl.start] - lo) / (hi - lo), 0.0, 1.0)
    for alias, src in _SOFT_SAME.items():
        out[alias] = out[src]
    for alias, (attr, classes) in _SOFT_ANY.items():
        out[alias] = np.clip(np.sum([out[f"{attr}={c}"] for c in classes], axis=0), 0.0, 1.0)
    for alias, src in _SOFT_NOT.items():
        out[alias] = 1.0 - out[src]
    if "presentation" in out:
        out["masculine"] = out["presentation"]
    return out


def images_to_tensor(images: np.ndarray, resolution: int = INPUT_RESOLUTION) -> torch.Tensor:
    """uint8 [N, H, W, 3] (any square size) -> float [N, 3, res, res] in [-1, 1], channels-last.

    Other sizes are resized with antialiasing, so a 128px or 1024px model can be judged too."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3], got shape {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True,
                          align_corners=False)
    return x.contiguous(memory_format=torch.channels_last)


# ------------------------------------------------------------------------------- the wrapper

class AttributeClassifier:
    """Inference wrapper: a ClassifierNet plus its config, always in eval mode on CPU by default."""

    def __init__(self, config: dict | None = None, net: ClassifierNet | None = None):
        self.config = {**DEFAULT_CONFIG, **(config or {})}
        self.config.setdefault("label_names", list(LABEL_NAMES))
        names = list(self.config["label_names"])
        try:
            known = _label_names(len(names))
        except ValueError:
            known = None
        if names != known:
            raise ValueError("this classifier was trained on a face label layout this version does not know "
                             f"({len(names)} labels)")
        self.num_labels = len(names)
        self.net = net or ClassifierNet(tuple(self.config["widths"]), int(self.config["feature_dim"]),
                                        num_outputs=self.num_labels)
        self.net = self.net.to(memory_format=torch.channels_last).eval()
        self.resolution = int(self.config["resolution"])
        self.metrics: dict | None = None
        self.source: str | None = None     # file name it was loaded from

    @property
    def feature_dim(self) -> int:
        return int(self.config["feature_dim"])

    def to(self, device) -> "AttributeClassifier":
        self.net.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def _run(self, images: np.ndarray, batch: int = EVAL_BATCH) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        feats, preds = [], []
        self.net.eval()
        with torch.inference_mode():
            for i in range(0, len(images), batch):
                x = images_to_tensor(images[i:i + batch], self.resolution).to(self.device)
                f, raw = self.net(x)
                feats.append(f.float().cpu().numpy())
                preds.append(decode_outputs(raw.float()).cpu().numpy())
        if not feats:
            return np.zeros((0, self.feature_dim), np.float32), np.zeros((0, self.num_labels), np.float32)
        return np.concatenate(feats), np.concatenate(preds)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] -> float32 [N, NUM_LABELS] in the label-vector layout."""
        return self._run(images)[1]

    def features(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] -> float32 [N, F]: penultimate features (for Fréchet distances)."""
        return self._run(images)[0]

    def predict_with_features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels [N, NUM_LABELS], features [N, F]) in one pass."""
        feats, preds = self._run(images)
        return preds, feats

    def binary(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Every binary target of faces.binary_targets (glasses, smile, old, ...) -> bool [N]."""
        return binary_targets(hard_labels(self.predict(images)))

    # ----- files --------------------------------------------------------------------------
    def save(self, path, half: bool = True, metrics: dict | None = None) -> Path:
        """safetensors weights (float16 by default) with the JSON config in the metadata."""
        from safetensors.torch import save_file

        from ..export import atomic_path

        tensors = {}
        for k, v in self.net.state_dict().items():
            v = v.detach().cpu().contiguous()
            if half and v.is_floating_point() and not k.endswith(("running_var", "running_mean")):
                v = v.half()
            tensors[k] = v
        meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "config": json.dumps(self.config)}
        if metrics is not None:
            meta["metrics"] = json.dumps(metrics)
        path = Path(path)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path

    @classmethod
    def load(cls, path, device="cpu") -> "AttributeClassifier":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"attribute classifier {path} does not exist")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path} is not an attribute classifier file")
            state = {k: f.get_tensor(k) for k in f.keys()}
        clf = cls(json.loads(meta["config"]))
        ref = clf.net.state_dict()
        clf.net.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()})
        clf.metrics = json.loads(meta["metrics"]) if "metrics" in meta else None
        clf.source = path.name
        return clf.to(device)


# -------------------------------------------------------------------------------- evaluation

def evaluate_predictions(pred: np.ndarray, labels: np.ndarray,
                         binaries: tuple[str, ...] | None = None) -> dict:
    """Per attribute: accuracy (categorical, binary) or MAE and mid-split accuracy (continuous),
    plus the accuracy of the binary targets used for directions."""
    out: dict = {"attributes": {}, "binary_targets": {}}
    for name, kind, sl, lo, hi in _layout(np.shape(labels)[1]):
        p, t = pred[:, sl], labels[:, sl]
        if kind == "continuous":
            mid = (lo + hi) / 2
            out["attributes"][name] = {"kind": kind, "mae": float(np.abs(p - t).mean()),
                                       "mae_rel": float(np.abs(p - t).mean() / (hi - lo)),
                                       "split_acc": float(((p > mid) == (t > mid)).mean())}
        elif kind == "binary":
            out["attributes"][name] = {"kind": kind, "acc": float(((p > 0.5) == (t > 0.5)).mean())}
        else:
            out["attributes"][name] = {"kind": kind, "acc": float((p.argmax(1) == t.argmax(1)).mean()),
                                       "chance": float(np.bincount(t.argmax(1)).max() / len(t))}
    bp, bt = binary_targets(hard_labels(pred)), binary_targets(labels)
    for name in binaries or ():
        out["binary_targets"][name] = float((bp[name] == bt[name]).mean())
    return out


def format_metrics(metrics: dict) -> str:
    lines = []
    for name, m in metrics["attributes"].items():
        if m["kind"] == "continuous":
            lines.append(f"  {name:15s} MAE {m['mae']:.3f} ({100 * m['mae_rel']:.1f}% of range)"
                         f"  split acc {m['split_acc']:.3f}")
        else:
            extra = f"  (majority {m['chance']:.3f})" if "chance" in m else ""
            lines.append(f"  {name:15s} acc {m['acc']:.3f}{extra}")
    if metrics.get("binary_targets"):
        lines.append("  binary targets: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics["binary_targets"].items()))
    return "\n".join(lines)


REPORTED_BINARIES = ("smile", "old", "glasses", "sunglasses", "beard", "bald", "long_hair", "blonde",
                     "dark_skin", "yaw_right", "tilt_right", "light_from_right", "makeup", "grey_hair")


# --------------------------------------------------------------------------------- training

def train_classifier(dataset, out_path, epochs: float = 10, batch: int = 64, val_fraction: float = 0.1,
                     minutes: float | None = None, progress: Callable[[str], None] | None = print,
                     lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0,
                     config: dict | None = None, half: bool = True, max_val: int = 5000,
                     should_stop: Callable[[], bool] | None = None) -> dict:
    """Train on a FaceDataset (anything with .batch(indices) -> (uint8 images, labels) and len),
    save to `out_path`, and return validation metrics.

    The learning rate follows a cosine from `lr` to 0 over whichever budget ends first, epochs or
    minutes, so a wall-clock-capped run still ends annealed. The saved file is float16 unless
    `half` is False; the metrics are measured on the weights as saved.
    """
    progress = progress or (lambda s: None)
    n = len(dataset)
    if n < 4:
        raise ValueError("need at least 4 labelled faces to train a classifier")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_val = min(max(1, int(round(n * val_fraction))), max_val, n - 1)
    val_idx, train_idx = np.sort(perm[:n_val]), perm[n_val:]
    torch.manual_seed(seed)
    names = getattr(dataset, "label_names", None)
    clf = AttributeClassifier({**({"label_names": list(names)} if names else {}), **(config or {})})
    net = clf.net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = max(1, len(train_idx) // batch)
    total_steps = max(1, int(round(epochs * steps_per_epoch)))
    progress(f"classifier: {sum(p.numel() for p in net.parameters()) / 1e3:.0f}k params, "
             f"{len(train_idx)} train / {n_val} val faces, up to {total_steps} steps of {batch}"
             + (f" or {minutes:g} min" if minutes else ""))
    start = last = time.perf_counter()
    step, running = 0, []
    order = rng.permutation(train_idx)
    pos = 0
    while step < total_steps:
        frac = step / total_steps
        elapsed = time.perf_counter() - start
        if minutes:
            frac = max(frac, elapsed / (60 * minutes))
        if frac >= 1.0 or (should_stop and should_stop()):
            break
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * frac)) * min(1.0, (step + 1) / 100)  # warmup
        if pos + batch > len(order):
            order, pos = rng.permutation(train_idx), 0
        idx = np.sort(order[pos:pos + batch])
        pos += batch
        imgs, labels = dataset.batch(idx)
        x = images_to_tensor(imgs, clf.resolution)
        _, raw = net(x)
        loss, _ = label_loss(raw, torch.from_numpy(np.asarray(labels, dtype=np.float32)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running.append(float(loss.detach()))
        step += 1
        now = time.perf_counter()
        if now - last >= 30:
            progress(f"  step {step}/{total_steps} ({step * batch / max(len(train_idx), 1):.2f} epochs, "
                     f"{(now - start) / 60:.1f} min) loss {np.mean(running[-50:]):.3f}")
            last = now
    net.eval()
    clf.config["trained"] = {"steps": step, "batch": batch, "images_seen": step * batch,
                             "minutes": round((time.perf_counter() - start) / 60, 2),
                             "train_faces": int(len(train_idx)), "val_faces": int(n_val),
                             "dataset_seed": int(getattr(dataset, "seed", 0))}
    out_path = Path(out_path)
    clf.save(out_path, half=half)
    saved = AttributeClassifier.load(out_path)
    val_imgs, val_labels = dataset.batch(val_idx)
    metrics = evaluate_predictions(saved.predict(val_imgs), np.asarray(val_labels), REPORTED_BINARIES)
    window = max(1, min(50, len(running) // 3))
    metrics["first_loss"] = float(np.mean(running[:window])) if running else float("nan")
    metrics["final_loss"] = float(np.mean(running[-window:])) if running else float("nan")
    metrics["steps"] = step
    metrics["minutes"] = clf.config["trained"]["minutes"]
    saved.save(out_path, half=half, metrics=metrics)  # same weights, now with their figures
    progress(f"validation on {n_val} faces after {step} steps ({metrics['minutes']:.1f} min):")
    progress(format_metrics(metrics))
    return metrics


# ------------------------------------------------------------------------------ comparisons

def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2): FID's formula on any features."""
    from scipy import linalg

    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be [N, F] with the same F, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least 2 samples per feature set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():   # near-singular products are expected (few samples, ReLU zeros)
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s_a @ s_b)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(s_a)) * eps  # singular product: regularise, as the reference FID does
            covmean = linalg.sqrtm((s_a + offset) @ (s_b + offset))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    return float(max(0.0, diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * np.trace(covmean)))


def attribute_distribution_match(labels_real: np.ndarray, labels_fake: np.ndarray) -> dict[str, dict]:
    """How closely the generated attribute distribution follows the real one, per attribute.

    categorical: total variation distance of the class frequencies (argmax), binary: difference
    of rates (= TV), continuous: Wasserstein-1 distance as a fraction of the range, and the
    means. 0 is a perfect match, 1 the worst (for TV and range-relative W1).
    """
    from scipy.stats import wasserstein_distance

    real, fake = np.atleast_2d(labels_real), np.atleast_2d(labels_fake)
    out = {}
    for name, kind, sl, lo, hi in _layout(real.shape[1]):
        r, f = real[:, sl], fake[:, sl]
        if kind == "categorical":
            k = r.shape[1]
            pr = np.bincount(r.argmax(1), minlength=k) / len(r)
            pf = np.bincount(f.argmax(1), minlength=k) / len(f)
            out[name] = {"kind": kind, "tv": float(0.5 * np.abs(pr - pf).sum()),
                         "real": pr.round(4).tolist(), "fake": pf.round(4).tolist()}
        elif kind == "binary":
            pr, pf = float((r > 0.5).mean()), float((f > 0.5).mean())
            out[name] = {"kind": kind, "tv": abs(pr - pf), "real": pr, "fake": pf}
        else:
            out[name] = {"kind": kind, "w1": float(wasserstein_distance(r[:, 0], f[:, 0]) / (hi - lo)),
                         "mean_real": float(r.mean()), "mean_fake": float(f.mean()),
                         "std_real": float(r.std()), "std_fake": float(f.std())}
    return out


__all__ = ["AttributeClassifier", "ClassifierNet", "attribute_distribution_match", "decode_outputs",
           "evaluate_predictions", "format_metrics", "frechet_distance", "hard_labels",
           "images_to_tensor", "label_loss", "soft_targets", "train_classifier"]
