"""The thumbnail grid: a QListView in icon mode and the delegate that paints each face.

The view only shows cells and reports gestures: a drag of cells onto another cell becomes
cellsDropped(sources, target, modifiers, global_pos) for the window to turn into a mix; files
dropped on it become filesDropped(paths). It also says which rows are on screen so the
window can ask for thumbnails of exactly those (visibleRowsChanged).
"""
from __future__ import annotations

import math
import time

from PySide6.QtCore import QEvent, QModelIndex, QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QBrush, QColor, QDrag, QFont, QFontMetrics, QLinearGradient, QPainter, QPainterPath,
                           QPen, QPixmap)
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from . import theme
from .grid_model import CELL_MIME, Cell, GridModel, Roles

LABEL_HEIGHT = 22
PAD = 8              # around the thumbnail inside its grid slot
RADIUS = 8.0
MIN_THUMB, MAX_THUMB, DEFAULT_THUMB = 64, 384, 144

# Keyboard modifiers held on drop choose the layer group without the menu.
MODIFIER_GROUPS = (
    (Qt.ShiftModifier | Qt.ControlModifier, "last"),
    (Qt.ShiftModifier, "coarse"),
    (Qt.ControlModifier, "medium"),
    (Qt.AltModifier, "fine"),
)


def group_for_modifiers(mods) -> str | None:
    """'coarse' / 'medium' / 'fine' / 'last' for a modifier shortcut, None for 'ask with the menu'."""
    mods = Qt.KeyboardModifiers(mods) & (Qt.ShiftModifier | Qt.ControlModifier | Qt.AltModifier)
    for combo, group in MODIFIER_GROUPS:
        if mods == combo:
            return group
    return None


def rounded(rect: QRectF, radius: float = RADIUS) -> QPainterPath:
    path = QPainterPath()
    path.addRoundedRect(rect, radius, radius)
    return path


