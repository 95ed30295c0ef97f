"""The default model's bundled directions: sample, render, label with the classifier, fit SVMs.

InterFaceGAN's recipe on our own data: latents sampled by seed (psi 1) are rendered without the
render service, labelled by the attribute classifier, and one linear SVM per binary target is
fitted in W (ws[:, 0]; at psi 1 every ws row is the same w). All directions go to one JSON file
(explorer.directions' format), each with its validation accuracy and scale.

    latent-explorer fit-directions --model M --classifier resources/attribute_classifier.safetensors \
        --samples 20000 --out dirs.json

For a neural-renderer model `--method slot` reads the directions off its z slots instead; the
shipped default model's directions are those it learned in training plus slot ones, measured
together (resources/MODEL_CARD.md has the commands).
"""
from __future__ import annotations

import time
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from ..directions import Direction, fit_svm, save_directions
from ..generators import to_uint8
from ..latents import latents_from_seeds
from .classifier import AttributeClassifier, hard_labels, soft_targets
from .faces import NUM_LABELS, binary_targets

DEFAULT_ATTRIBUTES = ("smile", "old", "glasses", "sunglasses", "beard", "bald", "long_hair", "blonde",
                      "dark_skin", "yaw_right", "tilt_right", "light_from_right", "makeup", "grey_hair")
V2_ATTRIBUTES = ("masculine",)      # what a renderer-v2 classifier can also judge
ALIASES = {"age": "old", "light_right": "light_from_right", "yaw": "yaw_right", "tilt": "tilt_right",
           "light": "light_from_right", "skin": "dark_skin", "gender": "masculine", "presentation": "masculine"}
MIN_PER_CLASS = 20          # below this many on either side, fall back to top/bottom scores
RENDER_BATCH = 32


def resolve_attributes(names: str | Sequence[str] | None, num_labels: int = NUM_LABELS) -> list[str]:
    """'smile,age,glasses' or a list -> binary-target names (aliases resolved, checked against
    what a classifier with `num_labels` outputs can judge)."""
    if names is None:
        return list(DEFAULT_ATTRIBUTES) + (list(V2_ATTRIBUTES) if num_labels > NUM_LABELS else [])
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    known = set(binary_targets(np.zeros(num_labels, np.float32)))
    out = []
    for n in names:
        n = ALIASES.get(n, n)
        if n not in known:
            raise ValueError(f"unknown attribute {n!r}; choose from: {', '.join(sorted(known))}")
        if n not in out:
            out.append(n)
    if not out:
        raise ValueError("no attributes given")
    return out


def render_ws(gen, ws: np.ndarray, batch: int = RENDER_BATCH) -> Iterator[np.ndarray]:
    """ws [N, num_ws, w_dim] -> uint8 image batches [B, H, W, 3] (stored noise, inference mode)."""
    with torch.inference_mode():
        for i in range(0, len(ws), batch):
            x = torch.as_tensor(np.ascontiguousarray(ws[i:i + batch]), dtype=torch.float32, device=gen.device)
            yield to_uint8(gen.synthesize(x, noise_mode="const"))


def label_ws(gen, classifier: AttributeClassifier, ws: np.ndarray, batch: int = RENDER_BATCH,
             with_features: bool = False):
    """Classifier predictions [N, NUM_LABELS] (and features [N, F]) for rendered ws."""
    preds, feats = [], []
    for imgs in render_ws(gen, ws, batch):
        p, f = classifier.predict_with_features(imgs)
        preds.append(p)
        feats.append(f)
    p = np.concatenate(preds) if preds else np.zeros((0, classifier.num_labels), np.float32)
    if with_features:
        return p, (np.concatenate(feats) if feats else np.zeros((0, classifier.feature_dim), np.float32))
    return p


def seeds_ws(gen, seeds: Sequence[int], psi: float = 1.0) -> np.ndarray:
    """ws [N, num_ws, w_dim] of seeds (NVIDIA's z per seed)."""
    lat = latents_from_seeds(gen, list(seeds), psi=psi)
    return np.stack([x.ws for x in lat]) if lat else np.zeros((0, gen.info.num_ws, gen.info.w_dim), np.float32)


