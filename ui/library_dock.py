"""The Library dock: the faces a designer kept, to find, curate and bring back.

A filter bar (search text in the library's language: words, #tag, stars>=3, is:pick, in:"Cast",
"smile > 1 sigma"; plus stars, collection and sort controls), a thumbnail grid (thumbnails load
lazily, only for the rows on screen), and the current face's details: name, stars, pick / reject,
colour label, tags, notes, and its family (parents it was made from, children made from it, faces
like it): click one to go there.

Faces drag from here into the grid, the timeline and the matrix (LIBRARY_MIME); faces dragged
from the grid onto the library are kept. Keys in the list: 0-5 stars, P pick, X reject, U no flag,
Return add to the grid, Delete remove from the library.
"""
from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict

from PySide6.QtCore import QAbstractListModel, QByteArray, QMimeData, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFormLayout, QHBoxLayout, QInputDialog, QLabel,
                               QLineEdit, QListView, QListWidget, QListWidgetItem, QMenu, QMessageBox,
                               QPlainTextEdit, QPushButton, QSplitter, QStyle, QStyledItemDelegate, QToolButton,
                               QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)
from superqt.utils import qdebounced, signals_blocked

from explorer.library import LibraryError, LibraryFilter, parse_query
from explorer.library.filters import day_time
from explorer.library.store import COLOURS, recipe_key
from explorer.recipe_text import INPUT_ROLES, describe_node

from . import theme
from .grid_model import CELL_MIME

LIBRARY_MIME = "application/x-latent-explorer-library"
TILE = 96
PAGE_CACHE = 600              # thumbnails kept decoded
REFRESH_MS = 2000             # how often another window's changes are looked for
WHEN = [("Any time", None), ("Today", 0), ("Last 7 days", 7), ("Last 30 days", 30), ("Last year", 365)]
SORTS = [("Newest first", "created", True), ("Oldest first", "created", False), ("Recently changed", "modified", True),
         ("Name", "name", False), ("Most stars", "stars", True)]
COLOUR_HEX = {"red": "#e06c75", "orange": "#e5a05b", "yellow": "#e5c07b", "green": "#98c379", "blue": "#61afef",
              "purple": "#c678dd", "grey": "#8b8d95"}


def library_mime(ids: list[int]) -> QMimeData:
    mime = QMimeData()
    mime.setData(LIBRARY_MIME, QByteArray(json.dumps({"ids": [int(i) for i in ids]}).encode()))
    return mime


def ids_from_mime(mime: QMimeData) -> list[int]:
    if not mime.hasFormat(LIBRARY_MIME):
        return []
    try:
        return [int(i) for i in json.loads(bytes(mime.data(LIBRARY_MIME)).decode()).get("ids", [])]
    except (ValueError, UnicodeDecodeError, AttributeError):
        return []


