"""Classifier-judged figures of a generator: labels kept under redrawn noise, the antiface.

Beside `model_figures` (judge-free), these read faces with an attribute classifier:

* noise_labels_kept: redraw every noise input; the share of (face, attribute) readings the
  classifier gives both draws alike (one reading per attribute: a category's class, a flag, the
  side of a continuous attribute's middle), and the share of faces with all of them alike.
  Stochastic detail must not change what the face is.
* antiface_opposition: reflect each face about w_avg (`edits.antiface`); for each continuous
  attribute (skin tone, age, pose, light...), among the faces the classifier places clearly on one
  side of the population's median, the share whose antiface lies on the other side.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..edits import antiface
from ..latents import z_from_seeds
from .classifier import AttributeClassifier, label_layout
from .model_figures import render

OPPOSITE_ATTRIBUTES = ("skin_tone", "age", "yaw", "tilt", "light")
MARGIN = 0.1          # how far from the median (share of the range) a face must be for its side to count


@torch.no_grad()
def seeds_w(gen, seeds: Sequence[int], psi: float = 1.0) -> torch.Tensor:
    return gen.map(z_from_seeds(seeds, gen.info.z_dim).to(gen.device), psi=psi)


def attribute_readings(pred: np.ndarray) -> dict[str, np.ndarray]:
    """One reading per attribute of the classifier's label layout: the class (argmax) of a
    category, on / off of a flag, the side of the middle of its range of a continuous one."""
    out = {}
    for name, kind, sl, lo, hi in label_layout(pred.shape[1]):
        block = pred[:, sl]
        if kind == "categorical":
            out[name] = block.argmax(1)
        elif kind == "binary":
            out[name] = block[:, 0] > 0.5
        else:
            out[name] = block[:, 0] > (lo + hi) / 2
    return out


@torch.no_grad()
def noise_labels_kept(gen, clf: AttributeClassifier, seeds: Sequence[int], batch: int = 32) -> dict[str, float]:
    """Redraw every noise input: {"attributes": share of (face, attribute) readings unchanged,
    "faces": share of faces with every reading unchanged} (both 1.0 without noise inputs)."""
    if not gen.noise_inputs():
        return {"attributes": 1.0, "faces": 1.0}
    ws = seeds_w(gen, seeds)
    n = len(seeds)
    a = render(gen, ws, batch, [1_000 + i for i in range(n)], noise_mode="random")
    b = render(gen, ws, batch, [2_000 + i for i in range(n)], noise_mode="random")
    ra, rb = attribute_readings(clf.predict(a)), attribute_readings(clf.predict(b))
    same = np.stack([ra[k] == rb[k] for k in ra], axis=1)       # [faces, attributes]
    return {"attributes": float(same.mean()), "faces": float(same.all(axis=1).mean())}


@torch.no_grad()
def antiface_opposition(gen, clf: AttributeClassifier, seeds: Sequence[int], batch: int = 32,
                        attributes: Sequence[str] = OPPOSITE_ATTRIBUTES) -> dict[str, float]:
    """Per continuous attribute: the share of faces clearly off the median (more than MARGIN of the
    attribute's range) whose antiface is on the other side of it (NaN where none is)."""
    ws = seeds_w(gen, seeds)
    w_avg = gen.w_avg.detach().cpu().numpy()
    anti = torch.from_numpy(np.stack([antiface(w, w_avg) for w in ws.cpu().numpy()])).to(gen.device)
    pa = clf.predict(render(gen, ws, batch))
    pb = clf.predict(render(gen, anti, batch))
    out = {}
    for name, kind, sl, lo, hi in label_layout(pa.shape[1]):
        if name not in attributes or kind != "continuous":
            continue
        j = sl.start
        med = float(np.median(pa[:, j]))
        off = np.abs(pa[:, j] - med) > MARGIN * (hi - lo)
        if not off.any():
            out[name] = float("nan")
            continue
        out[name] = float((np.sign(pa[off, j] - med) != np.sign(pb[off, j] - med)).mean())
    return out
