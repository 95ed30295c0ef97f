"""Example third-party Latent Explorer plugins: one image edit and one latent edit."""
import numpy as np

from explorer.plugins import BoolField, FloatField, IntField, Kind, LayerRangeField, Plugin


class Posterize(Plugin):
    id = "example.posterize"
    name = "Posterize"
    description = "Reduce every colour channel to a few flat levels, like a screen print."
    kind = Kind.IMAGE
    params = [IntField("levels", "Levels", 4, "Colour levels per channel.", min=2, max=16)]

    def apply(self, inputs, params, context):
        img = inputs[0]                                            # uint8 [H, W, C]
        step = 255.0 / (params["levels"] - 1)
        return (np.round(img / step) * step).clip(0, 255).astype(np.uint8)


class RandomWalk(Plugin):
    id = "example.random_walk"
    name = "Random walk"
    description = "Wander away from a face in small random steps; every step is a new face."
    params = [
        IntField("steps", "Steps", 4, "How many faces to make.", min=1, max=12),
        FloatField("step_size", "Step size", 0.5, "Length of each step in W.", min=0.05, max=3.0, step=0.05),
        LayerRangeField("layers", "Layers", "all", help="Walk only on these layers."),
        BoolField("same_step_all_layers", "Same step on all layers", True,
                  "Move every layer by the same vector (keeps the face coherent)."),
    ]

    def output_count(self, params):
        return params["steps"]

    def apply(self, inputs, params, context):
        ws = inputs[0].ws.copy()                                   # [num_ws, w_dim]
        layers = context.layers(params["layers"])
        n_layers = 1 if params["same_step_all_layers"] else len(layers)
        faces = []
        for i in range(params["steps"]):
            if context.cancelled():
                break
            step = context.rng.standard_normal((n_layers, ws.shape[1])).astype(np.float32)
            step *= params["step_size"] / np.linalg.norm(step, axis=1, keepdims=True)
            ws[layers.start:layers.stop] += step
            faces.append(ws.copy())
            context.progress((i + 1) / params["steps"])
        return faces