class ThumbDelegate(QStyledItemDelegate):
    """Paints a cell: thumbnail (or a shimmering placeholder), caption, selection and drop highlight."""

    def __init__(self, view: "GridView"):
        super().__init__(view)
        self.view = view
        self.caption_font = QFont(view.font())
        self.caption_font.setPointSizeF(max(7.5, view.font().pointSizeF() * 0.92))

    def sizeHint(self, option, index) -> QSize:
        return self.view.gridSize()

    def thumb_rect(self, option_rect: QRect) -> QRectF:
        t = self.view.thumb_size
        x = option_rect.x() + (option_rect.width() - t) / 2.0
        return QRectF(x, option_rect.y() + PAD, t, t)

    def paint(self, painter: QPainter, option, index) -> None:
        cell: Cell = index.data(Roles.Cell)
        if cell is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setRenderHint(QPainter.SmoothPixmapTransform, True)
        r = self.thumb_rect(option.rect)
        selected = bool(option.state & QStyle.State_Selected)
        hovered = bool(option.state & QStyle.State_MouseOver)
        is_drop = self.view.drop_row == index.row()
        path = rounded(r)

        pix = self._pixmap(cell)
        if pix is not None:
            painter.setClipPath(path)
            painter.drawPixmap(r.toRect(), pix)
            painter.setClipping(False)
            if cell.state == "pending":  # an older size while the new one renders: dim it a touch
                painter.fillPath(path, QColor(20, 21, 23, 60))
        else:
            self._placeholder(painter, r, path, cell)

        if is_drop:
            painter.fillPath(path, QColor(theme.DROP.red(), theme.DROP.green(), theme.DROP.blue(), 40))
            painter.setPen(QPen(theme.DROP, 3))
            painter.drawPath(rounded(r.adjusted(-2, -2, 2, 2), RADIUS + 2))
            self._drop_hint(painter, r)
        elif selected:
            painter.setPen(QPen(theme.ACCENT, 2.5))
            painter.drawPath(rounded(r.adjusted(-2, -2, 2, 2), RADIUS + 2))
        elif hovered:
            painter.setPen(QPen(QColor(255, 255, 255, 70), 1.5))
            painter.drawPath(rounded(r.adjusted(-1, -1, 1, 1), RADIUS + 1))

        if cell.origin == "made":
            self._made_dot(painter, r)

        painter.setFont(self.caption_font)
        fm = QFontMetrics(self.caption_font)
        text_rect = QRect(option.rect.x() + 4, int(r.bottom()) + 4, option.rect.width() - 8, LABEL_HEIGHT - 4)
        painter.setPen(theme.ACCENT if selected else (theme.TEXT if hovered else theme.TEXT_DIM))
        painter.drawText(text_rect, Qt.AlignHCenter | Qt.AlignTop,
                         fm.elidedText(cell.label, Qt.ElideMiddle, text_rect.width()))
        painter.restore()

    def _pixmap(self, cell: Cell) -> QPixmap | None:
        """The cell's image scaled once to the current thumbnail size (cached on the cell)."""
        if cell.image is None or cell.image.isNull():
            return None
        dpr = self.view.devicePixelRatioF()
        want = int(round(self.view.thumb_size * dpr))
        key = (cell.image.cacheKey(), want)
        cached = getattr(cell, "_pix", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        img = cell.image
        if img.width() != want:
            img = img.scaled(want, want, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
        pix = QPixmap.fromImage(img)
        pix.setDevicePixelRatio(dpr)
        cell._pix = (key, pix)
        return pix

    def _placeholder(self, painter: QPainter, r: QRectF, path: QPainterPath, cell: Cell) -> None:
        if cell.state == "error":
            painter.fillPath(path, QColor("#2a1d20"))
            painter.setPen(QPen(theme.ERROR, 1.5))
            painter.drawPath(path)
            painter.setPen(theme.ERROR)
            painter.drawText(r, Qt.AlignCenter, "render failed")
            return
        painter.fillPath(path, theme.RAISED)
        # a soft band of light sweeping across: 'on its way', without a spinner per cell
        phase = (time.monotonic() * 0.8 + (cell.uid % 7) * 0.07) % 1.6 - 0.3
        x = r.left() + phase * r.width()
        grad = QLinearGradient(x - r.width() * 0.35, r.top(), x + r.width() * 0.35, r.bottom())
        base = QColor(theme.RAISED)
        light = QColor(255, 255, 255, 18)
        grad.setColorAt(0.0, QColor(base.red(), base.green(), base.blue(), 0))
        grad.setColorAt(0.5, light)
        grad.setColorAt(1.0, QColor(base.red(), base.green(), base.blue(), 0))
        painter.fillPath(path, QBrush(grad))

    def _drop_hint(self, painter: QPainter, r: QRectF) -> None:
        text = self.view.drop_hint
        if not text:
            return
        fm = QFontMetrics(self.caption_font)
        w = min(r.width() - 12, fm.horizontalAdvance(text) + 18)
        pill = QRectF(r.center().x() - w / 2, r.bottom() - 30, w, 22)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(20, 20, 22, 215))
        painter.drawRoundedRect(pill, 11, 11)
        painter.setFont(self.caption_font)
        painter.setPen(theme.DROP)
        painter.drawText(pill, Qt.AlignCenter, fm.elidedText(text, Qt.ElideRight, int(pill.width()) - 10))

    def _made_dot(self, painter: QPainter, r: QRectF) -> None:
        """A small accent dot: this face was made here (mix, edit, import), not drawn from a seed."""
        painter.setPen(QPen(QColor(0, 0, 0, 120), 1))
        painter.setBrush(theme.ACCENT)
        painter.drawEllipse(QRectF(r.left() + 7, r.top() + 7, 8, 8))


class GridView(QListView):
    cellsDropped = Signal(list, object, object, QPoint)   # sources, target Cell, modifiers, global pos
    filesDropped = Signal(list)                            # local paths
    visibleRowsChanged = Signal()
    thumbSizeChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.thumb_size = DEFAULT_THUMB
        self.drop_row = -1
        self.drop_hint = ""
        self.drop_hint_for = None     # callable(modifiers) -> str, set by the window
        self.setViewMode(QListView.IconMode)
        self.setMovement(QListView.Static)
        self.setFlow(QListView.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.Adjust)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setMouseTracking(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDrop)
        self.setDefaultDropAction(Qt.CopyAction)
        self.setDropIndicatorShown(False)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)   # setMovement(Static) turned drops off on the viewport
        self.setItemDelegate(ThumbDelegate(self))
        self.setSpacing(0)
        self.setAutoScrollMargin(40)
        self._apply_grid()
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.visibleRowsChanged.emit())
        self._shimmer = QTimer(self)
        self._shimmer.setInterval(60)
        self._shimmer.timeout.connect(self._shimmer_tick)
        self._shimmer.start()

    # ----- geometry ---------------------------------------------------------------------
    def min_slot(self) -> QSize:
        return QSize(self.thumb_size + 2 * PAD + 4, self.thumb_size + PAD + LABEL_HEIGHT + 8)

    def _apply_grid(self) -> None:
        """Spread the columns over the whole width, so the grid sits evenly with no ragged edge."""
        slot = self.min_slot()
        width = max(1, self.viewport().width())
        cols = max(1, width // slot.width())
        w = width // cols if cols > 1 or width > slot.width() else slot.width()
        size = QSize(max(slot.width(), w), slot.height())
        if size != self.gridSize():
            self.setGridSize(size)

    def set_thumb_size(self, px: int) -> None:
        px = int(max(MIN_THUMB, min(MAX_THUMB, px)))
        if px == self.thumb_size:
            return
        current = self.currentIndex()
        self.thumb_size = px
        self.setIconSize(QSize(px, px))
        self._apply_grid()
        if current.isValid():
            self.scrollTo(current, QAbstractItemView.EnsureVisible)
        self.thumbSizeChanged.emit(px)
        self.visibleRowsChanged.emit()

    def columns(self) -> int:
        return max(1, self.viewport().width() // max(1, self.gridSize().width()))

    def visible_rows(self, margin_rows: int = 0) -> range:
        """Rows on screen (plus `margin_rows` grid rows below), from the grid geometry."""
        n = self.model().rowCount() if self.model() else 0
        if n == 0:
            return range(0)
        gh = max(1, self.gridSize().height())
        cols = self.columns()
        top = self.verticalScrollBar().value()
        first_line = max(0, top // gh)
        last_line = (top + self.viewport().height()) // gh + margin_rows
        return range(min(n, first_line * cols), min(n, (last_line + 1) * cols))

    def rows_per_screen(self) -> int:
        gh = max(1, self.gridSize().height())
        return self.columns() * (self.viewport().height() // gh + 1)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._apply_grid()
        self.visibleRowsChanged.emit()

    def _shimmer_tick(self) -> None:
        model = self.model()
        if model is None or not self.isVisible():
            return
        for row in self.visible_rows():
            cell = model.cell(row)
            if cell.state == "pending" and cell.image is None:
                self.viewport().update(self.visualRect(model.index(row)))

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.ControlModifier:  # Ctrl + wheel zooms the thumbnails
            step = 16 if event.angleDelta().y() > 0 else -16
            self.set_thumb_size(self.thumb_size + step)
            event.accept()
            return
        super().wheelEvent(event)

    # ----- drag -------------------------------------------------------------------------
    def startDrag(self, supported_actions) -> None:
        indexes = [i for i in self.selectedIndexes() if i.isValid()]
        if not indexes:
            return
        model: GridModel = self.model()
        mime = model.mimeData(indexes)
        drag = QDrag(self)
        drag.setMimeData(mime)
        pressed = self.currentIndex() if self.currentIndex().isValid() else indexes[0]
        pix = self._drag_pixmap(model.cell(pressed.row()), len(indexes))
        if pix is not None:
            drag.setPixmap(pix)
            drag.setHotSpot(QPoint(pix.width() // (2 * max(1, int(pix.devicePixelRatio()))),
                                   pix.height() // (2 * max(1, int(pix.devicePixelRatio())))))
        drag.exec(Qt.CopyAction, Qt.CopyAction)
        self._clear_drop()

    def _drag_pixmap(self, cell: Cell, count: int) -> QPixmap | None:
        size = 96
        dpr = self.devicePixelRatioF()
        pix = QPixmap(int(size * dpr), int(size * dpr))
        pix.setDevicePixelRatio(dpr)
        pix.fill(Qt.transparent)
        p = QPainter(pix)
        p.setRenderHint(QPainter.Antialiasing)
        p.setRenderHint(QPainter.SmoothPixmapTransform)
        r = QRectF(2, 2, size - 4, size - 4)
        p.setOpacity(0.9)
        p.setClipPath(rounded(r))
        if cell.image is not None:
            p.drawImage(r, cell.image)
        else:
            p.fillRect(r, theme.RAISED)
        p.setClipping(False)
        p.setOpacity(1.0)
        p.setPen(QPen(theme.DROP, 2))
        p.drawPath(rounded(r))
        if count > 1:
            badge = QRectF(size - 30, 6, 24, 20)
            p.setBrush(theme.DROP)
            p.setPen(Qt.NoPen)
            p.drawRoundedRect(badge, 10, 10)
            p.setPen(QColor("#1b1c1f"))
            p.drawText(badge, Qt.AlignCenter, str(count))
        p.end()
        return pix

    # ----- drop -------------------------------------------------------------------------
    def _target(self, event) -> tuple[list[Cell], Cell | None]:
        model: GridModel = self.model()
        sources = model.cells_from_mime(event.mimeData())
        idx = self.indexAt(event.position().toPoint())
        target = model.cell(idx.row()) if idx.isValid() else None
        if target is not None and target in sources and len(sources) == 1:
            target = None  # a face on itself is no mix
        return sources, target

    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasFormat(CELL_MIME) or _local_files(mime):
            event.setDropAction(Qt.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        mime = event.mimeData()
        if _local_files(mime) and not mime.hasFormat(CELL_MIME):
            event.setDropAction(Qt.CopyAction)
            event.accept()
            return
        super().dragMoveEvent(event)   # auto-scroll near the edges
        sources, target = self._target(event)
        row = self.model().row_of(target) if (sources and target is not None) else -1
        hint = self.drop_hint_for(event.modifiers()) if (row >= 0 and self.drop_hint_for) else ""
        if row != self.drop_row or hint != self.drop_hint:
            self._set_drop_row(row, hint)
        if row >= 0:
            event.setDropAction(Qt.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self._clear_drop()
        event.accept()

    def dropEvent(self, event) -> None:
        mime = event.mimeData()
        files = _local_files(mime)
        if files and not mime.hasFormat(CELL_MIME):
            event.setDropAction(Qt.CopyAction)
            event.accept()
            self.filesDropped.emit(files)
            return
        sources, target = self._target(event)
        self._clear_drop()
        if not sources or target is None:
            event.ignore()
            return
        event.setDropAction(Qt.CopyAction)
        event.accept()
        gpos = self.viewport().mapToGlobal(event.position().toPoint())
        self.cellsDropped.emit([c for c in sources if c is not target], target, event.modifiers(), gpos)

    def _set_drop_row(self, row: int, hint: str) -> None:
        old = self.drop_row
        self.drop_row, self.drop_hint = row, hint
        for r in (old, row):
            if r >= 0 and r < self.model().rowCount():
                self.viewport().update(self.visualRect(self.model().index(r)))

    def _clear_drop(self) -> None:
        if self.drop_row >= 0:
            self._set_drop_row(-1, "")

    def event(self, e) -> bool:
        if e.type() == QEvent.Leave:
            self.viewport().update()
        return super().event(e)


def _local_files(mime) -> list[str]:
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]


def ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * max(0.0, min(1.0, t)))
