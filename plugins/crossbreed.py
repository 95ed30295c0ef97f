"""Crossbreed: children of two faces, each layer inherited from one parent at random."""
from explorer.edits import crossbreed
from explorer.plugins import FloatField, IntField, Plugin


class Crossbreed(Plugin):
    id = "builtin.crossbreed"
    name = "Crossbreed"
    description = "Children of two faces: each layer comes from one parent at random, blended toward the other."
    inputs = 2
    params = [
        IntField("count", "Children", 4, "How many children to make.", min=1, max=16),
        FloatField("blend", "Blend", 0.5, "0 = clean picks from either parent, 1 = halfway mixes.",
                   min=0.0, max=1.0, step=0.05),
        IntField("seed", "Variation seed", 0, "Change for different children.", min=0, max=2 ** 31 - 1),
    ]

    def output_count(self, params):
        return params["count"]

    def apply(self, inputs, params, context):
        a, b = inputs
        return [crossbreed(a.ws, b.ws, context.rng, params["blend"]) for _ in range(params["count"])]
