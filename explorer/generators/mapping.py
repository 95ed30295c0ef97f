"""Mapping network z (+ label c) -> w, shared by StyleGAN2 and StyleGAN3."""
from __future__ import annotations

import torch
from torch import nn

from .ops import fully_connected, fully_connected_params, normalize_2nd_moment


class FullyConnected(nn.Module):
    """Linear layer with equalised learning rate; stored weights are divided by lr_multiplier."""

    def __init__(self, in_features: int, out_features: int, *, lrelu: bool = False,
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.lrelu = lrelu
        self.lr_multiplier = float(lr_multiplier)
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / self.lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)) / self.lr_multiplier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled() or torch.is_inference(self.weight):
            # (parameters made under inference mode keep no version: nothing to key a cache on)
            return fully_connected(x, self.weight, self.bias, self.lr_multiplier, self.lrelu)
        # inference: the scaled weight and bias kept per parameter version and dtype (a render
        # calls a dozen of these on one row each, where the scaling was most of their work)
        w, b = self.weight, self.bias
        key = (w._version, w.data_ptr(), b._version, b.data_ptr(), x.dtype, x.device)
        cache = self.__dict__.get("_inference_params")
        if cache is None or cache[0] != key:
            cache = (key, *fully_connected_params(w.detach(), b.detach(), self.lr_multiplier, x.dtype))
            self.__dict__["_inference_params"] = cache
        return fully_connected(x, cache[1], cache[2], 1.0, self.lrelu, prescaled=True)


class MappingNetwork(nn.Module):
    """z [N, z_dim], c [N, c_dim] -> ws [N, num_ws, w_dim], with truncation toward w_avg.

    `features` lists the widths fc0.in, fc0.out = fc1.in, ..., fc{n-1}.out (= w_dim).
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, features: list[int],
                 lr_multiplier: float = 0.01, embed_features: int | None = None,
                 w_avg_beta: float = 0.998, normalize_z: bool = True,
                 class_groups: list[dict] | None = None, class_temperature: float = 0.1):
        """normalize_z: StyleGAN's 2nd-moment normalisation of z. Off for a model whose z has
        slot semantics (the default model: each entry of z is one drawing parameter, and
        dividing by the vector's norm would make every slot depend on all the others).
        class_groups: runs of z entries that are one slot per class of a categorical parameter
        ({"start", "stop", "offsets"}; the default model with renderer 3's layout): each run goes
        through softmax((z[start:stop] + offsets) / class_temperature) before the first layer, a
        near one-hot of the winning class that stays differentiable."""
        super().__init__()
        self.normalize_z = bool(normalize_z)
        self.class_temperature = float(class_temperature)
        self.class_runs = [(int(g["start"]), int(g["stop"])) for g in (class_groups or [])]
        for i, g in enumerate(class_groups or []):
            self.register_buffer(f"class_offsets{i}", torch.tensor([float(v) for v in g["offsets"]]),
                                 persistent=False)
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = len(features) - 1
        self.w_avg_beta = w_avg_beta
        if c_dim > 0:
            self.embed = FullyConnected(c_dim, embed_features or w_dim)
        for i in range(self.num_layers):
            setattr(self, f"fc{i}", FullyConnected(features[i], features[i + 1], lrelu=True,
                                                   lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, psi: float = 1.0,
                cutoff: int | None = None) -> torch.Tensor:
        x = None
        if self.z_dim > 0:
            x = z.to(torch.float32)
            x = normalize_2nd_moment(x) if self.normalize_z else x
            if self.class_runs:
                x = self.classes_soft_one_hot(x)
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this model is conditional: pass c with {self.c_dim} label values")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = y if x is None else torch.cat([x, y], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)  # [N, num_ws, w_dim]
        return truncate(ws, self.w_avg, psi, cutoff)

    def classes_soft_one_hot(self, x: torch.Tensor) -> torch.Tensor:
        """x with each class run replaced by its softmax (see class_groups)."""
        parts, at = [], 0
        for i, (a, b) in enumerate(self.class_runs):
            off = getattr(self, f"class_offsets{i}").to(x.dtype)
            parts += [x[:, at:a], torch.softmax((x[:, a:b] + off) / self.class_temperature, dim=1)]
            at = b
        return torch.cat(parts + [x[:, at:]], dim=1)


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """w <- w_avg + psi (w - w_avg) on ws entries [:, :cutoff] (all when cutoff is None)."""
    if psi == 1.0:
        return ws
    ws = ws.clone()
    end = ws.shape[1] if cutoff is None else int(cutoff)
    ws[:, :end] = w_avg.to(ws.dtype).lerp(ws[:, :end], psi)
    return ws
