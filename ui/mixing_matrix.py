"""The mixing matrix of the StyleGAN paper (Fig. 3): sources along the top, destinations down
the side, each cell the destination with the source's styles on the chosen layers.

Faces join by being dragged from the grid onto a header (or the '+' slots), or from the Faces
menu. The whole matrix exports as one PNG at full resolution, with every face's latent in
its metadata. Double-click a cell to add that mix to the grid. Placing, removing, clearing and
the layer choice are steps on the window's undo stack (`undo_stack`, set by the window).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QGridLayout, QHBoxLayout, QLabel, QMenu, QPushButton, QScrollArea,
                               QSlider, QVBoxLayout, QWidget)

from explorer import plugin_ids as ids
from explorer.export import save_png
from explorer.latents import Latent
from explorer.layers import ALL, GROUP_HELP, GROUP_NAMES, available_groups, group_label
from explorer.recipe_text import short_label
from explorer.render import Priority, Status

from . import theme
from explorer.session import MatrixState, Session
from explorer.session_commands import StateStep
from .controls import Segmented
from .grid_model import CELL_MIME
from .image_tile import ImageTile
from .layer_choice import ask_layer_range, spec_text
from .render_bridge import to_qimage
from .session_signals import SessionSignals
from .tasks import Latest, Tasks

GROUP_OPTIONS = [(g, group_label(g), GROUP_HELP[g].split(" (")[0]) for g in (*GROUP_NAMES, ALL)] + \
    [("custom", "Custom…", "A layer range of your choice")]
BG_RGB = (theme.BG.red(), theme.BG.green(), theme.BG.blue())


class HeaderTile(ImageTile):
    """A source or destination slot: accepts faces dragged from the grid."""

    def __init__(self, axis: str, index: int, matrix: "MixingMatrix", size: int):
        super().__init__("", size)
        self.axis, self.index, self.matrix = axis, index, matrix
        self.setAcceptDrops(True)
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

    def _accepts(self, event) -> bool:
        gm = self.matrix.grid_model
        return gm.accepts(event.mimeData()) if gm is not None else event.mimeData().hasFormat(CELL_MIME)

    def dragEnterEvent(self, event) -> None:
        if self._accepts(event):
            event.setDropAction(Qt.CopyAction)
            event.accept()
            self.highlight = theme.DROP
            self.update()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if self._accepts(event):
            event.setDropAction(Qt.CopyAction)
            event.accept()

    def dragLeaveEvent(self, event) -> None:
        self.highlight = None
        self.update()

    def dropEvent(self, event) -> None:
        self.highlight = None
        self.update()
        cells = self.matrix.grid_model.cells_from_mime(event.mimeData()) if self.matrix.grid_model else []
        if not cells:
            event.ignore()
            return
        event.setDropAction(Qt.CopyAction)
        event.accept()
        self.matrix.place(self.axis, self.index, [c.latent for c in cells])

    def _menu(self, pos) -> None:
        if self.index >= len(self.matrix.axis(self.axis)):
            return
        menu = QMenu(self)
        menu.addAction("Remove", lambda: self.matrix.remove(self.axis, self.index))
        menu.exec(self.mapToGlobal(pos))


class _SessionMatrixField:
    """An attribute of the panel that reads and writes the session's MatrixState field of that name."""

    def __init__(self, name: str, convert=None):
        self.name, self.convert = name, convert

    def __get__(self, obj, _owner=None):
        return self if obj is None else getattr(obj.session.matrix, self.name)

    def __set__(self, obj, value) -> None:
        setattr(obj.session.matrix, self.name, self.convert(value) if self.convert else value)


