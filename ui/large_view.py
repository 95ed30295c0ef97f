"""A face (or two, side by side) at the model's full resolution, with the inspector beside it.

While an edit is being tuned in this view's inspector, the picture shows the edit's result at
full resolution ('preview' badge); 'Original' shows the face itself again. Two faces compare
side by side; the inspector's edits then apply to both (its recipe and preview show the first).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from explorer.render import Priority, Status

from .image_tile import ImageTile
from .inspector import Inspector
from .render_bridge import to_qimage

APP = "Latent Explorer"
LARGE_EDIT_MAX = 1024      # largest picture a slow image edit is run at in this view


def latent_caption(latent) -> str:
    from explorer.recipe_text import short_label

    return short_label(latent.recipe)


class LargeView(QWidget):
    def __init__(self, window, cells: list, parent=None):
        super().__init__(parent, Qt.Window)
        self.window_ = window
        self.cells = list(cells)
        self.setAttribute(Qt.WA_DeleteOnClose)
        self.setObjectName("largeView")
        labels = " vs ".join(c.label for c in self.cells)
        self.setWindowTitle(f"{labels} — {APP}")
        self.bridge = window.bridge
        self.model = window.generator
        self.tiles: list[ImageTile] = []
        self._preview = None

        split = QSplitter(Qt.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(18, 14, 10, 14)
        lv.setSpacing(10)
        bar = QHBoxLayout()
        res = self.model.info.resolution
        self.info_label = QLabel(f"{res} × {res} px" + ("  ·  side by side" if len(self.cells) > 1 else ""))
        self.info_label.setProperty("role", "hint")
        bar.addWidget(self.info_label)
        bar.addStretch(1)
        self.original_box = QCheckBox("Show original")
        self.original_box.setToolTip("Show the face itself instead of the edit being previewed")
        self.original_box.toggled.connect(lambda _v: self._refresh_first())
        self.original_box.setEnabled(False)
        bar.addWidget(self.original_box)
        self.pixels_box = QCheckBox("1:1 pixels")
        self.pixels_box.setToolTip("Show the picture at its true pixel size instead of fitting the window")
        self.pixels_box.toggled.connect(self._one_to_one)
        bar.addWidget(self.pixels_box)
        lv.addLayout(bar)
        faces = QHBoxLayout()
        faces.setSpacing(16)
        for c in self.cells:
            tile = ImageTile(c.label)
            tile.lanczos = True        # a 64 or 128 px face shown at 500 px: Lanczos, not a blur
            tile.setToolTip(c.label)
            tile.resized.connect(self._update_info)
            faces.addWidget(tile, 1)
            self.tiles.append(tile)
        lv.addLayout(faces, 1)
        split.addWidget(left)

        self.inspector = Inspector(window.runner, window.bridge, show_preview=False)
        self.inspector.set_model(self.model)
        self.inspector.set_cells(self.cells)
        self.inspector.addGroups.connect(window.add_groups)
        self.inspector.message.connect(window.show_message)
        self.inspector.copyRequested.connect(lambda: window.copy_latent(self.cells[0].latent))
        self.inspector.pasteRequested.connect(window.paste_recipe)
        self.inspector.previewChanged.connect(self._on_preview)
        split.addWidget(self.inspector)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 0)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        width = 560 * len(self.cells) + 380
        self.resize(min(width, 1500), 720)
        QShortcut(QKeySequence(Qt.Key_Escape), self, activated=self.close)
        for i, c in enumerate(self.cells):
            self._render(i, c.latent)

    def _render(self, i: int, latent, badge: str = "") -> None:
        tile = self.tiles[i]
        tile.set_pending(True)
        tile.badge = badge

        runner = self.window_.runner
        size = None
        if runner.image_edits.needs_background(latent):
            # a slow image edit (style transfer) works at the size shown, up to 1024 px: larger than
            # the model draws, the render is upscaled (Lanczos) first, so the strokes are drawn at that size
            res = self.model.info.resolution
            shown = int(max(tile.width(), tile.height(), 560) * self.devicePixelRatioF())
            size = min(shown, LARGE_EDIT_MAX, 8 * res) if shown > res else None

        def finished(image, why, tile=tile):
            tile.set_pending(False)
            if image is not None:
                tile.set_image(to_qimage(image))
            else:
                tile.set_caption(f"{latent_caption(latent)}: image edit {why}")

        def done(result, tile=tile):
            if result.status is Status.OK:
                if runner.image_edits.needs_background(latent):
                    tile.set_image(to_qimage(result.images[0]))    # the plain picture meanwhile
                    tile.set_pending(True)
                runner.finish_picture_async(result.images[0], latent, finished, urgent=True)
        self.bridge.submit([latent], size, done, priority=Priority.INTERACTIVE, token=("large", id(self), i))

    def _on_preview(self, latent) -> None:
        self._preview = latent
        self.original_box.setEnabled(latent is not None)
        self._refresh_first()

    def _refresh_first(self) -> None:
        if self._preview is not None and not self.original_box.isChecked():
            self.tiles[0].set_caption(f"preview: {self._preview.label()}")
            self._render(0, self._preview, "preview")
        else:
            self.tiles[0].set_caption(self.cells[0].label)
            self._render(0, self.cells[0].latent)

    def _one_to_one(self, on: bool) -> None:
        for t in self.tiles:
            t.one_to_one = on
            t.update()
        self._update_info()

    def _update_info(self) -> None:
        """Say when the picture is shown larger than the model draws it (and how it is scaled)."""
        res = self.model.info.resolution
        side = int(self.tiles[0].image_rect().width()) if self.tiles else res
        text = f"{res} × {res} px" + ("  ·  side by side" if len(self.cells) > 1 else "")
        if not self.pixels_box.isChecked() and side > res:
            text += f"  ·  shown at {side} px, upscaled with Lanczos"
            if self.window_.runner.image_edits.needs_background(self.cells[0].latent):
                text += " before its style transfer"
        self.info_label.setText(text)



    def closeEvent(self, event) -> None:
        for i in range(len(self.tiles)):
            self.bridge.supersede(("large", id(self), i))
        super().closeEvent(event)
