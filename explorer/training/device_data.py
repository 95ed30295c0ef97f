"""A renderer-2 dataset held whole on the training device (the GPU path of the neural renderer).

On the CPU a step reads its images from the memory-mapped file and draws each item's z and noise
maps on the spot (about 0.7 ms an item). On a GPU that work would starve the card, so here it is
done once: the images (uint8), every item's z and every item's noise maps (float16) go to the
device, drawn by worker processes, and a batch is a handful of index operations. The numbers are
the ones the CPU path uses (`faces_v2.z_of_seed`, `faces_v2.noise_maps`, which equal
`Generator.make_noise(n, seeds)`); float16 noise differs from the float32 draw by < 1e-3 relative.

Memory: for N items at 128 px, 49 kB of image and 87 kB of noise each (60,000 items: 8.2 GB).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from . import faces_v2
from .z_layout import layout_for


def _draw_chunk(job: tuple[int, int, tuple[int, ...], int]) -> tuple[int, np.ndarray, list[np.ndarray]]:
    """Worker: z (float32, in renderer `version`'s layout) and noise maps (float16) of seeds
    [first, first + count)."""
    first, count, resolutions, version = job
    torch.set_num_threads(1)
    layout = layout_for(version)
    z = np.stack([layout.item_z(first + i) for i in range(count)])
    maps = [np.empty((count, 1, r, r), np.float16) for r in resolutions]
    for i in range(count):
        for j, m in enumerate(faces_v2.noise_maps(first + i, resolutions)):
            maps[j][i, 0] = m
    return first, z, maps


class DeviceData:
    """Images, z and noise of every dataset item as tensors on `device`."""

    def __init__(self, data, resolutions: Sequence[int], device: torch.device | str,
                 workers: int = 1, chunk: int = 512, log: Callable[[str], None] = print,
                 layout_version: int = 2):
        self.device = torch.device(device)
        self.resolution = int(data.resolution)
        n = self.count = len(data)
        self.resolutions = tuple(int(r) for r in resolutions)
        self.images = torch.empty((n, self.resolution, self.resolution, 3), dtype=torch.uint8, device=self.device)
        for a in range(0, n, 4096):
            part = np.array(data.images[a:a + 4096])
            self.images[a:a + len(part)] = torch.from_numpy(part).to(self.device)
        self.z = torch.empty((n, layout_for(layout_version).z_dim), dtype=torch.float32, device=self.device)
        self.noise = [torch.empty((n, 1, r, r), dtype=torch.float16, device=self.device) for r in self.resolutions]
        jobs = [(data.seed + a, min(chunk, n - a), self.resolutions, layout_version) for a in range(0, n, chunk)]
        if workers > 1 and len(jobs) > 1:
            import multiprocessing

            # spawn: this process may already hold a CUDA context, which a fork must not inherit
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                self._fill(pool.imap_unordered(_draw_chunk, jobs), data.seed, n, log)
        else:
            self._fill(map(_draw_chunk, jobs), data.seed, n, log)

    def _fill(self, results, seed0: int, n: int, log) -> None:
        done = 0
        for first, z, maps in results:
            a = first - seed0
            self.z[a:a + len(z)] = torch.from_numpy(z).to(self.device)
            for dst, m in zip(self.noise, maps):
                dst[a:a + len(z)] = torch.from_numpy(m).to(self.device)
            done += len(z)
            if done == n or done % 16384 < len(z):
                log(f"noise and z on {self.device}: {done}/{n} items")

    def __len__(self) -> int:
        return self.count

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(target [B, 3, H, W] in -1..1, z [B, Z], noise maps [B, 1, r, r] float32) of items idx."""
        idx = idx.to(self.device)
        target = self.images[idx].permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return target, self.z[idx], [m[idx].float() for m in self.noise]
