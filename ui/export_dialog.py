"""Export Animation: format, size, fps, frames, output path; runs explorer.animation.start_export in
the background with a progress bar, the time left, and Cancel.

The export thread's callbacks are re-posted to the GUI thread as signals. A cancelled or failed
export leaves nothing under the chosen name (the writers work under a temp name). The file dialog
is injectable: `path_chooser(dialog, suggested) -> path or None`, or type / pass the path.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QSpinBox, QVBoxLayout)

from explorer.animation import max_export_size, start_export
from explorer.timeline import Timeline

FORMATS = [("gif", "GIF", ".gif"), ("mp4", "MP4 (H.264)", ".mp4"), ("webm", "WebM (VP9)", ".webm"),
           ("png", "PNG sequence (folder)", "")]


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d} left" if s >= 60 else f"{s} s left"


class ExportDialog(QDialog):
    """Non-modal by default. `job` is the running/last ExportJob; `finished(status, path, error)`."""

    _progress = Signal(int, int, object)       # done, total, eta (from the export thread)
    _done = Signal(object)                     # the ExportJob
    message = Signal(str, str, object)         # text, level, action (the window's message bar)
    finished_export = Signal(str, str, str)    # status ('ok' | 'cancelled' | 'failed'), path, error

    def __init__(self, service, timeline: Timeline, resolution: int, parent=None, *, path: str | None = None,
                 path_chooser=None, registry=None, directions=None):
        super().__init__(parent)
        self.setWindowTitle("Export Animation")
        self.setMinimumWidth(440)
        self.service, self.timeline, self.resolution = service, timeline, int(resolution)
        self.registry, self.directions = registry, directions
        self.path_chooser = path_chooser or self._ask_path
        self.job = None
        self._progress.connect(self.show_progress, Qt.QueuedConnection)
        self._done.connect(self._on_done, Qt.QueuedConnection)

        form = QFormLayout()
        self.format_combo = QComboBox()
        for key, text, _ext in FORMATS:
            self.format_combo.addItem(text, key)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.size_box = QSpinBox()
        self.size_box.setRange(8 if self.resolution >= 8 else 1, max_export_size(self.resolution))
        self.size_box.setValue(self.resolution)
        self.size_box.setSuffix(" px")
        self.size_box.setToolTip(f"Frame side. The model draws {self.resolution} px; larger frames are "
                                 "upscaled with Lanczos resampling")
        self.size_note = QLabel()
        self.size_note.setProperty("role", "hint")
        self.size_box.valueChanged.connect(self._update_size_note)
        self.fps_box = QDoubleSpinBox()
        self.fps_box.setRange(1.0, 120.0)
        self.fps_box.setDecimals(0)
        self.fps_box.setValue(timeline.fps)
        self.frames_box = QSpinBox()
        self.frames_box.setRange(1, 100000)
        self.frames_box.setValue(timeline.frame_count())
        self.duration_label = QLabel()
        self.fps_box.valueChanged.connect(self._update_duration)
        self.frames_box.valueChanged.connect(self._update_duration)
        path_row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("Where to write the clip")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        form.addRow("Format", self.format_combo)
        form.addRow("Size", self.size_box)
        form.addRow("", self.size_note)
        self._update_size_note()
        form.addRow("Frame rate", self.fps_box)
        form.addRow("Frames", self.frames_box)
        form.addRow("", self.duration_label)
        form.addRow("Save to", path_row)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)    # the slim bar clipped its own "42%": the label says it
        self.eta_label = QLabel("")
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.export_button = QPushButton("Export")
        self.export_button.setProperty("primary", True)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self.cancel_or_close)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.eta_label)
        lay.addWidget(self.status_label)
        lay.addLayout(buttons)
        if path:
            self.set_path(path)
        self._update_duration()

    def _update_size_note(self, *_args) -> None:
        size = self.size_box.value()
        self.size_note.setText("" if size <= self.resolution else
                               f"Upscaled from the model's {self.resolution} px (Lanczos)")
        self.size_note.setVisible(size > self.resolution)

    # ----- settings ---------------------------------------------------------------------
    def fmt(self) -> str:
        return self.format_combo.currentData()

    def set_format(self, key: str) -> None:
        i = self.format_combo.findData(key)
        if i >= 0:
            self.format_combo.setCurrentIndex(i)

    def set_path(self, path: str) -> None:
        """Set the output path; a known extension picks the format."""
        self.path_edit.setText(str(path))
        ext = Path(str(path)).suffix.lower()
        for key, _t, e in FORMATS:
            if e and ext == e:
                self.set_format(key)
                break
        else:
            if ext in ("", ".png"):
                self.set_format("png")

    def _format_changed(self, _i: int) -> None:
        text = self.path_edit.text().strip()
        if not text:
            return
        p = Path(text)
        ext = next(e for k, _t, e in FORMATS if k == self.fmt())
        if self.fmt() == "png":
            if p.suffix.lower() in (".gif", ".mp4", ".webm"):
                self.path_edit.setText(str(p.with_suffix("")))
        elif p.suffix.lower() != ext:
            self.path_edit.setText(str(p.with_suffix(ext) if p.suffix else Path(str(p) + ext)))

    def _update_duration(self, *_a) -> None:
        self.duration_label.setText(f"{self.frames_box.value() / self.fps_box.value():.2f} s")

    def _ask_path(self, suggested: str) -> str | None:
        if self.fmt() == "png":
            path = QFileDialog.getExistingDirectory(self, "Export frames to folder", str(Path(suggested).parent))
        else:
            ext = next(e for k, _t, e in FORMATS if k == self.fmt())
            path, _ = QFileDialog.getSaveFileName(self, "Export animation", suggested, f"Clip (*{ext})")
        return path or None

    def browse(self) -> None:
        suggested = self.path_edit.text().strip() or str(Path.home() / ("clip" + next(
            e for k, _t, e in FORMATS if k == self.fmt())))
        path = self.path_chooser(suggested)
        if path:
            self.set_path(path)

    # ----- running ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.done

    def start(self, path: str | None = None):
        """Start the export (path: the output, else the path field, else ask). Returns the job or None."""
        if self.running:
            return self.job
        if path:
            self.set_path(path)
        if not self.path_edit.text().strip():
            self.browse()
        out = self.path_edit.text().strip()
        if not out:
            return None
        if not self.timeline.keyframes:
            self._fail("The timeline has no keyframes: drag faces from the grid onto it first.")
            return None
        if self.service is None:
            self._fail("No model is loaded.")
            return None
        self.progress.setRange(0, self.frames_box.value())
        self.progress.setValue(0)
        self.eta_label.setText("starting…")
        self.status_label.setText("")
        self.status_label.setStyleSheet("")
        try:
            self.job = start_export(self.service, self.timeline.copy(), out, fmt=self.fmt(),
                                    size=self.size_box.value(), fps=self.fps_box.value(),
                                    frames=self.frames_box.value(), registry=self.registry,
                                    directions=self.directions,
                                    on_progress=lambda job: self._progress.emit(*job.progress),
                                    on_done=lambda job: self._done.emit(job))
        except Exception as e:  # noqa: BLE001 - bad settings: shown, not raised
            self._fail(f"Could not start the export: {e}")
            return None
        self._set_running(True)
        return self.job

    def _set_running(self, on: bool) -> None:
        for w in (self.format_combo, self.size_box, self.fps_box, self.frames_box, self.path_edit,
                  self.browse_button, self.export_button):
            w.setEnabled(not on)
        self.cancel_button.setText("Cancel" if on else "Close")

    def cancel_or_close(self) -> None:
        if self.running:
            self.cancel()
        else:
            self.close()

    def cancel(self) -> None:
        if self.running:
            self.job.cancel()
            self.eta_label.setText("cancelling…")

    def show_progress(self, done: int, total: int, eta) -> None:
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(done)
        pct = 100 * done // max(total, 1)
        self.eta_label.setText(f"{pct}% · frame {done}/{total} · {format_time(eta)}")

    def _fail(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #e06c75;")
        self.message.emit(text, "error", None)

    def _on_done(self, job) -> None:
        if job is not self.job:
            return
        self._set_running(False)
        path = str(job.out_path)
        if job.status == "ok":
            res = job.result
            path = str(res.path)
            self.progress.setValue(self.progress.maximum())
            self.eta_label.setText(f"{res.frames} frames in {res.seconds:.1f} s")
            text = f"Exported the animation to {path}"
            self.status_label.setText(text)
            self.status_label.setStyleSheet("")
            self.message.emit(text, "info", None)
            self.finished_export.emit("ok", path, "")
        elif job.status == "cancelled":
            self.progress.setValue(0)
            self.eta_label.setText("")
            self.status_label.setText("Export cancelled; nothing was written.")
            self.finished_export.emit("cancelled", path, "")
        else:
            err = job.error
            text = f"Export failed: {err}" if err is not None else "Export failed."
            self.eta_label.setText("")
            self._fail(text)
            self.finished_export.emit("failed", path, str(err))

    def closeEvent(self, event) -> None:
        if self.running:
            self.job.cancel()
        super().closeEvent(event)
