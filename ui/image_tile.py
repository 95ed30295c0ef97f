"""A face picture widget: scales its image to fit (or shows it 1:1), rounded, with a caption,
a quiet placeholder while the picture renders, and optional drop and click handling."""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme


class ImageTile(QWidget):
    clicked = Signal()
    doubleClicked = Signal()
    resized = Signal()

    def __init__(self, caption: str = "", size: int | None = None, parent=None, radius: float = 8.0):
        super().__init__(parent)
        self.image: QImage | None = None
        self.caption = caption
        self.badge = ""
        self.placeholder_text = ""
        self.pending = False
        self.radius = radius
        self.one_to_one = False
        self.highlight: QColor | None = None
        self.selected = False
        self.lanczos = False           # upscale with Lanczos (not Qt's bilinear) when shown larger
        self._scaled: tuple | None = None   # (source image key, size, QImage) cache
        self._fixed = size
        if size is not None:
            self.setFixedSize(size, size + (self._caption_h() if caption is not None else 0))
        else:
            self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
            self.setMinimumSize(96, 96)

    def _caption_h(self) -> int:
        return QFontMetrics(self.font()).height() + 8 if self.caption is not None else 0

    def sizeHint(self) -> QSize:
        if self._fixed is not None:
            return QSize(self._fixed, self._fixed + self._caption_h())
        return QSize(512, 540)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self._scaled = None
        self.pending = False
        self.update()

    def shown_image(self, side: int) -> QImage:
        """The picture at `side` device pixels: Lanczos-upscaled (cached) when `lanczos` is on and
        the tile is larger than the picture, else the picture itself (Qt scales it down smoothly)."""
        img = self.image
        if not self.lanczos or img is None or side <= max(img.width(), img.height()):
            return img
        key = (img.cacheKey(), side)
        if self._scaled is None or self._scaled[0] != key:
            import numpy as np
            from PIL import Image

            rgb = img.convertToFormat(QImage.Format_RGB888)
            arr = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
            arr = arr[:, :rgb.width() * 3].reshape(rgb.height(), rgb.width(), 3)
            up = np.ascontiguousarray(Image.fromarray(arr).resize((side, side), Image.LANCZOS))
            out = QImage(up.data, side, side, 3 * side, QImage.Format_RGB888).copy()
            self._scaled = (key, out)
        return self._scaled[1]

    def set_pending(self, pending: bool = True) -> None:
        self.pending = pending
        self.update()

    def set_caption(self, text: str) -> None:
        self.caption = text
        self.setToolTip(text if self.toolTip() == "" or self.toolTip() == self.caption else self.toolTip())
        self.update()

    def image_rect(self) -> QRectF:
        cap = self._caption_h() if self.caption else 0
        avail = QRectF(self.rect()).adjusted(2, 2, -2, -2 - cap)
        if self.image is not None and self.one_to_one:
            dpr = self.devicePixelRatioF()
            w, h = self.image.width() / dpr, self.image.height() / dpr
        else:
            side = min(avail.width(), avail.height())
            w = h = side
        return QRectF(avail.center().x() - w / 2, avail.top() + (avail.height() - h) / 2, w, h)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.setRenderHint(QPainter.SmoothPixmapTransform)
        r = self.image_rect()
        path = QPainterPath()
        path.addRoundedRect(r, self.radius, self.radius)
        if self.image is not None and not self.image.isNull():
            p.save()
            p.setClipPath(path)
            p.drawImage(r, self.shown_image(int(round(r.width() * self.devicePixelRatioF()))))
            p.restore()
            if self.pending:
                p.fillPath(path, QColor(20, 21, 23, 90))
        else:
            p.fillPath(path, theme.RAISED)
            if self.placeholder_text:
                p.setPen(theme.TEXT_DIM)
                p.drawText(r.adjusted(8, 8, -8, -8), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder_text)
        if self.highlight is not None:
            p.setPen(QPen(self.highlight, 3))
            p.drawPath(path)
        elif self.selected:
            p.setPen(QPen(theme.ACCENT, 2.5))
            p.drawPath(path)
        if self.badge:
            fm = QFontMetrics(self.font())
            w = fm.horizontalAdvance(self.badge) + 16
            pill = QRectF(r.left() + 8, r.top() + 8, w, fm.height() + 6)
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(20, 20, 22, 210))
            p.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
            p.setPen(theme.DROP)
            p.drawText(pill, Qt.AlignCenter, self.badge)
        if self.caption:
            fm = QFontMetrics(self.font())
            cap = QRectF(0, r.bottom() + 4, self.width(), fm.height() + 2)
            p.setPen(theme.TEXT_DIM)
            p.drawText(cap, Qt.AlignHCenter | Qt.AlignTop, fm.elidedText(self.caption, Qt.ElideMiddle, self.width() - 6))
        p.end()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self.doubleClicked.emit()
        super().mouseDoubleClickEvent(event)
