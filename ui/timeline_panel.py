"""The timeline dock: faces dragged from the grid become keyframes on a horizontal track.

Drop cells from the grid onto the track (the drop's x is the keyframe's time; several cells spread
from there to the end), drag a keyframe chip to move it in time, select one to set the segment
that leaves it (interpolation, easing, layers), Delete removes it. Loop, duration, fps and the
noise lock are clip settings. Every edit is one step on the window's undo stack (`undo_stack`,
set by the window; Ctrl+Z / Ctrl+Shift+Z). The scrubber previews any frame through the window's render bridge
(thumbnail size while dragging or playing, full size on release); one token per panel, so a new
preview supersedes the older requests still queued. Save / Open use Timeline.save / Timeline.open.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel, QPushButton,
                               QSizePolicy, QSlider, QVBoxLayout, QWidget)
from superqt.utils import signals_blocked

from explorer.latents import Latent
from explorer.noise import NoiseSpec
from explorer.render import Priority, Status
from explorer.timeline import EASINGS, INTERPOLATIONS, Keyframe, Segment, Timeline, frame_positions

from . import theme
from explorer.session import Session
from explorer.session_commands import StateStep
from .render_bridge import to_qimage
from .session_signals import SessionSignals

from explorer.layers import LAYER_CHOICES  # noqa: E402 - the one vocabulary
PREVIEW_THUMB = 64          # preview side while scrubbing / playing
CHIP = 40                   # keyframe chip side on the track
MERGE_DURATION, MERGE_FPS = 7101, 7102   # undo merge ids: spin-box steps in a row are one step
TIMELINE_FILTER = "Timelines (*.timeline.json *.json);;All files (*)"


END_SNAP = 0.03   # drops this close to an end of the track (as a share of it) snap to the end


class TimelineTrack(QWidget):
    """The horizontal track: keyframe chips at their positions; accepts grid drops; drag to move."""

    selectionChanged = Signal(object)      # the selected Keyframe or None
    changed = Signal()                     # keyframes added / moved / removed
    cellsDropped = Signal(list, float)     # Cells, position of the drop

    def __init__(self, panel: "TimelinePanel"):
        super().__init__()
        self.panel = panel
        self.selected: Keyframe | None = None
        self.playhead: float | None = None
        self._dragging: Keyframe | None = None
        self._press_state: Timeline | None = None
        self._press_x = 0
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMinimumHeight(CHIP + 24)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self._drop_x: int | None = None
        self.setToolTip("Drag faces here from the grid; drag a keyframe to move it; Delete removes it")

    @property
    def timeline(self) -> Timeline:
        return self.panel.timeline

    def sizeHint(self) -> QSize:
        return QSize(400, CHIP + 28)

    # ----- geometry ---------------------------------------------------------------------
    def margin(self) -> int:
        return CHIP // 2 + 6

    def x_for(self, position: float) -> float:
        m = self.margin()
        return m + float(position) * max(1, self.width() - 2 * m)

    def position_at(self, x: float) -> float:
        m = self.margin()
        return float(min(1.0, max(0.0, (x - m) / max(1, self.width() - 2 * m))))

    def chip_rect(self, kf: Keyframe) -> QRectF:
        x = self.x_for(kf.position)
        return QRectF(x - CHIP / 2, 4, CHIP, CHIP)

    def keyframe_at(self, pos) -> Keyframe | None:
        for kf in reversed(self.timeline.keyframes):
            if self.chip_rect(kf).contains(pos):
                return kf
        return None

    # ----- painting ---------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        y = 4 + CHIP / 2
        p.setPen(QPen(theme.TEXT_DIM, 2))
        p.drawLine(int(self.x_for(0)), int(y), int(self.x_for(1)), int(y))
        for i in range(11):
            x = int(self.x_for(i / 10))
            p.drawLine(x, CHIP + 8, x, CHIP + (14 if i % 5 == 0 else 11))
        for kf in self.timeline.keyframes:
            r = self.chip_rect(kf)
            img = self.panel.thumbnail(kf)
            if img is not None:
                p.drawImage(r, img)
            else:
                p.fillRect(r, theme.RAISED)
            sel = kf is self.selected
            p.setPen(QPen(theme.ACCENT if sel else theme.BORDER, 3 if sel else 1))
            p.drawRect(r)
        if self.playhead is not None:
            x = int(self.x_for(self.playhead))
            p.setPen(QPen(QColor(255, 80, 80), 1))
            p.drawLine(x, 0, x, self.height())
        if self._drop_x is not None:
            p.setPen(QPen(theme.DROP, 2))
            p.drawLine(self._drop_x, 0, self._drop_x, self.height())
        p.end()

    # ----- selection and moving -----------------------------------------------------------
    def select(self, kf: Keyframe | None) -> None:
        self.selected = kf
        self.update()
        self.selectionChanged.emit(kf)

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.LeftButton:
            return super().mousePressEvent(event)
        self.setFocus()
        kf = self.keyframe_at(event.position())
        self.select(kf)
        self._dragging = kf
        self._press_x = event.position().x()
        self._press_state = self.timeline.copy()

    def mouseMoveEvent(self, event) -> None:
        if self._dragging is None or not (event.buttons() & Qt.LeftButton):
            return
        self.move_keyframe(self._dragging, self.position_at(event.position().x()), final=False)

    def mouseReleaseEvent(self, event) -> None:
        if self._dragging is not None:
            if abs(event.position().x() - self._press_x) >= 1:
                with self.panel.undoable("Move keyframe", before=self._press_state):
                    self.move_keyframe(self._dragging, self.position_at(event.position().x()), final=True)
            self._dragging = None

    def move_keyframe(self, kf: Keyframe, position: float, final: bool = True) -> Keyframe:
        tl = self.timeline
        idx = self.panel.index_of(kf)
        if idx < 0:
            return kf
        new_idx = tl.move(idx, float(position))
        new = tl.keyframes[new_idx]
        if self._dragging is kf:
            self._dragging = new
        self.selected = new if self.selected is kf else self.selected
        self.update()
        self.changed.emit()
        if self.selected is new:
            self.selectionChanged.emit(new)
        return new

    def event(self, event) -> bool:
        # Delete / Backspace belong to the selected keyframe here, not to the window's Delete action
        if (event.type() == QEvent.ShortcutOverride and self.selected is not None
                and event.key() in (Qt.Key_Delete, Qt.Key_Backspace)):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Delete, Qt.Key_Backspace) and self.selected is not None:
            self.panel.remove_selected()
            event.accept()
            return
        super().keyPressEvent(event)

    # ----- drops from the grid --------------------------------------------------------------
    def _accepts(self, event) -> bool:
        return self.panel.grid_model is not None and self.panel.grid_model.accepts(event.mimeData())

    def dragEnterEvent(self, event) -> None:
        if self._accepts(event):
            event.setDropAction(Qt.CopyAction)
            event.accept()
            self._drop_x = int(event.position().x())
            self.update()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)      # same test, and the drop marker follows the mouse

    def dragLeaveEvent(self, event) -> None:
        self._drop_x = None
        self.update()

    def dropEvent(self, event) -> None:
        self._drop_x = None
        self.update()
        cells = self.panel.grid_model.cells_from_mime(event.mimeData()) if self.panel.grid_model else []
        if not cells:
            event.ignore()
            return
        event.setDropAction(Qt.CopyAction)
        event.accept()
        self.cellsDropped.emit(cells, self.position_at(event.position().x()))


class TimelinePanel(QWidget):
    """The timeline dock's widget. `timeline` is the Timeline being edited (replaced by Open)."""

    message = Signal(str, str, object)       # text, level, action (the window's message bar)
    exportRequested = Signal()
    timelineChanged = Signal()

    def __init__(self, bridge, grid_model=None, post=None, registry=None, parent=None):
        super().__init__(parent)
        self.bridge, self.grid_model, self.post = bridge, grid_model, post
        self.registry = registry
        self.directions: dict | None = None      # the window sets its current model's directions
        self.model = None
        # the timeline lives in the session; this panel shows and edits it
        self.session = getattr(grid_model, "session", None) or Session()
        self.session.timeline = Timeline()
        signals = grid_model.session_signals if grid_model is not None else SessionSignals(self.session, self)
        signals.changed.connect(self._on_session)
        self._thumbs: dict[str, QImage] = {}
        self._resolved = None
        self._resolve_error: str | None = None
        self.undo_stack = None                    # the window's undo stack (None: edits are not undoable)
        self.last_request: dict | None = None     # what the last preview asked the bridge for
        self.preview_image: QImage | None = None
        self.preview_serial = 0                   # bumps for every preview picture shown
        self.save_path_chooser = self._ask_save_path     # tests replace these: () -> path or None
        self.open_path_chooser = self._ask_open_path
        self._build()
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._tick)
        self._sync_controls()

    # ----- construction -----------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 6, 10, 6)
        outer.setSpacing(6)
        top = QHBoxLayout()
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the timeline (keyframes with their recipes) as JSON")
        self.save_button.clicked.connect(lambda: self.save())
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a saved timeline, or the .timeline.json beside an exported clip")
        self.open_button.clicked.connect(lambda: self.open())
        self.loop_box = QCheckBox("Loop")
        self.loop_box.setToolTip("The last keyframe runs back to the first: the clip repeats without a jump")
        self.loop_box.toggled.connect(self.set_loop)
        self.duration_box = QDoubleSpinBox()
        self.duration_box.setRange(0.1, 600.0)
        self.duration_box.setDecimals(1)
        self.duration_box.setSuffix(" s")
        self.duration_box.setToolTip("Clip length in seconds (one cycle when looping)")
        self.duration_box.valueChanged.connect(self._duration_changed)
        self.fps_box = QDoubleSpinBox()
        self.fps_box.setRange(1.0, 120.0)
        self.fps_box.setDecimals(0)
        self.fps_box.setSuffix(" fps")
        self.fps_box.setToolTip("Frames per second (playback and export)")
        self.fps_box.valueChanged.connect(self._fps_changed)
        self.noise_box = QCheckBox("Lock noise")
        self.noise_box.setToolTip("Every frame uses the same noise, so fine texture does not flicker")
        self.noise_box.toggled.connect(self.set_noise_lock)
        self.export_button = QPushButton("Export…")
        self.export_button.setProperty("primary", True)
        self.export_button.setToolTip("Render the timeline into a GIF, MP4, WebM or PNG frames")
        self.export_button.clicked.connect(self.exportRequested.emit)
        for w in (self.open_button, self.save_button):
            top.addWidget(w)
        top.addSpacing(12)
        for w in (self.loop_box, QLabel("Duration"), self.duration_box, QLabel("Rate"), self.fps_box,
                  self.noise_box):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.export_button)
        outer.addLayout(top)

        self.track = TimelineTrack(self)
        self.track.cellsDropped.connect(self.add_cells)
        self.track.selectionChanged.connect(self._on_selected)
        self.track.changed.connect(self._on_changed)
        outer.addWidget(self.track)

        seg = QHBoxLayout()
        self.seg_label = QLabel("Select a keyframe to set the segment leaving it")
        self.seg_label.setProperty("role", "hint")
        self.interp_combo = QComboBox()
        self.interp_combo.addItems(list(INTERPOLATIONS))
        self.interp_combo.setToolTip("linear: straight in W · slerp: spherical in Z (seed faces) · "
                                     "cubic: smooth through the neighbouring keyframes")
        self.easing_combo = QComboBox()
        self.easing_combo.addItems(list(EASINGS))
        self.easing_combo.setToolTip("How the segment speeds up and slows down")
        self.layers_combo = QComboBox()
        self.layers_combo.addItems(list(LAYER_CHOICES))
        self.layers_combo.setToolTip("Which layers move in this segment; the others hold")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected keyframe (Delete)")
        self.remove_button.clicked.connect(self.remove_selected)
        self.interp_combo.currentTextChanged.connect(lambda v: self.set_segment(interp=v))
        self.easing_combo.currentTextChanged.connect(lambda v: self.set_segment(easing=v))
        self.layers_combo.currentTextChanged.connect(lambda v: self.set_segment(layers=v))
        seg.addWidget(self.seg_label, 1)
        for lab, w in (("Interpolation", self.interp_combo), ("Easing", self.easing_combo),
                       ("Layers", self.layers_combo)):
            seg.addWidget(QLabel(lab))
            seg.addWidget(w)
        seg.addWidget(self.remove_button)
        outer.addLayout(seg)

        scrub = QHBoxLayout()
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play the timeline at its frame rate (thumbnail size)")
        self.play_button.toggled.connect(self.set_playing)
        self.scrubber = QSlider(Qt.Horizontal)
        self.scrubber.setToolTip("Scrub through the frames")
        self.scrubber.valueChanged.connect(self._on_scrub)
        self.scrubber.sliderReleased.connect(lambda: self.preview(self.scrubber.value(), full=True))
        self.frame_label = QLabel("")
        self.frame_label.setMinimumWidth(110)
        self.preview_label = QLabel()
        self.preview_label.setFixedSize(PREVIEW_THUMB * 2, PREVIEW_THUMB * 2)
        self.preview_label.setAlignment(Qt.AlignCenter)
        self.preview_label.setScaledContents(True)
        scrub.addWidget(self.play_button)
        scrub.addWidget(self.scrubber, 1)
        scrub.addWidget(self.frame_label)
        scrub.addWidget(self.preview_label)
        outer.addLayout(scrub)

    # ----- model and timeline -------------------------------------------------------------
    def set_model(self, gen) -> None:
        self.set_playing(False)
        self.model = gen
        self.set_timeline(Timeline())

    @property
    def timeline(self) -> Timeline:
        if self.session.timeline is None:
            self.session.timeline = Timeline()
        return self.session.timeline

    @timeline.setter
    def timeline(self, value: Timeline) -> None:
        self.session.set_timeline(value, source=self)

    def _announce(self) -> None:
        """The timeline was edited here, in place: tell the session's other observers."""
        self.session.emit("timeline", source=self)

    def _on_session(self, kind: str, data: dict) -> None:
        """Someone else changed the session's timeline (or its settings): show it."""
        if kind == "timeline" and data.get("source") is not self:
            kfs = self.timeline.keyframes
            if self.track.selected is not None and not any(k is self.track.selected for k in kfs):
                self.track.selected = None
                self._on_selected(None)
            self._on_changed()
            self._sync_controls()

    def set_timeline(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.track.selected = None
        self._on_changed()
        self._on_selected(None)
        self._sync_controls()

    # ----- undo ------------------------------------------------------------------------------
    @staticmethod
    def signature(tl: Timeline) -> tuple:
        return (tuple(id(k) for k in tl.keyframes), tl.duration, tl.fps, tl.loop, repr(tl.noise), tl.name)

    @contextmanager
    def undoable(self, text: str, before: Timeline | None = None, merge_id: int = -1):
        """Run an edit of `self.timeline`; if it changed anything, push it as one undo step."""
        before = before if before is not None else self.timeline.copy()
        yield
        if self.signature(before) == self.signature(self.timeline):
            return
        self._announce()                 # edited in place: observers (the autosave) hear of it
        if self.undo_stack is not None:
            self.undo_stack.push(StateStep(self._restore, before, self.timeline.copy(), text, merge_id))

    def _restore(self, state: Timeline) -> None:
        sel = self.index_of(self.track.selected)
        self.timeline = state.copy()
        kfs = self.timeline.keyframes
        self.track.selected = kfs[sel] if 0 <= sel < len(kfs) else None
        self._on_changed()
        self._on_selected(self.track.selected)
        self._sync_controls()
        self._render_missing_thumbs()

    def _sync_controls(self) -> None:
        tl = self.timeline
        for w, v in ((self.loop_box, tl.loop), (self.noise_box, tl.noise is not None)):
            with signals_blocked(w):
                w.setChecked(bool(v))
        for w, v in ((self.duration_box, tl.duration), (self.fps_box, tl.fps)):
            with signals_blocked(w):
                w.setValue(float(v))
        self._update_range()

    def index_of(self, kf: Keyframe | None) -> int:
        for i, k in enumerate(self.timeline.keyframes):
            if k is kf:
                return i
        return -1

    def thumbnail(self, kf: Keyframe) -> QImage | None:
        return self._thumbs.get(kf.latent.digest())

    def add_cells(self, cells: list, position: float) -> list[Keyframe]:
        """Keyframes for grid cells: the first at `position`, the others spread from there to the end."""
        return self.add_latents([c.latent for c in cells], position, [c.image for c in cells],
                                [c.label for c in cells])

    def add_latents(self, latents: list[Latent], position: float, images=None, labels=None) -> list[Keyframe]:
        if self.model is not None:
            fp = str(self.model.fingerprint)
            shape = (self.model.info.num_ws, self.model.info.w_dim)
            bad = [lat for lat in latents if lat.model != fp and lat.ws.shape != shape]
            if bad:
                self.message.emit("That face belongs to a model of another shape.", "error", None)
                return []
        n = len(latents)
        p0 = float(min(1.0, max(0.0, position)))
        if p0 <= END_SNAP:          # a drop at an end of the track means that end, exactly (a chip
            p0 = 0.0                # dropped there landed at 0.007: frame 0 was a blend)
        elif p0 >= 1.0 - END_SNAP:
            p0 = 1.0
        step = 0.0 if n <= 1 else (1.0 - p0) / (n - 1) if p0 < 1.0 else 0.0
        seg = self.timeline.keyframes[-1].segment if self.timeline.keyframes else Segment()
        made = []
        with self.undoable("Add keyframe" if n == 1 else f"Add {n} keyframes"):
            self._insert(latents, images, labels, p0, step, seg, made)
            if self.timeline.loop and len(self.timeline.keyframes) > 1 and \
                    self.timeline.keyframes[-1].position >= 1.0 - END_SNAP:
                # looping, the end of the track is the start again: a face put there would make the
                # way back to the first face a jump of a frame or two; space them evenly instead
                self.timeline.spread()
        if made:
            self.track.select(made[-1])
            self._on_changed()
            self._render_missing_thumbs()
        return made

    def _insert(self, latents, images, labels, p0, step, seg, made) -> None:
        for k, lat in enumerate(latents):
            kf = Keyframe(lat, min(1.0, p0 + k * step), segment=seg,
                          label=(labels[k] if labels else "") or "")
            self.timeline.add(kf)
            img = images[k] if images else None
            if isinstance(img, QImage) and not img.isNull():
                self._thumbs[lat.digest()] = img
            made.append(kf)

    def remove_selected(self) -> None:
        idx = self.index_of(self.track.selected)
        if idx < 0:
            return
        with self.undoable("Remove keyframe"):
            self.timeline.remove(idx)
        self.track.select(None)
        self._on_changed()

    def set_segment(self, **changes) -> None:
        idx = self.index_of(self.track.selected)
        if idx < 0:
            return
        try:
            with self.undoable("Segment " + ", ".join(f"{k} {v}" for k, v in changes.items())):
                self.timeline.set_segment(idx, **changes)
        except ValueError as e:
            self.message.emit(str(e), "error", None)
            return
        self.track.selected = self.timeline.keyframes[idx]
        self._on_changed()

    def set_loop(self, loop: bool) -> None:
        with self.undoable("Loop on" if loop else "Loop off"):
            self._set_loop(loop)
        self._on_changed()

    def _set_loop(self, loop: bool) -> None:
        tl = self.timeline
        tl.set_loop(bool(loop))
        kfs = tl.keyframes
        if tl.loop and len(kfs) > 1 and kfs[-1].position - kfs[0].position >= 1.0:
            # position 1 is the first keyframe again: squeeze the keyframes to leave the closing segment
            k = len(kfs)
            tl.keyframes = [kf.with_(position=kf.position * k / (k + 1)) for kf in kfs]
            sel = self.index_of(self.track.selected)
            self.track.selected = None if sel < 0 else tl.keyframes[sel]
        if self.loop_box.isChecked() != bool(loop):
            with signals_blocked(self.loop_box):
                self.loop_box.setChecked(bool(loop))

    def set_noise_lock(self, locked: bool) -> None:
        with self.undoable("Lock noise" if locked else "Unlock noise"):
            self.timeline.noise = NoiseSpec() if locked else None
        if self.noise_box.isChecked() != bool(locked):
            with signals_blocked(self.noise_box):
                self.noise_box.setChecked(bool(locked))
        self._on_changed()

    def _duration_changed(self, v: float) -> None:
        with self.undoable(f"Duration {v:g} s", merge_id=MERGE_DURATION):
            self.timeline.duration = float(v)
        self._on_changed()

    def _fps_changed(self, v: float) -> None:
        with self.undoable(f"{v:g} fps", merge_id=MERGE_FPS):
            self.timeline.fps = float(v)
        if self.play_timer.isActive():
            self.play_timer.setInterval(max(1, int(round(1000.0 / self.timeline.fps))))
        self._on_changed()

    def _on_selected(self, kf: Keyframe | None) -> None:
        on = kf is not None
        for w in (self.interp_combo, self.easing_combo, self.layers_combo, self.remove_button):
            w.setEnabled(on)
        if not on:
            self.seg_label.setText("Select a keyframe to set the segment leaving it" if self.timeline.keyframes
                                   else "Drag faces here from the grid to make keyframes")
            return
        idx = self.index_of(kf)
        self.seg_label.setText(f"Keyframe {idx + 1} · {kf.position * self.timeline.duration:.2f} s · "
                               f"{kf.describe()}")
        seg = kf.segment
        layers = seg.layers if isinstance(seg.layers, str) and seg.layers in LAYER_CHOICES else None
        for w, v in ((self.interp_combo, seg.interp), (self.easing_combo, seg.easing), (self.layers_combo, layers)):
            if v is None:
                continue
            with signals_blocked(w):
                w.setCurrentText(v)

    def _on_changed(self) -> None:
        self._resolved = None
        self._resolve_error = None
        self.track.update()
        self._update_range()
        self.timelineChanged.emit()
        if self.timeline.keyframes:
            self.preview(self.scrubber.value(), full=not self.scrubber.isSliderDown())

    def _update_range(self) -> None:
        n = self.timeline.frame_count()
        with signals_blocked(self.scrubber):
            self.scrubber.setRange(0, max(0, n - 1))
        self._update_frame_label()

    def _update_frame_label(self) -> None:
        n = self.timeline.frame_count()
        f = self.scrubber.value()
        self.frame_label.setText(f"frame {f + 1}/{n} · {f / self.timeline.fps:.2f} s")

    # ----- evaluation and preview ----------------------------------------------------------
    def resolved(self):
        """The resolved timeline (cached until the next change), or None (error in status)."""
        if self._resolved is None and self._resolve_error is None and self.timeline.keyframes:
            try:
                self._resolved = self.timeline.resolve(self.model, self.registry, self.directions)
            except Exception as e:  # noqa: BLE001 - shown to the user
                self._resolve_error = str(e)
                self.message.emit(f"The timeline cannot be previewed: {e}", "error", None)
        return self._resolved

    def position_of_frame(self, frame: int) -> float:
        n = self.timeline.frame_count()
        return float(frame_positions(n, self.timeline.loop)[min(max(0, int(frame)), n - 1)])

    def frame_latent(self, frame: int) -> Latent | None:
        r = self.resolved()
        if r is None:
            return None
        t = self.position_of_frame(frame)
        fp = str(self.model.fingerprint) if self.model is not None else (self.timeline.model or "")
        return Latent(r.ws_at(t), {"op": "timeline", "position": t}, fp, noise=r.noise_at(t), post=r.post_at(t))

    def _token(self):
        return ("timeline-preview", id(self))

    def _on_scrub(self, frame: int) -> None:
        self._update_frame_label()
        self.preview(frame, full=not (self.scrubber.isSliderDown() or self.play_timer.isActive()))

    def preview(self, frame: int, full: bool = True) -> None:
        """Render frame `frame`: full size, or thumbnail size (scrubbing / playing). A new request
        supersedes the older ones of this panel still in the queue."""
        if not self.timeline.keyframes:
            return
        self.track.playhead = self.position_of_frame(frame)
        self.track.update()
        lat = self.frame_latent(frame)
        if lat is None:
            return
        res = self.model.info.resolution if self.model is not None else None
        size = None if full else (min(PREVIEW_THUMB, res) if res else PREVIEW_THUMB)
        self.last_request = {"frame": int(frame), "t": self.position_of_frame(frame), "ws": lat.ws,
                             "size": size, "latent": lat}
        if self.bridge is None or not self.bridge.ready:
            return
        self.bridge.supersede(self._token())
        self.bridge.submit([lat], size, lambda result, lat=lat: self._show_preview(result, lat),
                           priority=Priority.INTERACTIVE, token=self._token())

    def _show_preview(self, result, lat: Latent) -> None:
        if result.status is not Status.OK:
            return
        img = result.images[0]
        if self.post is not None and lat.post:
            if self.registry is not None and self.registry.needs_background(lat.post):
                # style transfer takes seconds a frame: the scrub preview shows the plain frame (the
                # export stylises every frame, each starting from the previous one's result)
                self.preview_label.setToolTip("Frame without its slow image edit (style transfer): "
                                              "the export applies it to every frame")
            else:
                try:
                    img = self.post(img, lat)
                except Exception as e:  # noqa: BLE001
                    self.message.emit(f"Image edit failed in the preview: {e}", "error", None)
        self.preview_image = to_qimage(img)
        self.preview_serial += 1
        self.preview_label.setPixmap(QPixmap.fromImage(self.preview_image))

    def _render_missing_thumbs(self) -> None:
        if self.bridge is None or not self.bridge.ready:
            return
        for kf in self.timeline.keyframes:
            key = kf.latent.digest()
            if key in self._thumbs:
                continue

            def done(result, key=key, lat=kf.latent):
                if result.status is Status.OK:
                    img = result.images[0]
                    if self.post is not None and lat.post and not (
                            self.registry is not None and self.registry.needs_background(lat.post)):
                        img = self.post(img, lat)
                    self._thumbs[key] = to_qimage(img)
                    self.track.update()
            self.bridge.submit([kf.latent], CHIP, done, priority=Priority.VISIBLE,
                               token=("timeline-chip", id(self), key))

    # ----- playback -------------------------------------------------------------------------
    def set_playing(self, on: bool) -> None:
        on = bool(on) and bool(self.timeline.keyframes)
        if on:
            self.play_timer.start(max(1, int(round(1000.0 / self.timeline.fps))))
        else:
            was = self.play_timer.isActive()
            self.play_timer.stop()
            if was and self.timeline.keyframes:
                self.preview(self.scrubber.value(), full=True)
        if self.play_button.isChecked() != on:
            with signals_blocked(self.play_button):
                self.play_button.setChecked(on)
        self.play_button.setText("Pause" if on else "Play")

    @property
    def playing(self) -> bool:
        return self.play_timer.isActive()

    def _tick(self) -> None:
        v = self.scrubber.value() + 1
        if v > self.scrubber.maximum():
            v = 0
        self.scrubber.setValue(v)

    # ----- files ------------------------------------------------------------------------------
    def _ask_save_path(self) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, "Save timeline", str(Path.home() / "clip.timeline.json"),
                                              TIMELINE_FILTER)
        return path or None

    def _ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open timeline", str(Path.home()), TIMELINE_FILTER)
        return path or None

    def save(self, path: str | None = None) -> Path | None:
        if not self.timeline.keyframes:
            self.message.emit("The timeline has no keyframes to save.", "error", None)
            return None
        path = path or self.save_path_chooser()
        if not path:
            return None
        try:
            out = self.timeline.save(path)
        except Exception as e:  # noqa: BLE001
            self.message.emit(f"Could not save the timeline: {e}", "error", None)
            return None
        self.message.emit(f"Saved the timeline to {out}", "info", None)
        return out

    def open(self, path: str | None = None) -> Timeline | None:
        path = path or self.open_path_chooser()
        if not path:
            return None
        try:
            tl = Timeline.open(path)
        except Exception as e:  # noqa: BLE001
            self.message.emit(f"Could not open the timeline: {e}", "error", None)
            return None
        self._thumbs.clear()
        with self.undoable(f"Open timeline {Path(path).name}"):
            self.set_timeline(tl)
        self._render_missing_thumbs()
        return tl

    def stop(self) -> None:
        self.set_playing(False)
        if self.bridge is not None:
            self.bridge.supersede(self._token())
