"""Truncation toward the average face: w' = w_avg + psi (w - w_avg)."""
from explorer.edits import truncate
from explorer.plugins import FloatField, LayerRangeField, Plugin


class Truncation(Plugin):
    id = "builtin.truncation"
    name = "Truncation"
    description = "Pull the face toward the average face (psi < 1) or push it away (psi > 1); " \
                  "psi 0 is the average face, -1 the antiface."
    params = [
        FloatField("psi", "ψ", 0.7, "Scale of the difference from the average face.", min=-1.0, max=1.5, step=0.05),
        LayerRangeField("layers", "Layers", "all", help="Truncate only these layers."),
    ]

    def apply(self, inputs, params, context):
        return truncate(inputs[0].ws, context.w_avg, params["psi"], context.layers(params["layers"]))
