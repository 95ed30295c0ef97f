"""The built-in edit plugins' ids, named once (the plugins in plugins/ declare the same strings;
tests/test_plugins.py checks that they agree). Code that applies a built-in edit uses these."""
from __future__ import annotations

TRUNCATION = "builtin.truncation"
ANTIFACE = "builtin.antiface"
NOISE_VARIATION = "builtin.noise_variation"
CHILDREN = "builtin.children"
CROSSBREED = "builtin.crossbreed"
STYLE_MIX = "builtin.style_mix"
MOVE_DIRECTION = "builtin.move_direction"
STYLE_TRANSFER = "builtin.style_transfer"
AVERAGE = "builtin.average"
EXAGGERATE = "builtin.exaggerate"
COLOUR_GRADE = "builtin.colour_grade"

BUILTIN = (TRUNCATION, ANTIFACE, NOISE_VARIATION, CHILDREN, CROSSBREED, STYLE_MIX, MOVE_DIRECTION, STYLE_TRANSFER,
           AVERAGE, EXAGGERATE, COLOUR_GRADE)
