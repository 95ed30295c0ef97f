"""The grid's list model: one Cell (a Latent, its thumbnail and its render state) per row.

Cells keep their identity (uid) through undo and redo, so a cell that comes back keeps its
thumbnail and tokens. Drags carry cell uids in a custom mime type; drops are handled by the
view and the window (a drop asks which layer group to mix), not by this model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Sequence

from PySide6.QtCore import QAbstractListModel, QByteArray, QMimeData, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QImage

from explorer.latents import describe
from explorer.recipe_text import recipe_tree, short_label
from explorer.session import Face, Session

from .session_signals import SessionSignals

CELL_MIME = "application/x-latent-explorer-cells"


class Roles:
    Latent = Qt.UserRole + 1
    Cell = Qt.UserRole + 2
    State = Qt.UserRole + 3
    Image = Qt.UserRole + 4
    Uid = Qt.UserRole + 5


@dataclass(eq=False)
class Cell(Face):
    """A face of the session with its thumbnail and render state (what only the window needs)."""
    image: QImage | None = None      # last thumbnail (maybe of another size while a new one renders)
    image_size: int = 0              # the size `image` was rendered at
    state: str = "pending"           # pending | ready | error
    preview: bool = False            # `image` came through the cheap preview path; full quality follows
    error: str = ""
    kept: bool = False               # kept in the library from this grid (its star shows filled)

    @cached_property
    def label(self) -> str:          # the latent never changes, so neither does its caption
        return short_label(self.latent.recipe)


class GridModel(QAbstractListModel):
    """The shown page of a Session, as a Qt list model. It mirrors the session's events (the
    session owns the faces; changes go to the session, which tells this model)."""

    def __init__(self, parent=None, session: Session | None = None):
        super().__init__(parent)
        self._cells: list[Cell] = []
        self._rows: dict[int, int] | None = None   # uid -> row, rebuilt lazily
        self.groups: dict | None = None            # the model's layer groups, for the recipe tooltips
        self.session: Session | None = None
        self._unsubscribe = None
        # other drags that bring faces (the library's): formats, and mime -> new cells in the grid
        self.external_formats: tuple[str, ...] = ()
        self.external = None
        self.set_session(session if session is not None else Session(face_factory=Cell))

    def set_session(self, session: Session) -> None:
        """Mirror `session`; `session_signals` is the one Qt adapter over its events (every view
        of the session connects to it)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.session = session
        self.session_signals = SessionSignals(session, self)
        self.session_signals.changed.connect(self._on_session)
        self._unsubscribe = self.session_signals.detach
        self._mirror_page()

    def _on_session(self, kind: str, data: dict) -> None:
        s = self.session
        if kind == "inserted" and data["page"] is s.page:
            row, faces = data["row"], data["faces"]
            self.beginInsertRows(QModelIndex(), row, row + len(faces) - 1)
            self._cells[row:row] = faces
            self._rows = None
            self.endInsertRows()
        elif kind == "removed" and data["page"] is s.page:
            rows = sorted((r for r in (self.row_of(c) for c in data["faces"]) if r >= 0), reverse=True)
            for start, stop in _runs(rows):
                self.beginRemoveRows(QModelIndex(), start, stop)
                del self._cells[start:stop + 1]
                self._rows = None
                self.endRemoveRows()
        elif kind == "page":
            self._mirror_page()

    def _mirror_page(self) -> None:
        self.beginResetModel()
        self._cells = list(self.session.page.faces)
        self._rows = None
        self.endResetModel()

    # ----- Qt model API -----------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._cells)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._cells):
            return None
        cell = self._cells[index.row()]
        if role == Qt.DisplayRole:
            return cell.label
        if role == Qt.ToolTipRole:
            lines = recipe_tree(cell.latent.recipe, self.groups).lines()   # the whole recipe, readable
            tip = "\n".join(lines[:14] + (["  …"] if len(lines) > 14 else []))
            if cell.state == "error":
                tip += f"\n\nRendering failed: {cell.error}"
            return tip + "\n\nDrag onto another face to mix them · double-click to open large"
        if role == Roles.Cell:
            return cell
        if role == Roles.Latent:
            return cell.latent
        if role == Roles.State:
            return cell.state
        if role == Roles.Image:
            return cell.image
        if role == Roles.Uid:
            return cell.uid
        return None

    def flags(self, index):
        base = super().flags(index)
        if index.isValid():
            return base | Qt.ItemIsDragEnabled | Qt.ItemIsDropEnabled
        return base | Qt.ItemIsDropEnabled

    def supportedDragActions(self):
        return Qt.CopyAction

    def supportedDropActions(self):
        return Qt.CopyAction

    def mimeTypes(self) -> list[str]:
        return [CELL_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        uids = [self._cells[r].uid for r in rows]
        mime = QMimeData()
        mime.setData(CELL_MIME, QByteArray(json.dumps({"model": id(self), "uids": uids}).encode()))
        mime.setText("\n".join(describe(self._cells[r].latent.recipe) for r in rows))
        return mime

    def dropMimeData(self, *args) -> bool:  # drops are mixes, decided by the window
        return False

    # ----- cells ------------------------------------------------------------------------
    @property
    def cells(self) -> list[Cell]:
        return list(self._cells)

    def cell(self, row: int) -> Cell:
        return self._cells[row]

    def row_of(self, cell_or_uid) -> int:
        """Row of a cell (or uid); -1 when it is not in the grid."""
        uid = cell_or_uid if isinstance(cell_or_uid, int) else cell_or_uid.uid
        if self._rows is None:
            self._rows = {c.uid: i for i, c in enumerate(self._cells)}
        return self._rows.get(uid, -1)

    def cell_by_uid(self, uid: int) -> Cell | None:
        r = self.row_of(uid)
        return self._cells[r] if r >= 0 else None

    def accepts(self, mime: QMimeData) -> bool:
        """A drag that brings faces: cells of this grid, or faces from elsewhere (the library)."""
        return mime.hasFormat(CELL_MIME) or any(mime.hasFormat(f) for f in self.external_formats)

    def cells_from_mime(self, mime: QMimeData) -> list[Cell]:
        """The cells a drag from this model carries; faces from the library are put into the grid
        first (one undoable step) and their new cells returned; [] for other drags."""
        if not mime.hasFormat(CELL_MIME):
            if self.external is not None and self.accepts(mime):
                return list(self.external(mime, None) or [])
            return []
        try:
            payload = json.loads(bytes(mime.data(CELL_MIME)).decode())
        except (ValueError, UnicodeDecodeError):
            return []
        if payload.get("model") != id(self):
            return []
        return [c for c in (self.cell_by_uid(int(u)) for u in payload.get("uids", [])) if c is not None]

    def insert_cells(self, row: int, cells: Iterable[Cell]) -> None:
        """Into the shown page of the session (which tells this model)."""
        self.session.insert(row, cells)

    def append_cells(self, cells: Iterable[Cell]) -> None:
        self.session.append(cells)

    def remove_cells(self, cells: Iterable[Cell]) -> None:
        self.session.remove(cells)

    def cell_changed(self, cell: Cell) -> None:
        r = self.row_of(cell)
        if r >= 0:
            idx = self.index(r)
            self.dataChanged.emit(idx, idx, [Roles.Image, Roles.State])

    def index_of(self, cell: Cell) -> QModelIndex:
        r = self.row_of(cell)
        return self.index(r) if r >= 0 else QModelIndex()

    def persistent(self, cell: Cell) -> QPersistentModelIndex:
        return QPersistentModelIndex(self.index_of(cell))


def _runs(desc_rows: list[int]):
    """Descending rows -> (start, stop) runs of consecutive rows, last run first."""
    i = 0
    while i < len(desc_rows):
        stop = desc_rows[i]
        start = stop
        while i + 1 < len(desc_rows) and desc_rows[i + 1] == start - 1:
            i += 1
            start -= 1
        yield start, stop
        i += 1