class LibraryModel(QAbstractListModel):
    """The library faces a filter finds, in order; items and thumbnails read lazily, cached."""

    IdRole = Qt.UserRole + 1
    ItemRole = Qt.UserRole + 2

    def __init__(self, lib, parent=None):
        super().__init__(parent)
        self.lib = lib
        self.ids: list[int] = []
        self._items: OrderedDict = OrderedDict()
        self._thumbs: OrderedDict = OrderedDict()
        self.thumbs_read = 0          # thumbnails read from the library (the bench counts them)

    def set_ids(self, ids: list[int]) -> None:
        self.beginResetModel()
        self.ids = list(ids)
        self._items.clear()
        self.endResetModel()

    def forget(self, ids=None) -> None:
        """Items changed: read them again (thumbnails never change)."""
        if ids is None:
            self._items.clear()
        else:
            for i in ids:
                self._items.pop(int(i), None)
        if self.ids:
            self.dataChanged.emit(self.index(0), self.index(len(self.ids) - 1))

    def item(self, fid: int, row: int | None = None):
        """The face's LibraryItem; a miss reads the rows around it too (a screenful in one query)."""
        it = self._items.get(fid)
        if it is None:
            while len(self._items) > 4 * PAGE_CACHE:
                self._items.popitem(last=False)
            near = self.ids[max(0, row - 16):row + 48] if row is not None else []
            missing = [fid] + [i for i in near if i != fid and i not in self._items]
            for got in self.lib.items(missing):
                self._items[got.id] = got
            it = self._items.get(fid)
        return it

    def thumbnail(self, fid: int) -> QPixmap:
        pix = self._thumbs.get(fid)
        if pix is None:
            png = self.lib.thumbnail(fid)
            self.thumbs_read += 1
            img = QImage.fromData(png) if png else QImage()
            pix = QPixmap.fromImage(img) if not img.isNull() else QPixmap()
            self._thumbs[fid] = pix
            if len(self._thumbs) > PAGE_CACHE:
                self._thumbs.popitem(last=False)
        else:
            self._thumbs.move_to_end(fid)
        return pix

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.ids)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.ids):
            return None
        fid = self.ids[index.row()]
        if role == self.IdRole:
            return fid
        it = self.item(fid, index.row())
        if it is None:
            return None
        if role == Qt.DisplayRole:
            return it.name or f"face {fid}"
        if role == self.ItemRole:
            return it
        if role == Qt.ToolTipRole:
            lines = [it.name or f"face {fid}", "★" * it.stars + "☆" * (5 - it.stars)]
            if it.tags:
                lines.append("tags: " + ", ".join(it.tags))
            if it.notes:
                lines.append(it.notes[:200])
            lines.append(f"model: {it.model_name or it.model[:12]}")
            return "\n".join(lines) + "\n\nDrag into the grid, the timeline or the matrix · Return adds it to the grid"
        return None

    def flags(self, index):
        f = super().flags(index)
        return f | Qt.ItemIsDragEnabled if index.isValid() else f | Qt.ItemIsDropEnabled

    def mimeTypes(self) -> list[str]:
        return [LIBRARY_MIME]

    def mimeData(self, indexes) -> QMimeData:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime = library_mime([self.ids[r] for r in rows])
        mime.setText("\n".join(self.data(self.index(r)) or "" for r in rows))
        return mime

    def supportedDragActions(self):
        return Qt.CopyAction


class LibraryDelegate(QStyledItemDelegate):
    """Thumbnail, name, stars, and the colour label and flag as marks."""

    def sizeHint(self, option, index) -> QSize:
        return QSize(TILE + 12, TILE + 40)

    def paint(self, painter: QPainter, option, index) -> None:
        model: LibraryModel = index.model()
        fid = index.data(LibraryModel.IdRole)
        it = index.data(LibraryModel.ItemRole)
        r = option.rect.adjusted(6, 4, -6, -4)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        selected = bool(option.state & QStyle.State_Selected)
        if selected:
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor(theme.ACCENT.red(), theme.ACCENT.green(), theme.ACCENT.blue(), 60))
            painter.drawRoundedRect(option.rect.adjusted(2, 1, -2, -1), 6, 6)
        pic = r.adjusted(0, 0, 0, -(r.height() - TILE))
        pix = model.thumbnail(fid) if fid is not None else QPixmap()
        if not pix.isNull():
            painter.drawPixmap(pic, pix)
        else:
            painter.fillRect(pic, theme.RAISED)
        if it is not None:
            if it.color in COLOUR_HEX:
                painter.setBrush(QColor(COLOUR_HEX[it.color]))
                painter.setPen(Qt.NoPen)
                painter.drawEllipse(pic.right() - 14, pic.top() + 4, 10, 10)
            if it.flag:
                painter.setPen(QColor("#98c379") if it.flag > 0 else theme.ERROR)
                painter.drawText(pic.adjusted(4, 2, 0, 0), Qt.AlignLeft | Qt.AlignTop, "✔" if it.flag > 0 else "✖")
            painter.setPen(theme.TEXT if selected else theme.TEXT_DIM)
            fm = painter.fontMetrics()
            name = fm.elidedText(it.name or f"face {fid}", Qt.ElideRight, r.width())
            painter.drawText(r.adjusted(0, TILE + 2, 0, 0), Qt.AlignHCenter | Qt.AlignTop, name)
            painter.setPen(theme.DROP if it.stars else theme.BORDER)
            painter.drawText(r.adjusted(0, TILE + 2 + fm.height(), 0, 0), Qt.AlignHCenter | Qt.AlignTop,
                             "★" * it.stars + "☆" * (5 - it.stars))
        painter.restore()


