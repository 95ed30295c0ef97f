"""The thumbnail grid: a QListView in icon mode and the delegate that paints each face.

The view only shows cells and reports gestures: a drag of cells onto another cell becomes
cellsDropped(sources, target, modifiers, global_pos) for the window to turn into a mix; files
dropped on it become filesDropped(paths). It also says which rows are on screen so the
window can ask for thumbnails of exactly those (visibleRowsChanged).
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QColor, QDrag, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QPixmap, QStaticText,
                           QTransform)
from PySide6.QtWidgets import (QAbstractItemView, QListView, QRubberBand, QStyle, QStyledItemDelegate,
                               QStyleOptionRubberBand)

from . import theme
from .grid_model import CELL_MIME, Cell, GridModel, Roles

LABEL_HEIGHT = 22
PAD = 8              # around the thumbnail inside its grid slot
RADIUS = 8.0
MIN_THUMB, MAX_THUMB, DEFAULT_THUMB = 64, 384, 144
GRID_SLACK = 2       # pixels left over at the right edge so the list view fits every column we plan

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


_DIM = QColor(20, 21, 23, 60)
PREVIEW_TEXT = "preview"
_DROP_FILL = QColor(theme.DROP.red(), theme.DROP.green(), theme.DROP.blue(), 40)
_DROP_PEN = QPen(theme.DROP, 3)
_SELECT_PEN = QPen(theme.ACCENT, 2.5)
_HOVER_PEN = QPen(QColor(255, 255, 255, 70), 1.5)
SHIMMER_MAX = 24     # animate placeholders only while a few cells wait (one new mix, not a whole screen)


COMPOSITE_BUDGET = 96 << 20    # bytes of cached cell pictures (a few screens even at the largest size)


def _pix_bytes(pix: QPixmap) -> int:
    return pix.width() * pix.height() * 4


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
        self.badge_font = QFont(view.font())
        self.badge_font.setPointSizeF(max(6.5, view.font().pointSizeF() * 0.75))
        self._composites: OrderedDict[int, tuple] = OrderedDict()
        self._composite_bytes = 0

    def sizeHint(self, option, index) -> QSize:
        return self.view.gridSize()

    def paint(self, painter: QPainter, option, index) -> None:
        cell: Cell = index.data(Roles.Cell)
        if cell is None:
            return
        painter.setRenderHint(QPainter.Antialiasing, True)
        self.paint_cell(painter, option.rect, cell, bool(option.state & QStyle.State_Selected),
                        bool(option.state & QStyle.State_MouseOver), self.view.drop_row == index.row())

    def paint_cell(self, painter: QPainter, rect, cell: Cell, selected: bool, hovered: bool, is_drop: bool) -> None:
        """One cell. Called for every visible cell on each repaint: a resting cell with its picture is
        one blit of a cached composite (picture, caption, badge); the rest is drawn piece by piece."""
        if cell.state == "ready" and not (selected or hovered or is_drop) and cell.image is not None:
            key = (cell.image.cacheKey(), self.view.thumb_size, rect.width(), rect.height(), cell.origin,
                   cell.preview, cell.kept)
            comp = self._composites.get(cell.uid)
            if comp is not None and comp[0] == key:
                painter.drawPixmap(rect.x(), rect.y(), comp[1])
                return
            if getattr(cell, "_seen", None) == key:    # painted like this before: worth caching now
                comp = (key, self._composite(rect, cell))
                self._store_composite(cell.uid, comp)
                painter.drawPixmap(rect.x(), rect.y(), comp[1])
                return
            cell._seen = key      # a picture that just arrived is painted once directly (cheaper than caching)
        self._paint_parts(painter, rect, cell, selected, hovered, is_drop)

    def _composite(self, rect, cell: Cell) -> QPixmap:
        dpr = self.view.devicePixelRatioF()
        pix = QPixmap(int(rect.width() * dpr), int(rect.height() * dpr))
        pix.setDevicePixelRatio(dpr)
        pix.fill(Qt.transparent)
        p = QPainter(pix)
        p.setRenderHint(QPainter.Antialiasing, True)
        self._paint_parts(p, QRect(0, 0, rect.width(), rect.height()), cell, False, False, False)
        p.end()
        return pix

    def _store_composite(self, uid: int, comp) -> None:
        """LRU by bytes: composites of cells long scrolled away are dropped (cheap to make again)."""
        old = self._composites.pop(uid, None)
        if old is not None:
            self._composite_bytes -= _pix_bytes(old[1])
        self._composites[uid] = comp
        self._composite_bytes += _pix_bytes(comp[1])
        while self._composite_bytes > COMPOSITE_BUDGET and len(self._composites) > 1:
            _, dropped = self._composites.popitem(last=False)
            self._composite_bytes -= _pix_bytes(dropped[1])

    def _paint_parts(self, painter: QPainter, rect, cell: Cell, selected: bool, hovered: bool,
                     is_drop: bool) -> None:
        painter.setBrush(Qt.NoBrush)      # the painter is shared by all cells of a repaint
        t = self.view.thumb_size
        r = QRectF(rect.x() + (rect.width() - t) / 2.0, rect.y() + PAD, t, t)

        pix = self._pixmap(cell)
        if pix is not None:
            painter.drawPixmap(r.toRect(), pix)      # corners already rounded in the cached pixmap
            if cell.state == "pending":  # an older size while the new one renders: dim it a touch
                painter.fillPath(rounded(r), _DIM)
        else:
            self._placeholder(painter, r, rounded(r), cell)

        if is_drop:
            painter.fillPath(rounded(r), _DROP_FILL)
            painter.setPen(_DROP_PEN)
            painter.drawPath(rounded(r.adjusted(-2, -2, 2, 2), RADIUS + 2))
            self._drop_hint(painter, r)
        elif selected:
            painter.setPen(_SELECT_PEN)
            painter.drawPath(rounded(r.adjusted(-2, -2, 2, 2), RADIUS + 2))
        elif hovered:
            painter.setPen(_HOVER_PEN)
            painter.drawPath(rounded(r.adjusted(-1, -1, 1, 1), RADIUS + 1))
        if cell.origin == "made":
            self._made_dot(painter, r)
        if hovered or cell.kept:
            self._keep_star(painter, r, cell.kept)
        if cell.preview:
            self._preview_badge(painter, r)

        width = rect.width() - 8
        cached = getattr(cell, "_caption", None)
        if cached is None or cached[0] != width:
            text = QFontMetrics(self.caption_font).elidedText(cell.label, Qt.ElideMiddle, width)
            static = QStaticText(text)
            static.prepare(QTransform(), self.caption_font)
            cached = (width, static)
            cell._caption = cached
        static = cached[1]
        painter.setFont(self.caption_font)
        painter.setPen(theme.ACCENT if selected else (theme.TEXT if hovered else theme.TEXT_DIM))
        painter.drawStaticText(QPointF(rect.x() + (rect.width() - static.size().width()) / 2.0, r.bottom() + 4),
                               static)

    def _keep_star(self, painter: QPainter, r: QRectF, kept: bool) -> None:
        """The star on a face: hover shows it (click keeps the face), a kept face shows it filled."""
        s = star_rect(r)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(0, 0, 0, 120))
        painter.drawEllipse(s)
        painter.setPen(theme.DROP if kept else theme.TEXT)
        font = QFont(self.caption_font)
        font.setPixelSize(int(s.height() * 0.75))
        painter.setFont(font)
        painter.drawText(s, Qt.AlignCenter, "★" if kept else "☆")
        painter.setBrush(Qt.NoBrush)

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
        pix = QPixmap(want, want)          # bake the rounded corners in once, so painting is a plain blit
        pix.fill(Qt.transparent)
        p = QPainter(pix)
        p.setRenderHint(QPainter.Antialiasing)
        p.setRenderHint(QPainter.SmoothPixmapTransform)
        p.setClipPath(rounded(QRectF(0, 0, want, want), RADIUS * dpr))
        p.drawImage(0, 0, img)
        p.end()
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
        # a slow, quiet pulse that travels along the grid: 'on its way', without a spinner per cell
        t = (time.monotonic() * 0.9 - (cell.uid % 24) * 0.04) % 1.0
        glow = (0.5 - 0.5 * math.cos(2 * math.pi * t)) if self.view.shimmering else 0.3
        base = theme.RAISED
        lift = int(10 * glow)
        painter.fillPath(path, QColor(base.red() + lift, base.green() + lift, base.blue() + lift))

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

    def _preview_badge(self, painter: QPainter, r: QRectF) -> None:
        """'preview' in the corner: this picture came through the cheap path; full quality follows."""
        painter.setFont(self.badge_font)
        fm = QFontMetrics(self.badge_font)
        w, h = fm.horizontalAdvance(PREVIEW_TEXT) + 8, fm.height() + 2
        box = QRectF(r.right() - w - 5, r.bottom() - h - 5, w, h)
        path = QPainterPath()
        path.addRoundedRect(box, 4, 4)
        painter.fillPath(path, QColor(0, 0, 0, 150))
        painter.setPen(theme.TEXT)
        painter.drawText(box, Qt.AlignCenter, PREVIEW_TEXT)

    def _made_dot(self, painter: QPainter, r: QRectF) -> None:
        """A small accent dot: this face was made here (mix, edit, import), not drawn from a seed."""
        painter.setPen(QPen(QColor(0, 0, 0, 120), 1))
        painter.setBrush(theme.ACCENT)
        painter.drawEllipse(QRectF(r.left() + 7, r.top() + 7, 8, 8))


def star_rect(thumb: QRectF) -> QRectF:
    """Where a face's keep star sits: the thumbnail's top-right corner."""
    side = max(18.0, min(26.0, thumb.width() / 5))
    return QRectF(thumb.right() - side - 4, thumb.top() + 4, side, side)


class GridView(QListView):
    cellsDropped = Signal(list, object, object, QPoint)   # sources, target Cell, modifiers, global pos
    keepRequested = Signal(object)                         # the Cell whose star was clicked
    facesDropped = Signal(object, int)                     # a drag of faces from elsewhere (library), row
    filesDropped = Signal(list)                            # local paths
    visibleRowsChanged = Signal()
    thumbSizeChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.thumb_size = DEFAULT_THUMB
        self.drop_row = -1
        self.drop_hint = ""
        self.drop_hint_for = None     # callable(modifiers) -> str, set by the window
        self.shimmering = False
        self._hover_row = -1
        self._band: QRect | None = None      # selection band, in content coordinates
        self._cols_cache = None
        self.setViewMode(QListView.IconMode)
        self.setMovement(QListView.Static)
        self.setFlow(QListView.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.Batched)   # a long grid is laid out a slice per event-loop turn
        self.setBatchSize(256)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setMouseTracking(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        # always there: a scroll bar that comes and goes changes the width, hence the columns, hence
        # the height, hence the scroll bar ... (and every change is a full relayout)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOn)
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
        self._shimmer.setInterval(90)
        self._shimmer.timeout.connect(self._shimmer_tick)
        self._shimmer.start()

    # ----- geometry ---------------------------------------------------------------------
    def min_slot(self) -> QSize:
        return QSize(self.thumb_size + 2 * PAD + 4, self.thumb_size + PAD + LABEL_HEIGHT + 8)

    def _apply_grid(self) -> None:
        """Spread the columns over the whole width, so the grid sits evenly with no ragged edge."""
        slot = self.min_slot()
        width = max(1, self.viewport().width() - GRID_SLACK)   # QListView wraps a pixel early
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
        """Cells per line, as the list view laid them out. The grid size is chosen so the width holds a
        whole number of cells (see _apply_grid); the layout confirms it once per width and grid size."""
        model = self.model()
        n = model.rowCount() if model is not None else 0
        key = (self.viewport().width(), self.gridSize().width())
        if self._cols_cache is not None and self._cols_cache[0] == key:
            return self._cols_cache[1]
        cols = max(1, (self.viewport().width() - GRID_SLACK) // max(1, self.gridSize().width()))
        if n > cols:
            y0 = self.visualRect(model.index(0)).y()
            starts_line = self.visualRect(model.index(cols)).y() != y0
            same_line = self.visualRect(model.index(cols - 1)).y() == y0
            if not (starts_line and same_line):    # layout not done yet (or narrower): look, but briefly
                found = next((k for k in range(1, min(n, cols + 8)) if self.visualRect(model.index(k)).y() != y0),
                             None)
                return found or cols               # not cached: ask again once the layout has settled
            self._cols_cache = (key, cols)
        return cols

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
        """Pulse the placeholders of the few cells still waiting. A whole screen filling in is its own
        animation; repainting it ten times a second would only take time from the window."""
        model = self.model()
        if model is None or not self.isVisible():
            return
        waiting = [row for row in self.visible_rows()
                   if model.cell(row).state == "pending" and model.cell(row).image is None]
        self.shimmering = 0 < len(waiting) <= SHIMMER_MAX
        if self.shimmering:
            for row in waiting:
                self.viewport().update(self.visualRect(model.index(row)))

    def paintEvent(self, event) -> None:
        """Paint the cells in each dirty rectangle straight from the model.

        QListView would repaint every item in the bounding box of the dirty region (pictures land a
        few at a time all over the screen, so that box is often the whole view) and pays for a style
        option and a delegate call per item. Here each dirty rectangle is painted on its own, with
        the cell geometry the list view laid out (visualRect) and the delegate's paint_cell.
        """
        model = self.model()
        if model is None:
            return
        n = model.rowCount()
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.Antialiasing, True)
        delegate: ThumbDelegate = self.itemDelegate()
        selected = {i.row() for i in self.selectionModel().selectedIndexes()} if self.selectionModel() else set()
        grid = self.gridSize()
        gw, gh = max(1, grid.width()), max(1, grid.height())
        cols = self.columns()
        top = self.verticalOffset()
        done = set()
        for rect in event.region():
            first_line = max(0, (rect.top() + top) // gh)
            last_line = (rect.bottom() + top) // gh
            first_col = max(0, rect.left() // gw)
            last_col = min(cols - 1, rect.right() // gw)
            for line in range(first_line, last_line + 1):
                for col in range(first_col, last_col + 1):
                    row = line * cols + col
                    if row >= n or row in done:
                        continue
                    done.add(row)
                    delegate.paint_cell(painter, self.visualRect(model.index(row)), model.cell(row),
                                        row in selected, row == self._hover_row, row == self.drop_row)
        if self._band is not None:
            band = QStyleOptionRubberBand()
            band.initFrom(self)
            band.shape = QRubberBand.Rectangle
            band.opaque = False
            band.rect = self._band.translated(0, -top).normalized()
            self.style().drawControl(QStyle.CE_RubberBand, band, painter, self)
        painter.end()

    # hover and the selection band, which QListView's own painting would have shown
    def mouseMoveEvent(self, event) -> None:
        pos = event.position().toPoint()
        idx = self.indexAt(pos)
        row = idx.row() if idx.isValid() else -1
        if row != self._hover_row:
            self._update_row(self._hover_row)
            self._hover_row = row
            self._update_row(row)
        if self._band is not None and event.buttons() & Qt.LeftButton:
            old = self._band.translated(0, -self.verticalOffset()).normalized()
            self._band.setBottomRight(QPoint(pos.x(), pos.y() + self.verticalOffset()))
            new = self._band.translated(0, -self.verticalOffset()).normalized()
            self.viewport().update(old.united(new).adjusted(-2, -2, 2, 2))
        super().mouseMoveEvent(event)

    def thumb_rect(self, row: int) -> QRectF:
        rect = self.visualRect(self.model().index(row))
        t = self.thumb_size
        return QRectF(rect.x() + (rect.width() - t) / 2.0, rect.y() + PAD, t, t)

    def mousePressEvent(self, event) -> None:
        pos = event.position().toPoint()
        idx = self.indexAt(pos)
        if event.button() == Qt.LeftButton and idx.isValid() and star_rect(self.thumb_rect(idx.row())).contains(pos):
            self.keepRequested.emit(self.model().cell(idx.row()))     # the star: keep, do not select
            event.accept()
            return
        if event.button() == Qt.LeftButton and not self.indexAt(pos).isValid():
            start = QPoint(pos.x(), pos.y() + self.verticalOffset())
            self._band = QRect(start, start)
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._band is not None:
            self._band = None
            self.viewport().update()
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        self._update_row(self._hover_row)
        self._hover_row = -1
        super().leaveEvent(event)

    def _update_row(self, row: int) -> None:
        if 0 <= row < (self.model().rowCount() if self.model() else 0):
            self.viewport().update(self.visualRect(self.model().index(row)))

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
        if self.model().accepts(mime) or _local_files(mime):
            event.setDropAction(Qt.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        mime = event.mimeData()
        if not mime.hasFormat(CELL_MIME) and (_local_files(mime) or self.model().accepts(mime)):
            super().dragMoveEvent(event)   # auto-scroll near the edges
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
        if not mime.hasFormat(CELL_MIME) and self.model().accepts(mime):
            event.setDropAction(Qt.CopyAction)
            event.accept()
            idx = self.indexAt(event.position().toPoint())
            self.facesDropped.emit(mime, idx.row() if idx.isValid() else self.model().rowCount())
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


def _local_files(mime) -> list[str]:
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]

