"""Non-modal messages floating over the top of the grid: errors from the worker, results of
exports, hints. Info fades after a few seconds; errors stay until closed (or replaced)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QFrame, QGraphicsDropShadowEffect, QHBoxLayout, QLabel, QPushButton, QToolButton,
                               QVBoxLayout, QWidget)

INFO_MS = 5000
ERROR_MS = 15000
MAX_SHOWN = 3


class Message(QFrame):
    closed = Signal(object)

    def __init__(self, text: str, level: str, action: tuple[str, object] | None, parent=None):
        super().__init__(parent)
        self.text, self.level = text, level
        self.setProperty("role", "message")
        self.setProperty("level", level)
        shadow = QGraphicsDropShadowEffect(self)
        shadow.setBlurRadius(24)
        shadow.setOffset(0, 4)
        shadow.setColor(QColor(0, 0, 0, 150))
        self.setGraphicsEffect(shadow)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 8, 8, 8)
        lay.setSpacing(10)
        dot = QLabel("●")
        dot.setStyleSheet(f"color: {'#e06c75' if level == 'error' else '#7aa2f7'};")
        lay.addWidget(dot, 0, Qt.AlignTop)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        if action is not None:
            button = QPushButton(action[0])
            button.clicked.connect(action[1])
            button.clicked.connect(lambda: self.closed.emit(self))
            lay.addWidget(button, 0, Qt.AlignVCenter)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(lambda: self.closed.emit(self))
        lay.addWidget(close, 0, Qt.AlignTop)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self.closed.emit(self))
        self._timer.start(ERROR_MS if level == "error" else INFO_MS)

    def enterEvent(self, event) -> None:   # reading it: keep it
        self._timer.stop()
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:
        self._timer.start(INFO_MS)
        super().leaveEvent(event)


class MessageBar(QWidget):
    """Overlay child of `host`, kept at its top edge."""

    def __init__(self, host: QWidget):
        super().__init__(host)
        self.host = host
        self.setAttribute(Qt.WA_StyledBackground, False)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(16, 12, 16, 16)
        self._layout.setSpacing(8)
        self.messages: list[Message] = []
        host.installEventFilter(self)
        self.hide()

    def show_message(self, text: str, level: str = "info", action: tuple[str, object] | None = None) -> Message:
        for m in self.messages:          # the same error again: refresh it rather than stack copies
            if m.text == text:
                m._timer.start(ERROR_MS if level == "error" else INFO_MS)
                return m
        msg = Message(text, level, action, self)
        msg.closed.connect(self._remove)
        self.messages.append(msg)
        self._layout.addWidget(msg)
        msg.show()                     # now, not on the next turn: the bar is sized from it
        while len(self.messages) > MAX_SHOWN:
            self._remove(self.messages[0])
        self.show()
        self.raise_()
        self._place()
        QTimer.singleShot(0, self._place)
        return msg

    def _remove(self, msg: Message) -> None:
        if msg in self.messages:
            self.messages.remove(msg)
            msg.hide()
            msg.deleteLater()
        if not self.messages:
            self.hide()
        self._place()

    def clear(self) -> None:
        for m in list(self.messages):
            self._remove(m)

    def texts(self) -> list[str]:
        return [m.text for m in self.messages]

    def _place(self) -> None:
        width = max(240, min(720, self.host.width() - 24))
        lay = self._layout
        height = lay.totalHeightForWidth(width) if lay.hasHeightForWidth() else lay.totalSizeHint().height()
        self.setGeometry((self.host.width() - width) // 2, 0, width, max(height, lay.totalMinimumSize().height()))

    def eventFilter(self, obj, event) -> bool:
        if obj is self.host and event.type() == QEvent.Resize:
            self._place()
        return False
