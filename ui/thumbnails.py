"""Asks the render service for exactly the thumbnails the grid needs, as the user scrolls.

Visible cells go at VISIBLE priority, the next screen or two at PREFETCH; cells that scrolled
far away are cancelled, cells whose thumbnail size changed are asked again (the old picture is
drawn scaled meanwhile). One token per cell, so a newer request supersedes an older one.
The grid grows at its end (`needMore`) when the user nears it.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from explorer.render import Priority, RenderResult, Status

from .grid_model import Cell, GridModel
from .grid_view import GridView
from .render_bridge import RenderBridge, to_qimage

PREFETCH_SCREENS = 2      # screens below the visible one rendered ahead
GROW_SCREENS = 2          # grow the grid when fewer than this many screens are left below


class ThumbnailScheduler(QObject):
    needMore = Signal(int)        # how many more cells the stream should append
    allVisibleReady = Signal()    # every on-screen cell has its thumbnail at the current size

    def __init__(self, model: GridModel, view: GridView, bridge: RenderBridge, parent=None):
        super().__init__(parent)
        self.model, self.view, self.bridge = model, view, bridge
        self.resolution = 0                                 # the model's; 0 = no model yet
        self.grow = True
        self.post = None          # callable(image, latent) -> image: a latent's recorded image edits
        self._inflight: dict[int, tuple[object, int, Priority]] = {}   # uid -> (ticket, size, priority)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(15)
        self._timer.timeout.connect(self.update)
        self._size_timer = QTimer(self)   # thumbnail slider: wait until the hand rests
        self._size_timer.setSingleShot(True)
        self._size_timer.setInterval(150)
        self._size_timer.timeout.connect(self.update)
        view.visibleRowsChanged.connect(self.schedule)
        view.thumbSizeChanged.connect(lambda _px: self._size_timer.start())
        model.rowsInserted.connect(self.schedule)
        model.rowsRemoved.connect(self.schedule)
        model.modelReset.connect(self.schedule)

    def schedule(self, *_args) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def request_size(self) -> int:
        """Thumbnail pixels to render: the on-screen size in device pixels, never above the model's."""
        px = int(round(self.view.thumb_size * self.view.devicePixelRatioF()))
        return max(1, min(px, self.resolution or px))

    def reset(self, resolution: int) -> None:
        """A new model: forget everything in flight (the service ends it as superseded)."""
        self._inflight.clear()
        self.resolution = resolution
        self.schedule()

    def update(self) -> None:
        if not self.bridge.ready or not self.resolution:
            return
        n = self.model.rowCount()
        per_screen = max(1, self.view.rows_per_screen())
        if self.grow and self.view.isVisible() and n - self.view.visible_rows().stop < GROW_SCREENS * per_screen:
            self.needMore.emit(max(per_screen * GROW_SCREENS, 24))
            n = self.model.rowCount()
        size = self.request_size()
        visible = self.view.visible_rows()
        ahead = range(visible.stop, min(n, visible.stop + PREFETCH_SCREENS * per_screen))
        wanted: dict[int, tuple[Cell, Priority]] = {}
        for rows, prio in ((visible, Priority.VISIBLE), (ahead, Priority.PREFETCH)):
            for row in rows:
                cell = self.model.cell(row)
                if cell.image_size != size and not (cell.state == "error" and cell.image_size == -size):
                    wanted[cell.uid] = (cell, prio)
        for uid, (ticket, tsize, tprio) in list(self._inflight.items()):
            want = wanted.get(uid)
            if want is None or tsize != size:
                del self._inflight[uid]
                ticket.cancel()
            elif want[1] == tprio or (tprio < want[1]):
                del wanted[uid]       # already on its way at this size and at least this priority
        for uid, (cell, prio) in wanted.items():
            if cell.image is None or cell.image_size != size:
                cell.state = "pending" if cell.state != "error" else cell.state
            self._submit(cell, size, prio)
        if not any(c.image_size != size for c in (self.model.cell(r) for r in visible)) and n:
            self.allVisibleReady.emit()

    def _submit(self, cell: Cell, size: int, prio: Priority) -> None:
        holder: dict = {}

        def on_result(result: RenderResult, uid=cell.uid, size=size):
            self._on_result(uid, size, holder.get("ticket"), result)

        ticket = self.bridge.submit([cell.latent], size, on_result, priority=prio, token=("thumb", cell.uid))
        holder["ticket"] = ticket
        if ticket is not None and not ticket.done:
            self._inflight[cell.uid] = (ticket, size, prio)

    def _on_result(self, uid: int, size: int, ticket, result: RenderResult) -> None:
        entry = self._inflight.get(uid)
        if entry is not None and ticket is not None and entry[0] is ticket:
            del self._inflight[uid]
        if result.status not in (Status.OK, Status.ERROR):
            return
        cell = self.model.cell_by_uid(uid)
        if cell is None:
            return
        if result.status is Status.OK and result.images and result.images[0] is not None:
            image = result.images[0]
            if cell.latent.post and self.post is not None:
                try:
                    image = self.post(image, cell.latent)
                except Exception as e:  # noqa: BLE001 - a failing image plugin shows as a failed cell
                    result.status, result.error = Status.ERROR, f"image edit failed: {e}"
            cell.image = to_qimage(image)
            cell.image_size, cell.state, cell.error = size, "ready", ""
        else:
            cell.state, cell.error = "error", result.error or "rendering failed"
            cell.image_size = -size   # do not ask again at this size (a new size tries again)
        self.model.cell_changed(cell)
        self.schedule()

    def pending(self) -> int:
        return len(self._inflight)
