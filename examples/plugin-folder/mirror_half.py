"""A single-file Latent Explorer plugin: copy this file into your plugin folder
(Latent Explorer shows the folder in its plugin list; $LATENT_EXPLORER_PLUGIN_DIR overrides it).

It is an image edit that mirrors the left half of the face onto the right: a perfectly
symmetric face.
"""
import numpy as np

from explorer.plugins import ChoiceField, Kind, Plugin


class MirrorHalf(Plugin):
    id = "example.mirror_half"
    name = "Mirror half"
    description = "Make the face perfectly symmetric by mirroring one half onto the other."
    kind = Kind.IMAGE
    params = [ChoiceField("keep", "Keep", "left", "Which half to keep.", choices=["left", "right"])]

    def apply(self, inputs, params, context):
        img = inputs[0].copy()                                     # uint8 [H, W, C]
        w = img.shape[1]
        half = w // 2
        if params["keep"] == "left":
            img[:, w - half:] = img[:, :half][:, ::-1]
        else:
            img[:, :half] = img[:, w - half:][:, ::-1]
        return img
