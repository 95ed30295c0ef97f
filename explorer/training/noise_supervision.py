"""Noise supervision: teach a layer group's noise input what redrawing it does, as a difference.

The renderer draws its stochastic detail from the very noise maps G receives (faces_v2.add_detail:
the coarse 8 px map waves the hair's brightness by 10% a sigma, the medium 32 px map mottles the
skin, the fine map draws strands, weave, grain, freckles and stubble). Under the pixel losses the
coarse waves are 1/255 of a face on average against an L1 error ten times that, and the shipped
model learned them at 0.03 / 255 (the renderer: 0.96): its coarse variation strip showed the same
face. Here the loss sees only the effect: for a few items of a batch, the group's map is redrawn
and

    G(w, noise') - G(w, noise)  ~  render(z, noise') - render(z, noise)

(L1), with the same w (mixed or not, as the step drew it) and every other map unchanged. Nothing
else of the picture enters the term, so a faint effect gets the same voice as a strong one.

Cost: each supervised step renders `noise_items` targets on the CPU (~11-25 ms each at 128 px) and
runs the synthesis once more on those items.
"""
from __future__ import annotations

import numpy as np
import torch

from . import faces_v2 as V

GROUPS = tuple(V.DETAIL_RES)        # coarse, medium, fine


class NoiseSupervisor:
    def __init__(self, trainer, groups: str = "coarse"):
        self.t = trainer
        names = [g.strip() for g in groups.split(",") if g.strip()]
        unknown = [g for g in names if g not in GROUPS]
        if not names or unknown:
            raise ValueError(f"noise_groups: one or more of {', '.join(GROUPS)} (got {groups!r})")
        res = [ni.resolution for ni in trainer.G.noise_inputs()]
        full = trainer.cfg.resolution
        self.indices = []
        for g in names:
            r = V.DETAIL_RES[g]
            r = full if r is None else min(r, full)
            if r not in res:
                raise ValueError(f"noise_groups: the generator has no {r} px noise input for {g!r}")
            self.indices.append(res.index(r))      # the map the renderer reads for that group
        rank = trainer.par.rank
        self.gen = torch.Generator().manual_seed(trainer.cfg.seed + 4243)               # same on every process
        self.maps = torch.Generator().manual_seed(trainer.cfg.seed + 4243 + 7919 * (rank + 1))

    @torch.no_grad()
    def hold_open(self, floor: float) -> None:
        """Keep the supervised maps' layers at a noise strength of at least `floor` (the sign kept).
        At a strength of 0 the layers after them learn nothing about the map, and while what they
        make of it is unrelated to the render's change (a start where G's change correlated 0.05
        with the render's) the term itself pulls the strength back to 0: held open, the routing
        can be learned first."""
        if floor <= 0:
            return
        layers = self.t.G.synthesis.noise_layers()
        for i in self.indices:
            s = layers[i].noise_strength
            s.copy_(torch.where(s < 0, torch.clamp(s, max=-floor), torch.clamp(s, min=floor)))

    def supervise_now(self, prob: float) -> bool:
        """Whether this step is supervised: the same answer on every process."""
        return float(torch.rand(1, generator=self.gen)) < prob

    def losses(self, z: torch.Tensor, ws: torch.Tensor, noise: list[torch.Tensor], fake: torch.Tensor,
               real: torch.Tensor, n: int) -> dict[str, torch.Tensor]:
        """The term on the first n items: fake / real are the step's outputs and targets (in the
        trainer's layout), ws and noise what produced fake."""
        lay, res = self.t.layout, self.t.cfg.resolution
        n = min(n, len(z))
        redrawn = [m[:n] for m in noise]
        for i in self.indices:
            redrawn[i] = torch.randn(redrawn[i].shape, generator=self.maps).to(redrawn[i])
        zn = z[:n].detach().cpu().numpy()
        targets = []
        for k in range(n):
            maps = [m[k, 0].detach().float().cpu().numpy() for m in redrawn]
            targets.append(V.render_params_v2(lay.params_from_z(zn[k]), V.detail_noise(maps, res), res))
        real2 = torch.from_numpy(np.stack(targets)).to(self.t.device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        fake2 = self.t._fmt(self.t.G.synthesis(ws[:n], redrawn))
        diff = (fake2 - fake[:n]) - (self.t._fmt(real2) - real[:n])
        return {"noise": self.t.cfg.noise_weight * diff.abs().mean()}


__all__ = ["NoiseSupervisor", "GROUPS"]
