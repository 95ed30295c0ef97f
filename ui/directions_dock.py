"""The Directions dock: one slider per latent direction of the current model, unsupervised
directions on demand (GANSpace PCA, SeFa), and a label mode that fits a new attribute from
faces the user marks positive / negative (InterFaceGAN SVM), all heavy work off the GUI thread.

Moving a slider previews the move on the selected face through the inspector's live preview;
'Apply as new cell' runs the 'builtin.move_direction' plugin through the window's EditRunner and
adds the result with the window's undoable add-cell command. Directions of another model are
refused with a visible message. Fitted directions are saved in the user's DirectionLibrary;
a row's context menu saves any other one there (PCA, SeFa, imported), exports it to a JSON
file, or removes it (from the panel, and from the library when it is stored there).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import shiboken6
from PySide6.QtCore import QEvent, QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMenu,
                               QPushButton, QScrollArea, QToolButton, QVBoxLayout, QWidget)
from superqt import QCollapsible, QLabeledDoubleSlider
from superqt.utils import signals_blocked

from explorer import plugin_ids as ids
from explorer.directions import (Direction, DirectionLibrary, DirectionModelError, fit_svm, load_directions,
                                 weak_fit_reason,
                                 pca_directions, save_directions, sefa_directions, suggest_to_label)
from explorer.latents import Latent
from explorer.recipe_text import short_label
from explorer.render import Priority, Status

from .image_tile import ImageTile
from .render_bridge import to_qimage
from .tasks import Tasks

PLUGIN = ids.MOVE_DIRECTION
LIBRARY_ENV = "LATENT_EXPLORER_DIRECTIONS_DIR"
DEFAULT_DIRECTIONS = Path(__file__).resolve().parents[1] / "resources" / "default_directions.json"
PAIR_PX = 96           # the before / after pair at the top of the panel
AMOUNT_RANGE = 3.0
from explorer.layers import LAYER_CHOICES  # noqa: E402 - the one vocabulary
UNSUPERVISED_K = 5
PCA_SAMPLES = 5000
STRIP_AMOUNTS = tuple(float(a) for a in np.linspace(-AMOUNT_RANGE, AMOUNT_RANGE, 7))
STRIP_PX = 46          # 7 of them fit the 400 px side panel (56 px ones widened it after Fit: clipped)
SUGGEST_K = 8


def default_library() -> DirectionLibrary:
    """The user's direction store ($LATENT_EXPLORER_DIRECTIONS_DIR overrides the data folder)."""
    root = os.environ.get(LIBRARY_ENV)
    return DirectionLibrary(root or None)


def directions_for_model(gen, path, library: DirectionLibrary | None,
                         default_file: Path = DEFAULT_DIRECTIONS) -> tuple[dict[str, Direction], list[str]]:
    """The directions offered for `gen`: the shipped default ones when they belong to it (by
    fingerprint), then the user's library for its fingerprint. Returns (name -> Direction, problems)."""
    out: dict[str, Direction] = {}
    problems: list[str] = []
    fp = gen.fingerprint
    if default_file is not None and Path(default_file).is_file():
        try:
            for d in load_directions(default_file):
                if d.model is None and str(path) != "default":
                    continue                     # unbound shipped directions are the default model's
                try:
                    d.check_model(fp)
                except DirectionModelError:
                    continue                     # shipped for the default model, not this one
                if d.w_dim == gen.info.w_dim:
                    out[d.name] = d
        except (OSError, ValueError) as e:
            problems.append(f"The built-in directions could not be read: {e}")
    if library is not None:
        try:
            for d in library.load_all(fp, problems):
                if d.w_dim == gen.info.w_dim:
                    out[d.name] = d
        except (OSError, ValueError) as e:
            problems.append(f"Your saved directions could not be read: {e}")
    return out, problems


def _accuracy_text(d: Direction) -> str:
    acc = d.quality.get("val_accuracy")
    if isinstance(acc, (int, float)):
        return f"validation accuracy {acc:.0%}"
    eff = d.quality.get("efficacy")
    if d.method == "slot":
        kind = "trained with the model" if d.quality.get("trained") else "drawing-parameter direction"
        text = f"{kind} (slot {d.quality.get('slot', '?')})"
        return text + (f", turns the attribute on for {eff:.0%} of faces" if isinstance(eff, (int, float)) else "")
    return {"pca": "PCA (GANSpace) direction", "sefa": "SeFa direction"}.get(d.method, f"{d.method} direction")


