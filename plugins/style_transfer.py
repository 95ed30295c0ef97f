"""Neural style transfer as an image edit: the face's content, the brush work of a style picture.

Written against the public plugin API only. The optimisation itself is
`explorer.style_transfer.stylize` (Gatys et al.: content loss on one deep layer, Gram-matrix style
loss over several, total variation). It takes seconds, so the plugin is `slow`: the app runs it in
the background with progress, a live preview and cancel, and keeps its results. In a clip each
frame starts from the previous frame's result (temporal stability) and needs fewer steps.
"""
from __future__ import annotations

from explorer.plugins import BoolField, ChoiceField, EditCancelled, FloatField, IntField, Kind, ParamError, \
    PathField, Plugin
from explorer.style_transfer import BUILTIN_STYLES, builtin_style, load_style_image, stylize
from explorer.style_transfer.features import FEATURE_KINDS, FeatureError
from explorer.style_transfer.style_image import StyleImageError

FROM_FILE = "file"
WARM_SHARE = 0.35          # a clip frame that starts from the previous frame's result runs this share of the steps
STYLE_SIDE = 256           # built-in style pictures are drawn at this size
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff)"


class StyleTransfer(Plugin):
    id = "builtin.style_transfer"
    name = "Style transfer"
    description = ("Repaint the face in the style of a picture (frost, oil paint, charcoal, mosaic, stained "
                   "glass, or an image file): neural style transfer, run in the background with a live preview. "
                   "Features: a fixed random CNN, or VGG19 when its weights file is set in Settings.")
    kind = Kind.IMAGE
    version = 1
    time_limit = None          # seconds to minutes; honours cancel
    slow = True
    params = [
        ChoiceField("style", "Style", "frost", "A built-in style drawn by code, or 'file' for the picture below.",
                    choices=[*BUILTIN_STYLES, FROM_FILE]),
        PathField("style_file", "Style picture", "", "Any PNG, JPEG, WebP ... image (used when Style is 'file').",
                  filter=IMAGE_FILTER),
        FloatField("style_weight", "Style strength", 10.0, "How much the style's textures and colours count.",
                   min=0.0, max=100.0, step=0.5),
        FloatField("content_weight", "Content strength", 1.0, "How much the face's shapes are kept.",
                   min=0.0, max=10.0, step=0.1),
        FloatField("smoothness", "Smoothness", 1.0, "Total-variation weight: higher = fewer speckles.",
                   min=0.0, max=10.0, step=0.1),
        FloatField("style_scale", "Brush size", 1.0, "Scale of the style picture's strokes relative to the face.",
                   min=0.25, max=4.0, step=0.05),
        IntField("iterations", "Steps", 100, "Optimisation steps (more = stronger style, slower).",
                 min=10, max=1000, step=10),
        IntField("size", "Work size", 256, "The picture is scaled to this size (longer side, px) for the "
                 "optimisation and back: larger = finer strokes, slower.", min=64, max=1024, step=32),
        BoolField("keep_colours", "Keep colours", False, "Transfer only brightness patterns; keep the face's colours."),
        ChoiceField("optimizer", "Optimiser", "lbfgs", "L-BFGS (Gatys et al.) converges in fewer steps; Adam is "
                    "steadier on very large pictures.", choices=["lbfgs", "adam"]),
        ChoiceField("features", "Features", "random", "'random': a fixed seeded random CNN (always available); "
                    "'vgg19': torchvision's VGG19 weights file, set in Settings.", choices=list(FEATURE_KINDS)),
    ]

    def style_picture(self, params: dict, notes: list | None = None):
        if params["style"] == FROM_FILE:
            if not params["style_file"]:
                raise ParamError("style_file", "choose a style picture (or pick a built-in style)")
            try:
                return load_style_image(params["style_file"], notes)
            except StyleImageError as e:
                raise ParamError("style_file", str(e)) from None
        return builtin_style(params["style"], STYLE_SIDE)

    def check(self, params: dict) -> list[str]:
        """The style picture is read before the edit is made: a bad file is refused at once."""
        notes: list[str] = []
        if params["style"] == FROM_FILE:
            self.style_picture(params, notes)
        elif params["style_file"]:
            notes.append(f"the picture {params['style_file']} is not used: Style is '{params['style']}'")
        return [f"Style picture: {n}." for n in notes]

    def apply(self, inputs, params, context):
        image = inputs[0]
        style = self.style_picture(params)
        warm = context.previous is not None
        steps = max(10, int(round(params["iterations"] * WARM_SHARE))) if warm else params["iterations"]
        try:
            result = stylize(image, style, features=params["features"], content_weight=params["content_weight"],
                             style_weight=params["style_weight"], tv_weight=params["smoothness"],
                             iterations=steps, size=params["size"], style_scale=params["style_scale"],
                             keep_colours=params["keep_colours"], optimizer=params["optimizer"],
                             init=context.previous, progress=context.progress, preview=context.preview,
                             cancelled=context.cancelled)
        except FeatureError as e:
            raise ParamError("features", str(e)) from None
        if result.cancelled:
            raise EditCancelled(self.id, "cancelled")
        return result.image
