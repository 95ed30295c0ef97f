"""Small shared controls: a segmented choice, a labelled row, section helpers."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QWidget

from explorer.layers import GROUP_HELP, LAYER_CHOICES, group_label

from . import theme

SEGMENT_STYLE = f"""
QPushButton {{ border-radius: 0; padding: 5px 10px; margin: 0; background: {theme.BASE.name()}; }}
QPushButton:checked {{ background: {theme.ACCENT.darker(170).name()}; border-color: {theme.ACCENT.darker(120).name()};
                       color: #ffffff; }}
QPushButton:disabled {{ color: #55575e; }}
QPushButton[first="true"] {{ border-top-left-radius: 6px; border-bottom-left-radius: 6px; }}
QPushButton[last="true"] {{ border-top-right-radius: 6px; border-bottom-right-radius: 6px; }}
"""


class Segmented(QWidget):
    """A row of exclusive toggle buttons (All | Coarse | Medium | Fine)."""
    changed = Signal(object)

    def __init__(self, options: list[tuple[object, str, str]], value=None, parent=None):
        super().__init__(parent)
        self.setStyleSheet(SEGMENT_STYLE)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict = {}
        for i, (key, label, tip) in enumerate(options):
            b = QPushButton(label)
            b.setCheckable(True)
            b.setToolTip(tip)
            b.setProperty("first", i == 0)
            b.setProperty("last", i == len(options) - 1)
            b.setFocusPolicy(Qt.TabFocus)
            self.group.addButton(b, i)
            self.buttons[key] = b
            lay.addWidget(b)
        lay.addStretch(1)
        self.group.idClicked.connect(lambda _i: self.changed.emit(self.value()))
        self.set_value(value if value is not None else options[0][0])

    def value(self):
        for key, b in self.buttons.items():
            if b.isChecked():
                return key
        return None

    def set_value(self, key) -> None:
        b = self.buttons.get(key)
        if b is not None:
            b.setChecked(True)

    def set_enabled_keys(self, enabled: dict) -> None:
        """Disable options (a group this model does not have); falls back to the first enabled one."""
        for key, ok in enabled.items():
            if key in self.buttons:
                self.buttons[key].setEnabled(bool(ok))
        cur = self.value()
        if cur is None or not self.buttons[cur].isEnabled():
            for key, b in self.buttons.items():
                if b.isEnabled():
                    b.setChecked(True)
                    break


def row(label: str, widget: QWidget, tip: str = "") -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(10)
    lab = QLabel(label)
    lab.setFixedWidth(72)
    lab.setProperty("role", "hint")
    if tip:
        lab.setToolTip(tip)
        widget.setToolTip(tip)
    lay.addWidget(lab)
    lay.addWidget(widget, 1)
    return w


def primary(text: str, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setProperty("primary", True)
    if tip:
        b.setToolTip(tip)
    return b


LAYER_OPTIONS = [(key, group_label(key), GROUP_HELP[key]) for key in LAYER_CHOICES]
