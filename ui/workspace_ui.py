"""The window's workspace: autosave of the session, pages as tabs, File > New / Open / Save As.

The session (`explorer.session`) holds the work; this controller writes it to the workspace file
(`explorer.workspace`) shortly after every change (at most AUTOSAVE_MS later, however busy the
user is, so a kill loses at most that), reads a workspace back when its model is loaded, keeps
the mixing matrix and the timeline in the session, and shows the session's pages as tabs above
the grid (New Batch adds a page; closing a tab is undoable).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QTabBar

from explorer import workspace as ws
from explorer.session import MatrixState, Session
from explorer.session_commands import PageStep

from .session_signals import SessionSignals

AUTOSAVE_MS = 300


class PageTabs(QTabBar):
    """The session's pages as tabs (shown once there are two)."""

    def __init__(self, session: Session, signals=None, parent=None):
        super().__init__(parent)
        self.session = session
        self.setDocumentMode(True)
        self.setExpanding(False)
        self.setTabsClosable(True)
        self.setMovable(False)
        self.setToolTip("Pages of this workspace: New Batch (Ctrl+N) adds one; closing one can be undone")
        self._syncing = False
        signals = signals if signals is not None else SessionSignals(session, self)
        signals.changed.connect(self._on_session)     # the Qt adapter over the session's events
        self.currentChanged.connect(self._on_current)
        self.sync()

    def _on_session(self, kind: str, _data: dict) -> None:
        if kind in ("pages", "page", "inserted", "removed"):
            self.sync()

    def sync(self) -> None:
        self._syncing = True
        try:
            pages = self.session.pages
            while self.count() > len(pages):
                self.removeTab(self.count() - 1)
            while self.count() < len(pages):
                self.addTab("")
            for i, p in enumerate(pages):
                self.setTabText(i, f"{p.name} ({len(p.faces)})")
                self.setTabToolTip(i, f"{p.name}: {len(p.faces)} faces, seeds from {p.stream.start}")
            self.setCurrentIndex(self.session.current)
            self.setVisible(len(pages) > 1)
        finally:
            self._syncing = False

    def _on_current(self, index: int) -> None:
        if not self._syncing and index >= 0 and index != self.session.current:
            self.session.show_page(index)


