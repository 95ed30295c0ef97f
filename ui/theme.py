"""A dark, calm theme: Fusion with a dark palette, one accent colour, generous spacing.

Colours live here so views paint with the same few tones (delegate, matrix, large view).
"""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BG = QColor("#1b1c1f")          # window
BASE = QColor("#141517")        # grid and lists
PANEL = QColor("#222327")       # docks, cards
RAISED = QColor("#2b2d32")      # buttons, placeholders
BORDER = QColor("#34363c")
TEXT = QColor("#e4e4e7")
TEXT_DIM = QColor("#9a9ca5")
ACCENT = QColor("#7aa2f7")      # selection, focus
DROP = QColor("#f0b86e")        # drop target (warm, distinct from selection)
ERROR = QColor("#e06c75")

STYLESHEET = f"""
QMainWindow, QDialog {{ background: {BG.name()}; }}
QToolTip {{ color: {TEXT.name()}; background: {PANEL.name()}; border: 1px solid {BORDER.name()};
            padding: 6px 8px; border-radius: 4px; }}
QDockWidget {{ color: {TEXT_DIM.name()}; font-weight: 600; }}
QDockWidget::title {{ background: {BG.name()}; padding: 8px 10px; text-align: left; }}
QToolBar {{ background: {BG.name()}; border: none; border-bottom: 1px solid {BORDER.name()};
            padding: 4px 8px; spacing: 6px; }}
QToolBar::separator {{ width: 1px; background: {BORDER.name()}; margin: 7px 8px; }}
QToolBar QToolButton {{ padding: 5px 10px; border-radius: 5px; color: {TEXT.name()}; }}
QToolBar QToolButton:hover {{ background: {RAISED.name()}; }}
QToolBar QToolButton:disabled {{ color: #5c5e66; }}
QToolBar QLabel {{ color: {TEXT_DIM.name()}; padding: 0 2px 0 8px; }}
QStatusBar {{ background: {BG.name()}; color: {TEXT_DIM.name()}; border-top: 1px solid {BORDER.name()}; }}
QStatusBar QLabel {{ color: {TEXT_DIM.name()}; padding: 0 10px; }}
QStatusBar::item {{ border: none; }}
QListView {{ background: {BASE.name()}; border: none; }}
QTreeWidget {{ background: {BASE.name()}; border: 1px solid {BORDER.name()}; border-radius: 6px; padding: 4px; }}
QPushButton {{ background: {RAISED.name()}; color: {TEXT.name()}; border: 1px solid {BORDER.name()};
               border-radius: 6px; padding: 6px 14px; }}
QPushButton:hover {{ border-color: {ACCENT.name()}; }}
QPushButton:pressed {{ background: {BORDER.name()}; }}
QPushButton:disabled {{ color: #5c5e66; border-color: {RAISED.name()}; }}
QPushButton[primary="true"] {{ background: {ACCENT.darker(160).name()}; border-color: {ACCENT.darker(120).name()}; }}
QPushButton[primary="true"]:hover {{ background: {ACCENT.darker(140).name()}; }}
QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit {{ background: {BASE.name()}; color: {TEXT.name()};
               border: 1px solid {BORDER.name()}; border-radius: 5px; padding: 4px 6px; }}
QComboBox:focus, QSpinBox:focus, QDoubleSpinBox:focus, QLineEdit:focus {{ border-color: {ACCENT.name()}; }}
QMenu {{ background: {PANEL.name()}; border: 1px solid {BORDER.name()}; padding: 6px 0; }}
QMenu::item {{ padding: 6px 28px 6px 22px; }}
QMenu::item:selected {{ background: {ACCENT.darker(170).name()}; }}
QMenu::separator {{ height: 1px; background: {BORDER.name()}; margin: 5px 10px; }}
QMenuBar {{ background: {BG.name()}; }}
QMenuBar::item {{ padding: 5px 10px; }}
QMenuBar::item:selected {{ background: {RAISED.name()}; border-radius: 4px; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 2px; }}
QScrollBar::handle:vertical {{ background: {RAISED.name()}; border-radius: 4px; min-height: 30px; }}
QScrollBar::handle:vertical:hover {{ background: #3d4047; }}
QScrollBar::add-line, QScrollBar::sub-line {{ height: 0; width: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 2px; }}
QScrollBar::handle:horizontal {{ background: {RAISED.name()}; border-radius: 4px; min-width: 30px; }}
QSlider::groove:horizontal {{ height: 4px; background: {RAISED.name()}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT.darker(130).name()}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {TEXT.name()}; width: 14px; height: 14px; margin: -5px 0;
                              border-radius: 7px; }}
QSlider::handle:horizontal:hover {{ background: {ACCENT.name()}; }}
QLabel[role="section"] {{ color: {TEXT_DIM.name()}; font-weight: 600; }}
QLabel[role="hint"] {{ color: {TEXT_DIM.name()}; }}
QLabel[role="recipe"] {{ background: {BASE.name()}; border: 1px solid {BORDER.name()}; border-radius: 6px;
                         padding: 8px 10px; }}
QLabel[role="title"] {{ color: {TEXT.name()}; font-size: 15pt; font-weight: 600; }}
QFrame[role="card"] {{ background: {PANEL.name()}; border: 1px solid {BORDER.name()}; border-radius: 10px; }}
QFrame[role="message"] {{ background: {PANEL.name()}; border: 1px solid {BORDER.name()}; border-radius: 8px; }}
QFrame[role="message"][level="error"] {{ border-color: {ERROR.name()}; }}
QProgressBar {{ background: {RAISED.name()}; border: none; border-radius: 3px; max-height: 6px; }}
QProgressBar::chunk {{ background: {ACCENT.name()}; border-radius: 3px; }}
QTabBar::tab {{ padding: 6px 12px; }}
"""


def dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.Window: BG, QPalette.WindowText: TEXT, QPalette.Base: BASE, QPalette.AlternateBase: PANEL,
        QPalette.ToolTipBase: PANEL, QPalette.ToolTipText: TEXT, QPalette.Text: TEXT, QPalette.Button: RAISED,
        QPalette.ButtonText: TEXT, QPalette.BrightText: QColor("#ffffff"), QPalette.Highlight: ACCENT.darker(150),
        QPalette.HighlightedText: QColor("#ffffff"), QPalette.Link: ACCENT, QPalette.PlaceholderText: TEXT_DIM,
        QPalette.Light: BORDER, QPalette.Midlight: RAISED, QPalette.Mid: BORDER, QPalette.Dark: BASE,
        QPalette.Shadow: QColor("#000000"),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        p.setColor(QPalette.Disabled, role, QColor("#5c5e66"))
    return p


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLESHEET)
