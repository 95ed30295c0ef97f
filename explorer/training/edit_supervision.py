"""Edit supervision: teach the neural renderer that a W direction *is* an attribute.

The slot directions (slot_directions.py) read a direction off the mapping network: the mean W
move of setting the attribute's slot. For a class in the middle of its category's classes (blonde
between brown and red, glasses between none and sunglasses) the mapping network puts the classes
on a curve in W, so no single vector moves every face there; and nothing in the renderer's loss
asks it to. Here the loss asks for exactly what the app's slider does and the issue measures:

    G.synthesis(w(z) + 3 sigma_a u_a)  ~  render(z with attribute a set)

for a learnable unit vector u_a per attribute (initialised at the slot direction), sigma_a the
spread of sampled w along u_a (InterFaceGAN's unit, so "+3" is the slider's +3), and the target
the renderer's picture of the same face and noise with only that parameter changed. The
synthesis network learns to draw the attribute at that point of W, u_a learns where that is.
The vectors travel in the training pack and are the model's directions (`directions()`).

Cost: each supervised step renders `edit_items` targets on the CPU (~25 ms each at 128 px).
"""
from __future__ import annotations

import numpy as np
import torch

from ..directions import Direction
from . import faces_v2 as V
from .slot_directions import slot_of

AMOUNT = 3.0     # the slider position the supervision pins (the "+3 sigma")


class EditSupervisor:
    def __init__(self, trainer, attributes: str):
        self.t = trainer
        self.names = [a.strip() for a in attributes.split(",") if a.strip()]
        if not self.names:
            raise ValueError("edit supervision needs at least one attribute (edit_attributes)")
        self.targets = [slot_of(a) for a in self.names]          # ValueError for unknown ones
        w_dim = trainer.G.info.w_dim
        self.vectors = torch.nn.Parameter(torch.zeros(len(self.names), w_dim, device=trainer.device))
        self.scale = torch.ones(len(self.names), device=trainer.device)
        self.gen = torch.Generator().manual_seed(trainer.cfg.seed + 31337)      # the same on every process
        self.picks = torch.Generator().manual_seed(trainer.cfg.seed + 31337 + 7919 * (trainer.par.rank + 1))
        self.init_from_mapping()

    @torch.no_grad()
    def init_from_mapping(self, n: int = 1024) -> None:
        """u_a := the slot direction of the current mapping (mean W move of setting the slot),
        sigma_a := spread of sampled w along it."""
        lay, G = self.t.layout, self.t.G_ema
        z = torch.randn(n, lay.z_dim, generator=self.gen).numpy()
        w = G.mapping(torch.from_numpy(z).to(self.t.device))[:, 0]
        for i, (slot, cls) in enumerate(self.targets):
            moved = torch.from_numpy(lay.set_attribute(z, slot, cls)).to(self.t.device)
            d = (G.mapping(moved)[:, 0] - w).mean(0)
            self.vectors[i] = d / d.norm().clamp_min(1e-8)
        self._update_scale(w)

    @torch.no_grad()
    def _update_scale(self, w: torch.Tensor, beta: float | None = None) -> None:
        u = self.unit()
        spread = self.t.par.mean((w.detach() @ u.T).std(0))      # one scale on every process
        self.scale = spread if beta is None else self.scale.lerp(spread, 1 - beta)

    def supervise_now(self, prob: float) -> bool:
        """Whether this step is supervised: the same answer on every process (the vectors' gradients
        and the scale are averaged across them)."""
        return float(torch.rand(1, generator=self.gen)) < prob

    def unit(self) -> torch.Tensor:
        return self.vectors / self.vectors.norm(dim=1, keepdim=True).clamp_min(1e-8)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.vectors]

    def losses(self, z: torch.Tensor, noise: list[torch.Tensor], n: int) -> dict[str, torch.Tensor]:
        """The supervised term on the first n items of a batch, each moved along a random
        attribute it lacks (items that have them all are moved along a random one)."""
        lay, res = self.t.layout, self.t.cfg.resolution
        n = min(n, len(z))
        zn = z[:n].detach().cpu().numpy()
        picks = torch.randint(len(self.names), (n,), generator=self.picks).numpy()
        moved, targets = np.empty_like(zn), []
        for i in range(n):
            slot, cls = self.targets[picks[i]]
            moved[i] = lay.set_attribute(zn[i:i + 1], slot, cls)[0]
            maps = [m[i, 0].detach().float().cpu().numpy() for m in noise]
            targets.append(V.render_params_v2(lay.params_from_z(moved[i]), V.detail_noise(maps, res), res))
        real = torch.from_numpy(np.stack(targets)).to(self.t.device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        w = self.t.G.mapping(z[:n])
        self._update_scale(w[:, 0], beta=0.99)
        u = self.unit()[torch.from_numpy(picks).to(self.t.device)]
        step = (AMOUNT * self.scale[torch.from_numpy(picks).to(self.t.device)])[:, None] * u
        fake = self.t._fmt(self.t.G.synthesis(w + step[:, None, :], [m[:n] for m in noise]))
        parts = self.t.losses(fake, self.t._fmt(real), torch.from_numpy(moved).to(self.t.device))
        return {f"edit/{k}": self.t.cfg.edit_weight * v for k, v in parts.items()}

    # ----- packs and directions -------------------------------------------------------------
    def state(self) -> dict[str, torch.Tensor]:
        return {"E.vectors": self.vectors.detach(), "E.scale": self.scale.detach()}

    @torch.no_grad()
    def load(self, tensors: dict[str, torch.Tensor], names: list[str]) -> None:
        """Vectors of the attributes a pack and this run share (the others keep their init)."""
        for i, name in enumerate(names):
            if name in self.names:
                k = self.names.index(name)
                self.vectors[k] = tensors["E.vectors"][i].to(self.vectors)
                self.scale[k] = tensors["E.scale"][i].to(self.scale)

    def directions(self, model: str | None) -> list[Direction]:
        u = self.unit().detach().cpu().numpy()
        return [Direction(u[i], name, model=model, method="slot", scale=float(self.scale[i]),
                          quality={"label_source": "recipe", "slot": f"{s}={c}" if c else s, "trained": True,
                                   "renderer_version": self.t.layout.version})
                for i, (name, (s, c)) in enumerate(zip(self.names, self.targets))]


__all__ = ["EditSupervisor", "AMOUNT"]