class WorkspaceController(QObject):
    message = Signal(str, str)        # text, level
    titleChanged = Signal()

    def __init__(self, window, session: Session):
        super().__init__(window)
        self.window, self.session = window, session
        self.file: ws.WorkspaceFile | None = None
        self.pending: tuple | None = None          # (file, doc, faces) waiting for its model
        self.error_shown = False
        self.saves = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_MS)
        self._timer.timeout.connect(self.flush)
        self._panels = None               # (matrix, timeline) restored from a workspace, until shown
        signals = window.grid_model.session_signals
        signals.changed.connect(self._on_session)
        self.tabs = PageTabs(session, signals)
        self.tabs.tabCloseRequested.connect(self.close_page)
        self.path_chooser = self._ask_path            # tests replace these
        self.open_chooser = self._ask_open

    # ----- saving -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.file.name if self.file is not None else ""

    @property
    def unsaved(self) -> bool:
        """A change not written yet (it will be within AUTOSAVE_MS)."""
        return self._timer.isActive()

    def _on_session(self, _kind: str, _data: dict) -> None:
        if self.file is not None and not self._timer.isActive():
            self._timer.start()       # not restarted by later changes: saved within AUTOSAVE_MS

    def flush(self) -> bool:
        """Save now (what the timer does); False when the save failed (said once, work kept)."""
        self._timer.stop()
        if self.file is None:
            return True
        try:
            self.file.save(self.session)
        except ws.WorkspaceError as e:
            if not self.error_shown:
                self.error_shown = True
                self.message.emit(str(e), "error")
            self._timer.start(5 * AUTOSAVE_MS)      # try again (space may be freed)
            return False
        if self.error_shown:
            self.error_shown = False
            self.message.emit(f"The workspace {self.name} is saved again.", "info")
        self.saves += 1
        return True

    def panels_changed(self) -> None:
        if self.file is not None and not self._timer.isActive():
            self._timer.start()

    # ----- files ------------------------------------------------------------------------------
    def open(self, path, load_model: bool = True) -> bool:
        """Open a workspace file: its work comes into the window once its model is loaded
        (loading it when another is in use). False, with a message, when it cannot be opened."""
        path = Path(path)
        try:
            f = ws.WorkspaceFile(path)
        except ws.WorkspaceError as e:
            self.message.emit(str(e), "error")
            return False
        if f.message:
            self.message.emit(f.message, "error")
        try:
            doc, faces = f.state(), f.faces()
        except Exception as e:  # noqa: BLE001 - a damaged document must not take the window down
            self.message.emit(f"The workspace {path.name} could not be read ({e}); it was not opened.", "error")
            f.close()
            return False
        ws.remember(path)
        if doc is None:                          # a new, empty workspace: the work in front moves into it
            self._switch_to(f)
            return True
        gen = self.window.generator
        want = (doc.get("model") or {})
        if gen is not None and want.get("fingerprint") == gen.fingerprint:
            self._apply(f, doc, faces)
            self.window.workspace_restored()
            return True
        self.pending = (f, doc, faces)
        if load_model:
            self.window.load_model(want.get("path") or "default")
        return True

    def _switch_to(self, f: ws.WorkspaceFile) -> None:
        if self.file is not None and self.file is not f:
            self.flush()
            self.file.close()
        self.file = f
        self.error_shown = False
        self.titleChanged.emit()
        self.flush()

    def _apply(self, f: ws.WorkspaceFile, doc: dict, faces: dict) -> None:
        if self.file is not None and self.file is not f:
            self.flush()
            self.file.close()
        self.file = None                          # no saves while the document comes in
        self.session.load_json(doc, faces)
        self.file = f
        self.error_shown = False
        self.titleChanged.emit()

    def model_loaded(self, gen, path: str) -> bool:
        """Called as a model comes in. True: the workspace's own work was put in (restored);
        False: the window starts a fresh page of seeds (the session's faces were of another
        model: with work among them they stay in their workspace file and a new one starts)."""
        s = self.session
        if self.pending is not None:
            f, doc, faces = self.pending
            self.pending = None
            if (doc.get("model") or {}).get("fingerprint") == gen.fingerprint:
                self._apply(f, doc, faces)
                s.set_model(path, gen.fingerprint, gen.name)
                self._keep_panels()
                return True
            self.message.emit(f"The workspace {f.name} is of another model ({(doc.get('model') or {}).get('name')}); "
                              "it was not opened. Open its model, then the workspace.", "error")
            f.close()
            if self.file is None:
                self._start_file()
        if s.model.get("fingerprint") == gen.fingerprint and s.face_count():
            s.set_model(path, gen.fingerprint, gen.name)
            self._keep_panels()
            return True
        if self.file is not None and s.face_count() and s.has_work():
            old = self.file.name
            self.flush()
            self.file.close()
            self.file = None
            self._start_file()
            self.message.emit(f"Your work with {s.model.get('name') or 'the previous model'} stays in the workspace "
                              f"“{old}” (File > Open Recent Workspace); this model starts in “{self.name}”.", "info")
        s.set_model(path, gen.fingerprint, gen.name)
        return False

    def _keep_panels(self) -> None:
        """The restored matrix and timeline, kept while the model sets the panels up (which empties
        them, in the session too) until restore_panels puts them back."""
        m, tl = self.session.matrix, self.session.timeline
        self._panels = (MatrixState(list(m.sources), list(m.destinations), m.spec, m.custom),
                        tl.copy() if tl is not None else None)

    def restore_panels(self) -> None:
        """The workspace's matrix and timeline back into their panels (after the model set them up)."""
        m, tl = getattr(self, "_panels", None) or (MatrixState(), None)
        self._panels = None
        if m.sources or m.destinations:
            self.window.matrix.restore_state((tuple(m.sources), tuple(m.destinations), m.spec, m.custom))
        if tl is not None:
            self.window.timeline_panel.set_timeline(tl)
        self.window.directions_panel.set_values(self.session.directions)

    def _start_file(self) -> None:
        try:
            f = ws.WorkspaceFile(ws.default_path())
        except ws.WorkspaceError as e:
            self.message.emit(str(e), "error")
            return
        ws.remember(f.path)
        self.file = f
        self.titleChanged.emit()

    def start_new_file(self) -> None:
        """Autosave into a new workspace in the data folder (the app's first start)."""
        self._start_file()
        self.flush()

    # ----- menu actions -------------------------------------------------------------------------
    def new_workspace(self) -> None:
        """File > New Workspace: the current one stays as it is on disk; a fresh page of seeds."""
        if self.file is not None:
            self.flush()
            self.file.close()
            self.file = None
        w = self.window
        self.session.clear()
        w.matrix.clear()
        w.timeline_panel.set_timeline(type(w.timeline_panel.timeline)())
        w.undo_stack.clear()
        self._start_file()
        if w.generator is not None:
            w.start_fresh_page()
        self.flush()
        self.message.emit(f"New workspace “{self.name}”; the previous one is in File > Open Recent Workspace.", "info")

    def open_dialog(self) -> None:
        path = self.open_chooser()
        if path:
            self.open(path)

    def save_as(self, path=None) -> bool:
        path = path or self.path_chooser()
        if not path:
            return False
        path = Path(path)
        if path.suffix != ws.SUFFIX:
            path = path.with_name(path.name + ws.SUFFIX)
        if self.file is not None and path.resolve() == self.file.path.resolve():
            return self.flush()
        if self.file is None:
            try:
                f = ws.WorkspaceFile(path)
            except ws.WorkspaceError as e:
                self.message.emit(str(e), "error")
                return False
        else:
            self.flush()
            try:
                self.file.copy_to(path)
                f = ws.WorkspaceFile(path)
            except ws.WorkspaceError as e:
                self.message.emit(str(e), "error")
                return False
        ws.remember(path)
        self._switch_to(f)
        self.message.emit(f"Saved as “{self.name}”: changes now go there.", "info")
        return True

    def close_page(self, index: int) -> None:
        if 0 <= index < len(self.session.pages):
            page = self.session.pages[index]
            self.window.undo_stack.push(PageStep(self.session, page, f"Close page {page.name}", remove=True))

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        current = self.file.path.resolve() if self.file is not None else None
        paths = [p for p in ws.recent() if p.resolve() != current]
        for p in paths:
            act = menu.addAction(p.stem)
            act.setToolTip(str(p))
            act.triggered.connect(lambda _c=False, p=p: self.open(p))
        if not paths:
            menu.addAction("No other workspaces").setEnabled(False)

    def _ask_path(self) -> str:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save Workspace As", str(ws.workspaces_dir()),
                                              f"Workspaces (*{ws.SUFFIX})")
        return path

    def _ask_open(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open Workspace", str(ws.workspaces_dir()),
                                              f"Workspaces (*{ws.SUFFIX})")
        return path

    def close(self) -> None:
        self.flush()
        if self.file is not None:
            self.file.close()
            self.file = None

