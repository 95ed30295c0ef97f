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


def _home() -> Path | None:
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else None


def data_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