class DirectionRow(QWidget):
    touched = Signal(object)       # this row: its slider moved or its layers changed
    menuRequested = Signal(object, object)   # this row, global position (right click)

    def __init__(self, direction: Direction, parent=None):
        super().__init__(parent)
        self.direction = direction
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        self.name_label = QLabel(direction.name)
        self.name_label.setMinimumWidth(70)
        self.name_label.setMaximumWidth(110)
        self.accuracy_label = QLabel()
        self.accuracy_label.setProperty("role", "hint")
        # one width for "94%" and "100%", so that every row's slider starts at the same x
        self.accuracy_label.setMinimumWidth(self.accuracy_label.fontMetrics().horizontalAdvance("100%") + 2)
        self.accuracy_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.slider = QLabeledDoubleSlider(Qt.Horizontal)
        self.slider.setRange(-AMOUNT_RANGE, AMOUNT_RANGE)
        self.slider.setSingleStep(0.05)
        self.slider.setDecimals(2)
        self.slider.setValue(0.0)
        self.slider.setToolTip("How far to move, in standard deviations of the faces along this direction")
        self.layers_box = QComboBox()
        self.layers_box.addItems(LAYER_CHOICES)
        self.layers_box.setToolTip("Which layers to move: all, coarse (pose, shape), medium (features) "
                                   "or fine (colour, texture)")
        self.reset_button = QToolButton()
        self.reset_button.setText("↺")
        self.reset_button.setToolTip("Back to 0")
        for w in (self.name_label, self.accuracy_label):
            lay.addWidget(w)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.layers_box)
        lay.addWidget(self.reset_button)
        self.set_direction(direction)
        self.slider.valueChanged.connect(lambda _v: self.touched.emit(self))
        self.layers_box.currentTextChanged.connect(lambda _t: self.touched.emit(self))
        self.reset_button.clicked.connect(self.reset)
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(lambda pos: self.menuRequested.emit(self, self.mapToGlobal(pos)))

    def set_direction(self, d: Direction) -> None:
        self.direction = d
        text = _accuracy_text(d)
        acc = d.quality.get("val_balanced_accuracy", d.quality.get("val_accuracy"))
        if not isinstance(acc, (int, float)) and d.method == "slot":
            acc = d.quality.get("efficacy")       # no fit to validate: show how often it works
        self.accuracy_label.setText(f"{acc:.0%}" if isinstance(acc, (int, float)) else d.method)
        tip = f"{d.name}: {text}\nscale {d.scale:.3g}" + (f", fitted layers {d.layers}" if d.layers is not None else "")
        bal = d.quality.get("val_balanced_accuracy")
        if isinstance(bal, (int, float)):
            tip += f"\nbalanced validation accuracy {bal:.0%}"
        # only fits made automatically from a classifier's labels (the shipped ones) hide when weak;
        # a direction the user fitted, imported or computed is always listed
        self.weak = weak_fit_reason(d.quality) if d.quality.get("classifier") else None
        if self.weak:
            tip += f"\nweak fit: {self.weak}"
        for w in (self, self.name_label, self.accuracy_label):
            w.setToolTip(tip)

    @property
    def name(self) -> str:
        return self.direction.name

    def amount(self) -> float:
        return round(float(self.slider.value()), 4)

    def layers(self) -> str:
        return self.layers_box.currentText()

    def params(self) -> dict:
        return {"direction": self.name, "amount": self.amount(), "layers": self.layers()}

    def reset(self) -> None:
        self.slider.setValue(0.0)