class MixingMatrix(QWidget):
    message = Signal(str, str, object)
    addLatents = Signal(list, str)

    def __init__(self, runner, bridge, grid_model=None, parent=None):
        super().__init__(parent)
        self.runner, self.bridge, self.grid_model = runner, bridge, grid_model
        # the matrix lives in the session (sources, destinations, layers); this panel shows it
        self.session = getattr(grid_model, "session", None) or Session()
        self.session.matrix = MatrixState()
        signals = grid_model.session_signals if grid_model is not None else SessionSignals(self.session, self)
        signals.changed.connect(self._on_session)
        self.tasks = Tasks(self)
        self.model = None
        self.mixes: dict[tuple[int, int], Latent] = {}
        self.undo_stack = None       # the window's undo stack (None: changes are not undoable)
        self.latest = Latest()       # answers on their way: "layout" (tiles rebuilt), "mixes"
        self.tile_px = 96
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 6, 12, 8)
        outer.setSpacing(8)
        bar = QHBoxLayout()
        lab = QLabel("Sources give their")
        lab.setProperty("role", "hint")
        bar.addWidget(lab)
        self.group = Segmented(GROUP_OPTIONS, "coarse")
        self.group.changed.connect(self._group_changed)
        bar.addWidget(self.group)
        lab2 = QLabel("styles to each destination")
        lab2.setProperty("role", "hint")
        bar.addWidget(lab2)
        bar.addStretch(1)
        self.size_slider = QSlider(Qt.Horizontal)
        self.size_slider.setRange(64, 192)
        self.size_slider.setValue(self.tile_px)
        self.size_slider.setFixedWidth(110)
        self.size_slider.setToolTip("Size of the matrix pictures")
        self.size_slider.valueChanged.connect(self._resize_tiles)
        bar.addWidget(self.size_slider)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Empty the matrix")
        self.clear_button.clicked.connect(self.clear)
        bar.addWidget(self.clear_button)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setProperty("primary", True)
        self.export_button.setToolTip("Save the whole matrix as one PNG at full resolution (Ctrl+Shift+E)")
        self.export_button.clicked.connect(self.export_dialog)
        bar.addWidget(self.export_button)
        outer.addLayout(bar)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.NoFrame)
        outer.addWidget(self.scroll, 1)
        self._rebuild()

    # ----- the session's matrix: these attributes are views of it ----------------------------------
    sources = _SessionMatrixField("sources", list)
    destinations = _SessionMatrixField("destinations", list)
    spec = _SessionMatrixField("spec")
    custom = _SessionMatrixField("custom")

    def _announce(self) -> None:
        self.session.emit("matrix", source=self)

    def _on_session(self, kind: str, data: dict) -> None:
        """Someone else changed the session's matrix: show it."""
        if kind == "matrix" and data.get("source") is not self:
            self._rebuild()

    # ----- contents -----------------------------------------------------------------------
    def set_model(self, gen) -> None:
        self.model = gen
        enabled = available_groups(gen.info.groups)
        self.group.set_enabled_keys(enabled)
        self.spec = self.group.value() if self.group.value() != "custom" else "coarse"
        self.clear()

    def axis(self, axis: str) -> list[Latent]:
        return self.sources if axis == "source" else self.destinations

    def add_source(self, latent: Latent) -> None:
        self.place("source", len(self.sources), [latent])

    def add_destination(self, latent: Latent) -> None:
        self.place("destination", len(self.destinations), [latent])

    def place(self, axis: str, index: int, latents: list[Latent]) -> None:
        items = self.axis(axis)
        with self._undoable(f"Matrix: {'source' if axis == 'source' else 'destination'} face"
                            + ("s" if len(latents) > 1 else "")):
            for k, lat in enumerate(latents):
                if index + k < len(items):
                    items[index + k] = lat
                else:
                    items.append(lat)
        self._rebuild()

    def remove(self, axis: str, index: int) -> None:
        items = self.axis(axis)
        if 0 <= index < len(items):
            with self._undoable(f"Matrix: remove {axis}"):
                del items[index]
            self._rebuild()

    def clear(self) -> None:
        with self._undoable("Clear matrix"):
            self.sources.clear()
            self.destinations.clear()
        self._rebuild()

    # ----- undo -------------------------------------------------------------------------------
    def _state(self) -> tuple:
        return (tuple(self.sources), tuple(self.destinations), self.spec, self.custom)

    @contextmanager
    def _undoable(self, text: str):
        before = self._state()
        yield
        after = self._state()
        same = (tuple(map(id, before[0])), tuple(map(id, before[1])), before[2:]) == \
            (tuple(map(id, after[0])), tuple(map(id, after[1])), after[2:])
        if same:
            return
        self._announce()                # observers (the workspace's autosave) hear of it
        if self.undo_stack is not None:
            self.undo_stack.push(StateStep(self.restore_state, before, after, text))

    def restore_state(self, state: tuple) -> None:
        sources, destinations, spec, custom = state
        self.sources, self.destinations = list(sources), list(destinations)
        self.custom = custom
        if custom is not None:
            self.group.buttons["custom"].setText(f"{spec_text(custom).capitalize()}…")
        self.spec = spec
        self.group.set_value(spec if isinstance(spec, str) else "custom")
        self._announce()
        self._rebuild()

    def _group_changed(self, key) -> None:
        with self._undoable("Matrix: layers"):
            if not self._set_group(key):
                return
        self._compute_mixes()

    def _set_group(self, key) -> bool:
        if key == "custom":
            info = self.model.info if self.model is not None else None
            spec = ask_layer_range(self, info, self.custom)
            if spec is None:
                self.group.set_value(self.spec if isinstance(self.spec, str) else "custom")
                return False
            self.custom = spec
            self.group.buttons["custom"].setText(f"{spec_text(spec).capitalize()}…")
            key = spec
        self.spec = key
        return True

    def _resize_tiles(self, px: int) -> None:
        self.tile_px = int(px)
        self._rebuild()

    # ----- layout ---------------------------------------------------------------------------
    def _rebuild(self) -> None:
        self.latest.new("layout")
        body = QWidget()
        grid = QGridLayout(body)
        grid.setSpacing(6)
        grid.setContentsMargins(0, 0, 0, 0)
        px = self.tile_px
        corner = QLabel("Drag faces from the grid onto the + slots: sources along the top, "
                        "destinations down the side.")
        corner.setProperty("role", "hint")
        corner.setWordWrap(True)
        corner.setAlignment(Qt.AlignCenter)
        corner.setFixedSize(max(px, 150), px)
        grid.addWidget(corner, 0, 0)
        self.source_tiles, self.dest_tiles, self.cell_tiles = [], [], {}
        for j in range(len(self.sources) + 1):
            t = HeaderTile("source", j, self, px)
            t.caption = None
            t.setFixedSize(px, px)
            if j < len(self.sources):
                t.setToolTip(f"Source: {short_label(self.sources[j].recipe)} (right-click to remove)")
            else:
                t.placeholder_text = "+\nsource"
                t.setToolTip("Drop a face here to add a source column")
            grid.addWidget(t, 0, j + 1)
            self.source_tiles.append(t)
        for i in range(len(self.destinations) + 1):
            t = HeaderTile("destination", i, self, px)
            t.caption = None
            t.setFixedSize(px, px)
            if i < len(self.destinations):
                t.setToolTip(f"Destination: {short_label(self.destinations[i].recipe)} (right-click to remove)")
            else:
                t.placeholder_text = "+\ndestination"
                t.setToolTip("Drop a face here to add a destination row")
            grid.addWidget(t, i + 1, 0, Qt.AlignRight)
            self.dest_tiles.append(t)
        for i in range(len(self.destinations)):
            for j in range(len(self.sources)):
                t = ImageTile("", px)
                t.caption = None
                t.setFixedSize(px, px)
                t.doubleClicked.connect(lambda i=i, j=j: self._add_to_grid(i, j))
                grid.addWidget(t, i + 1, j + 1)
                self.cell_tiles[(i, j)] = t
        grid.setColumnStretch(len(self.sources) + 2, 1)
        grid.setRowStretch(len(self.destinations) + 2, 1)
        self.scroll.setWidget(body)
        self.export_button.setEnabled(bool(self.sources and self.destinations))
        self._render_headers()
        self._compute_mixes()

    def _size(self) -> int:
        px = int(self.tile_px * self.devicePixelRatioF())
        return min(px, self.model.info.resolution) if self.model is not None else px

    def _render_headers(self) -> None:
        if not self.bridge.ready or self.model is None:
            return
        for axis, tiles, items in (("s", self.source_tiles, self.sources), ("d", self.dest_tiles, self.destinations)):
            for k, lat in enumerate(items):
                self._render_into(tiles[k], lat, ("matrix", id(self), axis, k))

    def _render_into(self, tile: ImageTile, lat: Latent, token) -> None:
        tile.set_pending(True)
        stamp = self.latest.current("layout")

        def done(result):
            if result.status is Status.OK and self.latest.is_current("layout", stamp):
                tile.set_image(to_qimage(self.runner.finish_picture(result.images[0], lat)))
        # what the user is arranging right now: ahead of the grid's thumbnails
        self.bridge.submit([lat], self._size(), done, priority=Priority.INTERACTIVE, token=token)

    def _compute_mixes(self) -> None:
        self.mixes = {}
        if self.model is None:
            return
        stamp = self.latest.new("mixes")
        for i, dst in enumerate(self.destinations):
            for j, src in enumerate(self.sources):
                def done(lats, i=i, j=j):
                    if not self.latest.is_current("mixes", stamp) or not lats:
                        return
                    self.mixes[(i, j)] = lats[0]
                    tile = self.cell_tiles.get((i, j))
                    if tile is not None:
                        tile.setToolTip(f"{lats[0].label()} — double-click to add it to the grid")
                        self._render_into(tile, lats[0], ("matrix", id(self), "m", i, j))
                self.runner.apply(ids.STYLE_MIX, [dst, src], {"layers": self.spec}, done)

    def _add_to_grid(self, i: int, j: int) -> None:
        lat = self.mixes.get((i, j))
        if lat is not None:
            self.addLatents.emit([lat], f"Add matrix mix {lat.label()}")

    # ----- export ---------------------------------------------------------------------------
    def export_dialog(self) -> None:
        if not (self.sources and self.destinations) or not self.bridge.ready:
            self.message.emit("Add at least one source and one destination to the matrix first.", "error", None)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export mixing matrix", str(Path.home() / "mixing-matrix.png"),
                                              "PNG images (*.png)")
        if path:
            self.export(path)

    def export(self, path: str, on_done=None) -> None:
        """Render every header and mix at full resolution and write one PNG (the paper's layout)."""
        n_d, n_s = len(self.destinations), len(self.sources)
        if len(self.mixes) != n_d * n_s:
            self.message.emit("The matrix is still being mixed; try again in a moment.", "error", None)
            return
        order = list(self.sources) + list(self.destinations) + [self.mixes[(i, j)] for i in range(n_d)
                                                                 for j in range(n_s)]
        spec = self.spec

        def rendered(result):
            if result.status is not Status.OK:
                if result.status is Status.ERROR:
                    self.message.emit(f"Matrix export failed: {result.error}", "error", None)
                return
            imgs = result.images
            sheet = compose_matrix(imgs[:n_s], imgs[n_s:n_s + n_d], imgs[n_s + n_d:])
            meta = {"app": "latent-explorer", "kind": "mixing-matrix", "layers": spec,
                    "sources": [s.to_json() for s in self.sources],
                    "destinations": [d.to_json() for d in self.destinations]}
            self.tasks.start(save_png, path, sheet, meta,
                             on_done=lambda p: (self.message.emit(f"Exported the mixing matrix to {p}", "info", None),
                                                on_done and on_done(p)),
                             on_error=lambda e: self.message.emit(f"Matrix export failed: {e}", "error", None))

        self.bridge.submit(order, None, rendered, priority=Priority.PREFETCH)


def compose_matrix(sources: list, destinations: list, mixes: list, gap: int = 0) -> np.ndarray:
    """One image: empty corner, sources along the top, destinations down the side, mixes inside
    (mixes row-major: destination i, source j)."""
    res = sources[0].shape[0]
    ch = sources[0].shape[2]
    n_s, n_d = len(sources), len(destinations)
    step = res + gap
    sheet = np.empty(((n_d + 1) * step - gap, (n_s + 1) * step - gap, ch), np.uint8)
    sheet[...] = np.array(BG_RGB[:ch] if ch == 3 else [BG_RGB[0]] * ch, np.uint8)
    for j, img in enumerate(sources):
        sheet[0:res, (j + 1) * step:(j + 1) * step + res] = img
    for i, img in enumerate(destinations):
        sheet[(i + 1) * step:(i + 1) * step + res, 0:res] = img
    for k, img in enumerate(mixes):
        i, j = divmod(k, n_s)
        sheet[(i + 1) * step:(i + 1) * step + res, (j + 1) * step:(j + 1) * step + res] = img
    return sheet
