"""A kept face's place along its model's attribute directions, in sigma, for semantic filters.

sigma = ((mean of the face's ws over the direction's layers) - w_avg) . d / scale: how many
standard deviations of sampled faces the face sits from the average face along the direction
("smile > +1 sigma" = clearly more smile than the typical face). Directions of another model are
skipped: their W is not this face's.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np


def direction_scores(ws: np.ndarray, directions: Iterable, w_avg: np.ndarray, info, model: str | None = None
                     ) -> dict[str, float]:
    """ws [num_ws, w_dim], Direction objects, w_avg [w_dim], the model's info -> {name: sigma}."""
    ws = np.asarray(ws, dtype=np.float64)
    w_avg = np.asarray(w_avg, dtype=np.float64).reshape(-1)
    out = {}
    for d in directions:
        if model and d.model and d.model != model:
            continue
        if d.w_dim != ws.shape[1]:
            continue
        r = d.layer_range(info)
        w = ws[r.start:r.stop].mean(0)
        value = float((w - w_avg) @ d.vector.astype(np.float64) / d.scale)
        if np.isfinite(value):
            out[d.name] = value
    return out
