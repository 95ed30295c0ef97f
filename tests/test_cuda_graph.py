"""GraphedSynthesis: the batch-1 GPU path; on a CPU (and for other shapes) it is the eager synthesis."""
from __future__ import annotations

import torch

from explorer import Generator, stylegan2_config, stylegan3_config
from explorer.generators.cuda_graph import GraphedSynthesis


def _tiny(arch):
    torch.manual_seed(0)
    make = stylegan2_config if arch == "sg2" else stylegan3_config
    return Generator(make(16, channel_base=128, channel_max=16, z_dim=16, w_dim=16)).eval()


def test_cpu_falls_back_to_the_eager_synthesis():
    for arch in ("sg2", "sg3"):
        gen = _tiny(arch)
        graphed = GraphedSynthesis(gen, batch=1)
        assert not graphed.captured and graphed.error is None
        ws = gen.map(torch.randn(1, 16)).detach()
        ws3 = gen.map(torch.randn(3, 16)).detach()      # another batch size: eager too
        with torch.no_grad():                            # the eager inference path, as the fallback runs it
            assert torch.equal(graphed(ws), gen.synthesize(ws))
            assert torch.equal(graphed(ws3), gen.synthesize(ws3))

