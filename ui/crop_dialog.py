"""Choose a square of a photo by hand: when no face was found, or when asked for (Import Photo
(Crop Myself)). Drag the square to move it, the mouse wheel or the slider to size it."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QSlider, QVBoxLayout, QWidget

from .render_bridge import to_qimage

VIEW = 560


class CropView(QWidget):
    def __init__(self, photo: np.ndarray, quad: np.ndarray, parent=None):
        super().__init__(parent)
        self.image = to_qimage(photo)
        h, w = photo.shape[:2]
        self.scale = VIEW / max(h, w)
        self.setFixedSize(int(w * self.scale), int(h * self.scale))
        self.photo_size = (w, h)
        x0, y0 = quad[0]
        side = float(np.hypot(*(quad[3] - quad[0])))
        self.square = [float(x0), float(y0), side]       # photo coordinates
        self._drag: QPointF | None = None
        self.setCursor(Qt.OpenHandCursor)
        self.setToolTip("Drag to move the square; the wheel sizes it")

    def quad(self) -> np.ndarray:
        x, y, s = self.square
        return np.array([[x, y], [x, y + s], [x + s, y + s], [x + s, y]], dtype=np.float64)

    def set_side(self, side: float) -> None:
        x, y, s = self.square
        cx, cy = x + s / 2, y + s / 2
        side = max(16.0, min(float(side), 2.0 * max(self.photo_size)))
        self.square = [cx - side / 2, cy - side / 2, side]
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.drawImage(self.rect(), self.image)
        x, y, s = (v * self.scale for v in self.square)
        p.fillRect(self.rect(), QColor(0, 0, 0, 90))
        p.drawImage(QRectF(x, y, s, s), self.image, QRectF(x / self.scale, y / self.scale, s / self.scale,
                                                               s / self.scale))
        p.setPen(QPen(QColor("#6fb3ff"), 2))
        p.drawRect(QRectF(x, y, s, s))
        p.end()

    def mousePressEvent(self, e) -> None:
        self._drag = e.position()
        self.setCursor(Qt.ClosedHandCursor)

    def mouseMoveEvent(self, e) -> None:
        if self._drag is None:
            return
        d = (e.position() - self._drag) / self.scale
        self._drag = e.position()
        self.square[0] += d.x()
        self.square[1] += d.y()
        self.update()

    def mouseReleaseEvent(self, _e) -> None:
        self._drag = None
        self.setCursor(Qt.OpenHandCursor)

    def wheelEvent(self, e) -> None:
        self.set_side(self.square[2] * (1.1 if e.angleDelta().y() > 0 else 1 / 1.1))


class CropDialog(QDialog):
    def __init__(self, photo: np.ndarray, quad: np.ndarray, name: str, reason: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Crop {name}")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"{reason}. Put the square around the face (eyes a little above the middle), "
                             "then OK."))
        self.view = CropView(photo, quad)
        lay.addWidget(self.view, alignment=Qt.AlignCenter)
        self.size_slider = QSlider(Qt.Horizontal)
        self.size_slider.setRange(16, int(max(photo.shape[:2]) * 1.5))
        self.size_slider.setValue(int(self.view.square[2]))
        self.size_slider.setToolTip("Size of the square, in the photo's pixels")
        self.size_slider.valueChanged.connect(self.view.set_side)
        lay.addWidget(self.size_slider)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


def ask_crop(parent, photo: np.ndarray, quad: np.ndarray, name: str, reason: str) -> np.ndarray | None:
    """The square the user chose (a quad in photo coordinates), or None when cancelled."""
    dlg = CropDialog(photo, quad, name, reason, parent)
    return dlg.view.quad() if dlg.exec() == QDialog.Accepted else None
