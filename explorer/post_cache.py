"""A cache of slow image edits' results (style transfer ...): memory first, then a disk folder.

An image edit is a pure function of the picture it gets and its parameters, so its result is kept
under a key made of what identifies that picture (the face's digest and model, or the pixels) and
the edit steps so far. A face re-rendered later (scrolling back, reopening the large view, a new
session) then shows its stylised picture at once instead of optimising again. Disk entries are
PNG files written atomically; the folder is trimmed to a size budget, oldest first. A damaged
entry is deleted and counts as a miss. No Qt here.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from .export import atomic_path

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "LATENT_EXPLORER_CACHE_DIR"
MEMORY_BYTES = 256 << 20
DISK_BYTES = 512 << 20


def default_cache_folder() -> Path:
    """$LATENT_EXPLORER_CACHE_DIR/image-edits, or the platform's user cache folder."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser() / "image-edits"
    from .user_data import cache_dir

    return cache_dir() / "image-edits"


def edit_key(source: str, shape, steps) -> str:
    """The key of the picture `source` (any identifying string) of `shape` after `steps`."""
    h = hashlib.sha1(str(source).encode())
    h.update(json.dumps([list(shape), list(steps)], sort_keys=True, default=str).encode())
    return h.hexdigest()


def pixels_key(image: np.ndarray) -> str:
    return "px:" + hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


class PostCache:
    def __init__(self, folder: str | os.PathLike | None = None, memory_bytes: int = MEMORY_BYTES,
                 disk_bytes: int = DISK_BYTES):
        self.folder = Path(folder) if folder is not None else None
        self.memory_bytes, self.disk_bytes = int(memory_bytes), int(disk_bytes)
        self._mem: OrderedDict[str, np.ndarray] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()
        self._writes = 0
        self.hits = self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            img = self._mem.get(key)
            if img is not None:
                self._mem.move_to_end(key)
                self.hits += 1
                return img.copy()
        img = self._load(key)
        with self._lock:
            if img is None:
                self.misses += 1
                return None
            self.hits += 1
        self._remember(key, img)
        return img.copy()

    def put(self, key: str, image: np.ndarray) -> None:
        image = np.ascontiguousarray(image)
        self._remember(key, image.copy())
        if self.folder is not None:
            try:
                self._save(key, image)
            except OSError as e:     # a full or read-only disk: the memory copy still serves
                log.warning("image-edit cache: cannot write %s (%s)", self.folder, e)

    def clear_memory(self) -> None:
        with self._lock:
            self._mem.clear()
            self._used = 0

    # ----- internals ----------------------------------------------------------------------------
    def _remember(self, key: str, image: np.ndarray) -> None:
        with self._lock:
            old = self._mem.pop(key, None)
            if old is not None:
                self._used -= old.nbytes
            self._mem[key] = image
            self._used += image.nbytes
            while self._used > self.memory_bytes and len(self._mem) > 1:
                _k, v = self._mem.popitem(last=False)
                self._used -= v.nbytes

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.png"

    def _load(self, key: str) -> np.ndarray | None:
        if self.folder is None:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with Image.open(path) as im:
                if im.format != "PNG" or im.width * im.height > 64_000_000:
                    raise ValueError("not a cache entry")
                arr = np.asarray(im.convert(im.mode), dtype=np.uint8)
            os.utime(path)          # recently used: trimmed last
        except Exception as e:      # noqa: BLE001 - a damaged entry is a miss
            log.warning("image-edit cache: dropping damaged entry %s (%s)", path, e)
            path.unlink(missing_ok=True)
            return None
        return arr[..., None] if arr.ndim == 2 else arr

    def _save(self, key: str, image: np.ndarray) -> None:
        path = self._path(key)
        arr = image[..., 0] if image.shape[2] == 1 else image
        with atomic_path(path) as tmp:
            Image.fromarray(arr).save(tmp, format="PNG", compress_level=1)
        self._writes += 1
        if self._writes % 16 == 1:
            self.trim()

    def trim(self) -> None:
        """Delete the oldest entries until the folder is within its size budget."""
        if self.folder is None or not self.folder.is_dir():
            return
        files = []
        for p in self.folder.glob("*/*.png"):
            try:
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
            except OSError:
                continue
        total = sum(f[1] for f in files)
        for _mtime, size, p in sorted(files):
            if total <= self.disk_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size
