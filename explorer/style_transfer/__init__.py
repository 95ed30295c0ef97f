"""Neural style transfer (Gatys et al.): content from one image, style from another.

Qt-free. `stylize` optimises an image so that its deep features match the content image's at one
layer and its feature Gram matrices match the style image's at several layers, with a total-
variation term. Features come from VGG19 when the user has torchvision's weights file
(`features.vgg19_path()`), otherwise from a fixed, seeded random multi-scale CNN
(`features.RandomFeatures`; random filters synthesise textures well, Ustyuzhaninov et al. 2017).
Built-in styles are drawn by code (`styles`); style files are checked before decoding
(`style_image`).
"""
from .features import (FEATURE_KINDS, FeatureError, RandomFeatures, VGG19Features, feature_extractor,
                       set_vgg19_path, vgg19_path)
from .optimize import StyleResult, stylize
from .style_image import StyleImageError, load_style_image
from .styles import BUILTIN_STYLES, builtin_style

__all__ = ["BUILTIN_STYLES", "FEATURE_KINDS", "FeatureError", "RandomFeatures", "StyleImageError", "StyleResult",
           "VGG19Features", "builtin_style", "feature_extractor", "load_style_image", "set_vgg19_path", "stylize",
           "vgg19_path"]
