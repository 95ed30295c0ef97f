"""Turn (config, state_dict) from any loader into a Generator, with checks that name the file."""
from __future__ import annotations

import os

import torch

from ..generators import Generator
from ..generators.config_check import ConfigError, check_config
from .errors import CheckpointError

W_AVG_SAMPLES = 10_000
W_AVG_SEED = 0x5EED


def build_generator(path: str | os.PathLike, config: dict, state: dict[str, torch.Tensor],
                    *, estimate_w_avg: bool = False) -> Generator:
    """Construct the network and load every tensor; a missing or misshapen tensor is an error.

    The config is checked first (config_check), and the parameters it declares must not outnumber
    the values the file holds: a small file cannot make us allocate a huge network."""
    try:
        declared = check_config(config)
    except ConfigError as exc:
        raise CheckpointError(path, f"declares a generator we will not build ({exc})") from exc
    held = sum(int(t.numel()) for t in state.values() if isinstance(t, torch.Tensor))
    if declared > 2 * held + 1_000_000:
        raise CheckpointError(path, f"declares {declared:,} parameters but holds only {held:,} values")
    try:
        gen = Generator(config)
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(path, f"has an architecture we cannot build ({exc})") from exc
    own = gen.state_dict()
    if estimate_w_avg:
        state = dict(state)
        state.pop("mapping.w_avg", None)
    missing = [k for k in own if k not in state and not (estimate_w_avg and k == "mapping.w_avg")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} tensors, e.g. {missing[:3]}")
        if unexpected:
            detail.append(f"unexpected {len(unexpected)} tensors, e.g. {unexpected[:3]}")
        raise CheckpointError(path, "does not match the generator layout it declares: " + "; ".join(detail))
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(path, f"tensor {k} has shape {list(v.shape)}, expected {list(own[k].shape)}")
    gen.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=False)
    if estimate_w_avg:
        gen.mapping.w_avg.copy_(sample_w_avg(gen))
    gen.invalidate_fingerprint()
    return gen


@torch.no_grad()
def sample_w_avg(gen: Generator, n: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED) -> torch.Tensor:
    """Mean w over n fixed-seed z (used when a checkpoint carries no average, as rosinality's)."""
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(gen.info.w_dim, dtype=torch.float64)
    c = None
    for start in range(0, n, 1000):
        m = min(1000, n - start)
        z = torch.randn(m, gen.info.z_dim, generator=g)
        if gen.info.c_dim:
            c = torch.nn.functional.one_hot(torch.randint(gen.info.c_dim, (m,), generator=g),
                                            gen.info.c_dim).float()
        total += gen.map(z, c)[:, 0].double().sum(0).cpu()
    return (total / n).float()
