"""Directions read off a neural-renderer model's own z slots instead of fitted to labels.

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

Limits: with renderer 2's layout a class in the middle of a slot's bins (blonde between brown and
red) is reached from below by moving up and from above by moving down, so the average move nearly
cancels and no single W direction turns it on for most faces. Renderer 3's layout (z_layout) gives
each class its own slot, so every face moves the same way.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..directions import Direction
from . import faces_v2 as V
from .faces import binary_targets
from .z_layout import layout_of

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


def slot_of(name: str) -> tuple[str, str | None]:
    """(renderer parameter, class or None) that binary target `name` stands for. ValueError when
    no slot draws it."""
    if name in ALIAS_CLASS or "=" in name:
        slot, cls = ALIAS_CLASS.get(name) or name.split("=", 1)
    else:
        slot, cls = ALIAS_SLOT.get(name, name), None
    if slot not in V.SLOT_INDEX:
        raise ValueError(f"no renderer slot draws {name!r}")
    s = V.SLOTS[V.SLOT_INDEX[slot]]
    if s.kind == "category" and cls not in s.classes:
        raise ValueError(f"{name!r}: {slot} has no class {cls!r}")
    if s.kind != "category" and cls is not None:
        raise ValueError(f"{name!r}: {slot} is not categorical")
    return slot, cls


def fit_slot_directions(gen, attributes: Sequence[str], samples: int = 2000, seed0: int = 0,
                        progress: Callable[[str], None] | None = print) -> list[Direction]:
    """One direction per binary target: the mean W displacement of moving each face that lacks
    the attribute (by its recipe's labels) to where its slot makes it hold (`Layout.set_attribute`:
    renderer 2 a class's bin centre, renderer 3 the class's own slot above its rivals). Seeds
    seed0.. at psi 1."""
    from .default_directions import recipe_labelled

    progress = progress or (lambda s: None)
    layout = layout_of(gen)
    w, labels = recipe_labelled(gen, samples, seed0=seed0)
    hard = binary_targets(labels)
    z_all = np.stack([layout.z_of_seed(s) for s in range(seed0, seed0 + samples)])
    out = []
    with torch.inference_mode():
        base = gen.mapping(torch.from_numpy(z_all).to(gen.device))[:, 0].float().cpu().numpy()
        for name in attributes:
            slot, cls = slot_of(name)
            neg = np.flatnonzero(~hard[name])
            if len(neg) == 0:
                raise ValueError(f"{name!r}: every sampled face has it already")
            moved = torch.from_numpy(layout.set_attribute(z_all[neg], slot, cls)).to(gen.device)
            d = (gen.mapping(moved)[:, 0].float().cpu().numpy() - base[neg]).mean(axis=0)
            if not np.isfinite(d).all() or np.linalg.norm(d) < 1e-8:
                raise ValueError(f"{name!r}: moving its slot does not move w")
            v = d / np.linalg.norm(d)
            scale = float((w @ v).std())
            where = f"{slot}={cls}" if cls is not None else slot
            out.append(Direction(v, name, model=gen.fingerprint, method="slot", scale=scale,
                                 quality={"label_source": "recipe", "slot": where,
                                          "renderer_version": layout.version, "n_neg": int(len(neg)),
                                          "seeds": [seed0, seed0 + samples],
                                          "mean_move": float(np.linalg.norm(d) / scale)}))
            progress(f"  {name:18s} slot {where} ({len(neg)} faces moved; "
                     f"mean move {np.linalg.norm(d) / scale:.2f} scale units)")
    return out


__all__ = ["fit_slot_directions", "slot_of"]
