"""Data-parallel training across processes on one machine (CPU, torch.distributed + gloo).

On a small CPU, one process with N OpenMP threads scales poorly (the convolutions are small);
N single-threaded processes, each on its share of the batch, with gradients averaged after every
backward pass, use the cores far better. `Solo` is the one-process case: every call is a no-op,
so the trainer has a single code path.
"""
from __future__ import annotations

import socket

import torch
import torch.distributed as dist


class Solo:
    """One process: nothing to synchronise."""

    rank, world = 0, 1

    def average_grads(self, params) -> None:
        pass

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def any(self, *flags: bool) -> list[bool]:
        return [bool(f) for f in flags]

    def gather(self, obj) -> list:
        return [obj]

    def broadcast_module(self, module: torch.nn.Module) -> None:
        pass


class Gloo(Solo):
    """One of `world` processes in an initialised gloo process group."""

    def __init__(self, rank: int, world: int):
        self.rank, self.world = rank, world

    def average_grads(self, params) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view_as(g))
            offset += n

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        t = t.detach().clone()
        dist.all_reduce(t)
        return t / self.world

    def any(self, *flags: bool) -> list[bool]:
        t = torch.tensor([1.0 if f else 0.0 for f in flags])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def gather(self, obj) -> list:
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast_module(self, module: torch.nn.Module) -> None:
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_group(rank: int, world: int, port: int) -> Gloo:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    return Gloo(rank, world)
