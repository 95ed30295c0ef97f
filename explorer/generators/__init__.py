"""Mapping + synthesis networks (StyleGAN2, StyleGAN3) behind one Generator API."""
from .generator import (Generator, GeneratorInfo, NoiseInput, layer_groups, stylegan2_config,
                        stylegan3_config, to_uint8)

__all__ = ["Generator", "GeneratorInfo", "NoiseInput", "layer_groups", "stylegan2_config",
           "stylegan3_config", "to_uint8"]
