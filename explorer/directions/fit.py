"""Directions from labels, the InterFaceGAN way, and conditional (orthogonalised) directions.

InterFaceGAN (Shen et al., 2020): label sampled latents with an attribute classifier, fit a
linear SVM in W, and take the unit normal of its separating hyperplane as the edit direction.
Conditional editing projects a direction onto the orthogonal complement of the directions it
should not change, so moving along it leaves their SVM scores untouched.
"""
from __future__ import annotations

import time
import warnings
from typing import Sequence

import numpy as np

from .direction import Direction, DirectionModelError

DEFAULT_TOP_FRACTION = 0.3     # InterFaceGAN's positive/negative share for continuous scores
MIN_PER_CLASS = 2              # fewer than this on either side cannot be split and validated
SMALL_SET = 500               # below this many training samples use libsvm's exact linear SVC
SPAN_TOLERANCE = 1e-6          # a direction whose residual is this small lies in the span


def _is_binary(labels: np.ndarray) -> bool:
    if labels.dtype == bool:
        return True
    finite = labels[np.isfinite(labels)]
    return bool(np.isin(finite, (0, 1)).all())


def split_by_labels(labels, top_fraction: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(indices used, bool targets): all samples for binary labels; for continuous scores the
    highest and lowest `top_fraction` (default 0.3) as positives and negatives."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be one value per sample, got shape {y.shape}")
    if _is_binary(y) and top_fraction is None:
        idx = np.flatnonzero(np.isfinite(y.astype(np.float64)))
        return idx, y[idx].astype(bool)
    scores = y.astype(np.float64)
    frac = DEFAULT_TOP_FRACTION if top_fraction is None else float(top_fraction)
    if not 0 < frac <= 0.5:
        raise ValueError(f"top_fraction must be in (0, 0.5], got {frac}")
    valid = np.flatnonzero(np.isfinite(scores))
    k = int(np.floor(len(valid) * frac))
    order = valid[np.argsort(scores[valid], kind="stable")]
    neg, pos = order[:k], order[len(order) - k:]
    idx = np.concatenate([neg, pos])
    return idx, np.concatenate([np.zeros(k, bool), np.ones(k, bool)])


def _sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError("fitting directions needs scikit-learn: pip install 'latent-explorer[ml]'") from None


def _make_svm(n_train: int, C: float, seed: int, balanced: bool):
    from sklearn.svm import SVC, LinearSVC

    weight = "balanced" if balanced else None
    if n_train < SMALL_SET:
        return SVC(kernel="linear", C=C, class_weight=weight), "SVC(linear)"
    return LinearSVC(C=C, dual="auto", class_weight=weight, max_iter=5000, random_state=seed), "LinearSVC"


def fit_svm(w: np.ndarray, labels, *, top_fraction: float | None = None, holdout: float = 0.3,
            seed: int = 0, name: str = "direction", model: str | None = None, C: float = 1.0,
            layers=None, balanced: bool = True) -> Direction:
    """A linear SVM on latents w [N, w_dim] against labels -> its unit normal as a Direction.

    labels: bool / 0-1 per sample, or continuous scores (then the top and bottom `top_fraction`,
    default 0.3, are the positives and negatives). A stratified `holdout` share is kept out of
    the fit for the validation accuracy. w is centred before fitting (liblinear regularises the
    intercept, which would tilt the plane for latents far from the origin); `bias` is stored
    for the uncentred w, so score(w) > 0 predicts the positive side. The vector points to the
    positive labels. scale is the std of all N samples along the vector.
    """
    _sklearn()
    from sklearn.model_selection import train_test_split

    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"w must be [N, w_dim], got shape {w.shape}")
    if len(np.asarray(labels)) != len(w):
        raise ValueError(f"{len(np.asarray(labels))} labels for {len(w)} latents")
    idx, y = split_by_labels(labels, top_fraction)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if min(n_pos, n_neg) < MIN_PER_CLASS:
        raise ValueError(f"cannot fit {name!r}: need both classes, got {n_pos} positive and {n_neg} "
                         "negative samples")
    x = w[idx]
    mean = w.mean(axis=0)
    xc = x - mean
    if holdout and holdout > 0:
        tr, va = train_test_split(np.arange(len(y)), test_size=holdout, stratify=y, random_state=seed)
    else:
        tr, va = np.arange(len(y)), np.arange(0)
    svm, solver = _make_svm(len(tr), C, seed, balanced)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        svm.fit(xc[tr], y[tr])
    fit_seconds = time.perf_counter() - t0
    coef = np.asarray(svm.coef_, dtype=np.float64).reshape(-1)
    norm = np.linalg.norm(coef)
    if norm < 1e-12:
        raise ValueError(f"cannot fit {name!r}: the SVM found no separating direction")
    vector = coef / norm
    bias_c = float(np.asarray(svm.intercept_).reshape(-1)[0]) / norm
    # classes_ are [False, True], so the decision function is positive for True; keep it explicit
    if svm.classes_[1] != True:  # noqa: E712
        vector, bias_c = -vector, -bias_c
    bias = bias_c - float(mean @ vector)
    scores = w @ vector + bias

    def accuracy(sel: np.ndarray) -> tuple[float | None, float | None]:
        if len(sel) == 0:
            return None, None
        pred = scores[idx[sel]] > 0
        truth = y[sel]
        acc = float((pred == truth).mean())
        bal = float(np.mean([(pred[truth == c] == c).mean() for c in (False, True) if (truth == c).any()]))
        return acc, bal

    train_acc, _ = accuracy(tr)
    val_acc, val_bal = accuracy(va)
    quality = {"val_accuracy": val_acc, "val_balanced_accuracy": val_bal, "train_accuracy": train_acc,
               "n_samples": int(len(w)), "n_used": int(len(y)), "n_pos": n_pos, "n_neg": n_neg,
               "n_train": int(len(tr)), "n_val": int(len(va)), "C": float(C), "solver": solver,
               "labels": "binary" if top_fraction is None and _is_binary(np.asarray(labels))
               else f"top/bottom {top_fraction or DEFAULT_TOP_FRACTION:g} of scores",
               "fit_seconds": round(fit_seconds, 4)}
    if any("converge" in str(c.message).lower() for c in caught):
        quality["converged"] = False
    scale = float(np.std(w @ vector))
    return Direction(vector=vector.astype(np.float32), name=name, layers=layers, model=model, method="svm",
                     quality=quality, scale=scale if scale > 0 else 1.0, bias=bias)


