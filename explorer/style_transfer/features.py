"""Feature extractors for style transfer: VGG19 (the user's weights file) or a seeded random CNN.

Both map an image batch [N, 3, H, W] in [0, 1] to a dict of named feature maps and say which
layers carry style (Gram matrices) and which one carries content. Nothing is downloaded: VGG19
is used only when the user points at torchvision's `vgg19-*.pth` (a setting, or the environment
variable LATENT_EXPLORER_VGG19); the file is loaded weights-only and every tensor's shape is
checked before use. Without it, a random multi-scale CNN with fixed seeded filters stands in.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import FileProblem

VGG19_ENV = "LATENT_EXPLORER_VGG19"
VGG16_ENV = "LATENT_EXPLORER_VGG16"
FEATURE_KINDS = ("random", "vgg19")
MAX_WEIGHTS_BYTES = 1 << 30               # torchvision's vgg19 file is 548 MB
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

_setting_lock = threading.Lock()
_vgg19_setting: str | None = None
_vgg16_setting: str | None = None
_cache: dict = {}


class FeatureError(FileProblem):
    """The VGG19 weights file is missing, unreadable or not VGG19."""


def set_vgg19_path(path: str | os.PathLike | None) -> None:
    """The app's setting for the VGG19 weights file (None or '' = not set; the environment variable
    LATENT_EXPLORER_VGG19 is used then)."""
    global _vgg19_setting
    with _setting_lock:
        _vgg19_setting = os.fspath(path) if path else None


def vgg19_path() -> Path | None:
    """Where the VGG19 weights are, if the user gave them (setting first, then the environment)."""
    with _setting_lock:
        value = _vgg19_setting
    value = value or os.environ.get(VGG19_ENV, "")
    return Path(value).expanduser() if value else None


class _Normalise(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class FeatureNet(nn.Module):
    """A frozen CNN whose forward returns {layer name: activation} for the layers asked for."""
    name = ""
    style_layers: tuple[str, ...] = ()
    content_layer = ""

    def __init__(self):
        super().__init__()
        self.steps: list[tuple[str | None, nn.Module]] = []

    def _freeze(self):
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()
        return self

    def forward(self, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
        wanted = set(layers) if layers is not None else set(self.style_layers) | {self.content_layer}
        out = {}
        x = self.normalise(x)
        if "rgb" in wanted:      # the colours themselves (with a constant channel the Gram holds their means)
            out["rgb"] = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        for name, module in self.steps:
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


class RandomFeatures(FeatureNet):
    """A fixed random multi-scale CNN: 3x3 conv + ReLU stages, 2x average pooling between them.

    Filters are drawn from a seeded generator (the same on every machine), zero-mean per filter
    (so flat colour regions do not dominate) and He-scaled; the first stage mixes 3x3 and 7x7
    filters so fine and broader strokes are both seen.
    """
    name = "random"

    def __init__(self, channels=(32, 48, 64, 96, 96), seed: int = 2017):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        self.normalise = _Normalise(_IMAGENET_MEAN, _IMAGENET_STD)
        mods = nn.ModuleList()
        names = []
        c_in = 3
        for i, c in enumerate(channels):
            if i > 0:
                mods.append(nn.AvgPool2d(2))
                names.append(None)
            if i == 0:
                conv = _MultiKernel(c_in, c, (3, 7), gen)
            else:
                conv = _random_conv(c_in, c, 3, gen)
            mods.append(conv)
            names.append(None)
            mods.append(nn.ReLU())
            names.append(f"relu{i + 1}")
            c_in = c
        self.mods = mods
        self.steps = list(zip(names, mods))
        self.style_layers = ("rgb",) + tuple(n for n in names if n)
        self.content_layer = "relu3"
        self._freeze()


def _random_conv(c_in: int, c_out: int, k: int, gen: torch.Generator) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, padding_mode="reflect")
    w = torch.randn(c_out, c_in, k, k, generator=gen)
    w = w - w.mean(dim=(1, 2, 3), keepdim=True)
    w = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * (2.0 ** 0.5)
    with torch.no_grad():
        conv.weight.copy_(w)
        conv.bias.copy_(torch.rand(c_out, generator=gen) * 0.2 - 0.1)
    return conv


class _MultiKernel(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernels, gen):
        super().__init__()
        sizes = [c_out // len(kernels)] * len(kernels)
        sizes[0] += c_out - sum(sizes)
        self.convs = nn.ModuleList(_random_conv(c_in, n, k, gen) for n, k in zip(sizes, kernels))

    def forward(self, x):
        return torch.cat([c(x) for c in self.convs], dim=1)


# torchvision's vgg16() / vgg19().features: conv indices and channel counts, 'M' = max pool
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
_VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


class VGG19Features(FeatureNet):
    """VGG19's convolutional part with torchvision's layer indices (weights `features.N.weight`);
    average pooling instead of max pooling, as Gatys et al. suggest for synthesis."""
    name = "vgg19"
    label = "VGG19"
    CFG = _VGG19_CFG
    style_layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    content_layer = "relu4_2"

    def __init__(self, state: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.normalise = _Normalise(_IMAGENET_MEAN, _IMAGENET_STD)
        layers: list[nn.Module] = []
        names: list[str | None] = []
        c_in, block, conv_in_block = 3, 1, 0
        for v in self.CFG:
            if v == "M":
                layers.append(nn.AvgPool2d(2))
                names.append(None)
                block, conv_in_block = block + 1, 0
                continue
            conv_in_block += 1
            layers.append(nn.Conv2d(c_in, v, 3, padding=1))
            names.append(None)
            layers.append(nn.ReLU())
            names.append(f"relu{block}_{conv_in_block}")
            c_in = v
        self.features = nn.Sequential(*layers)
        self.steps = list(zip(names, layers))
        if state is not None:
            self.features.load_state_dict(state)
        self._freeze()

    @classmethod
    def expected_shapes(cls) -> dict[str, tuple[int, ...]]:
        shapes, c_in, i = {}, 3, 0
        for v in cls.CFG:
            if v == "M":
                i += 1
                continue
            shapes[f"{i}.weight"] = (v, c_in, 3, 3)
            shapes[f"{i}.bias"] = (v,)
            c_in, i = v, i + 2
        return shapes

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "VGG19Features":
        """Loaded weights-only; every tensor's shape checked. FeatureError says what is wrong."""
        path, what = Path(path), f"{cls.label} weights"
        try:
            size = path.stat().st_size
        except OSError as e:
            raise FeatureError(f"{what} {path}: cannot read it ({e.strerror or e}).") from None
        if size > MAX_WEIGHTS_BYTES:
            raise FeatureError(f"{what} {path}: {size / 2**20:.0f} MB is larger than a {cls.label} file "
                               f"({MAX_WEIGHTS_BYTES / 2**20:.0f} MB at most).")
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any failure of a foreign file is one message
            raise FeatureError(f"{what} {path}: not a readable PyTorch weights file "
                               f"({type(e).__name__}).") from None
        if not isinstance(raw, dict):
            raise FeatureError(f"{what} {path}: expected a state dict, found a {type(raw).__name__}.")
        state = {}
        for key, shape in cls.expected_shapes().items():
            t = raw.get(f"features.{key}", raw.get(key))
            if not isinstance(t, torch.Tensor):
                raise FeatureError(f"{what} {path}: no tensor features.{key}; this is not "
                                   f"torchvision's {cls.label} file.")
            if tuple(t.shape) != shape:
                raise FeatureError(f"{what} {path}: features.{key} has shape {tuple(t.shape)}, "
                                   f"{cls.label} needs {shape}.")
            if not t.is_floating_point() or not torch.isfinite(t).all():
                raise FeatureError(f"{what} {path}: features.{key} is not finite floating point.")
            state[key] = t.float()
        extra = [k for k in raw if isinstance(k, str) and k.startswith("features.")
                 and k[len("features."):] not in state]
        if extra:                                   # VGG19's extra convolutions: not a VGG16 file
            raise FeatureError(f"{what} {path}: holds {extra[0]}, which {cls.label} does not have.")
        return cls(state)


