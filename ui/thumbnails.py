"""Asks the render service for exactly the thumbnails the grid needs, as the user scrolls.

Visible cells go at VISIBLE priority, then (previews shown) their full renders at REFINE, the
next screens at PREFETCH; requests for cells that
scrolled far away are cancelled, cells whose thumbnail size changed are asked again (the old
picture is drawn scaled meanwhile). Neighbouring cells travel in small groups: one request per
few cells keeps the grid filling progressively while touching the service's lock (and the GIL
handover that comes with it) a few times per screen rather than once per cell. The grid grows at
its end (`needMore`) when the user nears it.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from superqt.utils import qdebounced, qthrottled

from explorer.render import Priority, RenderResult, Status

from .grid_model import Cell, GridModel
from .grid_view import GridView
from .render_bridge import RenderBridge, to_qimage

def fit(image, size: int):
    """uint8 [H, W, C] scaled to size x size (Lanczos) when it is not that size already."""
    import numpy as np
    from PIL import Image

    if image.shape[0] == size and image.shape[1] == size:
        return image
    arr = image[..., 0] if image.shape[2] == 1 else image
    out = np.asarray(Image.fromarray(np.ascontiguousarray(arr)).resize((size, size), Image.LANCZOS))
    return out[..., None] if out.ndim == 2 else out


PREFETCH_SCREENS = 2      # screens below the visible one rendered ahead
GROW_SCREENS = 2          # grow the grid when fewer than this many screens are left below
GROUP = 6                 # cells per render request
MAX_GROUPS_PER_PASS = 8   # requests submitted per event-loop turn
MAX_CANCELS_PER_PASS = 16


class _Group:
    __slots__ = ("uids", "size", "prio", "ticket", "preview")

    def __init__(self, uids: list[int], size: int, prio: Priority, preview: bool = False):
        self.uids, self.size, self.prio, self.ticket, self.preview = uids, size, prio, None, preview


class ThumbnailScheduler(QObject):
    needMore = Signal(int)        # how many more cells the stream should append
    allVisibleReady = Signal()    # every on-screen cell has its thumbnail at the current size

    def __init__(self, model: GridModel, view: GridView, bridge: RenderBridge, parent=None):
        super().__init__(parent)
        self.model, self.view, self.bridge = model, view, bridge
        self.resolution = 0                                 # the model's; 0 = no model yet
        self.grow = True
        self.post = None          # callable(image, latent) -> image: a latent's recorded image edits
        # slow image edits (style transfer): is_slow(latent) -> bool, post_async(image, latent, on_done)
        # with on_done(image | None, why | None). Such cells render at full size, are finished in the
        # background and scaled down, showing the plain picture dimmed meanwhile.
        self.is_slow = None
        self.post_async = None
        self._styling: dict[int, int] = {}                  # uid -> thumbnail size being finished
        # big StyleGAN2 skip models: pictures first through the preview path (the generator stops at
        # the thumbnail's block), then the visible ones again in full, behind every first picture
        self.previews = True
        self._inflight: dict[int, _Group] = {}              # uid -> the request bringing its picture
        # bursts of scrolling / inserted rows: one update at the end of each 15 ms; the thumbnail
        # slider: one update once the hand rests
        self._update_soon = qthrottled(lambda: self.update(), timeout=15, leading=False, parent=self)
        self._update_when_sized = qdebounced(lambda: self.update(), timeout=150, parent=self)
        view.visibleRowsChanged.connect(self.schedule)
        view.thumbSizeChanged.connect(lambda _px: self._update_when_sized())
        model.rowsInserted.connect(self.schedule)
        model.rowsRemoved.connect(self.schedule)
        model.modelReset.connect(self.schedule)

    def schedule(self, *_args) -> None:
        self._update_soon()

    def request_size(self) -> int:
        """Thumbnail pixels to render: the on-screen size in device pixels, never above the model's."""
        px = int(round(self.view.thumb_size * self.view.devicePixelRatioF()))
        return max(1, min(px, self.resolution or px))

    def reset(self, resolution: int) -> None:
        """A new model: forget everything in flight (the service ends it as superseded)."""
        self._inflight.clear()
        self._styling.clear()
        self.resolution = resolution
        self.schedule()

    def pending(self) -> int:
        return len(self._inflight) + len(self._styling)

    def _needs(self, cell: Cell, size: int) -> bool:
        return (cell.image_size != size and not (cell.state == "error" and cell.image_size == -size)
                and self._styling.get(cell.uid) != size)

    def _use_preview(self, size: int) -> bool:
        service = self.bridge.service
        return self.previews and service is not None and service.preview_applies(size)

    def _slow(self, cell: Cell) -> bool:
        return bool(cell.latent.post) and self.is_slow is not None and self.post_async is not None \
            and self.is_slow(cell.latent)

    def update(self) -> None:
        if not self.bridge.ready or not self.resolution:
            return
        n = self.model.rowCount()
        per_screen = max(1, self.view.rows_per_screen())
        if self.grow and self.view.isVisible() and n - self.view.visible_rows().stop < GROW_SCREENS * per_screen:
            self.needMore.emit(max(per_screen * GROW_SCREENS, 24))
        size = self.request_size()
        visible = self.view.visible_rows()
        ahead = range(visible.stop, min(n, visible.stop + PREFETCH_SCREENS * per_screen))
        wanted: dict[int, tuple[Cell, Priority, bool]] = {}
        preview = self._use_preview(size)
        refine = []
        for rows, prio in ((visible, Priority.VISIBLE), (ahead, Priority.PREFETCH)):
            for row in rows:
                cell = self.model.cell(row)
                if self._needs(cell, size):
                    wanted[cell.uid] = (cell, prio, preview and not self._slow(cell))
                elif cell.preview and prio is Priority.VISIBLE and cell.image_size == size:
                    refine.append(cell)
        if not any(w[1] is Priority.VISIBLE for w in wanted.values()):
            for cell in refine:       # every visible first picture is in: refine the previews in full
                wanted[cell.uid] = (cell, Priority.REFINE, False)     # before the next screens' previews

        # requests no longer useful: wrong size, or none of their cells wanted any more
        cancels = MAX_CANCELS_PER_PASS
        for group in {id(g): g for g in self._inflight.values()}.values():
            if group.size == size and any(u in wanted or (not group.preview and self._refining(u, size))
                                          for u in group.uids):
                continue
            if cancels <= 0:
                self.schedule()
                break
            self._forget(group)
            group.ticket.cancel()
            cancels -= 1
        for uid, group in self._inflight.items():   # already on its way, soon enough
            want = wanted.get(uid)
            if want is not None and group.size == size and (group.prio <= want[1] or not group.preview) \
                    and (want[2] or not group.preview):
                del wanted[uid]

        # new requests: neighbours of the same priority together, a few requests per turn
        budget = MAX_GROUPS_PER_PASS
        batch: list[Cell] = []
        batch_kind = None
        for cell, prio, pv in wanted.values():
            if batch and ((prio, pv) != batch_kind or len(batch) >= GROUP):
                if budget <= 0:
                    break
                self._submit(batch, size, *batch_kind)
                budget -= 1
                batch = []
            batch.append(cell)
            batch_kind = (prio, pv)
        else:
            if batch and budget > 0:
                self._submit(batch, size, *batch_kind)
                batch = []
        if batch:
            self.schedule()           # more to ask for next turn
        if n and not any(self._needs(self.model.cell(r), size) or self.model.cell(r).uid in self._styling
                         or self.model.cell(r).preview for r in visible):
            self.allVisibleReady.emit()

    def _refining(self, uid: int, size: int) -> bool:
        cell = self.model.cell_by_uid(uid)
        return cell is not None and cell.preview and cell.image_size == size

    def _finish_slow(self, cell: Cell, image, size: int) -> None:
        uid = cell.uid
        self._styling[uid] = size

        def done(out, why, uid=uid, size=size):
            if self._styling.get(uid) == size:
                del self._styling[uid]
            c = self.model.cell_by_uid(uid)
            if c is None:
                return
            if out is not None:
                c.image = to_qimage(fit(out, size))
                c.image_size, c.state, c.error, c.preview = size, "ready", "", False
            else:
                c.state, c.error, c.image_size = "error", f"image edit {why}", -size
            self.model.cell_changed(c)
            self.schedule()

        cell.image, cell.state = to_qimage(fit(image, size)), "pending"   # the plain picture, dimmed, meanwhile
        self.model.cell_changed(cell)
        self.post_async(image, cell.latent, done)

    def _forget(self, group: _Group) -> None:
        for u in group.uids:
            if self._inflight.get(u) is group:
                del self._inflight[u]

    def _submit(self, cells: list[Cell], size: int, prio: Priority, preview: bool = False) -> None:
        slow = [c for c in cells if self._slow(c)]
        if slow and len(slow) < len(cells):
            self._submit([c for c in cells if not self._slow(c)], size, prio, preview)
            cells, preview = slow, False
        group = _Group([c.uid for c in cells], size, prio, preview)
        for c in cells:
            if c.image is None and c.state != "error":
                c.state = "pending"
        render_size = None if slow else size       # a slow edit works on the full picture, scaled after
        ticket = self.bridge.submit([c.latent for c in cells], render_size, lambda r, g=group: self._on_result(g, r),
                                    priority=prio, preview=preview)
        if ticket is None:
            return
        group.ticket = ticket
        if not ticket.done:
            for u in group.uids:
                self._inflight[u] = group

    def _on_result(self, group: _Group, result: RenderResult) -> None:
        self._forget(group)
        if result.status not in (Status.OK, Status.ERROR):
            return
        for i, uid in enumerate(group.uids):
            cell = self.model.cell_by_uid(uid)
            if cell is None:
                continue
            image = result.images[i] if result.status is Status.OK and i < len(result.images) else None
            error = result.error or "rendering failed"
            if image is not None and self._slow(cell):
                self._finish_slow(cell, image, group.size)
                continue
            if image is not None and cell.latent.post and self.post is not None:
                try:
                    image = self.post(image, cell.latent)
                except Exception as e:  # noqa: BLE001 - a failing image plugin shows as a failed cell
                    image, error = None, f"image edit failed: {e}"
            if image is not None:
                cell.image = to_qimage(image)
                cell.image_size, cell.state, cell.error = group.size, "ready", ""
                cell.preview = bool(result.preview)
            else:
                cell.state, cell.error = "error", error
                cell.image_size = -group.size   # do not ask again at this size (a new size tries again)
            self.model.cell_changed(cell)
        self.schedule()
