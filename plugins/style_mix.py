"""Style mixing: B's styles on a layer range, A's everywhere else (StyleGAN paper, 3.1)."""
from explorer.edits import mix_layers
from explorer.plugins import LayerRangeField, Plugin


class StyleMix(Plugin):
    id = "builtin.style_mix"
    name = "Style mix"
    description = "Take the second face's styles on the chosen layers: coarse = pose and face shape, " \
                  "medium = features and hair, fine = colours and texture."
    inputs = 2
    params = [LayerRangeField("layers", "Layers from B", "coarse",
                              help="Which layers come from the second face (the source).")]

    def apply(self, inputs, params, context):
        target, source = inputs
        return mix_layers(target.ws, source.ws, context.layers(params["layers"]))