class LabelBadges(QWidget):
    """Small + / − badges over the grid's labelled faces: a transparent child of the viewport that
    paints on top of the cells (the grid's own painting stays untouched)."""

    def __init__(self, panel: "DirectionsPanel", view):
        super().__init__(view.viewport())
        self.panel, self.view = panel, view
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WA_NoSystemBackground)
        view.viewport().installEventFilter(self)
        view.verticalScrollBar().valueChanged.connect(self.update)
        model = view.model()
        for sig in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.layoutChanged):
            sig.connect(self.update)
        self.resize(view.viewport().size())

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Resize:
            self.resize(obj.size())
        return False

    def badges(self) -> list[tuple[QRect, bool, int]]:
        """(badge rectangle, positive?, grid row) for every labelled face whose badge is on screen."""
        labels = self.panel.labels
        if not labels:
            return []
        out = []
        model, area = self.view.model(), self.rect()
        for row in self.view.visible_rows():
            cell = model.cell(row)
            if cell.uid in labels:
                r = self.view.visualRect(model.index(row))
                badge = QRect(r.left() + 6, r.top() + 6, 18, 18)
                if area.intersects(badge):
                    out.append((badge, labels[cell.uid], row))
        return out

    def paintEvent(self, _event) -> None:
        items = self.badges()
        if not items:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing, True)
        font = p.font()
        font.setBold(True)
        p.setFont(font)
        for rect, positive, _row in items:
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(40, 160, 80, 230) if positive else QColor(200, 60, 60, 230))
            p.drawEllipse(rect)
            p.setPen(QColor("white"))
            p.drawText(rect, Qt.AlignCenter, "+" if positive else "−")
        p.end()