class VGG16Features(VGG19Features):
    """VGG16's convolutional part (torchvision layout): LPIPS-style distances for projection."""
    name = "vgg16"
    label = "VGG16"
    CFG = _VGG16_CFG
    style_layers = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")     # LPIPS's layers
    content_layer = "relu4_3"


def vgg16_path() -> Path | None:
    """torchvision's VGG16 weights, when the user gave them (setting first, then LATENT_EXPLORER_VGG16)."""
    with _setting_lock:
        value = _vgg16_setting
    value = value or os.environ.get(VGG16_ENV, "")
    return Path(value).expanduser() if value else None


def set_vgg16_path(path: str | os.PathLike | None) -> None:
    global _vgg16_setting
    with _setting_lock:
        _vgg16_setting = os.fspath(path) if path else None


def vgg16_features() -> "VGG16Features | None":
    """The user's VGG16 (built once per file), or None when none is set."""
    path = vgg16_path()
    if path is None or not path.is_file():
        return None
    st = path.stat()
    key = ("vgg16", str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _setting_lock:
        net = _cache.get(key)
    if net is None:
        net = VGG16Features.from_file(path)
        with _setting_lock:
            _cache[key] = net
    return net


def feature_extractor(kind: str = "random") -> FeatureNet:
    """The feature network of a kind ('random' or 'vgg19'), built once and shared (read-only)."""
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; choose from {', '.join(FEATURE_KINDS)}")
    if kind == "random":
        key = ("random",)
    else:
        path = vgg19_path()
        if path is None:
            raise FeatureError("VGG19 features need torchvision's VGG19 weights file (vgg19-*.pth): set it "
                               f"in Settings > Style Transfer Features or with {VGG19_ENV}; the random "
                               "features need nothing.")
        st = path.stat() if path.exists() else None
        if st is None:
            raise FeatureError(f"VGG19 weights {path}: file not found.")
        key = ("vgg19", str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _setting_lock:
        net = _cache.get(key)
    if net is None:
        net = RandomFeatures() if kind == "random" else VGG19Features.from_file(path)
        with _setting_lock:
            if len(_cache) > 2:
                _cache.clear()
            _cache[key] = net
    return net


def gram(feat: torch.Tensor) -> torch.Tensor:
    """Gram matrix per image, normalised by the number of positions: [N, C, C]."""
    n, c, h, w = feat.shape
    f = feat.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / float(h * w)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


__all__ = ["FEATURE_KINDS", "FeatureError", "FeatureNet", "RandomFeatures", "VGG16Features", "VGG16_ENV",
           "VGG19Features", "VGG19_ENV", "set_vgg16_path", "vgg16_features", "vgg16_path",
           "feature_extractor", "gram", "set_vgg19_path", "total_variation", "vgg19_path"]
