"""Plugins shared by the tests: one with a field of every type (forms, validation, discovery)."""
from __future__ import annotations

from explorer.plugins import (BoolField, ChoiceField, ColorField, DirectionField, FloatField, IntField,
                              LayerRangeField, PathField, Plugin)


class AllFields(Plugin):
    """One field of every type; its edit returns the first face unchanged."""
    id = "test.all_fields"
    name = "All fields"
    description = "One field of every type."
    params = [
        FloatField("amount", "Amount", 0.5, "How much.", min=-1.0, max=1.0, step=0.1),
        IntField("count", "Count", 3, "How many.", min=1, max=8),
        IntField("seed", "Seed", 0, "Random seed.", min=0, max=2 ** 31 - 1),
        BoolField("flip", "Flip", False, "Flip it."),
        ChoiceField("mode", "Mode", "soft", "Blend mode.", choices=["soft", "hard"]),
        LayerRangeField("layers", "Layers", "coarse", "Where."),
        DirectionField("direction", "Direction", "", "Which way."),
        PathField("image", "Image", "", "A picture.", filter="Images (*.png)"),
        ColorField("tint", "Tint", "#336699", "A colour."),
    ]

    def apply(self, inputs, params, context):
        return inputs[0].ws
