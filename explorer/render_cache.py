"""The render service's cache (explorer.render): latent digests, cache keys, the byte-bounded LRU
of rendered images, and the antialiased resize. The queue parts live in `render_queue`. No Qt here.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Hashable

import numpy as np
import torch
import torch.nn.functional as F

from .noise import NoiseSpec


def latent_digest(ws: np.ndarray) -> str:
    """Content hash of one latent (shape and float32 bytes)."""
    a = np.ascontiguousarray(ws, dtype=np.float32)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(a.shape).encode())
    h.update(a.data)
    return h.hexdigest()


def cache_key(fingerprint: str, digest: str, noise: NoiseSpec, size: int, precision: str,
              preview: bool = False) -> tuple:
    """(model fingerprint, latent digest, noise, size, precision, preview): one rendered image."""
    return (fingerprint, digest, noise.mode, noise.seed, noise.strength, noise.maps, int(size), precision,
            bool(preview))


class RenderCache:
    """Thread-safe LRU of uint8 images bounded by their total bytes.

    Stored arrays are made read-only: the same array object is handed to every caller.
    """

    def __init__(self, max_bytes: int = 256 << 20):
        self._lock = threading.Lock()
        self._data: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._max = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def max_bytes(self) -> int:
        return self._max

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        with self._lock:
            self._max = int(value)
            self._evict()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

    def get(self, key) -> np.ndarray | None:
        with self._lock:
            img = self._data.get(key)
            if img is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return img

    def put(self, key, image: np.ndarray) -> np.ndarray:
        """Store `image` (made read-only) and return it; images larger than the bound are not kept."""
        image.setflags(write=False)
        if image.nbytes > self._max:
            return image
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._data[key] = image
            self._bytes += image.nbytes
            self._evict()
        return image

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def _evict(self) -> None:
        while self._bytes > self._max and self._data:
            _, img = self._data.popitem(last=False)
            self._bytes -= img.nbytes
            self.evictions += 1


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """float [N, C, H, W] -> float32 [N, C, size, size]: antialiased bilinear down; up, Lanczos
    on the 8-bit picture (what a designer's image editor does; bicubic rings less sharp)."""
    h, w = images.shape[-2:]
    if h == size and w == size:
        return images
    x = images.float()
    if x.device.type == "mps":  # antialiased interpolation is not implemented on every backend
        x = x.cpu()
    if size < max(h, w):
        return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    from PIL import Image

    u8 = (x.detach().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    up = np.stack([np.asarray(Image.fromarray(im.squeeze(-1) if im.shape[-1] == 1 else im)
                              .resize((size, size), Image.LANCZOS)).reshape(size, size, -1) for im in u8])
    # (u - 127.5) / 127.5 goes back through to_uint8's truncation to exactly u
    return torch.from_numpy(up).permute(0, 3, 1, 2).float().sub(127.5).div(127.5).to(images.device)
