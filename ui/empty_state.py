"""What the window shows with no model: why, and the ways to get one (open, recent, drop)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class EmptyState(QWidget):
    openRequested = Signal()
    recentRequested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setAlignment(Qt.AlignCenter)
        card = QFrame()
        card.setProperty("role", "card")
        card.setFixedWidth(520)
        lay = QVBoxLayout(card)
        lay.setContentsMargins(36, 32, 36, 32)
        lay.setSpacing(14)
        self.title = QLabel("No model loaded")
        self.title.setProperty("role", "title")
        lay.addWidget(self.title)
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.detail)
        self.technical = QLabel("")
        self.technical.setWordWrap(True)
        self.technical.setProperty("role", "hint")
        self.technical.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.technical.hide()
        lay.addWidget(self.technical)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.hide()
        lay.addWidget(self.progress)
        self.open_button = QPushButton("Open checkpoint…")
        self.open_button.setProperty("primary", True)
        self.open_button.setToolTip("Open an NVIDIA .pkl, a rosinality .pt or a Latent Explorer .safetensors file (Ctrl+O)")
        self.open_button.clicked.connect(self.openRequested)
        lay.addWidget(self.open_button, 0, Qt.AlignLeft)
        self.recent_title = QLabel("Recent")
        self.recent_title.setProperty("role", "section")
        lay.addWidget(self.recent_title)
        self.recent_box = QVBoxLayout()
        self.recent_box.setSpacing(4)
        lay.addLayout(self.recent_box)
        hint = QLabel("…or drop a checkpoint file anywhere on this window.")
        hint.setProperty("role", "hint")
        lay.addWidget(hint)
        outer.addWidget(card)
        self.set_recent([])

    def show_problem(self, title: str, detail: str, technical: str = "") -> None:
        self.title.setText(title)
        self.detail.setText(detail)
        self.technical.setText(technical)
        self.technical.setVisible(bool(technical))
        self.progress.hide()
        self.open_button.setEnabled(True)

    def show_loading(self, name: str, step: str = "") -> None:
        self.title.setText(f"Loading {name}")
        self.detail.setText(step or "Reading the file…")
        self.technical.hide()
        self.progress.show()
        self.open_button.setEnabled(False)

    def set_recent(self, paths: list[str]) -> None:
        while self.recent_box.count():
            w = self.recent_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for path in paths[:5]:
            b = QPushButton(Path(path).name)
            b.setToolTip(path)
            b.setFlat(True)
            b.setStyleSheet("text-align: left; border: none; background: transparent; color: #7aa2f7; padding: 2px 0;")
            b.setCursor(Qt.PointingHandCursor)
            b.clicked.connect(lambda _=False, p=path: self.recentRequested.emit(p))
            self.recent_box.addWidget(b)
        self.recent_title.setVisible(bool(paths))
