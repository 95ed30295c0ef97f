"""The `latent-explorer` command: the window by default, the engine's headless subcommands otherwise.

Lives in ui/ so that the engine (explorer/) never imports Qt: it only receives the window opener.
PySide6 is imported only when the window is really opened, so headless subcommands stay fast.
"""
from __future__ import annotations

import sys


def open_window(model: str | None, workspace: str | None = None) -> int:
    try:
        from .app import run_app
    except ImportError as exc:
        print(f"the window needs the 'ui' extra (PySide6): {exc}", file=sys.stderr)
        return 2
    return run_app(model=model, workspace=workspace)


def main(argv: list[str] | None = None) -> int:
    from explorer.cli import main as cli_main

    return cli_main(argv, open_window=open_window)


if __name__ == "__main__":
    sys.exit(main())