class DirectionsPanel(QWidget):
    """The dock's contents. `window` is the MainWindow (grid, runner, bridge, messages)."""
    directionsChanged = Signal()

    def __init__(self, window, library: DirectionLibrary | None = None, parent=None):
        super().__init__(parent)
        self.window = window
        self.library = library if library is not None else default_library()
        self.gen = None
        self.rows: dict[str, DirectionRow] = {}
        self.active_row: DirectionRow | None = None
        self.open_menu: QMenu | None = None     # the row menu last shown (non-modal popup)
        self.labels: dict[int, bool] = {}            # cell uid -> positive?
        self.fitted: Direction | None = None          # the label mode's last fit
        self.strip_latents: list[Latent] = []
        self.tasks = Tasks(self)             # PCA / SeFa / fits off the GUI thread
        self.tasks.busyChanged.connect(self._tasks_busy)
        self._pair_waiting = None        # (cell, after) to render once the panel is shown
        self._pair_sent: dict = {}       # which -> (latent, size, model) last asked for
        window.grid_model.session_signals.changed.connect(self._on_session)
        self._pending_values: dict = {}  # slider values of a workspace for directions not added yet
        self._build()
        self.set_model(None, {})

    def showEvent(self, event) -> None:   # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._pair_waiting is not None:
            self.show_pair(*self._pair_waiting)

    # ================================================================== building
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        lay.setSpacing(6)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setProperty("role", "hint")
        lay.addWidget(self.hint)
        # before / after right here: the inspector (which also shows them) is a tab behind this one
        pair = QHBoxLayout()
        self.before_tile = ImageTile("before", PAIR_PX)
        self.after_tile = ImageTile("after", PAIR_PX)
        self.after_tile.placeholder_text = "Move a slider"
        pair.addStretch(1)
        pair.addWidget(self.before_tile)
        pair.addWidget(self.after_tile)
        pair.addStretch(1)
        lay.addLayout(pair)
        buttons = QHBoxLayout()
        self.pca_button = QPushButton("PCA (GANSpace)")
        self.pca_button.setToolTip(f"Add the top {UNSUPERVISED_K} principal axes of sampled latents")
        self.sefa_button = QPushButton("SeFa")
        self.sefa_button.setToolTip(f"Add the top {UNSUPERVISED_K} SeFa directions (from the style weights)")
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Load directions from a JSON file (only this model's are accepted)")
        for b in (self.pca_button, self.sefa_button, self.import_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.status = QLabel("")
        self.status.setProperty("role", "hint")
        lay.addWidget(self.status)
        self.show_weak_box = QCheckBox("Show weak fits")
        self.show_weak_box.setToolTip("Also list directions whose fit does not reliably produce the attribute "
                                      "on this model (hidden by default)")
        self.show_weak_box.toggled.connect(lambda _on: self._refresh())
        lay.addWidget(self.show_weak_box)

        self.rows_widget = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_widget)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(4)
        self.rows_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_widget)
        scroll.setMinimumHeight(72)
        lay.addWidget(scroll, 1)
        self.empty_label = QLabel("No directions for this model yet: add PCA or SeFa ones, or label faces.")
        self.empty_label.setWordWrap(True)
        self.empty_label.setProperty("role", "hint")
        self.rows_layout.insertWidget(0, self.empty_label)

        self.apply_button = QPushButton("Apply as new cell")
        self.apply_button.setToolTip("Add the selected face moved along every direction whose slider is not at 0")
        lay.addWidget(self.apply_button)

        self.label_box = QGroupBox("Label mode")
        self.label_box.setCheckable(True)
        self.label_box.setChecked(False)
        self.label_box.setToolTip("Mark faces as having an attribute or not (P / N on the grid), then fit it")
        box_lay = QVBoxLayout(self.label_box)
        box_lay.setContentsMargins(6, 4, 6, 4)
        self.label_body = QWidget()      # folded away while label mode is off: the sliders get the room
        box_lay.addWidget(self.label_body)
        lv = QVBoxLayout(self.label_body)
        lv.setContentsMargins(0, 0, 0, 0)
        self.attr_name = QLineEdit()
        self.attr_name.setPlaceholderText("New attribute…")
        lv.addWidget(self.attr_name)
        row = QHBoxLayout()
        self.pos_button = QPushButton("Positive (P)")
        self.neg_button = QPushButton("Negative (N)")
        self.clear_labels_button = QPushButton("Clear")
        for b in (self.pos_button, self.neg_button, self.clear_labels_button):
            row.addWidget(b)
        lv.addLayout(row)
        self.counts_label = QLabel()
        lv.addWidget(self.counts_label)
        row = QHBoxLayout()
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit a linear SVM on the labelled faces' latents (in the background)")
        self.suggest_button = QPushButton("Suggest more to label")
        self.suggest_button.setToolTip(f"Select the {SUGGEST_K} faces closest to the current boundary")
        row.addWidget(self.fit_button)
        row.addWidget(self.suggest_button)
        lv.addLayout(row)
        self.fit_label = QLabel("")
        self.fit_label.setWordWrap(True)
        lv.addWidget(self.fit_label)
        self.strip = QWidget()
        self.strip_layout = QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(0, 0, 0, 0)
        self.strip_layout.setSpacing(2)
        self.strip_tiles: list[QLabel] = []
        for a in STRIP_AMOUNTS:
            t = QLabel()
            t.setFixedSize(STRIP_PX, STRIP_PX)
            t.setAlignment(Qt.AlignCenter)
            t.setToolTip(f"{a:+.0f}")
            self.strip_layout.addWidget(t)
            self.strip_tiles.append(t)
        self.strip_layout.addStretch(1)
        lv.addWidget(self.strip)
        lay.addWidget(self.label_box)

        # The plots (pyqtgraph: 0.18 s of imports) are built when first expanded or asked for, not
        # while the window opens and the first screen renders.
        self._plots = None
        self._plots_failed = False
        self.plots_box = QCollapsible("Plots")
        self.plots_box.setDuration(0)
        self.plots_box.collapse(animate=False)
        self.plots_box.toggled.connect(lambda *_: self.plots)
        lay.addWidget(self.plots_box)

        self.pca_button.clicked.connect(lambda: self.add_unsupervised("pca"))
        self.sefa_button.clicked.connect(lambda: self.add_unsupervised("sefa"))
        self.import_button.clicked.connect(self.import_dialog)
        self.apply_button.clicked.connect(self.apply_active)
        self.pos_button.clicked.connect(lambda: self.mark(True))
        self.neg_button.clicked.connect(lambda: self.mark(False))
        self.clear_labels_button.clicked.connect(self.clear_labels)
        self.fit_button.clicked.connect(self.fit)
        self.suggest_button.clicked.connect(self.suggest)
        self.label_box.toggled.connect(self._label_mode_toggled)
        view = self.window.grid_view
        view.installEventFilter(self)          # P / N on the grid while label mode is on
        self.badges = LabelBadges(self, view)
        self.badges.show()
        self._label_mode_toggled(False)

    def eventFilter(self, obj, event) -> bool:
        if (event.type() == QEvent.KeyPress and self.label_box.isChecked() and self.gen is not None
                and not (event.modifiers() & ~Qt.KeypadModifier) and event.key() in (Qt.Key_P, Qt.Key_N)):
            self.mark(event.key() == Qt.Key_P)
            return True
        return super().eventFilter(obj, event)

    # ================================================================== model and rows
    def set_model(self, gen, directions: dict[str, Direction]) -> None:
        """A new model: its directions become the rows; labels and fits start over."""
        self.gen = gen
        for row in list(self.rows.values()):
            row.setParent(None)
            row.deleteLater()
        self.rows.clear()
        self.active_row = None
        self.labels.clear()
        self.fitted = None
        self.fit_label.setText("")
        self._clear_strip()
        for d in list(directions.values()):
            self._add_row(d)
        for b in (self.pca_button, self.sefa_button, self.import_button, self.label_box):
            b.setEnabled(gen is not None)
        self.hint.setText("Open a model to move faces along directions." if gen is None else
                          "Move sliders to see the selected face change (before / after above); "
                          "every slider not at 0 applies.")
        self._refresh()

    @property
    def directions(self) -> dict[str, Direction]:
        return self.window.directions

    def _add_row(self, d: Direction) -> DirectionRow:
        row = self.rows.get(d.name)
        if row is not None:
            row.set_direction(d)
        else:
            row = DirectionRow(d)
            row.touched.connect(self._row_touched)
            row.menuRequested.connect(self._popup_row_menu)
            self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
            self.rows[d.name] = row
            self._apply_pending(row)
        # copy on write: edits running on worker threads keep the dict they were given unchanged
        self.window.directions = {**self.window.directions, d.name: d}
        self.window.runner.directions = self.window.directions
        return row

    def add_directions(self, directions, source: str = "") -> list[Direction]:
        """Add rows for directions of this model; others are refused with a visible message."""
        if self.gen is None:
            return []
        added, refused = [], []
        for d in directions:
            try:
                d.check_model(self.gen.fingerprint)
                if d.w_dim != self.gen.info.w_dim:
                    raise DirectionModelError(f"direction {d.name!r} is {d.w_dim}-dimensional but this model's "
                                              f"W is {self.gen.info.w_dim}-dimensional")
            except DirectionModelError as e:
                refused.append(str(e))
                continue
            self._add_row(d)
            added.append(d)
        if refused:
            what = f" from {source}" if source else ""
            self.window.show_error(f"Refused {len(refused)} direction(s){what}: {refused[0]}")
        self._refresh()
        return added

    # ----- a row's context menu -------------------------------------------------------------------
    def _popup_row_menu(self, row: DirectionRow, pos) -> None:
        self.open_menu = self.row_menu(row)
        self.open_menu.setAttribute(Qt.WA_DeleteOnClose)
        self.open_menu.popup(pos)

    def row_menu(self, row: DirectionRow) -> QMenu:
        d = row.direction
        stored = d.model is not None and (d.model, d.name) in self.library
        menu = QMenu(self)
        save = menu.addAction("Save to My Directions", lambda: self.save_to_library(d.name))
        save.setEnabled(not stored)
        save.setToolTip("Keep this direction for this model: it comes back on every launch")
        menu.addAction("Export…", lambda: self.export_dialog(d.name))
        menu.addSeparator()
        menu.addAction("Remove" + (" (and delete from My Directions)" if stored else ""),
                       lambda: self.remove_direction(d.name))
        return menu

    def save_to_library(self, name: str) -> Path | None:
        d = self.directions.get(name)
        if d is None:
            return None
        try:
            where = self.library.save(d)
        except (OSError, ValueError) as e:
            self.window.show_error(f"Could not save direction {name!r}: {e}")
            return None
        self.window.show_message(f"Saved direction {name!r} to {where.parent.name}/{where.name}.")
        return where

    def export_dialog(self, name: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export direction", str(Path.home() / f"{name}.json"),
                                              "Directions (*.json)")
        if path:
            self.export_direction(name, path)

    def export_direction(self, name: str, path) -> Path | None:
        d = self.directions.get(name)
        if d is None:
            return None
        try:
            out = save_directions(d, path)
        except (OSError, ValueError) as e:
            self.window.show_error(f"Could not export direction {name!r}: {e}")
            return None
        self.window.show_message(f"Exported direction {name!r} to {out}.")
        return out

    def remove_direction(self, name: str) -> None:
        d = self.directions.get(name)
        row = self.rows.pop(name, None)
        if row is not None:
            if self.active_row is row:
                self.active_row = None
            row.setParent(None)
            row.deleteLater()
        self.window.directions = {k: v for k, v in self.window.directions.items() if k != name}
        self.window.runner.directions = self.window.directions
        if d is not None and d.model is not None and (d.model, name) in self.library:
            try:
                self.library.delete(d.model, name)
            except (OSError, KeyError) as e:
                self.window.show_error(f"Could not delete direction {name!r} from the library: {e}")
        self._refresh()

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import directions", str(Path.home()),
                                              "Directions (*.json);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path) -> list[Direction]:
        try:
            dirs = load_directions(path)
        except (OSError, ValueError) as e:
            self.window.show_error(str(e))
            return []
        return self.add_directions(dirs, Path(path).name)

    def values(self) -> dict[str, dict]:
        """The set sliders as plain data (the session keeps them): name -> {amount, layers}."""
        return {row.name: {"amount": row.amount(), "layers": row.layers()} for row in self.set_rows()}

    def set_values(self, values: dict, others_to_zero: bool = False) -> None:
        """Put sliders where a workspace left them; values of directions not (yet) here wait until
        a direction of that name is added. others_to_zero: sliders not named go back to 0."""
        self._pending_values = dict(values or {})
        for row in self.rows.values():
            if others_to_zero and row.name not in self._pending_values and row.amount() != 0:
                with signals_blocked(row.slider):
                    row.slider.setValue(0.0)
        for row in self.rows.values():
            self._apply_pending(row)
        if self.window.current_cell() is not None and self.moves():
            self.window.inspector.preview_chain(self.moves())

    def _apply_pending(self, row: DirectionRow) -> None:
        v = self._pending_values.pop(row.name, None)
        if v is None:
            return
        with signals_blocked(row.slider), signals_blocked(row.layers_box):
            if row.layers_box.findText(v.get("layers", "all")) >= 0:
                row.layers_box.setCurrentText(v.get("layers", "all"))
            row.slider.setValue(float(v.get("amount", 0.0)))

    def _on_session(self, kind: str, data: dict) -> None:
        """The session's slider values changed elsewhere (a workspace opened, a script): show them."""
        if kind == "directions" and data.get("source") is not self:
            self.set_values(self.window.session.directions, others_to_zero=True)

    def _row_touched(self, row: DirectionRow) -> None:
        self.window.session.set_directions(self.values(), source=self)
        self.active_row = row
        self._update_plots()
        if self.window.current_cell() is not None:
            self.window.inspector.preview_chain(self.moves())

    def set_rows(self) -> list[DirectionRow]:
        """The rows whose slider is not at 0, in the panel's order: the moves that combine."""
        return [row for row in self.rows.values() if row.amount() != 0.0]

    def moves(self) -> list[tuple[str, dict]]:
        """Every set slider as one edit step; applied in a row they add up (w + sum of the moves)."""
        return [(PLUGIN, row.params()) for row in self.set_rows()]

    def weak_rows(self) -> list[str]:
        return [name for name, row in self.rows.items() if row.weak]

    def _refresh(self) -> None:
        weak = self.weak_rows()
        show_weak = self.show_weak_box.isChecked()
        for name, row in self.rows.items():
            row.setVisible(show_weak or not row.weak)
        self.show_weak_box.setVisible(bool(weak))
        self.show_weak_box.setText(f"Show weak fits ({len(weak)})")
        self.empty_label.setVisible(not self.rows)
        self.apply_button.setEnabled(self.gen is not None and bool(self.rows))
        self._update_counts()
        if self._plots is not None:
            self._plots.set_directions(list(self.directions.values()))
        self._update_plots()
        self.directionsChanged.emit()

    def _grid_w(self) -> tuple[list, np.ndarray]:
        cells = list(self.window.grid_model.cells)
        if not cells:
            return cells, np.zeros((0, self.gen.info.w_dim if self.gen else 0), np.float32)
        return cells, np.stack([c.latent.ws[0] for c in cells]).astype(np.float32)

    @property
    def plots(self):
        """The loading / correlation plots (built on first use), or None where pyqtgraph fails."""
        if self._plots is None and not self._plots_failed:
            try:
                from .direction_plots import DirectionPlots
                self._plots = DirectionPlots()
                self.plots_box.addWidget(self._plots)
            except Exception as e:  # noqa: BLE001 - the plots are optional; the sliders must still work
                self._plots_failed = True
                self.plots_box.addWidget(QLabel(f"Plots unavailable ({e})"))
                return None
            self._plots.set_directions(list(self.directions.values()))
            self._update_plots()
        return self._plots

    def _update_plots(self) -> None:
        if self._plots is None:
            return
        row = self.active_row or (next(iter(self.rows.values())) if self.rows else None)
        d = row.direction if row is not None else self.fitted
        if d is None or self.gen is None:
            self._plots.set_scores(None, None)
            return
        self._plots.set_scores(d, self._grid_w()[1])

    # ================================================================== before / after
    def show_pair(self, cell, after) -> None:
        """The selected face and what the set sliders make of it (None: nothing previewed).
        Rendered when the panel is on screen (a tab behind the inspector waits until shown)."""
        if not self.isVisible():
            self._pair_waiting = (cell, after)
            return
        self._pair_waiting = None
        self._pair_render(self.before_tile, cell.latent if cell is not None else None, "before",
                          cell.label if cell is not None else "before")
        moves = " ".join(f"{r.name}{r.amount():+.1f}" for r in self.set_rows())   # the nested label elides
        caption = (moves or short_label(after.recipe)) if after is not None else "after"
        self._pair_render(self.after_tile, after, "after", caption)

    def _pair_render(self, tile: ImageTile, latent, which: str, caption: str) -> None:
        tile.set_caption(caption)
        bridge = self.window.bridge
        if latent is None or not bridge.ready or self.gen is None:
            tile.set_image(None)
            return
        size = max(8, min(int(PAIR_PX * self.devicePixelRatioF()), self.gen.info.resolution))
        sent = self._pair_sent.get(which)
        if sent is not None and sent[0] is latent and sent[1:] == (size, self.gen) and tile.pending:
            return   # the same picture is on its way (selection and preview both ask at start-up)
        self._pair_sent[which] = (latent, size, self.gen)
        tile.set_pending(True)

        def done(result, tile=tile, latent=latent):
            if result.status is Status.OK and shiboken6.isValid(tile):
                tile.set_image(to_qimage(self.window.runner.finish_picture(result.images[0], latent)))
        bridge.submit_tile([latent], size, done, priority=Priority.INTERACTIVE,
                           token=("directions-pair", which, id(self)))

    # ================================================================== apply
    def apply_active(self) -> None:
        """Apply every set slider (not just the last one touched) to the selected face, as one new cell."""
        rows = self.set_rows()
        cell = self.window.current_cell()
        if not rows or cell is None or self.gen is None:
            self.window.show_message("Select a face and move a direction's slider first.")
            return
        moves = ", ".join(f"{row.name} {row.amount():+.2f}" for row in rows)
        text = f"Move {cell.label} along {moves}"
        self.window.runner.apply_chain(self.moves(), [cell.latent],
                                       lambda lats: self.window.add_latents(lats, cell, text))

    # ================================================================== background work
    def _run(self, fn, on_done, what: str, *args, **kwargs) -> None:
        gen = self.gen
        self.status.setText(f"{what}…")

        def done(result):
            if self.gen is gen:          # a result for a model no longer shown is dropped
                on_done(result)

        def error(exc):
            if self.gen is gen:
                self.window.show_error(f"{what} failed: {exc}")

        self.tasks.start(fn, *args, on_done=done, on_error=error, **kwargs)

    def _tasks_busy(self, busy: bool) -> None:
        if not busy:
            self.status.setText("")

    @property
    def busy(self) -> bool:
        return self.tasks.running > 0

    def add_unsupervised(self, method: str) -> None:
        gen = self.gen
        if gen is None:
            return
        if method == "pca":
            self._run(pca_directions, lambda ds: self.add_directions(ds, "PCA"), "Computing PCA directions",
                      gen, n_samples=PCA_SAMPLES, k=UNSUPERVISED_K)
        else:
            def sefa():
                return [d.replace(name=f"SeFa{i + 1}") if not d.name.lower().startswith("sefa") else d
                        for i, d in enumerate(sefa_directions(gen, k=UNSUPERVISED_K))]
            self._run(sefa, lambda ds: self.add_directions(ds, "SeFa"), "Computing SeFa directions")

    # ================================================================== label mode
    def _label_mode_toggled(self, on: bool) -> None:
        self.label_body.setVisible(bool(on))
        self._update_counts()

    def mark(self, positive: bool) -> None:
        if not self.label_box.isChecked():
            return
        for c in self.window.selected_cells():
            self.labels[c.uid] = bool(positive)
        self._update_counts()

    def clear_labels(self) -> None:
        self.labels.clear()
        self._update_counts()

    def labelled(self) -> tuple[list, np.ndarray]:
        """The labelled cells still in the grid and their labels."""
        cells = [c for c in self.window.grid_model.cells if c.uid in self.labels]
        return cells, np.array([self.labels[c.uid] for c in cells], dtype=bool)

    def counts(self) -> tuple[int, int]:
        _cells, y = self.labelled()
        return int(y.sum()), int((~y).sum())

    def _update_counts(self) -> None:
        if hasattr(self, "badges"):
            self.badges.update()
        pos, neg = self.counts()
        self.counts_label.setText(f"+ {pos} positive · − {neg} negative")
        on = self.label_box.isChecked() and self.gen is not None
        self.fit_button.setEnabled(on and pos >= 2 and neg >= 2)
        self.suggest_button.setEnabled(on and self.fitted is not None)

    def attribute_name(self) -> str:
        name = self.attr_name.text().strip()
        if name:
            return name
        i = 1
        while f"attribute {i}" in self.rows:
            i += 1
        return f"attribute {i}"

    def fit(self) -> None:
        if self.gen is None:
            return
        cells, y = self.labelled()
        if y.sum() < 2 or (~y).sum() < 2:
            self.window.show_error("Label at least 2 positive and 2 negative faces before fitting.")
            return
        w = np.stack([c.latent.ws[0] for c in cells]).astype(np.float32)
        name = self.attribute_name()
        source = self.window.current_cell() or cells[0]
        self.fit_label.setText("Fitting…")
        self.fit_button.setEnabled(False)
        self._run(fit_svm, lambda d: self._fitted(d, source), f"Fitting {name!r}", w, y,
                  name=name, model=self.gen.fingerprint)

    def _fitted(self, d: Direction, source) -> None:
        self.fitted = d
        acc = d.quality.get("val_accuracy")
        acc_text = f"{acc:.0%}" if isinstance(acc, (int, float)) else "n/a"
        row = self._add_row(d)
        self.active_row = row
        try:
            where = self.library.save(d)
            saved = f" Saved to {where.parent.name}/{where.name}."
        except (OSError, ValueError) as e:
            saved = ""
            self.window.show_error(f"Could not save direction {d.name!r}: {e}")
        self.fit_label.setText(f"{d.name}: validation accuracy {acc_text} "
                               f"({d.quality.get('n_pos')} + / {d.quality.get('n_neg')} −).{saved}")
        self._refresh()
        self._show_strip(d, source)

    def _clear_strip(self) -> None:
        self.strip_latents = []
        for t in self.strip_tiles:
            t.clear()
        self.strip.setVisible(False)

    def _show_strip(self, d: Direction, cell) -> None:
        """One face moved from -3 to +3 along d, rendered at thumbnail size."""
        self._clear_strip()
        if cell is None or self.gen is None:
            return
        lat = cell.latent
        groups = self.gen.info.groups
        self.strip_latents = [Latent(ws=d.apply(lat.ws, a, groups, self.gen.fingerprint), recipe=lat.recipe,
                                     model=lat.model, noise=lat.noise, post=lat.post) for a in STRIP_AMOUNTS]
        self.strip.setVisible(True)
        bridge = self.window.bridge
        if not bridge.ready:
            return
        latents = list(self.strip_latents)

        def done(result):
            if result.status is not Status.OK or self.strip_latents != latents:
                return
            for t, img, lt in zip(self.strip_tiles, result.images, latents):
                q = to_qimage(self.window.runner.finish_picture(img, lt))
                t.setPixmap(QPixmap.fromImage(q).scaled(STRIP_PX, STRIP_PX, Qt.KeepAspectRatio,
                                                        Qt.SmoothTransformation))
        bridge.submit(latents, self.window.thumbs.request_size(), done, priority=Priority.INTERACTIVE,
                      token=("direction-strip", id(self)))

    def strip_ready(self) -> bool:
        return bool(self.strip_latents) and all(not t.pixmap().isNull() for t in self.strip_tiles)

    def suggest(self) -> list:
        if self.fitted is None or self.gen is None:
            return []
        cells, w = self._grid_w()
        exclude = [i for i, c in enumerate(cells) if c.uid in self.labels]
        idx = suggest_to_label(self.fitted, w, SUGGEST_K, exclude=exclude)
        chosen = [cells[i] for i in idx]
        self.window.select_cells(chosen)
        return chosen
