"""Where the user's data lives: the platform's folders (platformdirs), or one folder for all of it.

`LATENT_EXPLORER_HOME` relocates every user file of the app (the library, workspaces, encoders,
plugins, directions, settings, caches) under one folder: `data/`, `config/` and `cache/` inside
it. Tests and portable installs use it; without it the platform's own folders are used
(e.g. ~/.local/share/latent-explorer on Linux).
"""
from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "latent-explorer"
HOME_ENV = "LATENT_EXPLORER_HOME"


def _folder(kind: str) -> Path:
    """`kind` is data, config or cache: $LATENT_EXPLORER_HOME/<kind>, or the platform's folder."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser() / kind
    import platformdirs

    platform = {"data": platformdirs.user_data_dir, "config": platformdirs.user_config_dir,
                "cache": platformdirs.user_cache_dir}[kind]
    return Path(platform(APP_NAME, appauthor=False))


def data_dir() -> Path:
    return _folder("data")


def config_dir() -> Path:
    return _folder("config")


def cache_dir() -> Path:
    return _folder("cache")
