"""Starts the window: QApplication with our names (for QSettings), the dark theme, the model."""
from __future__ import annotations

import sys

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication

from .main_window import APP, ORG, MainWindow
from .theme import apply_theme


GIL_SWITCH_S = 0.001   # Python's default 5 ms: each time the window lets go of the GIL (hashing, locks),
                       # the render worker may keep it that long; 1 ms keeps the window's turns short


def make_app(argv: list[str] | None = None) -> QApplication:
    sys.setswitchinterval(GIL_SWITCH_S)
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv if argv is not None else sys.argv[:1]))
    app.setOrganizationName(ORG)
    app.setOrganizationDomain("latent-explorer.local")
    app.setApplicationName(APP)
    app.setApplicationDisplayName(APP)
    apply_theme(app)
    return app


def run_app(model: str | None = None, argv: list[str] | None = None, workspace: str | None = None) -> int:
    """Open the explorer window on `model` (a checkpoint path or "default"; None: the workspace's
    own model) and the last workspace (or `workspace`, a file), and run until closed.

    A model that cannot be loaded (the default one not installed yet, a bad file) still opens the
    window, with the reason and an Open button."""
    app = make_app(argv)
    if workspace is None:            # the last workspace, as it was left (a new one the first time)
        from explorer.workspace import last_path

        last = last_path()
        workspace = str(last) if last is not None else "new"
    window = MainWindow(model=model, ask_before_quit=True, workspace=workspace)
    window.show()
    code = app.exec()
    window.close()
    QThreadPool.globalInstance().waitForDone(3000)   # loaders and edits still running: let them end
    return code


if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1] if len(sys.argv) > 1 else None))
