"""Helpers for tests that drive the real window (offscreen): the small model they run on, opening
a window until its first screen is drawn, activation, synthetic drags, selection. The fixtures
built on them (`gen`, `settings`, `window`) are in conftest.py."""
from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from explorer import Generator, stylegan2_config

WAIT_MS = 30000


def window_generator(seed: int = 0) -> Generator:
    import torch

    torch.manual_seed(seed)
    gen = Generator(stylegan2_config(32, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=1))
    with torch.no_grad():  # a non-zero average face, so antiface and truncation are not trivial
        gen.mapping.w_avg.copy_(torch.randn(gen.info.w_dim) * 0.5)
        for layer in gen.synthesis.noise_layers():   # and noise that does something, as in a trained model
            layer.noise_strength.fill_(0.2)
    gen.config["name"] = "tiny"
    return gen


def visible_ready(window) -> bool:
    rows = window.grid_view.visible_rows()
    return len(rows) > 0 and all(window.grid_model.cell(r).state == "ready" for r in rows)


def open_window(qtbot, gen, settings, size=(1100, 760)):
    """A shown MainWindow on `gen` whose visible thumbnails are ready (tests close it)."""
    from ui.app import make_app
    from ui.main_window import MainWindow

    make_app()
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    w.load_model(gen)
    qtbot.waitUntil(lambda: visible_ready(w), timeout=WAIT_MS)
    return w


def activate(qtbot, window):
    """Make the window the active one, as a user's click would: dialogs and large views that
    earlier tests left open would otherwise keep the keyboard focus (offscreen has no user)."""
    for w in QApplication.topLevelWidgets():
        if w is not window and w.isVisible() and w.isWindow():
            w.close()
    def active() -> bool:
        if QApplication.activeWindow() is window:
            return True
        window.raise_()                  # ask again: a window closed meanwhile may have taken it
        window.activateWindow()
        return False
    qtbot.waitUntil(active, timeout=WAIT_MS)


def drag_cells(window, sources: list[int], target: int, modifiers=Qt.NoModifier):
    """Synthetic drag of grid rows `sources` onto row `target`: enter, move, drop on the viewport."""
    view, model = window.grid_view, window.grid_model
    mime = model.mimeData([model.index(r) for r in sources])
    vp = view.viewport()
    pos = view.visualRect(model.index(target)).center()
    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, modifiers)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, modifiers)
    QApplication.sendEvent(vp, move)
    assert move.isAccepted()
    assert view.drop_row == target          # the target is highlighted while dragging
    drop = QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, modifiers)
    QApplication.sendEvent(vp, drop)
    assert view.drop_row == -1
    return drop


def select_in(view, model, rows):
    """Select `rows` of a list view, the first one current (as clicks with Ctrl would)."""
    from PySide6.QtCore import QItemSelectionModel

    sm = view.selectionModel()
    sm.clearSelection()
    for r in rows:
        sm.select(model.index(r), QItemSelectionModel.Select)
    sm.setCurrentIndex(model.index(rows[0]), QItemSelectionModel.NoUpdate)


def select_rows(window, rows):
    select_in(window.grid_view, window.grid_model, rows)
