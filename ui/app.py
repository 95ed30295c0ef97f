"""Starts the window: QApplication with our names (for QSettings), the dark theme, the model."""
from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from .main_window import APP, ORG, MainWindow
from .theme import apply_theme


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv if argv is not None else sys.argv[:1]))
    app.setOrganizationName(ORG)
    app.setOrganizationDomain("latent-explorer.local")
    app.setApplicationName(APP)
    app.setApplicationDisplayName(APP)
    apply_theme(app)
    return app


def run_app(model: str = "default", argv: list[str] | None = None) -> int:
    """Open the explorer window on `model` (a checkpoint path or "default") and run until closed.

    A model that cannot be loaded (the default one not installed yet, a bad file) still opens the
    window, with the reason and an Open button."""
    app = make_app(argv)
    window = MainWindow(model=model)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1] if len(sys.argv) > 1 else "default"))
