"""The user's saved directions: one folder per model (by fingerprint), one JSON file per direction.

    <user data dir>/latent-explorer/directions/<fingerprint>/<name-slug>-<hash>.json

Keying folders by fingerprint means a direction is only ever offered for the model it was
fitted on; the file name is derived from the direction's name (slug for humans, short hash so
that 'a b' and 'a_b' stay different files), and the name itself is read back from the file.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .direction import Direction
from .io import load_directions, save_directions

APP_NAME = "latent-explorer"
_SAFE_MODEL = re.compile(r"[A-Za-z0-9_.-]+")


def default_root() -> Path:
    from ..user_data import data_dir

    return data_dir() / "directions"


def _file_name(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:48] or "direction"
    return f"{slug}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}.json"


class DirectionLibrary:
    def __init__(self, root=None):
        self.root = Path(root) if root is not None else default_root()

    def folder(self, model: str) -> Path:
        if not model or not _SAFE_MODEL.fullmatch(model) or model in (".", ".."):
            raise ValueError(f"not a model fingerprint: {model!r}")
        return self.root / model

    def path(self, model: str, name: str) -> Path:
        return self.folder(model) / _file_name(name)

    def save(self, direction: Direction) -> Path:
        """Store (or replace) a direction under its model and name."""
        if not direction.model:
            raise ValueError(f"direction {direction.name!r} names no model; set its fingerprint before saving")
        return save_directions(direction, self.path(direction.model, direction.name))

    def load_all(self, model: str, problems: list[str] | None = None) -> list[Direction]:
        """Every stored direction of `model`, sorted by name. A file that cannot be read is
        skipped (the others still load) and, with `problems`, reported there in one sentence."""
        folder = self.folder(model)
        out = []
        for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                out.extend(d for d in load_directions(f) if d.model == model)
            except Exception as exc:  # noqa: BLE001 - one bad file must not lose the good ones
                if problems is not None:
                    problems.append(f"Skipped the saved direction file {f.name}: {exc}")
        return sorted(out, key=lambda d: d.name.lower())

    def list(self, model: str) -> list[str]:
        """Names of the stored directions of `model`."""
        return [d.name for d in self.load_all(model)]

    def get(self, model: str, name: str) -> Direction:
        p = self.path(model, name)
        if not p.is_file():
            raise KeyError(f"no direction named {name!r} for model {model}")
        return load_directions(p, model=model)[0]

    def delete(self, model: str, name: str) -> None:
        p = self.path(model, name)
        try:
            p.unlink()
        except FileNotFoundError:
            raise KeyError(f"no direction named {name!r} for model {model}") from None

    def __contains__(self, key: tuple[str, str]) -> bool:
        model, name = key
        return self.path(model, name).is_file()