class LibraryList(QListView):
    """The grid of kept faces; takes drops of faces from the explorer grid (they are kept)."""
    cellsDropped = Signal(object)      # the QMimeData of a drag from the grid
    keyPressed = Signal(object)        # QKeyEvent the panel handles (stars, flags, return, delete)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.IconMode)
        self.setMovement(QListView.Static)
        self.setResizeMode(QListView.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.Batched)
        self.setBatchSize(200)
        self.setSpacing(2)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(False)
        self.setDragDropMode(QAbstractItemView.DragDrop)
        self.setDefaultDropAction(Qt.CopyAction)
        self.viewport().setAcceptDrops(True)   # a static list view turns drops off on its viewport
        self.setItemDelegate(LibraryDelegate(self))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(CELL_MIME):
            event.setDropAction(Qt.CopyAction)
            event.accept()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(CELL_MIME):
            event.setDropAction(Qt.CopyAction)
            event.accept()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        if event.mimeData().hasFormat(CELL_MIME):
            event.setDropAction(Qt.CopyAction)
            event.accept()
            self.cellsDropped.emit(event.mimeData())
        else:
            event.ignore()

    def keyPressEvent(self, event) -> None:
        handled = (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Delete, Qt.Key_Backspace)
        if (event.text() and event.text() in "012345pPxXuU") or event.key() in handled:
            self.keyPressed.emit(event)
            event.accept()
            return
        super().keyPressEvent(event)


class Stars(QWidget):
    changed = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.buttons = []
        for n in range(1, 6):
            b = QToolButton()
            b.setAutoRaise(True)
            b.setToolTip(f"{n} star{'s' if n > 1 else ''} (key {n}; click the same star again for none)")
            b.clicked.connect(lambda _c=False, n=n: self.changed.emit(0 if self.value == n else n))
            lay.addWidget(b)
            self.buttons.append(b)
        lay.addStretch(1)
        self.value = 0
        self.set_value(0)

    def set_value(self, n: int) -> None:
        self.value = int(n)
        for i, b in enumerate(self.buttons, 1):
            b.setText("★" if i <= n else "☆")