def sample_labelled(gen, classifier: AttributeClassifier, n: int, seed0: int = 0, batch: int = RENDER_BATCH,
                    progress: Callable[[str], None] | None = print) -> tuple[np.ndarray, np.ndarray]:
    """(w [n, w_dim], predictions [n, NUM_LABELS]) for seeds seed0 .. seed0 + n - 1 at psi 1."""
    progress = progress or (lambda s: None)
    ws_rows, preds = [], []
    chunk = max(batch, 1024)
    t0 = last = time.perf_counter()
    for start in range(seed0, seed0 + n, chunk):
        ws = seeds_ws(gen, range(start, min(start + chunk, seed0 + n)))
        preds.append(label_ws(gen, classifier, ws, batch))
        ws_rows.append(ws[:, 0])
        done = start + len(ws) - seed0
        now = time.perf_counter()
        if now - last > 20 or done == n:
            progress(f"  rendered and labelled {done}/{n} ({1000 * (now - t0) / done:.1f} ms/face)")
            last = now
    return np.concatenate(ws_rows).astype(np.float32), np.concatenate(preds)


def recipe_labelled(gen, n: int, seed0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(w [n, w_dim], labels [n, L]) for seeds seed0 .. seed0 + n - 1 at psi 1, the labels read off
    each seed's z instead of a classifier's view of the picture: for a model whose z has renderer
    slot semantics (the default model v2, renderer 2 or 3) every slot *is* a drawing parameter, so
    the recipe's own labels are exact where the classifier's are noisy (small features the model draws faintly).
    Needs the mapping network only: no picture is rendered."""
    from .z_layout import layout_of

    try:
        layout = layout_of(gen)
    except ValueError:
        raise ValueError("recipe labels need a model whose z has renderer slot semantics "
                         "(the neural-renderer default model); use the classifier's labels") from None
    seeds = range(seed0, seed0 + n)
    ws = seeds_ws(gen, seeds)
    labels = np.stack([layout.labels(layout.z_of_seed(s)) for s in seeds])
    return ws[:, 0].astype(np.float32), labels.astype(np.float32)


def fit_attribute_directions(w: np.ndarray, preds: np.ndarray, attributes: Sequence[str], model: str,
                             *, C: float = 1.0, holdout: float = 0.3, seed: int = 0,
                             min_per_class: int = MIN_PER_CLASS, top_fraction: float = 0.3,
                             progress: Callable[[str], None] | None = print) -> list[Direction]:
    """One SVM direction per binary target. Targets that the samples show fewer than
    `min_per_class` times on either side are fitted on the classifier's soft scores instead
    (top and bottom `top_fraction`), and say so in quality['labels']."""
    progress = progress or (lambda s: None)
    hard = binary_targets(hard_labels(preds))
    soft = soft_targets(preds)
    out = []
    for name in attributes:
        y = hard[name]
        n_pos, n_neg = int(y.sum()), int((~y).sum())
        if min(n_pos, n_neg) >= min_per_class:
            d = fit_svm(w, y, holdout=holdout, seed=seed, name=name, model=model, C=C)
        else:
            progress(f"  {name}: only {n_pos} positive / {n_neg} negative samples; "
                     f"fitting on the top/bottom {top_fraction:g} of its scores instead")
            d = fit_svm(w, soft[name], top_fraction=top_fraction, holdout=holdout, seed=seed, name=name,
                        model=model, C=C)
        d.quality["positive_rate"] = n_pos / max(len(y), 1)
        progress(f"  {name:18s} val acc {d.quality['val_accuracy']:.3f} (balanced "
                 f"{d.quality['val_balanced_accuracy']:.3f})  (pos {d.quality['n_pos']}, "
                 f"neg {d.quality['n_neg']}, scale {d.scale:.3f}, {d.quality['fit_seconds']:.1f} s)")
        out.append(d)
    return out


EFFICACY_AMOUNT = 3.0      # scale units: "flips its attribute at +3 sigma"


def measure_efficacy(gen, classifier: AttributeClassifier, directions: Sequence[Direction], ws: np.ndarray,
                     preds: np.ndarray, *, amount: float = EFFICACY_AMOUNT, n: int = 200,
                     batch: int = RENDER_BATCH) -> None:
    """Store in each direction's quality how well it works on this model, judged by the classifier:
    efficacy = share of faces the classifier calls negative that it calls positive after a move of
    `amount` scale units; leakage = mean absolute change of the other attributes' soft scores.
    ws [N, num_ws, w_dim] and preds [N, L]: labelled samples to draw the negatives from."""
    hard, soft = binary_targets(hard_labels(preds)), soft_targets(preds)
    names = [d.name for d in directions]
    for d in directions:
        if d.name not in hard:
            continue
        neg = np.flatnonzero(~hard[d.name])[:n]
        if len(neg) == 0:
            continue
        moved = d.apply(ws[neg], amount, gen.info.groups, gen.fingerprint)
        after = label_ws(gen, classifier, moved, batch)
        h2, s2 = binary_targets(hard_labels(after)), soft_targets(after)
        leak = [float(np.abs(s2[o] - soft[o][neg]).mean()) for o in names if o != d.name and o in s2]
        d.quality.update({"efficacy": float(h2[d.name].mean()), "efficacy_amount": float(amount),
                          "efficacy_n": int(len(neg)), "leakage": float(np.mean(leak)) if leak else 0.0})
        d.quality["judge"] = getattr(classifier, "source", None)     # the efficacy's judge


def fit_default_directions(gen, classifier: AttributeClassifier, samples: int = 20000,
                           attributes: str | Sequence[str] | None = None, *, seed0: int = 0,
                           batch: int = RENDER_BATCH, C: float = 1.0, out_path=None, efficacy_samples: int = 200,
                           labels: str = "classifier", method: str = "svm",
                           progress: Callable[[str], None] | None = print) -> list[Direction]:
    """The whole pipeline: sample -> render -> label -> fit -> measure each direction's efficacy on
    fresh faces (the app hides the ones that do not work); optionally write `out_path`.
    labels: 'classifier' (InterFaceGAN: the classifier's view of each rendered face) or 'recipe'
    (the labels each seed's z stands for, `recipe_labelled`; neural-renderer models only).
    method: 'svm' (fitted to those labels) or 'slot' (read off the z slots, `slot_directions`;
    neural-renderer models only). Efficacy is judged by the classifier either way."""
    progress = progress or (lambda s: None)
    if labels not in ("classifier", "recipe"):
        raise ValueError(f"labels must be 'classifier' or 'recipe', not {labels!r}")
    if method not in ("svm", "slot"):
        raise ValueError(f"method must be 'svm' or 'slot', not {method!r}")
    attrs = resolve_attributes(attributes, classifier.num_labels)
    if method == "slot":
        from .slot_directions import fit_slot_directions

        progress(f"reading {len(attrs)} directions off the z slots of {gen.name} [{gen.fingerprint}] "
                 f"(seeds {seed0}-{seed0 + samples - 1}, psi 1)")
        dirs = fit_slot_directions(gen, attrs, samples=samples, seed0=seed0, progress=progress)
        for d in dirs:
            d.quality["classifier"] = getattr(classifier, "source", None)    # the efficacy's judge
        return measure_and_save(gen, classifier, dirs, seed0 + samples, efficacy_samples, batch, out_path,
                                progress)
    progress(f"sampling {samples} faces (seeds {seed0}-{seed0 + samples - 1}, psi 1) from "
             f"{gen.name} [{gen.fingerprint}], labels from the {labels}")
    if labels == "recipe":
        w, preds = recipe_labelled(gen, samples, seed0=seed0)
        if preds.shape[1] != classifier.num_labels:
            raise ValueError(f"the recipe has {preds.shape[1]} labels, the classifier {classifier.num_labels}")
    else:
        w, preds = sample_labelled(gen, classifier, samples, seed0=seed0, batch=batch, progress=progress)
    progress(f"fitting {len(attrs)} directions")
    dirs = fit_attribute_directions(w, preds, attrs, gen.fingerprint, C=C, progress=progress)
    for d in dirs:
        d.quality.update({"seeds": [seed0, seed0 + samples], "classifier": getattr(classifier, "source", None),
                          "label_source": labels})
    return measure_and_save(gen, classifier, dirs, seed0 + samples, efficacy_samples, batch, out_path, progress)


def measure_and_save(gen, classifier, dirs, fresh_seed0, efficacy_samples, batch, out_path, progress):
    """Each direction's efficacy and leakage (measure_efficacy) on fresh seeds, then save them."""
    if efficacy_samples:
        pool = max(4 * efficacy_samples, 400)
        progress(f"measuring efficacy at +{EFFICACY_AMOUNT:g} scale units on up to {efficacy_samples} "
                 f"negatives per direction (fresh seeds from {fresh_seed0})")
        ws_pool = seeds_ws(gen, range(fresh_seed0, fresh_seed0 + pool))
        measure_efficacy(gen, classifier, dirs, ws_pool, label_ws(gen, classifier, ws_pool, batch),
                         n=efficacy_samples, batch=batch)
        for d in dirs:
            if "efficacy" in d.quality:
                progress(f"  {d.name:18s} efficacy {d.quality['efficacy']:.2f}  leakage {d.quality['leakage']:.3f}")
    if out_path is not None:
        save_directions(dirs, out_path)
        progress(f"wrote {len(dirs)} directions to {out_path}")
    return dirs
