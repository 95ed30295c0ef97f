"""Colour grade: brightness, contrast, saturation and a tint, applied to the rendered image."""
import numpy as np

from explorer.plugins import ColorField, FloatField, Kind, Plugin

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # Rec. 601 weights


class ColourGrade(Plugin):
    id = "builtin.colour_grade"
    name = "Colour grade"
    description = "Adjust brightness, contrast and saturation and tint the picture (an image edit, " \
                  "recorded in the recipe and applied after rendering)."
    kind = Kind.IMAGE
    params = [
        FloatField("brightness", "Brightness", 0.0, "Added to every pixel (-1 black .. 1 white).",
                   min=-1.0, max=1.0, step=0.01),
        FloatField("contrast", "Contrast", 1.0, "Scale around mid-grey.", min=0.0, max=3.0, step=0.05),
        FloatField("saturation", "Saturation", 1.0, "0 = greyscale, 1 = unchanged.", min=0.0, max=3.0, step=0.05),
        ColorField("tint", "Tint", "#ffffff", "Colour multiplied into the image."),
        FloatField("tint_amount", "Tint amount", 0.0, "How much of the tint to apply.", min=0.0, max=1.0, step=0.05),
    ]

    def apply(self, inputs, params, context):
        img = inputs[0].astype(np.float32) / 255.0                         # [H, W, C] in [0, 1]
        if img.shape[-1] == 3:
            grey = (img @ _LUMA)[..., None]
            img = grey + params["saturation"] * (img - grey)
            tint = np.array(ColorField.rgb(params["tint"]), np.float32) / 255.0
            img = img * (1.0 - params["tint_amount"] + params["tint_amount"] * tint)
        img = (img - 0.5) * params["contrast"] + 0.5 + params["brightness"]
        return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