class LibraryPanel(QWidget):
    """The dock's contents. The window gives it the library and handles addToGrid / keepCells."""
    addToGrid = Signal(list)           # library ids, to add to the grid's shown page
    keepCells = Signal(object)         # a grid drag's QMimeData: keep those faces
    transferRequested = Signal(str, list, str)   # 'export' / 'sheet' / 'import', library ids, a name
    message = Signal(str, str)

    def __init__(self, lib, directions=lambda: [], parent=None):
        super().__init__(parent)
        self.lib = lib
        self.directions = directions          # () -> names of stored directions, for the search language
        self.model = LibraryModel(lib, self)
        self.current_id: int | None = None
        self.filter = LibraryFilter()
        self.query_error = ""
        self._build()
        self._search_soon = qdebounced(self.refresh, timeout=150, parent=self)   # as the user types
        self._watch = QTimer(self)
        self._watch.setInterval(REFRESH_MS)
        self._watch.timeout.connect(self._check_elsewhere)
        self._watch.start()
        self.refresh_collections()
        self.refresh()

    # ----- construction -----------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 6)
        outer.setSpacing(6)
        self.search = QLineEdit()
        self.search.setClearButtonEnabled(True)
        self.search.setPlaceholderText('Search: words, #tag, stars>=3, is:pick, smile > 1, in:"Cast"')
        self.search.setToolTip("Find kept faces: words search names, notes and tags; #tag, stars>=N, is:pick, "
                               "is:reject, color:red, in:\"Collection\", model:abc1, and a direction's sigma "
                               "(\"smile > 1\", \"age < -0.5 sigma\", a bare \"glasses\" = > +1 sigma)")
        self.search.textChanged.connect(lambda _t: self._search_soon())
        outer.addWidget(self.search)
        bar = QHBoxLayout()
        self.collection_box = QComboBox()
        self.collection_box.setToolTip("Show one collection (smart collections are saved searches)")
        self.collection_box.currentIndexChanged.connect(lambda _i: self.refresh())
        bar.addWidget(self.collection_box, 2)
        self.stars_box = QComboBox()
        self.stars_box.addItems(["Any stars"] + [f"★{n}+" for n in range(1, 6)])
        self.stars_box.setToolTip("Only faces with at least this many stars")
        self.stars_box.currentIndexChanged.connect(lambda _i: self.refresh())
        bar.addWidget(self.stars_box, 1)
        self.tag_box = QComboBox()
        self.tag_box.setToolTip("Only faces with this tag (the search bar also takes #tag)")
        self.tag_box.currentIndexChanged.connect(lambda _i: self.refresh())
        bar.addWidget(self.tag_box, 1)
        outer.addLayout(bar)
        bar = QHBoxLayout()             # a second row: the dock stays narrow beside the grid
        self.when_box = QComboBox()
        for label, days in WHEN:
            self.when_box.addItem(label, days)
        self.when_box.setToolTip("Only faces kept in this time (the search bar also takes since:2026-11-01, "
                                 "until:…, since:7d, today)")
        self.when_box.currentIndexChanged.connect(lambda _i: self.refresh())
        bar.addWidget(self.when_box, 1)
        self.model_box = QComboBox()
        self.model_box.setToolTip("Only faces of one model")
        self.model_box.currentIndexChanged.connect(lambda _i: self.refresh())
        bar.addWidget(self.model_box, 1)
        self.sort_box = QComboBox()
        self.sort_box.addItems([s[0] for s in SORTS])
        self.sort_box.setToolTip("Order of the faces")
        self.sort_box.currentIndexChanged.connect(lambda _i: self.refresh())
        bar.addWidget(self.sort_box, 1)
        outer.addLayout(bar)
        split = QSplitter(Qt.Vertical)
        self.view = LibraryList()
        self.view.setModel(self.model)
        self.view.selectionModel().currentChanged.connect(lambda cur, _p: self._show_current(cur))
        self.view.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        self.view.doubleClicked.connect(lambda _i: self.add_selected_to_grid())
        self.view.cellsDropped.connect(self.keepCells)
        self.view.keyPressed.connect(self._key)
        self.view.setContextMenuPolicy(Qt.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        split.addWidget(self.view)
        split.addWidget(self._build_details())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([420, 230])
        outer.addWidget(split, 1)
        row = QHBoxLayout()
        self.count_label = QLabel("")
        self.count_label.setProperty("role", "hint")
        row.addWidget(self.count_label, 1)
        self.add_button = QPushButton("Add to Grid")
        self.add_button.setToolTip("Put the selected faces in the grid (Return; or drag them there)")
        self.add_button.clicked.connect(self.add_selected_to_grid)
        row.addWidget(self.add_button)
        self.collect_button = QPushButton("Collections")
        self.collect_button.setToolTip("Put the selected faces in a collection, save this search as a smart "
                                       "collection, rename or delete collections")
        self.collect_menu = QMenu(self)
        self.collect_menu.aboutToShow.connect(self._fill_collect_menu)
        self.collect_button.setMenu(self.collect_menu)
        row.addWidget(self.collect_button)
        outer.addLayout(row)

    def _build_details(self) -> QWidget:
        tabs = QTabWidget()
        tabs.setDocumentMode(True)
        box = QWidget()
        form = QFormLayout(box)
        form.setContentsMargins(0, 4, 0, 0)
        self.name_edit = QLineEdit()
        self.name_edit.setToolTip("The face's name (Return keeps it)")
        self.name_edit.editingFinished.connect(lambda: self._update_current(name=self.name_edit.text()))
        form.addRow("Name", self.name_edit)
        self.stars = Stars()
        self.stars.changed.connect(lambda n: self.set_stars(n))
        flags = QHBoxLayout()
        flags.addWidget(self.stars)
        self.pick_button = QToolButton()
        self.pick_button.setText("✔ Pick")
        self.pick_button.setCheckable(True)
        self.pick_button.setToolTip("Mark as a pick (P)")
        self.pick_button.clicked.connect(lambda on: self.set_flag(1 if on else 0))
        self.reject_button = QToolButton()
        self.reject_button.setText("✖ Reject")
        self.reject_button.setCheckable(True)
        self.reject_button.setToolTip("Mark as rejected (X)")
        self.reject_button.clicked.connect(lambda on: self.set_flag(-1 if on else 0))
        flags.addWidget(self.pick_button)
        flags.addWidget(self.reject_button)
        self.colour_box = QComboBox()
        self.colour_box.addItems(["no colour"] + [c for c in COLOURS if c])
        self.colour_box.setToolTip("Colour label")
        self.colour_box.currentIndexChanged.connect(
            lambda i: self._update_selected(color=("" if i == 0 else COLOURS[i])))
        flags.addWidget(self.colour_box)
        form.addRow("Rating", flags)
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("tags, separated by commas")
        self.tags_edit.setToolTip("Tags of this face (Return keeps them); search them with #tag")
        self.tags_edit.editingFinished.connect(self._tags_edited)
        form.addRow("Tags", self.tags_edit)
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setFixedHeight(52)
        self.notes_edit.setToolTip("Notes (kept as you type; searched by the search bar)")
        self._notes_soon = qdebounced(lambda: self._update_current(notes=self.notes_edit.toPlainText()),
                                      timeout=600, parent=self)           # kept as typed
        self.notes_edit.textChanged.connect(lambda: self._notes_soon())
        form.addRow("Notes", self.notes_edit)
        self.family = QListWidget()
        self.family.setViewMode(QListWidget.IconMode)
        self.family.setIconSize(QSize(48, 48))
        self.family.setFixedHeight(86)
        self.family.setFlow(QListWidget.LeftToRight)
        self.family.setWrapping(False)
        self.family.setToolTip("This face's family: the faces it was made from, the faces made from it, and "
                               "faces like it; click one to go there")
        self.family.itemClicked.connect(lambda item: self.go_to(item.data(Qt.UserRole)))
        tabs.addTab(box, "Details")
        fam = QWidget()
        form = QFormLayout(fam)
        form.setContentsMargins(0, 4, 0, 0)
        form.addRow("Family", self.family)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setMinimumHeight(80)
        self.tree.setToolTip("How this face was made, step by step from its recipe (★: a kept face, click to go "
                             "there), and the kept faces made from it")
        self.tree.itemClicked.connect(lambda item, _c: item.data(0, Qt.UserRole) is not None
                                      and self.go_to(item.data(0, Qt.UserRole)))
        form.addRow("Lineage", self.tree)
        tabs.addTab(fam, "Family")
        tabs.setTabToolTip(1, "Where this face comes from and what was made from it")
        self.details = tabs
        return tabs

    # ----- filtering ----------------------------------------------------------------------------------
    def current_filter(self) -> LibraryFilter:
        label, sort, desc = SORTS[self.sort_box.currentIndex()]
        base = LibraryFilter(min_stars=self.stars_box.currentIndex(), sort=sort, descending=desc)
        coll = self.collection_box.currentData()
        if coll:
            base.collection = coll
        days = self.when_box.currentData()
        if days is not None:
            base.since = day_time(f"{int(days)}d")
        if self.model_box.currentData():
            base.model = self.model_box.currentData()
        if self.tag_box.currentData():
            base.tags = [self.tag_box.currentData()]
        return parse_query(self.search.text(), self.directions(), base)

    def refresh(self) -> None:
        try:
            flt = self.current_filter()
            self.query_error = ""
        except ValueError as e:
            self.query_error = str(e)
            self.count_label.setText(self.query_error)
            self.search.setStyleSheet(f"border: 1px solid {theme.ERROR.name()};")
            return
        self.search.setStyleSheet("")
        self.filter = flt
        keep = self.selected_ids()
        try:
            ids = self.lib.find(flt)
        except (LibraryError, KeyError) as e:
            self.count_label.setText(str(e.args[0] if isinstance(e, KeyError) else e))
            return
        self.model.set_ids(ids)
        total = self.lib.count()
        self.count_label.setText(f"{len(ids):,} of {total:,} faces" if len(ids) != total else f"{total:,} faces")
        if keep:
            self.select_ids(keep)
        self._show_current(self.view.currentIndex())
        self._update_buttons()

    def refresh_collections(self) -> None:
        current = self.collection_box.currentData()
        with signals_blocked(self.collection_box):
            self.collection_box.clear()
            self.collection_box.addItem("All faces", None)
            for c in self.lib.collections():
                self.collection_box.addItem(f"{'⚙ ' if c.query is not None else ''}{c.name} ({c.count})", c.name)
            i = self.collection_box.findData(current)
            self.collection_box.setCurrentIndex(max(0, i))
        tag = self.tag_box.currentData()
        with signals_blocked(self.tag_box):
            self.tag_box.clear()
            self.tag_box.addItem("Any tag", None)
            for name, n in self.lib.all_tags():
                self.tag_box.addItem(f"#{name} ({n})", name)
            self.tag_box.setCurrentIndex(max(0, self.tag_box.findData(tag)))
        model = self.model_box.currentData()
        with signals_blocked(self.model_box):
            self.model_box.clear()
            self.model_box.addItem("All models", None)
            for fingerprint, name, _path, n in self.lib.models():
                self.model_box.addItem(f"{name or fingerprint[:8]} ({n})", fingerprint)
            self.model_box.setCurrentIndex(max(0, self.model_box.findData(model)))

    def stop(self) -> None:
        """The window closes (and the library with it): stop looking for changes."""
        self._watch.stop()
        self._search_soon.cancel()
        self._notes_soon.cancel()

    def _check_elsewhere(self) -> None:
        """Another window (or the CLI) changed the library: show it."""
        try:
            changed = self.lib.changed_elsewhere()
        except (LibraryError, sqlite3.Error):      # closed with its window, or busy: next time
            return
        if changed:
            self.model.forget()
            self.refresh_collections()
            self.refresh()

    # ----- selection ----------------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        return [self.model.ids[r] for r in rows if r < len(self.model.ids)]

    def select_ids(self, ids: list[int]) -> None:
        from PySide6.QtCore import QItemSelectionModel

        sm = self.view.selectionModel()
        sm.clearSelection()
        rows = {fid: r for r, fid in enumerate(self.model.ids)}
        first = None
        for fid in ids:
            r = rows.get(int(fid))
            if r is not None:
                idx = self.model.index(r)
                sm.select(idx, QItemSelectionModel.Select)
                first = first or idx
        if first is not None:
            sm.setCurrentIndex(first, QItemSelectionModel.NoUpdate)
            self.view.scrollTo(first)

    def go_to(self, fid: int) -> None:
        """Show a face of the library (a relative clicked in the family row), clearing filters
        that hide it."""
        if fid not in self.model.ids:
            with signals_blocked(self.search), signals_blocked(self.stars_box), signals_blocked(self.collection_box):
                self.search.clear()
                self.stars_box.setCurrentIndex(0)
                self.collection_box.setCurrentIndex(0)
            self.refresh()
        self.select_ids([fid])
        self._show_current(self.view.currentIndex())

    def _update_buttons(self) -> None:
        n = len(self.selected_ids())
        self.add_button.setEnabled(n > 0)
        self.details.setEnabled(self.current_id is not None)

    # ----- details ------------------------------------------------------------------------------------
    def _show_current(self, index) -> None:
        fid = index.data(LibraryModel.IdRole) if index is not None and index.isValid() else None
        self.current_id = fid
        it = self.model.item(fid) if fid is not None else None
        with signals_blocked(self.name_edit), signals_blocked(self.tags_edit), signals_blocked(self.notes_edit), \
                signals_blocked(self.colour_box):
            self.name_edit.setText(it.name if it else "")
            self.tags_edit.setText(", ".join(it.tags) if it else "")
            self.notes_edit.setPlainText(it.notes if it else "")
            self.colour_box.setCurrentIndex(COLOURS.index(it.color) if it and it.color in COLOURS else 0)
        self.stars.set_value(it.stars if it else 0)
        self.pick_button.setChecked(bool(it and it.flag > 0))
        self.reject_button.setChecked(bool(it and it.flag < 0))
        self._fill_family(fid)
        self._update_buttons()

    def _fill_tree(self, fid) -> None:
        """The recipe's tree (each step; kept ones marked and clickable) and the kept children."""
        self.tree.clear()
        if fid is None:
            return
        try:
            recipe = self.lib.get(fid, with_recipe=True).recipe or {}
        except (LibraryError, KeyError):
            return
        nodes = []

        def walk(r: dict, role: str = ""):
            nodes.append(r)
            for sub in r.get("inputs") or []:
                if isinstance(sub, dict):
                    walk(sub)

        walk(recipe)
        kept = self.lib.by_keys(recipe_key(r) for r in nodes)

        def build(r: dict, parent, role: str = "") -> QTreeWidgetItem:
            fid_here = kept.get(recipe_key(r))
            text = describe_node(r)
            if fid_here is not None:
                it = self.model.item(fid_here) or next(iter(self.lib.items([fid_here])), None)
                text = f"★ {(it.name if it else '') or f'face {fid_here}'} — {text}"
            item = QTreeWidgetItem(parent, [f"{role}: {text}" if role else text])
            item.setToolTip(0, text)
            if fid_here is not None:
                item.setData(0, Qt.UserRole, int(fid_here))
            roles = INPUT_ROLES.get(str(r.get("plugin")), ())
            for i, sub in enumerate(r.get("inputs") or []):
                if isinstance(sub, dict):
                    build(sub, item, roles[i] if i < len(roles) else f"input {i + 1}")
            return item

        root = build(recipe, self.tree)
        children = self.lib.children(fid)
        if children:
            made = QTreeWidgetItem(self.tree, [f"made from it: {len(children)} kept"])
            for c in children:
                it = self.model.item(c) or next(iter(self.lib.items([c])), None)
                item = QTreeWidgetItem(made, [f"★ {(it.name if it else '') or f'face {c}'}"])
                item.setData(0, Qt.UserRole, int(c))
        self.tree.expandAll()
        self.tree.setCurrentItem(root)

    def _fill_family(self, fid) -> None:
        self.family.clear()
        self._fill_tree(fid)
        if fid is None:
            return
        try:
            groups = [("parent", self.lib.parents(fid)), ("child", self.lib.children(fid)),
                      ("similar", [i for i, _d in self.lib.similar(fid, k=6)])]
        except LibraryError:
            return
        for role, ids in groups:
            for other in ids:
                it = self.model.item(other) or next(iter(self.lib.items([other])), None)
                item = QListWidgetItem(self.model.thumbnail(other), role)
                item.setData(Qt.UserRole, int(other))
                item.setToolTip(f"{role}: {(it.name if it else '') or f'face {other}'}")
                self.family.addItem(item)

    def _update_current(self, **fields) -> None:
        if self.current_id is None:
            return
        self._write([self.current_id], **fields)

    def _update_selected(self, **fields) -> None:
        ids = self.selected_ids() or ([self.current_id] if self.current_id is not None else [])
        if ids:
            self._write(ids, **fields)

    def _write(self, ids: list[int], **fields) -> bool:
        it = self.model.item(ids[0]) if len(ids) == 1 else None
        if it is not None and all(getattr(it, k) == v for k, v in fields.items()):
            return True
        try:
            self.lib.update(ids, **fields)
        except (LibraryError, ValueError) as e:
            self.message.emit(str(e), "error")
            return False
        self.lib.changed_elsewhere()          # our own change: nothing to reload from elsewhere
        self.model.forget(ids)
        if self.current_id in ids:
            self._show_current(self.view.currentIndex())
        return True

    def set_stars(self, n: int) -> None:
        self._update_selected(stars=int(n))

    def set_flag(self, flag: int) -> None:
        self._update_selected(flag=int(flag))

    def set_tags(self, tags: list[str]) -> None:
        if self.current_id is None:
            return
        try:
            self.lib.set_tags(self.current_id, tags)
        except (LibraryError, ValueError) as e:
            self.message.emit(str(e), "error")
            return
        self.lib.changed_elsewhere()
        self.model.forget([self.current_id])
        self._show_current(self.view.currentIndex())

    def _tags_edited(self) -> None:
        tags = [t.strip().lstrip("#") for t in self.tags_edit.text().split(",") if t.strip()]
        it = self.model.item(self.current_id) if self.current_id is not None else None
        if it is not None and list(it.tags) != tags:
            self.set_tags(tags)
            self.refresh_collections()          # the tag list

    # ----- actions ------------------------------------------------------------------------------------
    def add_selected_to_grid(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.addToGrid.emit(ids)

    def remove_selected(self, confirm=True) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        if confirm:
            answer = QMessageBox.question(self, "Remove from Library",
                                          f"Remove {len(ids)} face{'s' if len(ids) != 1 else ''} from the library? "
                                          "Faces in the grid stay.")
            if answer != QMessageBox.Yes:
                return
        try:
            self.lib.remove(ids)
        except LibraryError as e:
            self.message.emit(str(e), "error")
            return
        self.lib.changed_elsewhere()
        self.refresh_collections()
        self.refresh()

    def _key(self, event) -> None:
        t = event.text().lower()
        if t in "012345" and t:
            self.set_stars(int(t))
        elif t == "p":
            self.set_flag(1)
        elif t == "x":
            self.set_flag(-1)
        elif t == "u":
            self.set_flag(0)
        elif event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self.add_selected_to_grid()
        elif event.key() in (Qt.Key_Delete, Qt.Key_Backspace):
            self.remove_selected()

    def _context_menu(self, pos) -> None:
        menu = QMenu(self)
        menu.addAction("Add to Grid", self.add_selected_to_grid)
        self._fill_collect_menu(menu.addMenu("Collections"))
        menu.addSeparator()
        menu.addAction("Remove from Library…", self.remove_selected)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    # ----- collections ------------------------------------------------------------------------------------
    def _fill_collect_menu(self, menu: QMenu | None = None) -> None:
        menu = menu if isinstance(menu, QMenu) else self.collect_menu
        menu.clear()
        ids = self.selected_ids()
        add = menu.addMenu("Add Selected to")
        add.setEnabled(bool(ids))
        plain = [c for c in self.lib.collections() if c.query is None]
        for c in plain:
            add.addAction(c.name, lambda n=c.name: self.add_to_collection(n, ids))
        add.addAction("New Collection…", lambda: self.new_collection(ids=ids))
        current = self.collection_box.currentData()
        rm = menu.addAction(f"Remove Selected from “{current}”" if current else "Remove Selected from Collection",
                            lambda: self.remove_from_collection(current, ids))
        rm.setEnabled(bool(current and ids and any(c.name == current for c in plain)))
        menu.addSeparator()
        shown = list(self.model.ids)
        what = f"“{current}”" if current else "These Faces"
        exp = menu.addAction(f"Export Selected ({len(ids)})…", lambda: self.transferRequested.emit("export", ids, "selection"))
        exp.setEnabled(bool(ids))
        exp_all = menu.addAction(f"Export {what} ({len(shown)})…",
                                 lambda: self.transferRequested.emit("export", shown, current or "library"))
        sheet = menu.addAction(f"Contact Sheet of {what}…",
                               lambda: self.transferRequested.emit("sheet", ids if len(ids) > 1 else shown,
                                                                   current or "Latent Explorer library"))
        exp_all.setEnabled(bool(shown))
        sheet.setEnabled(bool(shown))
        menu.addAction("Import Collection…", lambda: self.transferRequested.emit("import", [], ""))
        menu.addSeparator()
        menu.addAction("Save Search as Smart Collection…", lambda: self.new_collection(smart=True))
        menu.addSeparator()
        ren = menu.addAction("Rename Collection…", lambda: self.rename_collection(current))
        dele = menu.addAction("Delete Collection", lambda: self.delete_collection(current))
        ren.setEnabled(bool(current))
        dele.setEnabled(bool(current))

    def _ask_name(self, title: str, text: str = "") -> str:
        name, ok = QInputDialog.getText(self, title, "Name:", text=text)
        return name.strip() if ok else ""

    def new_collection(self, name: str | None = None, ids=None, smart: bool = False) -> str:
        name = name or self._ask_name("New Smart Collection" if smart else "New Collection")
        if not name:
            return ""
        try:
            self.lib.create_collection(name, self.filter if smart else None)
            if ids:
                self.lib.add_to_collection(name, ids)
        except (LibraryError, ValueError) as e:
            self.message.emit(str(e), "error")
            return ""
        self.refresh_collections()
        self.message.emit(f"Collection “{name}”" + (f" with {len(ids)} faces." if ids else "."), "info")
        return name

    def add_to_collection(self, name: str, ids) -> None:
        try:
            self.lib.add_to_collection(name, ids)
        except (LibraryError, ValueError, KeyError) as e:
            self.message.emit(str(e), "error")
            return
        self.refresh_collections()

    def remove_from_collection(self, name, ids) -> None:
        try:
            self.lib.remove_from_collection(name, ids)
        except (LibraryError, ValueError, KeyError) as e:
            self.message.emit(str(e), "error")
            return
        self.refresh_collections()
        self.refresh()

    def rename_collection(self, name) -> None:
        new = self._ask_name("Rename Collection", name or "")
        if name and new and new != name:
            try:
                self.lib.rename_collection(name, new)
            except (LibraryError, ValueError, KeyError) as e:
                self.message.emit(str(e), "error")
                return
            self.refresh_collections()
            self.collection_box.setCurrentIndex(max(0, self.collection_box.findData(new)))

    def delete_collection(self, name) -> None:
        if name:
            try:
                self.lib.delete_collection(name)
            except (LibraryError, KeyError) as e:
                self.message.emit(str(e), "error")
                return
            self.refresh_collections()
            self.refresh()
