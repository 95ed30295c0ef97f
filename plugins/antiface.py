"""The antiface: the face reflected through the average face, w' = 2 w_avg - w."""
from explorer.edits import antiface
from explorer.plugins import LayerRangeField, Plugin


class Antiface(Plugin):
    id = "builtin.antiface"
    name = "Antiface"
    description = "Reflect the face through the average face: every trait turned to its opposite."
    params = [LayerRangeField("layers", "Layers", "all", help="Reflect only these layers.")]

    def apply(self, inputs, params, context):
        return antiface(inputs[0].ws, context.w_avg, context.layers(params["layers"]))
