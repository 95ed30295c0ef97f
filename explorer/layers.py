"""The one layer vocabulary: the names of StyleGAN's layer groups, their words, and the choices
every control offers (mixing, directions, noise, timeline, matrix, plugin forms).

As in the StyleGAN paper: coarse = the synthesis layers at 4-8 px (pose, face shape), medium =
16-32 px (features, hair style), fine = 64 px and up (colours, texture). Which ws indices each
group covers depends on the model (`Generator.info.groups`, from its own layer resolutions).
"""
from __future__ import annotations

GROUP_NAMES: tuple[str, ...] = ("coarse", "medium", "fine")
ALL = "all"
LAYER_CHOICES: tuple[str, ...] = (ALL, *GROUP_NAMES)      # what a layers control offers, in order

COARSE_MAX_RES = 8       # 4x4 - 8x8
MEDIUM_MAX_RES = 32      # 16x16 - 32x32; fine is everything above

GROUP_WORDS = {"coarse": "pose, face shape", "medium": "features, hair", "fine": "colours, texture"}
GROUP_HELP = {ALL: "Every layer",
              "coarse": "Pose, face shape (4–8 px layers)",
              "medium": "Features, hair style (16–32 px layers)",
              "fine": "Colours, texture (64 px and up)"}


def group_label(name: str) -> str:
    """'All', 'Coarse' ... for a control's button."""
    return name.capitalize()


def available_groups(groups: dict) -> dict[str, bool]:
    """Which named groups a model has (a 32 px model has no fine layers)."""
    return {g: bool(len(groups.get(g, ()))) for g in GROUP_NAMES}