def condition(direction: Direction, others: Sequence[Direction], name: str | None = None,
              w: np.ndarray | None = None) -> Direction:
    """Conditional editing: d projected onto the orthogonal complement of span(others).

    The normalised projection is the unit vector orthogonal to every condition that is closest
    to d (it keeps the largest possible share of d, `quality['kept']` = its cosine with d). Any
    number of conditions, linearly dependent ones included. Raises ValueError when d lies in
    their span (nothing of it would be left). scale: recomputed from `w` samples [N, w_dim]
    if given, else the original direction's.
    """
    others = [o for o in others if o is not direction]
    d = direction.vector.astype(np.float64)
    if not others:
        return direction.replace(name=name or direction.name)
    for o in others:
        if o.w_dim != direction.w_dim:
            raise ValueError(f"cannot condition {direction.name!r} ({direction.w_dim}-d) on "
                             f"{o.name!r} ({o.w_dim}-d)")
        if direction.model and o.model and o.model != direction.model:
            raise DirectionModelError(f"cannot condition {direction.name!r} (model {direction.model}) on "
                                      f"{o.name!r} (model {o.model}): they belong to different models")
    m = np.stack([o.vector.astype(np.float64) for o in others], axis=1)  # [w_dim, k]
    u, s, _ = np.linalg.svd(m, full_matrices=False)
    basis = u[:, s > max(m.shape) * np.finfo(np.float64).eps * max(s.max(), 1e-300) * 1e3]
    residual = d - basis @ (basis.T @ d)
    kept = float(np.linalg.norm(residual))
    if kept < SPAN_TOLERANCE:
        raise ValueError(f"direction {direction.name!r} lies in the span of "
                         f"{', '.join(repr(o.name) for o in others)}: conditioning leaves nothing of it")
    vector = residual / kept
    scale = direction.scale
    if w is not None:
        spread = float(np.std(np.asarray(w, dtype=np.float64) @ vector))
        scale = spread if spread > 0 else scale
    quality = dict(direction.quality)
    quality.update({"conditioned_on": [o.name for o in others], "kept": kept, "base_method": direction.method})
    label = name or f"{direction.name} | " + ", ".join(o.name for o in others)
    return Direction(vector=vector.astype(np.float32), name=label, layers=direction.layers,
                     model=direction.model, method="conditional", quality=quality, scale=scale, bias=None)


def suggest_to_label(direction_or_svm, w_candidates: np.ndarray, k: int,
                     exclude: Sequence[int] | None = None) -> np.ndarray:
    """Active learning: indices of the k candidates closest to the current decision boundary
    (smallest |score|), the ones whose labels teach the SVM the most. Accepts a Direction
    (with or without bias) or any fitted estimator with decision_function."""
    w = np.asarray(w_candidates, dtype=np.float32)
    if hasattr(direction_or_svm, "decision_function"):
        scores = np.asarray(direction_or_svm.decision_function(w), dtype=np.float64).reshape(len(w), -1)[:, 0]
    else:
        scores = np.asarray(direction_or_svm.score(w), dtype=np.float64)
    dist = np.abs(scores)
    if exclude is not None and len(exclude):
        dist[np.asarray(list(exclude), dtype=np.int64)] = np.inf
    k = int(min(max(k, 0), np.isfinite(dist).sum()))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(dist, k - 1)[:k]
    return part[np.argsort(dist[part], kind="stable")].astype(np.int64)
