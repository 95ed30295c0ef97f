"""Noise variation: the same face with its per-layer noise redrawn (hair strands, pores, freckles)."""
from explorer.latents import Latent, NoiseSpec
from explorer.plugins import FloatField, IntField, LayerRangeField, Plugin


class NoiseVariation(Plugin):
    id = "builtin.noise_variation"
    name = "Noise variation"
    description = "Redraw the stochastic detail (hair, skin texture) without changing who the face is."
    params = [
        IntField("seed", "Noise seed", 1, "Which random noise to draw; change it for another variation.",
                 min=0, max=2 ** 31 - 1),
        FloatField("strength", "Strength", 1.0, "Scale of the noise (0 = none).", min=0.0, max=2.0, step=0.05),
        LayerRangeField("layers", "Layers", "all", help="Redraw the noise of these layers only; "
                                                        "the others keep the model's stored noise."),
    ]

    def apply(self, inputs, params, context):
        face = inputs[0]
        r = context.layers(params["layers"])
        layers = None if (r.start, r.stop) == (0, context.info.num_ws) else (r.start, r.stop)
        noise = NoiseSpec("random", params["seed"], params["strength"], layers)
        return Latent(ws=face.ws, recipe=face.recipe, model=face.model, noise=noise)
