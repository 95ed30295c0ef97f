"""Writing images with their recipe. Every write is atomic: temp file in the same folder + rename."""
from __future__ import annotations

import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

RECIPE_KEY = "latent-explorer-recipe"


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temp path beside `path`; rename onto it on success, delete it on any failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, user_mode(0o666))  # mkstemp makes 0600; a saved file gets the usual permissions
    try:
        yield Path(tmp)
        os.chmod(tmp, user_mode(0o666))   # again: some writers (safetensors) replace the file as 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def user_mode(base: int) -> int:
    """`base` (0o666 for files, 0o777 for folders) less the user's umask: what open() would give."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


# Every temp name our atomic writes use: `.<stem>.<8 random>[.ext].tmp[.ext]`.
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}(\.[A-Za-z0-9]+)?\.tmp(\.[A-Za-z0-9]+)?$")
STALE_TEMP_SECONDS = 3600.0


def clean_stale_temps(folder: str | os.PathLike, max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete what interrupted atomic writes (a crash, kill -9, a full disk) left in `folder`:
    our temp files and folders older than `max_age` seconds (younger ones may belong to a write
    still running in another window). Returns what was removed; never raises."""
    import shutil
    import time

    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    now = time.time()
    for p in entries:
        try:
            if not _TEMP_NAME.match(p.name) or now - p.lstat().st_mtime < max_age or p.is_symlink():
                continue
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


def save_png(path: str | os.PathLike, image: np.ndarray, recipe: dict | None = None) -> Path:
    """uint8 [H, W, C] -> PNG with the recipe as a JSON text chunk."""
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        info.add_itxt(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    img = Image.fromarray(np.ascontiguousarray(image).squeeze(-1) if image.shape[-1] == 1 else image)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", pnginfo=info)
    return Path(path)


def read_png_recipe(path: str | os.PathLike) -> dict | None:
    """The recipe stored by save_png, or None for a PNG without one."""
    with Image.open(path) as img:
        text = img.text.get(RECIPE_KEY) if hasattr(img, "text") else None
    return json.loads(text) if text else None


# ----- atomic targets for long writes (clips, frame folders, sidecars) ---------------------------
# `atomic_path` suits a write that happens inside one `with` block. An export opens its output, writes
# frames for minutes from another call site and then commits or aborts it, so these helpers split the
# same idea into explicit steps. Temp names keep the real suffix last, so tools that pick the
# container from the extension (ffmpeg) still can.

def temp_path_beside(path: str | os.PathLike, *, directory: bool = False) -> Path:
    """Create (and return) a uniquely named hidden temp file or folder beside `path`:
    `.<stem>.<random>.tmp<suffix>`, in the same folder so a rename onto `path` is atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.chmod(tmp, user_mode(0o777))      # mkdtemp makes 0700
        return Path(tmp)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, user_mode(0o666))          # mkstemp makes 0600: clips and sidecars got it
    return Path(tmp)


class AtomicFile:
    """A file written under a temp name and renamed onto `path` by commit(); abort() deletes it.

    Until commit() nothing exists under `path` (an older file there stays untouched)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.tmp = temp_path_beside(self.path)
        self.done = False

    def commit(self) -> Path:
        if self.done:
            raise RuntimeError(f"{self.path} was already committed or aborted")
        os.replace(self.tmp, self.path)
        self.done = True
        return self.path

    def abort(self) -> None:
        if not self.done:
            self.done = True
            self.tmp.unlink(missing_ok=True)


class AtomicFolder:
    """A folder filled under a temp name beside `path`, then swapped in by commit().

    commit() renames the finished folder onto `path`; a folder already there is first moved aside
    and deleted after the swap, so `path` is never half-filled. abort() deletes the temp folder."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise FileExistsError(f"{self.path} exists and is not a folder")
        self.tmp = temp_path_beside(self.path, directory=True)
        self.done = False

    def commit(self) -> Path:
        import shutil

        if self.done:
            raise RuntimeError(f"{self.path} was already committed or aborted")
        old = None
        if self.path.exists():
            old = temp_path_beside(self.path, directory=True)
            old.rmdir()  # a free name beside: renaming a folder onto a folder fails on Windows
            os.rename(self.path, old)
        os.replace(self.tmp, self.path)
        self.done = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        import shutil

        if not self.done:
            self.done = True
            shutil.rmtree(self.tmp, ignore_errors=True)


def save_json(path: str | os.PathLike, doc, *, indent: int | None = 1) -> Path:
    """Write a JSON document atomically (UTF-8, keys sorted so files diff well)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=indent, sort_keys=True) + "\n", encoding="utf-8")
    return Path(path)
