"""Directions read off a renderer-2 model's own z slots instead of fitted to labels.

The default model v2 is a neural renderer: each entry of its z is one drawing parameter (smile,
age, glasses, ...; `faces_v2.SLOTS`). So "what moving towards glasses means in W" needs no
classifier and no SVM: for faces without the attribute, put the attribute's slot where the
attribute holds (a class's bin, a flag's side, the high end of a continuous parameter), map both
z's, and average the W displacement. That average is the direction. An SVM on the same faces'
exact labels (`default_directions.recipe_labelled`) separates them worse (the mapping network is
nonlinear in z: smile 0.85, makeup 0.76 held-out accuracy on the 1088-kimg pack), and its normal
vector is not the way the faces actually move.

Moves keep InterFaceGAN's unit (the spread of sampled w along the vector), so efficacy "at +3"
means the same for slot and SVM directions; the classifier still judges every direction.

Limits: a class in the middle of a slot's bins (blonde between brown and red) is reached from
below by moving up and from above by moving down, so the average move nearly cancels and no single
W direction turns it on for most faces (renderer v2 draws each categorical attribute from one
slot's bins; see the model card).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import norm

from ..directions import Direction
from . import faces_v2 as V
from .faces import binary_targets

# binary targets (faces.binary_targets) that name a class of a categorical slot
ALIAS_CLASS = {"glasses": ("glasses", "glasses"), "sunglasses": ("glasses", "sunglasses"),
               "beard": ("facial_hair", "beard"), "full_beard": ("facial_hair", "beard"),
               "bald": ("hair_style", "bald"), "long_hair": ("hair_style", "long"),
               "curly_hair": ("hair_style", "curly"), "blonde": ("hair_color", "blonde"),
               "black_hair": ("hair_color", "black"), "grey_hair": ("hair_color", "grey"),
               "red_hair": ("hair_color", "red"), "dyed_hair": ("hair_color", "dyed"),
               "light_eyes": ("eye_color", "blue"), "dark_clothes": ("clothing_color", "black")}
# binary targets that are "continuous parameter above its middle"
ALIAS_SLOT = {"dark_skin": "skin_tone", "wide_face": "face_width", "square_jaw": "jaw", "big_eyes": "eye_size",
              "thick_brows": "brow_thickness", "big_nose": "nose_size", "old": "age", "yaw_right": "yaw",
              "tilt_right": "tilt", "light_from_right": "light", "light_background": "bg_lightness",
              "masculine": "presentation"}
HIGH_Z = 2.0        # where a continuous parameter is set: 97.7% of its prior below


def slot_target(name: str) -> tuple[int, float]:
    """(index of the slot, z value where binary target `name` holds). ValueError when no slot
    draws it."""
    if name in ALIAS_CLASS or "=" in name:
        slot, cls = ALIAS_CLASS.get(name) or name.split("=", 1)
    else:
        slot, cls = ALIAS_SLOT.get(name, name), None
    if slot not in V.SLOT_INDEX:
        raise ValueError(f"no renderer-2 slot draws {name!r}")
    k = V.SLOT_INDEX[slot]
    s = V.SLOTS[k]
    if s.kind == "category":
        if cls not in s.classes:
            raise ValueError(f"{name!r}: {slot} has no class {cls!r}")
        w = np.asarray(s.weights, dtype=np.float64) / sum(s.weights)
        edges = np.concatenate([[0.0], np.cumsum(w)])
        i = s.classes.index(cls)
        return k, float(norm.ppf((edges[i] + edges[i + 1]) / 2))
    if cls is not None:
        raise ValueError(f"{name!r}: {slot} is not categorical")
    if s.kind == "flag":            # the flag is on below probability p
        return k, float(norm.ppf(s.p / 2))
    return k, HIGH_Z


def fit_slot_directions(gen, attributes: Sequence[str], samples: int = 2000, seed0: int = 0,
                        progress: Callable[[str], None] | None = print) -> list[Direction]:
    """One direction per binary target: the mean W displacement of moving each face that lacks
    the attribute (by its recipe's labels) to the attribute's slot value. Seeds seed0.. at psi 1."""
    from .default_directions import recipe_labelled

    progress = progress or (lambda s: None)
    w, labels = recipe_labelled(gen, samples, seed0=seed0)     # checks the model's slot semantics
    hard = binary_targets(labels)
    z = torch.from_numpy(np.stack([V.z_of_seed(s) for s in range(seed0, seed0 + samples)])).to(gen.device)
    out = []
    with torch.inference_mode():
        base = gen.mapping(z)[:, 0].float().cpu().numpy()
        for name in attributes:
            k, zt = slot_target(name)
            neg = np.flatnonzero(~hard[name])
            if len(neg) == 0:
                raise ValueError(f"{name!r}: every sampled face has it already")
            moved = z[torch.from_numpy(neg).to(z.device)].clone()
            moved[:, k] = zt
            d = (gen.mapping(moved)[:, 0].float().cpu().numpy() - base[neg]).mean(axis=0)
            if not np.isfinite(d).all() or np.linalg.norm(d) < 1e-8:
                raise ValueError(f"{name!r}: moving its slot does not move w")
            v = d / np.linalg.norm(d)
            scale = float((w @ v).std())
            out.append(Direction(v, name, model=gen.fingerprint, method="slot", scale=scale,
                                 quality={"label_source": "recipe", "slot": V.SLOTS[k].name,
                                          "slot_value": round(float(zt), 4), "n_neg": int(len(neg)),
                                          "seeds": [seed0, seed0 + samples],
                                          "mean_move": float(np.linalg.norm(d) / scale)}))
            progress(f"  {name:18s} slot {V.SLOTS[k].name} -> z {zt:+.2f} ({len(neg)} faces moved; "
                     f"mean move {np.linalg.norm(d) / scale:.2f} scale units)")
    return out


__all__ = ["fit_slot_directions", "slot_target"]
