"""Latent Explorer engine: generators, checkpoints, latents and edits. No Qt anywhere below here."""
from .generators import Generator, GeneratorInfo, stylegan2_config, stylegan3_config, to_uint8

__version__ = "0.1.0"


def load_generator(path, device="cpu"):
    """Load a generator from a checkpoint path (format found by content) or "default"."""
    from .checkpoints import load_generator as _load

    return _load(path, device=device)


__all__ = ["Generator", "GeneratorInfo", "load_generator", "stylegan2_config", "stylegan3_config",
           "to_uint8", "__version__"]
