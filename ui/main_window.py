"""The explorer window: the grid of faces in the middle, the inspector on the right, the mixing
matrix below; menus, toolbar and shortcuts for every action; settings kept between runs.

The window wires views to the engine. Grid operations (new faces, mixes, edits, deletes) are
undo steps on the session (explorer/session_commands.py, a Qt-free undo stack shown through
ui/undo_adapter.py); edits run through the plugin registry off the GUI thread (EditRunner);
pictures come from the render service through the RenderBridge; models load in the background.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from PySide6.QtCore import QByteArray, QItemSelectionModel, QMimeData, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QDockWidget, QDoubleSpinBox, QFileDialog,
                               QInputDialog, QLabel, QMainWindow, QMenu, QProgressBar, QSlider, QStackedWidget,
                               QVBoxLayout, QWidget)
from superqt.utils import qdebounced, signals_blocked

from explorer import plugin_ids as ids
from explorer.export import clean_stale_temps
from explorer.face_files import FaceFileError, is_png, latents_from_png
from explorer.latents import Latent, latents_from_seeds, parse_seeds
from explorer.plugins import PluginRegistry
from explorer.recipe_text import recipe_tree
from explorer.session import Collector, Page, SeedStream, Session, latent_from_text
from explorer.session_commands import InsertFaces, PageStep, RemoveFaces

from .edit_runner import EditRunner
from .empty_state import EmptyState
from .exporter import Exporter
from .grid_model import Cell, GridModel
from .grid_view import DEFAULT_THUMB, MAX_THUMB, MIN_THUMB, GridView, group_for_modifiers
from .inspector import Inspector
from .layer_choice import ask_drop_group, normalise_spec, spec_text
from .message_bar import MessageBar
from .mixing_matrix import MixingMatrix
from .model_loader import ModelLoader, display_name
from .render_bridge import RenderBridge
from .seed_mapper import SeedMapper
from .thumbnails import ThumbnailScheduler
from .undo_adapter import QtUndoStack
from .workspace_ui import WorkspaceController

ORG, APP = "LatentExplorer", "Latent Explorer"
MAX_RECENT = 8
SEED_BATCH = 48          # seeds mapped at a time
DEFAULT_PSI = 0.7
CHECKPOINT_FILTER = "Checkpoints (*.pkl *.pt *.pth *.safetensors);;All files (*)"
LATENT_MIME = "application/x-latent-explorer-latent"
OPEN_FILTER = "Checkpoints and faces (*.pkl *.pt *.pth *.safetensors *.png);;Faces (*.png);;All files (*)"


def default_settings() -> QSettings:
    """Window settings in the user's config folder (platformdirs or LATENT_EXPLORER_HOME), one INI file."""
    from explorer.user_data import config_dir

    folder = config_dir()
    return QSettings(str(folder / "window.ini"), QSettings.IniFormat)


def render_options() -> dict:
    """RenderService settings for the window: on a CPU, all cores for rendering up to 2, one left to
    the window above that.
    Precision 'auto': bfloat16 on a CPU that has it, for each model whose pictures it keeps
    (explorer/precision.py; LATENT_EXPLORER_PRECISION=float32 turns it off)."""
    import os

    from explorer.devices import pick_device
    from explorer.user_data import cache_dir

    opts = {"precision": os.environ.get("LATENT_EXPLORER_PRECISION", "auto"), "precision_memory": cache_dir()}
    threads = os.environ.get("LATENT_EXPLORER_RENDER_THREADS")
    if threads:
        return {**opts, "num_threads": int(threads)}
    if pick_device("auto").type == "cpu":
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        # Leave a core to the window where there are cores to spare; on 2 cores that would halve
        # rendering, and the window stays responsive with both busy (longest stall 21 ms on
        # bench_ui's first screen of SG2-256, target 50 ms).
        return {**opts, "num_threads": max(1, min(cores if cores <= 2 else cores - 1, 16))}
    return opts


SIDE_DOCK_WIDTH = 400   # px: the grid, the heart of the window, keeps the rest

class MainWindow(QMainWindow):
    modelReady = Signal(object)          # the Generator, once loaded and shown

    def __init__(self, model=None, settings: QSettings | None = None, registry: PluginRegistry | None = None,
                 parent=None, ask_before_quit: bool = False, workspace=None, library_path=None):
        """ask_before_quit: closing with unsaved work asks first (a window with no workspace file;
        embedded and test windows close silently). quit_confirmer(what) -> bool is the question
        (tests replace it). workspace: a workspace file to autosave into and reopen ("new": a new
        one in the data folder; None: the work is not saved, as in embedded and test windows).
        library_path: the face library's file (None: the one in the user data folder)."""
        super().__init__(parent)
        self.library_path = library_path
        self.ask_before_quit = bool(ask_before_quit)
        self.quit_confirmer = self._confirm_quit
        self._closing = False
        self.setWindowTitle(APP)
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else default_settings()
        self.generator = None
        self.model_path: str | None = None
        if registry is None:
            registry = PluginRegistry()
            registry.discover()
        self.registry = registry
        if registry.post_cache is None:        # slow image edits (style transfer) keep their results
            from explorer.post_cache import PostCache, default_cache_folder

            registry.post_cache = PostCache(default_cache_folder())
        self.session = Session(face_factory=Cell)      # the work in front of the user (no Qt)
        self.undo_stack = QtUndoStack(self.session.undo, self)   # its undo stack, seen by Qt
        self.session.stream.psi = float(self.settings.value("grid/psi", DEFAULT_PSI))
        export_dir = self.settings.value("files/export_dir", None)
        if export_dir:
            clean_stale_temps(export_dir)   # what a crash or kill mid-export left behind
        self.last_group = normalise_spec(self.settings.value("mix/last_group", "coarse"))
        custom = self.settings.value("mix/last_custom", None)
        self.last_custom = normalise_spec(custom) if isinstance(custom, (list, tuple)) else None
        # Tests replace this: callable(global_pos, sources, target) -> spec or None.
        self.drop_group_chooser = self._ask_drop_group

        self.bridge = RenderBridge(parent=self)
        self.render_options = render_options()
        self.runner = EditRunner(registry, self)
        self.loader = ModelLoader(self)
        self.grid_model = GridModel(self, session=self.session)
        self.workspace = WorkspaceController(self, self.session)
        self.grid_view = GridView()
        self.grid_view.setModel(self.grid_model)
        self.grid_view.drop_hint_for = self._drop_hint
        self.thumbs = ThumbnailScheduler(self.grid_model, self.grid_view, self.bridge, self)
        self.thumbs.post = self.runner.finish_picture
        self.thumbs.is_slow = self.runner.image_edits.needs_background
        self.thumbs.post_async = self.runner.finish_picture_async
        from .photo_import import PhotoImporter

        self.photos = PhotoImporter(self)          # photos projected into the model, in the background
        self.photos.crop_chooser = self._ask_crop
        self.exporter = Exporter(self.bridge, self, post=self._apply_post)
        self.mapper = SeedMapper(self)
        self.directions: dict = {}        # name -> Direction of the current model (sliders, move_direction)
        self.runner.directions = self.directions
        self._growing = False
        self.large_views: list = []

        self._build_central()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status()
        self._build_docks()
        self._build_directions_dock()
        self._build_library_dock()
        self._connect()
        self._restore_settings()
        self._update_actions()
        if workspace is not None:
            if workspace == "new" or not self.workspace.open(workspace, load_model=False):
                self.workspace.start_new_file()
            elif self.workspace.pending is not None and model is None:   # no model asked for: the workspace's
                model = (self.workspace.pending[1].get("model") or {}).get("path") or "default"
            if model is None:
                model = "default"
        if model is not None:
            self.load_model(model)

    @property
    def stream(self) -> SeedStream:
        """The shown page's seed stream."""
        return self.session.stream

    # ================================================================== construction
    def _build_central(self) -> None:
        self.stack = QStackedWidget()
        self.empty = EmptyState()
        self.empty.openRequested.connect(self.open_dialog)
        self.empty.recentRequested.connect(self.load_model)
        grid_page = QWidget()
        lay = QVBoxLayout(grid_page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.workspace.tabs)
        lay.addWidget(self.grid_view)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(grid_page)
        self.setCentralWidget(self.stack)
        self.messages = MessageBar(self.stack)

    def _action(self, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.WindowShortcut)
        if tip:
            hint = act.shortcut().toString(QKeySequence.NativeText)
            act.setToolTip(f"{tip} ({hint})" if hint else tip)
            act.setStatusTip(tip)
        act.setCheckable(checkable)
        # triggered(bool) would hand `checked` to the slot's first parameter (export_selected took
        # it for a folder): only checkable actions pass it on
        act.triggered.connect(slot if checkable else (lambda _checked=False: slot()))
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        A = self._action
        self.act_open = A("&Open…", self.open_dialog, QKeySequence.Open,
                          "Open a checkpoint, or a PNG exported with its recipe")
        self.act_export = A("&Export Selected…", self.export_selected, "Ctrl+E",
                            "Save the selected faces as PNGs at full resolution, with their recipes")
        self.act_export_size = A("Export Selected at &Size…", lambda: self.export_selected_at_size(), None,
                                 "Save the selected faces as PNGs at a size you choose (upscaled with Lanczos)")
        self.act_export_matrix = A("Export Mixing &Matrix…", lambda: self.matrix.export_dialog(), "Ctrl+Shift+E",
                                   "Save the mixing matrix as one PNG")
        self.act_export_animation = A("Export &Animation…", lambda: self.export_animation(), "Ctrl+Alt+E",
                                      "Render the timeline into a GIF, MP4, WebM or PNG frames")
        self.act_import_photo = A("Import &Photo…", self.import_photo_dialog, "Ctrl+Shift+O",
                                  "Bring a photo of a face into the model: it is aligned and projected into the "
                                  "latent space (in the background), then edits like any face")
        self.act_import_photo_crop = A("Import Photo (&Crop Myself)…", lambda: self.import_photo_dialog(crop=True),
                                       None, "Bring a photo in and choose the square to use yourself (for a "
                                       "model that is not of faces, or a face the detector misses)")
        self.act_keep = A("&Keep in Library", self.keep_selected, "K",
                          "Keep the selected faces in your face library (latent, recipe, thumbnail): "
                          "they stay when the grid changes, and can be starred, tagged and found later")
        self.act_train_encoder = A("Train Photo &Encoder", self.train_photo_encoder, None,
                                   "Train this model's photo encoder in the background (once per model): "
                                   "photo imports then start from its guess, not from the average face")
        self.act_quit = A("&Quit", self.close, QKeySequence.Quit, "Close the window")
        self.act_new_workspace = A("New &Workspace", lambda: self.workspace.new_workspace(), "Ctrl+Alt+N",
                                   "Start an empty workspace; the current one stays saved (Open Recent Workspace)")
        self.act_open_workspace = A("Open Wor&kspace…", lambda: self.workspace.open_dialog(), "Ctrl+Alt+O",
                                    "Open a saved workspace: its pages, matrix and timeline, on its model")
        self.act_save_workspace_as = A("Save Workspace &As…", lambda: self.workspace.save_as(), "Ctrl+Alt+S",
                                       "Keep this workspace under a name of your choosing (it is saved as you work)")
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcuts(QKeySequence.StandardKey.Undo)
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for act in (self.act_undo, self.act_redo):
            self.addAction(act)
        # The toolbar keeps short fixed words; the menu and tooltips name the step.
        self.tb_undo = QAction("Undo", self)
        self.tb_undo.triggered.connect(self.undo_stack.undo)
        self.tb_redo = QAction("Redo", self)
        self.tb_redo.triggered.connect(self.undo_stack.redo)
        self.undo_stack.canUndoChanged.connect(self.tb_undo.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.tb_redo.setEnabled)
        self.undo_stack.undoTextChanged.connect(
            lambda t: self.tb_undo.setToolTip(f"Undo {t} (Ctrl+Z)" if t else "Nothing to undo"))
        self.undo_stack.redoTextChanged.connect(
            lambda t: self.tb_redo.setToolTip(f"Redo {t} (Ctrl+Shift+Z)" if t else "Nothing to redo"))
        self.tb_undo.setEnabled(False)
        self.tb_redo.setEnabled(False)
        self.tb_undo.setToolTip("Nothing to undo")
        self.tb_redo.setToolTip("Nothing to redo")
        self.act_copy = A("&Copy Recipe", self.copy_recipe, QKeySequence.Copy,
                          "Copy the selected face (styles, noise and recipe) to the clipboard")
        self.act_paste = A("&Paste Recipe", self.paste_recipe, QKeySequence.Paste,
                           "Add the face on the clipboard to the grid")
        self.act_select_all = A("Select &All", lambda: self.grid_view.selectAll(), QKeySequence.SelectAll,
                                "Select every face in the grid")
        self.act_clear_selection = A("Clear Selection", lambda: self.grid_view.clearSelection(), "Esc",
                                     "Select nothing")
        self.act_delete = A("&Delete", self.delete_selected, [QKeySequence.Delete, QKeySequence("Backspace")],
                            "Remove the selected faces from the grid")
        self.act_new_batch = A("&New Batch", self.new_batch, QKeySequence.New,
                               "A new page of faces from fresh random seeds; the faces before stay on their tab (undo takes the page away)")
        self.act_jump = A("&Jump to Seed…", self.jump_to_seed_dialog, "Ctrl+G",
                          "Show a seed (or a range like 100-120) in the grid")
        self.act_large = A("Open &Large", self.open_large, ["Space", "Return"],
                           "Show the selected face at the model's full resolution")
        # Space / Return belong to whatever has focus: in the grid they open the large view, in
        # the toolbar's psi box Return confirms the value (it used to open the large view)
        self.act_large.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.removeAction(self.act_large)
        self.grid_view.addAction(self.act_large)
        self.act_compare = A("&Compare Two", self.compare, "Ctrl+D",
                             "Show the two selected faces side by side at full resolution")
        self.act_mix = A("&Mix Selected…", self.mix_selected, "M",
                         "Mix the second selected face's styles into the first (asks which layers)")
        self.act_children = A("C&hildren", lambda: self.inspector.make_children(), "Ctrl+K",
                              "Add variations of the selected face (strengths in the inspector)")
        self.act_crossbreed = A("Cross&breed", lambda: self.inspector.crossbreed(), "Ctrl+B",
                                "Add children of the two selected faces")
        self.act_antiface = A("&Antiface", lambda: self.inspector.apply_antiface(), "Ctrl+I",
                              "Add the antiface (2·w_avg − w) of each selected face")
        self.act_style_transfer = A("S&tyle Transfer…", lambda: self.open_plugin_form(ids.STYLE_TRANSFER),
                                    "Ctrl+Shift+T", "Repaint the selected face in the style of a picture (frost, "
                                    "oil paint, charcoal, mosaic, stained glass, or your own)")
        self.act_style_features = A("Feature Network &Weights (VGG16 / VGG19)…", self.choose_style_features, None,
                                    "Use torchvision's VGG19 weights for style transfer or VGG16 weights for photo "
                                    "projection (otherwise built-in networks are used)")
        self.act_to_matrix_src = A("Add to Matrix as &Source", lambda: self._to_matrix("source"), "Ctrl+Shift+S",
                                   "Put the selected faces along the top of the mixing matrix")
        self.act_to_matrix_dst = A("Add to Matrix as &Destination", lambda: self._to_matrix("destination"),
                                   "Ctrl+Shift+D", "Put the selected faces down the side of the mixing matrix")
        self.act_bigger = A("&Bigger Thumbnails", lambda: self._zoom(+24), [QKeySequence.ZoomIn, "Ctrl+="],
                            "Larger thumbnails")
        self.act_smaller = A("&Smaller Thumbnails", lambda: self._zoom(-24), QKeySequence.ZoomOut,
                             "Smaller thumbnails")
        self.act_reset_layout = A("&Reset Layout", self.reset_layout, None, "Put the panels back where they started")
        self.act_shortcuts = A("&Keyboard Shortcuts", self.show_shortcuts, QKeySequence.HelpContents,
                               "List the keyboard shortcuts")

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(self.act_open)
        self.recent_menu = f.addMenu("Open &Recent")
        f.addAction(self.act_import_photo)
        f.addAction(self.act_import_photo_crop)
        f.addSeparator()
        f.addAction(self.act_new_workspace)
        f.addAction(self.act_open_workspace)
        self.recent_workspaces_menu = f.addMenu("Open Recent W&orkspace")
        self.recent_workspaces_menu.aboutToShow.connect(
            lambda: self.workspace.fill_recent_menu(self.recent_workspaces_menu))
        f.addAction(self.act_save_workspace_as)
        f.addSeparator()
        f.addAction(self.act_export)
        f.addAction(self.act_export_size)
        f.addAction(self.act_export_matrix)
        f.addAction(self.act_export_animation)
        f.addSeparator()
        f.addAction(self.act_quit)
        e = mb.addMenu("&Edit")
        for a in (self.act_undo, self.act_redo, None, self.act_copy, self.act_paste, None, self.act_select_all,
                  self.act_clear_selection, self.act_delete, None, self.act_style_features):
            e.addSeparator() if a is None else e.addAction(a)
        g = mb.addMenu("F&aces")
        for a in (self.act_new_batch, self.act_jump, None, self.act_large, self.act_compare, None, self.act_mix,
                  self.act_children, self.act_crossbreed, self.act_antiface, self.act_style_transfer,
                  self.act_train_encoder, None, self.act_keep, None, self.act_to_matrix_src,
                  self.act_to_matrix_dst):
            g.addSeparator() if a is None else g.addAction(a)
        self.view_menu = mb.addMenu("&View")
        self.view_menu.addAction(self.act_bigger)
        self.view_menu.addAction(self.act_smaller)
        self.view_menu.addSeparator()
        h = mb.addMenu("&Help")
        h.addAction(self.act_shortcuts)
        for menu in (f, e, g, self.view_menu, h):
            menu.setToolTipsVisible(True)

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonTextOnly)
        for a in (self.act_open, None, self.act_new_batch, self.act_jump, None, self.tb_undo, self.tb_redo,
                  None, self.act_compare, self.act_export):
            tb.addSeparator() if a is None else tb.addAction(a)
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy().Preferred)
        tb.addWidget(spacer)
        psi_label = QLabel("New ψ")   # the inspector's ψ edits the selected face; this one draws seeds
        psi_label.setToolTip("Truncation for faces drawn from seeds from now on (New Batch, scrolling, "
                             "Jump to Seed); the inspector's Truncation edits the selected face")
        tb.addWidget(psi_label)
        self.psi_box = QDoubleSpinBox()
        self.psi_box.setRange(-1.0, 1.5)
        self.psi_box.setSingleStep(0.05)
        self.psi_box.setDecimals(2)
        self.psi_box.setValue(self.stream.psi)
        self.psi_box.setToolTip("Truncation ψ for faces drawn from seeds: lower is closer to the average "
                                "face (safer), higher is more varied. Applies to new batches and new seeds.")
        tb.addWidget(self.psi_box)
        tb.addWidget(QLabel("Size"))
        self.size_slider = QSlider(Qt.Horizontal)
        self.size_slider.setRange(MIN_THUMB, MAX_THUMB)
        self.size_slider.setSingleStep(8)
        self.size_slider.setPageStep(32)
        self.size_slider.setFixedWidth(120)
        self.size_slider.setValue(self.grid_view.thumb_size)
        self.size_slider.setToolTip("Thumbnail size (Ctrl + wheel, Ctrl+= / Ctrl+-)")
        tb.addWidget(self.size_slider)
        self.toolbar = tb

    def _build_status(self) -> None:
        sb = self.statusBar()
        sb.setSizeGripEnabled(True)
        self.status_model = QLabel("no model")
        self.status_res = QLabel("")
        self.status_device = QLabel("")
        self.status_render = QLabel("")
        self.status_cells = QLabel("")
        self.status_progress = QProgressBar()
        self.status_progress.setFixedWidth(120)
        self.status_progress.setRange(0, 0)
        self.status_progress.setTextVisible(False)
        self.status_progress.hide()
        self.status_model.setToolTip("The model faces are drawn from")
        self.status_device.setToolTip("Where the faces are rendered, and at what precision")
        self.status_render.setToolTip("Time the last render took on the worker")
        sb.addWidget(self.status_cells)
        from .image_edits import ImageEditStatus

        self.image_edit_status = ImageEditStatus(self.runner.image_edits)
        sb.addPermanentWidget(self.image_edit_status)
        self.photo_status = ImageEditStatus(self.photos)
        self.photo_status.thumb.setToolTip("Live preview of the photo's projection")
        self.photo_status.cancel_button.setToolTip("Stop projecting this photo")
        sb.addPermanentWidget(self.photo_status)
        sb.addPermanentWidget(self.status_progress)
        for w in (self.status_model, self.status_res, self.status_device, self.status_render):
            sb.addPermanentWidget(w)

    def _build_docks(self) -> None:
        self.inspector = Inspector(self.runner, self.bridge)
        self.inspector_dock = QDockWidget("Inspector", self)
        self.inspector_dock.setObjectName("inspectorDock")
        self.inspector_dock.setWidget(self.inspector)
        self.inspector_dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable |
                                        QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.RightDockWidgetArea, self.inspector_dock)
        self.matrix = MixingMatrix(self.runner, self.bridge, self.grid_model)
        self.matrix.undo_stack = self.undo_stack
        self.matrix_dock = QDockWidget("Mixing matrix", self)
        self.matrix_dock.setObjectName("matrixDock")
        self.matrix_dock.setWidget(self.matrix)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.matrix_dock)
        self.matrix_dock.hide()
        from .timeline_panel import TimelinePanel

        self.timeline_panel = TimelinePanel(self.bridge, self.grid_model, post=self._apply_post,
                                            registry=self.registry)
        self.timeline_panel.undo_stack = self.undo_stack
        self.timeline_dock = QDockWidget("Timeline", self)
        self.timeline_dock.setObjectName("timelineDock")
        self.timeline_dock.setWidget(self.timeline_panel)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.timeline_dock)
        self.tabifyDockWidget(self.matrix_dock, self.timeline_dock)
        self.timeline_dock.hide()
        self.export_dialog = None
        self.plugins_dock = None
        try:
            from .plugin_list import PluginListWidget
        except ImportError:
            PluginListWidget = None
        if PluginListWidget is not None:
            try:
                self.plugins_dock = QDockWidget("Plugins", self)
                self.plugins_dock.setObjectName("pluginsDock")
                self.plugins_dock.setWidget(PluginListWidget(self.registry))
                self.plugins_dock.widget().pluginActivated.connect(self.open_plugin_form)
                self.addDockWidget(Qt.RightDockWidgetArea, self.plugins_dock)
                self.tabifyDockWidget(self.inspector_dock, self.plugins_dock)
                self.inspector_dock.raise_()
            except Exception as exc:  # another engineer's widget must not keep the window from opening
                self.plugins_dock = None
                self.messages.show_message(f"The plugin list could not be shown ({exc}).", "error")
        for dock in (self.inspector_dock, self.matrix_dock, self.timeline_dock, self.plugins_dock):
            if dock is not None:
                act = dock.toggleViewAction()
                self.view_menu.addAction(act)
        self.view_menu.addSeparator()
        self.act_show_panels = {}
        for key, (dock, title) in (("Ctrl+1", (self.inspector_dock, "Inspector")),
                                   ("Ctrl+2", (self.matrix_dock, "Mixing Matrix")),
                                   ("Ctrl+4", (self.timeline_dock, "Timeline"))):
            self.act_show_panels[key] = self._show_panel_action(dock, title, key)
        self.view_menu.addAction(self.act_reset_layout)
        self._default_state = None

    def _build_directions_dock(self) -> None:
        """The Directions dock (sliders, PCA/SeFa, label mode): a tab beside the inspector, so the
        grid keeps the width (it is the heart of the window); Ctrl+3 brings it forward."""
        from .directions_dock import DirectionsPanel, default_library

        self.direction_library = default_library()
        self.directions_panel = DirectionsPanel(self, self.direction_library)
        self.directions_dock = QDockWidget("Directions", self)
        self.directions_dock.setObjectName("directionsDock")
        self.directions_dock.setWidget(self.directions_panel)
        self.addDockWidget(Qt.RightDockWidgetArea, self.directions_dock)
        self.tabifyDockWidget(self.inspector_dock, self.directions_dock)
        self.inspector_dock.raise_()
        self.resizeDocks([self.inspector_dock], [SIDE_DOCK_WIDTH], Qt.Horizontal)
        self.view_menu.insertAction(self.act_reset_layout, self.directions_dock.toggleViewAction())
        self.act_show_panels["Ctrl+3"] = self._show_panel_action(self.directions_dock, "Directions", "Ctrl+3")

    def _build_library_dock(self) -> None:
        """The Library dock (kept faces: search, stars, tags, collections, family): a tab beside
        the inspector; its contents are made when it is first shown (the library opens then)."""
        self.library_panel = None
        self.model_offer = self._ask_load_model     # tests replace: (item, n) -> bool
        self.library_transfer_chooser = self._ask_transfer   # tests replace: (kind, name) -> (path, size)
        self.library_jobs = None
        self._after_model: list[int] = []
        self.library_dock = QDockWidget("Library", self)
        self.library_dock.setObjectName("libraryDock")
        self.library_dock.setWidget(QLabel("Opening the library…"))
        self.addDockWidget(Qt.RightDockWidgetArea, self.library_dock)
        self.tabifyDockWidget(self.inspector_dock, self.library_dock)
        self.inspector_dock.raise_()
        self.library_dock.visibilityChanged.connect(lambda shown: shown and self.library_view())
        self.view_menu.insertAction(self.act_reset_layout, self.library_dock.toggleViewAction())
        self.act_show_panels["Ctrl+5"] = self._show_panel_action(self.library_dock, "Library", "Ctrl+5")
        from .library_dock import LIBRARY_MIME

        self.grid_model.external_formats = (LIBRARY_MIME,)
        self.grid_model.external = self._cells_from_library

    def library_view(self):
        """The Library dock's panel (made on first use); None when the library cannot be opened."""
        if self.library_panel is None:
            lib = self.library()
            if lib is None:
                return None
            from .library_dock import LibraryPanel

            self.library_panel = LibraryPanel(lib, directions=lambda: list(self.directions))
            self.library_panel.addToGrid.connect(lambda ids: self.add_library_faces(ids))
            self.library_panel.keepCells.connect(lambda mime: self.keep_cells(self.grid_model.cells_from_mime(mime)))
            self.library_panel.message.connect(self.show_message)
            self.library_panel.transferRequested.connect(self.library_transfer)
            self.library_dock.setWidget(self.library_panel)
        return self.library_panel

    def library_transfer(self, kind: str, ids: list, name: str):
        """Export kept faces (recipe PNGs at a size, folder or zip), a contact sheet, or an import,
        in the background with progress and Cancel in the status bar. Returns the job (None when
        the user cancelled the dialog)."""
        from .library_transfer import LibraryTransfers, TransferJob

        lib = self.library()
        if lib is None:
            return None
        if getattr(self, "library_jobs", None) is None:
            from .image_edits import ImageEditStatus

            self.library_jobs = LibraryTransfers(lib.path, self)
            self.library_jobs.finished.connect(lambda text, level: self.show_message(text, level))
            self.library_jobs.imported.connect(lambda _ids: self.library_panel and (
                self.library_panel.refresh_collections(), self.library_panel.refresh()))
            self.library_status = ImageEditStatus(self.library_jobs)
            self.library_status.cancel_button.setToolTip("Stop this library export or import")
            self.statusBar().addPermanentWidget(self.library_status)
        answer = self.library_transfer_chooser(kind, name)
        if not answer:
            return None
        path, size = answer
        gen = self.generator
        n = len(ids)
        label = {"export": f"Export of {n} face{'s' if n != 1 else ''}", "sheet": "Contact sheet",
                 "import": f"Import of {Path(path).name}"}[kind]
        job = TransferJob(kind, label, ids=list(ids), path=str(path), name=name, size=size, model=gen,
                          model_path=self.model_path or "")
        self.library_jobs.enqueue(job)
        return job

    def _ask_transfer(self, kind: str, name: str):
        """(path, size) from dialogs, or None."""
        if kind == "import":
            path, _ = QFileDialog.getOpenFileName(self, "Import Collection", "",
                                                  "Collections (*.zip collection.json *.png)")
            return (path, None) if path else None
        if kind == "sheet":
            path, _ = QFileDialog.getSaveFileName(self, "Save Contact Sheet", f"{name}.png", "PNG (*.png)")
            return (path, None) if path else None
        path, _ = QFileDialog.getSaveFileName(self, "Export Faces (a .zip, or a new folder's name)", name,
                                              "Zip or folder (*)")
        if not path:
            return None
        res = self.generator.info.resolution if self.generator is not None else 256
        size, ok = QInputDialog.getInt(self, "Export Size", "Picture side in pixels (faces of other models get "
                                       "their stored thumbnails):", res, 16, 4096)
        return (path, size) if ok else None

    def _cells_from_library(self, mime, row):
        from .library_dock import ids_from_mime

        return self.add_library_faces(ids_from_mime(mime), row)

    def add_library_faces(self, ids: list[int], row: int | None = None) -> list[Cell]:
        """Kept faces into the grid's shown page (one undoable step). Faces of another model: offer
        to load it (its remembered path), or say why it cannot be."""
        lib = self.library()
        if lib is None or not ids:
            return []
        try:
            latents = [lib.latent(i) for i in ids]
            items = {it.id: it for it in lib.items(ids)}
        except Exception as e:  # noqa: BLE001 - a damaged row must not take the window down
            self.show_error(f"The kept faces could not be read: {e}.")
            return []
        fp = str(self.generator.fingerprint) if self.generator is not None else None
        ours = [lat for lat in latents if lat.model == fp]
        others = [i for i, lat in zip(ids, latents) if lat.model != fp]
        if others:
            self._offer_model(items[others[0]], others)
        if not ours:
            return []
        text = "Add a kept face" if len(ours) == 1 else f"Add {len(ours)} kept faces"
        return self.add_latents(ours, None, text, origin="library", row=row)

    def _offer_model(self, item, ids: list[int]) -> None:
        name = item.model_name or item.model[:12]
        path = item.model_path
        loadable = bool(path) and (path == "default" or Path(path).is_file())
        n = len(ids)
        faces = f"{n} face{'s' if n != 1 else ''}"
        if not loadable:
            where = f"its file {path} is not found" if path else "where its file is was not recorded"
            self.show_error(f"{faces} of the model “{name}” (fingerprint {item.model[:12]}) cannot be shown with this "
                            f"one, and {where}. Open that model (File > Open), then add them again.")
            return
        if self.model_offer(item, n):
            self._after_model = list(ids)
            self.load_model(path)

    def _ask_load_model(self, item, n: int) -> bool:
        from PySide6.QtWidgets import QMessageBox

        name = item.model_name or item.model[:12]
        box = QMessageBox(QMessageBox.Question, "Another Model",
                          f"{'This face is' if n == 1 else f'These {n} faces are'} of the model “{name}”, not the one "
                          f"open. Load “{name}” ({item.model_path}) and add {'it' if n == 1 else 'them'}?\n\n"
                          "Your work with this model stays in its workspace (File > Open Recent Workspace).",
                          QMessageBox.Cancel, self)
        load = box.addButton(f"Load {name}", QMessageBox.AcceptRole)
        box.setDefaultButton(load)
        box.exec()
        return box.clickedButton() is load

    def _show_panel_action(self, dock: QDockWidget, title: str, key: str) -> QAction:
        """A shortcut that brings a panel to the front (shown, its tab raised, focused); pressing
        it again keeps it there. The View menu's check items still hide and show panels."""
        def show():
            dock.show()
            dock.raise_()
            dock.widget().setFocus()

        act = self._action(f"Show {title}", show, key, f"Bring the {title.lower()} panel to the front")
        self.view_menu.insertAction(self.act_reset_layout, act)
        return act

    def _load_directions(self, gen, path) -> None:
        from .directions_dock import directions_for_model

        found, problems = directions_for_model(gen, path, self.direction_library)
        self.directions = dict(found)       # replaced, never mutated: workers may hold the old one
        self.runner.directions = self.directions
        self.directions_panel.set_model(gen, self.directions)
        for p in problems:
            self.show_error(p)

    def _connect(self) -> None:
        v = self.grid_view
        v.cellsDropped.connect(self._on_cells_dropped)
        v.filesDropped.connect(self.open_files)
        v.facesDropped.connect(lambda mime, row: self._cells_from_library(mime, row))
        v.keepRequested.connect(lambda cell: self.keep_cells([cell]))
        v.doubleClicked.connect(lambda idx: self.open_large([self.grid_model.cell(idx.row())]))
        v.thumbSizeChanged.connect(self._on_thumb_size)
        v.customContextMenuRequested.connect(self._context_menu)
        v.setContextMenuPolicy(Qt.CustomContextMenu)
        # the user's selection goes into the session (it is part of the workspace); the inspector, the
        # directions' before / after and the actions follow the session's selection
        v.selectionModel().selectionChanged.connect(
            lambda *_a: self.session.select([c.uid for c in self.selected_cells()]))
        self._following_selection = False
        self.grid_model.session_signals.changed.connect(
            lambda kind, _d: kind == "selection" and self._follow_session_selection())
        self.size_slider.valueChanged.connect(v.set_thumb_size)
        self.psi_box.valueChanged.connect(self._on_psi)
        self.thumbs.needMore.connect(self._grow)
        self.grid_model.rowsInserted.connect(self._update_counts)
        self.grid_model.rowsRemoved.connect(self._update_counts)
        self.grid_model.modelReset.connect(self._update_counts)
        # a reset (New Batch, undo of it) clears the selection without selectionChanged: tell the
        # inspector, or it keeps showing a face that is gone
        self.grid_model.modelReset.connect(self._on_selection)
        self.grid_model.rowsRemoved.connect(self._on_selection)
        self.inspector.previewChanged.connect(lambda _lat: self._show_direction_pair())
        # a picture arrived: recount once it is in the cell (once per burst of pictures)
        self._progress_soon = qdebounced(lambda: self.update_render_progress(), timeout=30, parent=self)
        self.bridge.rendered.connect(lambda _ms: self._progress_soon())
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(500)
        self._progress_timer.timeout.connect(self.update_render_progress)
        self._progress_timer.start()
        self.bridge.failed.connect(lambda msg: self.show_error(f"Rendering failed: {msg}"))
        self.runner.failed.connect(self.show_error)
        self.runner.notice.connect(lambda text: self.show_message(text, "info"))
        self.photos.notice.connect(lambda text: self.show_message(text, "info"))
        self.loader.started.connect(self._on_load_started)
        self.loader.progress.connect(self._on_load_progress)
        self.loader.loaded.connect(self._on_model_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.inspector.addGroups.connect(self.add_groups)
        self.inspector.message.connect(self.show_message)
        self.inspector.copyRequested.connect(self.copy_recipe)
        self.inspector.pasteRequested.connect(self.paste_recipe)
        self.matrix.message.connect(self.show_message)
        self.matrix.addLatents.connect(lambda lats, text: self.add_latents(lats, None, text))
        self.timeline_panel.message.connect(self.show_message)
        self.timeline_panel.exportRequested.connect(lambda: self.export_animation())
        self.exporter.message.connect(self.show_message)
        self.exporter.busyChanged.connect(self._on_busy)
        self.undo_stack.cleanChanged.connect(lambda _c: self._update_actions())
        self.undo_stack.indexChanged.connect(lambda _i: self._update_actions())
        self.undo_stack.indexChanged.connect(lambda _i: self.workspace.panels_changed())
        self.workspace.message.connect(self.show_message)
        self.grid_model.session_signals.changed.connect(lambda kind, _d: kind == "page" and self.generator is not None
                               and QTimer.singleShot(0, self, self.mark_kept))
        self.workspace.titleChanged.connect(self._update_title)

    # ================================================================== settings
    def _restore_settings(self) -> None:
        s = self.settings
        from explorer.style_transfer.features import set_vgg16_path, set_vgg19_path

        for key, setter in (("style/vgg19", set_vgg19_path), ("style/vgg16", set_vgg16_path)):
            vgg = s.value(key, "")
            if isinstance(vgg, str) and vgg:
                setter(vgg)
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            screen = QGuiApplication.primaryScreen()
            avail = screen.availableGeometry() if screen else None
            if avail is not None:
                self.resize(min(1480, avail.width() - 80), min(940, avail.height() - 80))
        self._default_state = self.saveState()
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        thumb = int(s.value("grid/thumb", DEFAULT_THUMB))
        self.size_slider.setValue(thumb)
        self.grid_view.set_thumb_size(thumb)
        self._refresh_recent()

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("grid/thumb", self.grid_view.thumb_size)
        s.setValue("grid/psi", self.stream.psi)
        s.setValue("mix/last_group", self.last_group)
        if self.last_custom:
            s.setValue("mix/last_custom", list(self.last_custom))
        s.sync()

    def recent_files(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_recent(self, path: str) -> None:
        if path == "default":
            return
        path = str(Path(path).expanduser().resolve())
        items = [p for p in self.recent_files() if p != path]
        self.settings.setValue("files/recent", [path] + items[:MAX_RECENT - 1])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        items = self.recent_files()
        for path in items:
            act = self.recent_menu.addAction(Path(path).name)
            act.setToolTip(path)
            act.triggered.connect(lambda _=False, p=path: self.load_model(p))
        if not items:
            none = self.recent_menu.addAction("No recent checkpoints")
            none.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear List", self._clear_recent)
        self.empty.set_recent(items)

    def _clear_recent(self) -> None:
        self.settings.setValue("files/recent", [])
        self._refresh_recent()

    def reset_layout(self) -> None:
        if self._default_state is not None:
            self.restoreState(self._default_state)
        self.inspector_dock.show()

    # ================================================================== model
    def load_model(self, model) -> None:
        """A path, 'default', or a Generator object (used as is, no thread)."""
        if hasattr(model, "info") and hasattr(model, "synthesize"):
            self._on_model_loaded(model, getattr(model, "name", "generator"))
            return
        self.loader.load(str(model))

    def _on_load_started(self, path: str) -> None:
        self.status_progress.show()
        self.statusBar().showMessage(f"Loading {display_name(path)}…")
        if self.generator is None:
            self.empty.show_loading(display_name(path))
            self.stack.setCurrentWidget(self.empty)

    def _on_load_progress(self, path: str, text: str) -> None:
        self.statusBar().showMessage(f"{display_name(path)}: {text}")
        if self.generator is None:
            self.empty.show_loading(display_name(path), text)

    def _on_load_failed(self, path: str, message: str) -> None:
        self.status_progress.hide()
        self.statusBar().clearMessage()
        if self.generator is None:
            if str(path) == "default":
                self.empty.show_problem("No model yet", "The built-in face model is not installed yet. Open a "
                                        "StyleGAN2 / StyleGAN3 checkpoint (.pkl, .pt or .safetensors) to start "
                                        "exploring.", message)
            else:
                self.empty.show_problem("That file could not be opened", message)
            self.inspector.set_model(None)
            self.stack.setCurrentWidget(self.empty)
        if str(path) != "default" or self.generator is not None:
            self.show_error(message, ("Open…", self.open_dialog))

    def _on_model_loaded(self, gen, path: str) -> None:
        self.status_progress.hide()
        self.statusBar().clearMessage()
        self.generator = gen
        self.model_path = str(path)
        self.bridge.set_generator(gen, **self.render_options)
        self.runner.model = gen
        self.photos.model = gen
        self.photos.model_path = self.model_path
        info = gen.info
        self.thumbs.reset(info.resolution)
        self.grid_model.groups = dict(info.groups)
        self.undo_stack.clear()
        self._growing = False
        restored = self.workspace.model_loaded(gen, str(path))
        if not restored:
            self.start_fresh_page()
        with signals_blocked(self.psi_box):
            self.psi_box.setValue(self.stream.psi)
        self.stack.setCurrentIndex(1)
        name = gen.name if gen.name != "generator" else display_name(path)
        self._model_name = name
        self._update_title()
        self.status_model.setText(name)
        self.status_model.setToolTip(f"{path}\nfingerprint {gen.fingerprint}\n{info.arch}, "
                                     f"{info.num_params / 1e6:.1f}M parameters")
        self.status_res.setText(f"{info.resolution} px · {info.num_ws} layers")
        self._show_precision()
        self.status_render.setText("")
        self.inspector.set_model(gen)
        self.matrix.set_model(gen)
        self._load_directions(gen, path)
        self.timeline_panel.set_model(gen)
        self.timeline_panel.directions = self.directions
        if restored:
            self.workspace.restore_panels()
            self.workspace_restored()
        for view in list(self.large_views):
            view.close()
        if isinstance(path, str) and path not in ("default", "generator") and Path(path).exists():
            self._remember_recent(path)
        self._update_actions()
        self.grid_view.setFocus()
        if self.grid_model.rowCount() and not restored:
            self.grid_view.setCurrentIndex(self.grid_model.index(0))
        if self._after_model:               # kept faces of this model, waiting for it
            ids, self._after_model = self._after_model, []
            self.add_library_faces(ids)
        self.modelReady.emit(gen)

    def update_render_progress(self) -> str:
        """The status bar's 'rendering 12 of 35, ~40 s' while the screen's pictures come in, then
        'refining …' while previews are rendered again in full; else the last time per face."""
        if self.generator is None or self._closing:
            return ""
        cells = [self.grid_model.cell(r) for r in self.grid_view.visible_rows()]
        waiting = sum(1 for c in cells if c.image is None and c.state == "pending")
        previews = sum(1 for c in cells if c.preview)
        ms = self.bridge.ms_per_image

        def eta(n: int, kind: str) -> str:
            per = ms.get(kind) or ms.get("full") or ms.get("preview")
            if per is None:
                return ""
            s = n * per / 1000
            return f", ~{s:.0f} s" if s >= 1.5 else ""

        if waiting:
            kind = "preview" if self.thumbs.previews and self.bridge.service is not None and \
                self.bridge.service.preview_applies(self.thumbs.request_size()) else "full"
            text = f"rendering {len(cells) - waiting} of {len(cells)}{eta(waiting, kind)}"
        elif previews:
            text = f"refining {len(cells) - previews} of {len(cells)}{eta(previews, 'full')}"
        elif self.bridge.last_render_ms is not None:
            text = f"last render {self.bridge.last_render_ms:.0f} ms/face"
        else:
            text = ""
        if self.status_render.text() != text:
            self.status_render.setText(text)
        self._show_precision()
        return text

    def _show_precision(self) -> None:
        """'CPU · bfloat16' once the service has measured that it keeps this model's pictures."""
        service = self.bridge.service
        if service is None:
            return
        text = f"{service.device.type.upper()} · {service.precision}"
        choice = service.precision_choice
        tip = "Where the faces are rendered, and at what precision" + (f"\n{choice.reason}" if choice else "")
        if self.status_device.text() != text:
            self.status_device.setText(text)
        if self.status_device.toolTip() != tip:
            self.status_device.setToolTip(tip)

    def _update_title(self) -> None:
        parts = [p for p in (self.workspace.name, getattr(self, "_model_name", "")) if p]
        self.setWindowTitle(" — ".join(parts + [APP]))

    def start_fresh_page(self) -> None:
        """One page of seeds from 0 up (as NVIDIA's tools count them), at the model's ψ."""
        self.session.clear(self.model_psi(self.generator))
        self.session.append(self._seed_cells(self.stream.take(self._initial_count())))

    def mark_kept(self) -> None:
        """Fill the star of the shown faces that are in the library (kept from here or before)."""
        cells = self.grid_model.cells
        if not cells or self._closing:
            return
        from explorer.library import LibraryError
        from explorer.library.store import recipe_key

        lib = getattr(self, "_library", None)
        if lib is None and self.workspace.file is not None:   # the app's window opens it for the stars
            lib = self.library()
        if lib is None:
            return
        keys = [recipe_key(c.latent.recipe) for c in cells]
        try:
            kept = lib.by_keys(keys)
        except LibraryError:
            return
        for c, key in zip(cells, keys):
            if c.kept != (key in kept):
                c.kept = key in kept
                self.grid_model.cell_changed(c)

    def workspace_restored(self) -> None:
        """A workspace's work came in: select what was selected, say where the user is."""
        self.mark_kept()
        s = self.session
        cells = [c for c in (self.grid_model.cell_by_uid(u) for u in s.selection) if c is not None]
        if cells:
            self.select_cells(cells)
        elif self.grid_model.rowCount():
            self.grid_view.setCurrentIndex(self.grid_model.index(0))
        self.undo_stack.clear()
        self._update_title()
        self.show_message(f"Workspace “{self.workspace.name}”: {s.face_count()} faces on {len(s.pages)} "
                          f"page{'s' if len(s.pages) != 1 else ''}, as you left it.")

    def _initial_count(self) -> int:
        return max(SEED_BATCH, 2 * self.grid_view.rows_per_screen())

    # ================================================================== the grid's faces
    def _seed_cells(self, seeds: list[int]) -> list[Cell]:
        cells = []
        for i in range(0, len(seeds), SEED_BATCH):
            chunk = seeds[i:i + SEED_BATCH]
            cells += [Cell(lat, origin="seed") for lat in latents_from_seeds(self.generator, chunk, self.stream.psi)]
        return cells

    def _grow(self, n: int) -> None:
        """The user nears the end of the grid: draw the next seeds, mapped off the GUI thread
        (browsing, not an undoable operation)."""
        gen = self.generator
        if gen is None or self._growing:
            return
        self._growing = True
        seeds = self.stream.take(max(n, 2 * SEED_BATCH))   # few, large steps: each is a relayout
        stream, page = self.stream, self.session.page

        def done(latents):
            self._growing = False
            if self.generator is gen and page.stream is stream and stream.next == seeds[-1] + 1:
                self.session.append([Cell(lat, origin="seed") for lat in latents], page)

        def failed(msg):
            self._growing = False
            self.show_error(f"Could not draw new faces: {msg}")

        self.mapper.map(gen, seeds, self.stream.psi, done, failed)

    def new_batch(self) -> None:
        """A new page of faces from a fresh random seed range (mapped in the background); the
        pages before stay as tabs above the grid."""
        gen = self.generator
        if gen is None:
            return
        stream = SeedStream(random.randrange(0, 2 ** 31 - 10 ** 6), self.stream.psi)
        seeds = stream.take(self._initial_count())

        def done(latents):
            if self.generator is not gen:
                return
            page = Page(self.session.next_page_name(), faces=[Cell(lat, origin="seed") for lat in latents],
                        stream=stream)
            self._growing = False
            self.undo_stack.push(PageStep(self.session, page, f"New batch from seed {stream.start}"))
            self.grid_view.scrollToTop()
            self.show_message(f"New batch from seed {stream.start} on page “{page.name}”; the faces before are "
                              "on the tabs above the grid.")

        self.mapper.map(gen, seeds, stream.psi, done, lambda msg: self.show_error(f"Could not draw faces: {msg}"))

    def jump_to_seed_dialog(self) -> None:
        if self.generator is None:
            return
        text, ok = QInputDialog.getText(self, "Jump to seed", "Seed, or seeds like 42 or 100-120 or 3,7,9:")
        if ok and text.strip():
            self.jump_to_seed(text)

    def jump_to_seed(self, text: str) -> list[Cell]:
        """Show the given seeds: select them where they are, add the missing ones after the current cell."""
        try:
            seeds = parse_seeds(text)
        except ValueError as e:
            self.show_error(str(e).capitalize() + ".")
            return []
        if len(seeds) > 512:
            self.show_error("That is more than 512 seeds; jump to a smaller range.")
            return []
        have = self.session.seed_faces()
        missing = [s for s in seeds if s not in have]
        new = self._seed_cells(missing) if missing else []
        if new:
            anchor = self.current_cell()
            row = 0 if anchor is None else None
            label = f"seed {missing[0]}" if len(missing) == 1 else f"{len(missing)} seeds"
            self.undo_stack.push(InsertFaces(self.session, new, f"Jump to {label}", anchor, row=row or 0))
        new_by_seed = {c.latent.recipe["seed"]: c for c in new}
        cells = [have.get(s) or new_by_seed[s] for s in seeds]
        self.select_cells(cells)
        return cells

    def add_latents(self, latents: list[Latent], anchor: Cell | None, text: str, origin: str = "made",
                    row: int | None = None) -> list[Cell]:
        """New cells from latents, right after `anchor` (or at `row`, default the end), as one undoable
        step; they end selected and scrolled into view."""
        if not latents:
            return []
        cells = [Cell(lat, origin=origin) for lat in latents]
        if anchor is None and row is None:
            row = self.grid_model.rowCount()
        self.undo_stack.push(InsertFaces(self.session, cells, text, anchor, row=row,
                                                on_done=self.select_cells))
        return cells

    def add_groups(self, groups: list, text: str) -> list[Cell]:
        """Several (anchor, latents) pairs as one undoable step (an edit applied to each selected face)."""
        groups = [(a, lats) for a, lats in groups if lats]
        if not groups:
            return []
        if len(groups) == 1:
            anchor, lats = groups[0]
            return self.add_latents(lats, anchor if self.grid_model.row_of(anchor) >= 0 else None, text)
        made: list[Cell] = []
        self.undo_stack.beginMacro(text)
        for anchor, lats in groups:
            cells = [Cell(lat, origin="made") for lat in lats]
            self.undo_stack.push(InsertFaces(self.session, cells, text, anchor,
                                                    row=self.grid_model.rowCount()))
            made += cells
        self.undo_stack.endMacro()
        self.select_cells(made)
        return made

    def delete_selected(self) -> None:
        cells = self.selected_cells()
        if not cells:
            return
        text = f"Delete {cells[0].label}" if len(cells) == 1 else f"Delete {len(cells)} faces"
        self.undo_stack.push(RemoveFaces(self.session, cells, text))

    # ================================================================== selection
    def selected_cells(self) -> list[Cell]:
        rows = sorted(i.row() for i in self.grid_view.selectionModel().selectedIndexes())
        cells = [self.grid_model.cell(r) for r in rows]
        cur = self.grid_view.currentIndex()   # the face clicked last comes first
        if cur.isValid() and cur.row() in rows:
            c = self.grid_model.cell(cur.row())
            cells.remove(c)
            cells.insert(0, c)
        return cells

    def current_cell(self) -> Cell | None:
        cells = self.selected_cells()
        return cells[0] if cells else None

    def _follow_session_selection(self) -> None:
        """The session's selection changed (in the grid, or from outside it: a workspace, a script):
        the grid shows it, and the inspector and the actions follow."""
        if self._following_selection:
            return
        want = [c for c in (self.grid_model.cell_by_uid(u) for u in self.session.selection) if c is not None]
        if [c.uid for c in self.selected_cells()] != [c.uid for c in want]:
            self._following_selection = True
            try:
                self.select_cells(want)
            finally:
                self._following_selection = False
        self._on_selection()

    def select_cells(self, cells: list[Cell]) -> None:
        sm = self.grid_view.selectionModel()
        sm.clearSelection()
        first = None
        for c in cells:
            idx = self.grid_model.index_of(c)
            if idx.isValid():
                sm.select(idx, QItemSelectionModel.Select)
                first = first or idx
        if first is not None:
            sm.setCurrentIndex(first, QItemSelectionModel.NoUpdate)
            self.grid_view.scrollTo(first, QAbstractItemView.EnsureVisible)

    def _show_direction_pair(self) -> None:
        """The directions panel's own before / after (the inspector is a tab behind it)."""
        cells = self.selected_cells()
        self.directions_panel.show_pair(cells[0] if cells else None, self.inspector.preview_latent)

    def _on_selection(self, *_args) -> None:
        cells = self.selected_cells()
        self.inspector.set_cells(cells)
        moves = self.directions_panel.moves()
        if cells and moves:      # the set sliders apply to whichever face is selected (their values show)
            self.inspector.preview_chain(moves)
        self._show_direction_pair()
        self._update_actions()
        self._update_counts()

    def _update_counts(self, *_args) -> None:
        n = self.grid_model.rowCount()
        k = len(self.grid_view.selectionModel().selectedIndexes()) if self.grid_view.selectionModel() else 0
        self.status_cells.setText(f"{n} faces" + (f" · {k} selected" if k else ""))

    def _update_actions(self) -> None:
        has_model = self.generator is not None
        k = len(self.grid_view.selectionModel().selectedIndexes()) if self.grid_view.selectionModel() else 0
        for act in (self.act_new_batch, self.act_jump, self.act_paste, self.act_select_all):
            act.setEnabled(has_model)
        for act in (self.act_export, self.act_copy, self.act_delete, self.act_large, self.act_children,
                    self.act_antiface, self.act_to_matrix_src, self.act_to_matrix_dst):
            act.setEnabled(has_model and k >= 1)
        for act in (self.act_compare, self.act_crossbreed, self.act_mix):   # each takes a pair
            act.setEnabled(has_model and k == 2)

    # ================================================================== mixing
    def _drop_hint(self, modifiers) -> str:
        group = group_for_modifiers(modifiers)
        if group == "last":
            group = self.last_group
        if group is None:
            return "drop to mix…"
        return f"mix {spec_text(group).split(' (')[0]}"

    def _on_cells_dropped(self, sources: list[Cell], target: Cell, modifiers, global_pos) -> None:
        if not sources:
            return
        group = group_for_modifiers(modifiers)
        if group is not None:
            spec = self.last_group if group == "last" else group
            self.remember_group(spec)
            self.mix(sources, target, spec)
            return
        # ask once the drop has finished (a menu opened inside the drag's own event loop can misbehave)
        QTimer.singleShot(0, lambda: self._choose_and_mix(sources, target, global_pos))

    def _choose_and_mix(self, sources: list[Cell], target: Cell, global_pos) -> None:
        if self.grid_model.row_of(target) < 0:
            return
        spec = self.drop_group_chooser(global_pos, sources, target)
        if spec is None:
            return
        self.remember_group(spec)
        self.mix(sources, target, spec)

    def remember_group(self, spec) -> None:
        self.last_group = spec
        if isinstance(spec, list):
            self.last_custom = list(spec)
            self.settings.setValue("mix/last_custom", list(spec))
        self.settings.setValue("mix/last_group", spec)

    def _ask_drop_group(self, global_pos, sources, target):
        info = self.generator.info if self.generator is not None else None
        what = sources[0].label if len(sources) == 1 else f"{len(sources)} faces"
        return ask_drop_group(self, global_pos, info, self.last_group, self.last_custom,
                              f"Mix {what} into {target.label}")

    def mix(self, sources: list[Cell], target: Cell, spec) -> None:
        """New cells after `target`: each source's styles on `spec` layers, the target's elsewhere."""
        def landed(lats):
            if lats:
                what = sources[0].label if len(sources) == 1 else f"{len(sources)} faces"
                group = spec_text(spec).split(" (")[0]
                self.add_latents(lats, target, f"Mix {what} into {target.label} · {group}")

        collect = Collector([s.uid for s in sources], landed)
        for src in sources:
            self.runner.apply(ids.STYLE_MIX, [target.latent, src.latent], {"layers": spec},
                              lambda lats, u=src.uid: collect.add(u, lats),
                              on_error=lambda _m, u=src.uid: collect.add(u, []))

    def mix_selected(self) -> None:
        cells = self.selected_cells()
        if len(cells) < 2:
            return
        target, sources = cells[0], cells[1:]
        rect = self.grid_view.visualRect(self.grid_model.index_of(target))
        gpos = self.grid_view.viewport().mapToGlobal(rect.center())
        spec = self.drop_group_chooser(gpos, sources, target)
        if spec is not None:
            self.remember_group(spec)
            self.mix(sources, target, spec)

    def _to_matrix(self, axis: str) -> None:
        cells = self.selected_cells()
        if not cells:
            return
        self.matrix_dock.show()
        self.matrix_dock.raise_()
        for c in cells:
            (self.matrix.add_source if axis == "source" else self.matrix.add_destination)(c.latent)

    # ================================================================== recipes and clipboard
    def copy_recipe(self) -> None:
        cell = self.current_cell()
        if cell is not None:
            self.copy_latent(cell.latent)

    def copy_latent(self, latent: Latent) -> None:
        """The whole latent as JSON text (pasting it gives the identical face back)."""
        mime = QMimeData()
        text = json.dumps(latent.to_json(), sort_keys=True)
        mime.setText(text)
        mime.setData(LATENT_MIME, QByteArray(text.encode()))
        QApplication.clipboard().setMimeData(mime)
        groups = self.generator.info.groups if self.generator is not None else None
        tree = "\n".join(recipe_tree(latent.recipe, groups).lines())
        self.show_message(f"Copied {latent.label()} to the clipboard:\n{tree}")

    def paste_recipe(self) -> None:
        if self.generator is None:
            return
        clip = QApplication.clipboard()
        if clip.mimeData() is not None and clip.mimeData().hasImage() and not clip.text().strip():
            image = clip.image()
            if not image.isNull():                     # a pasted picture: a photo to project
                from .render_bridge import qimage_to_array

                self.import_photos([qimage_to_array(image)], ["pasted image"])
                return
        try:
            lat, note = latent_from_text(clip.text(), self.generator, self.registry)
        except Exception as e:  # noqa: BLE001 - anything from a foreign clipboard is the user's to see
            text = str(e)
            if text.startswith("the clipboard holds no face"):
                self.show_error(text[0].upper() + text[1:] + ".")
            else:
                self.show_error(f"Could not paste the recipe: {e}.")
            return
        if note:
            self.show_message(note)
        self.add_latents([lat], self.current_cell(), f"Paste {lat.label()}", origin="import")

    # ================================================================== files
    def open_dialog(self) -> None:
        start = str(Path(self.recent_files()[0]).parent) if self.recent_files() else str(Path.home())
        paths, _ = QFileDialog.getOpenFileNames(self, "Open a checkpoint or faces", start, OPEN_FILTER)
        if paths:
            self.open_files(paths)

    def open_files(self, paths: list[str]) -> None:
        """Checkpoints load as the model (the last one wins); PNGs with a recipe come back as
        faces; photos (JPEG, WebP, PNGs without a recipe ...) are projected into the model."""
        from .photo_import import is_photo

        photos = [p for p in paths if is_photo(p)]
        if photos:
            self.import_photos(photos)
        paths = [p for p in paths if p not in photos]
        pngs = [p for p in paths if is_png(p)]
        others = [p for p in paths if p not in pngs]
        if others:
            self.load_model(others[-1])
        if pngs:
            if self.generator is None:
                self.show_error("Open a model first: a face needs the model it is drawn with.")
                return
            self.import_pngs(pngs)

    def import_photo_dialog(self, crop: bool = False) -> None:
        from .photo_import import PHOTO_SUFFIXES

        pattern = " ".join(f"*{x}" for x in sorted(PHOTO_SUFFIXES))
        paths, _ = QFileDialog.getOpenFileNames(self, "Import photos of faces", str(Path.home()),
                                                f"Photos ({pattern});;All files (*)")
        if paths:
            self.import_photos(paths, ask_crop=crop)

    def _ask_crop(self, photo, quad, name: str, reason: str):
        from .crop_dialog import ask_crop

        return ask_crop(self, photo, quad, name, reason)

    def import_photos(self, sources: list, names: list[str] | None = None, ask_crop: bool = False) -> None:
        """Project photos (paths or uint8 pictures) into the model; each arrives as a new face."""
        if self.generator is None:
            self.show_error("Open a model first: a photo is projected into the model you are exploring.")
            return
        for i, src in enumerate(sources):
            name = (names[i] if names else None) or (Path(src).name if isinstance(src, (str, Path)) else "pasted image")

            def done(latent, why, name=name):
                if latent is None:
                    if why == "cancelled":
                        self.show_message(f"Import of {name} cancelled.")
                    else:
                        self.show_error(f"Could not import {name}: {why}")
                    return
                psnr = latent.recipe.get("psnr")
                self.add_latents([latent], self.current_cell(), f"Import {name}", origin="import")
                self.show_message(f"{name} is in the grid as a face of this model"
                                  + (f" (PSNR {psnr:.1f} dB to the aligned photo)" if psnr else "") + ".")
            self.photos.import_photo(src, done, name=name, ask_crop=ask_crop)

    def train_photo_encoder(self, steps: int = 2000) -> bool:
        """Faces > Train Photo Encoder: False (and why) when there is nothing to do."""
        from explorer.projection.encoder import encoder_for

        if self.generator is None:
            self.show_error("Open a model first: its encoder is trained on its own pictures.")
            return False
        if encoder_for(self.generator) is not None:
            self.show_message("This model already has its photo encoder.")
            return False

        def done(path, why):
            if path is None:
                self.show_message("Encoder training cancelled." if why in (None, "cancelled")
                                  else f"Encoder training failed: {why}", "info" if why in (None, "cancelled") else "error")
                return
            self.show_message(f"The photo encoder of this model is ready ({Path(path).name}); photo imports "
                              "start from its guess now.")
        self.photos.train_encoder(done, steps)
        return True

    def import_pngs(self, paths: list[str]) -> list[Cell]:
        lats = []
        for p in paths:
            try:
                found, warning = latents_from_png(p, self.generator)
            except FaceFileError as e:
                self.show_error(str(e))
                continue
            if warning:
                self.show_message(warning)
            lats.extend(found)
        if not lats:
            return []
        text = f"Open {Path(paths[0]).name}" if len(lats) == 1 else f"Open {len(lats)} faces"
        # where the user looks: after the selected face, else at the top of the screen (the end
        # of the grid keeps moving as seeds stream in, so "append" put them out of sight)
        selected = self.selected_cells()
        if selected:
            return self.add_latents(lats, selected[-1], text, origin="import")
        visible = self.grid_view.visible_rows()
        return self.add_latents(lats, None, text, origin="import", row=visible.start if len(visible) else 0)

    def export_selected_at_size(self, folder: str | None = None, size: int | None = None) -> None:
        """Export Selected at a chosen size (above the model's: Lanczos-upscaled; remembered)."""
        if not self.selected_cells() or self.generator is None:
            return
        res = self.generator.info.resolution
        if size is None:
            from explorer.animation import max_export_size

            last = int(self.settings.value("files/export_size", 4 * res) or res)
            size, ok = QInputDialog.getInt(self, "Export at size", f"Side in pixels (the model draws {res} px; "
                                           "larger sizes are upscaled with Lanczos):", min(last, max_export_size(res)),
                                           8, max_export_size(res), 64)
            if not ok:
                return
        self.settings.setValue("files/export_size", int(size))
        self.export_selected(folder, size=int(size))

    def export_selected(self, folder: str | None = None, size: int | None = None) -> None:
        cells = self.selected_cells()
        if not cells or self.generator is None:
            return
        if folder is None:
            start = self.settings.value("files/export_dir", str(Path.home()))
            folder = QFileDialog.getExistingDirectory(self, f"Export {len(cells)} faces to…", start)
            if not folder:
                return
            self.settings.setValue("files/export_dir", folder)
        self.exporter.export([c.latent for c in cells], Path(folder), self.generator.name, size=size)

    def export_animation(self, path: str | None = None, path_chooser=None):
        """The Export Animation dialog for the timeline (non-modal); returns it."""
        from .export_dialog import ExportDialog

        if self.generator is None or not self.timeline_panel.timeline.keyframes:
            self.timeline_dock.show()
            self.timeline_dock.raise_()
            self.show_error("Drag faces from the grid onto the timeline first: they become its keyframes.")
            return None
        if self.export_dialog is not None and self.export_dialog.running:
            self.export_dialog.show()
            self.export_dialog.raise_()
            return self.export_dialog
        self.timeline_panel.directions = self.directions
        dlg = ExportDialog(self.bridge.service, self.timeline_panel.timeline, self.generator.info.resolution, self,
                           path=path, path_chooser=path_chooser, registry=self.registry,
                           directions=self.directions)
        dlg.message.connect(self.show_message)
        self.export_dialog = dlg
        dlg.show()
        return dlg

    def _apply_post(self, image, latent: Latent):
        """A latent's recorded image edits (colour grade ...), applied to its rendered picture (on a
        worker thread: exports; slow edits come from the cache when they were made before)."""
        from .image_edits import picture_source

        source = picture_source(self.generator, latent) if image.shape[0] == self.generator.info.resolution else None
        return self.registry.apply_post(image, latent.post, model=self.generator, source=source)

    def choose_style_features(self, path: str | None = None) -> bool:
        """Pick torchvision's VGG19 weights (style transfer) or VGG16 weights (photo projection's
        LPIPS-style loss): checked before it is kept. An empty path forgets both (the random and
        built-in features are used). True when a setting was made."""
        from explorer.style_transfer.features import (FeatureError, VGG16Features, VGG19Features, set_vgg16_path,
                                                      set_vgg19_path)

        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "VGG19 (style transfer) or VGG16 (photo projection) weights: torchvision's vgg*.pth",
                str(Path.home()), "PyTorch weights (*.pth *.pt);;All files (*)")
            if not path:
                return False
        if not path:
            for key, setter in (("style/vgg19", set_vgg19_path), ("style/vgg16", set_vgg16_path)):
                self.settings.setValue(key, "")
                setter(None)
            self.show_message("Style transfer uses its random features; projection its built-in ones.", "info")
            return True
        errors = []
        for cls, key, setter, use in ((VGG19Features, "style/vgg19", set_vgg19_path,
                                       "style transfer can use it (choose 'vgg19' in its Features)"),
                                      (VGG16Features, "style/vgg16", set_vgg16_path,
                                       "photo projection compares pictures with it (LPIPS-style)")):
            try:
                cls.from_file(path)
            except FeatureError as e:
                errors.append(str(e))
                continue
            self.settings.setValue(key, path)
            setter(path)
            self.show_message(f"{cls.label} weights from {Path(path).name}: {use}.", "info")
            return True
        self.show_message(f"{errors[0].rstrip('.')}; nor is it torchvision's VGG16 file.", "error")
        return False

    def _on_busy(self, busy: bool) -> None:
        self.status_progress.setVisible(busy or self.loader.busy)

    # ================================================================== large view and compare
    def open_large(self, cells: list[Cell] | None = None) -> None:
        from .large_view import LargeView

        cells = cells if cells else self.selected_cells()[:1]
        if not cells or self.generator is None:
            return
        view = LargeView(self, cells[:2])
        self.large_views.append(view)
        view.destroyed.connect(lambda *_a, v=view: self.large_views.remove(v) if v in self.large_views else None)
        view.show()
        return view

    def compare(self) -> None:
        cells = self.selected_cells()
        if len(cells) >= 2:
            return self.open_large(cells[:2])
        return None

    # ================================================================== library
    def library(self):
        """The face library (opened on first use); None, after saying why, when it cannot be."""
        if getattr(self, "_library", None) is None:
            from explorer.library import Library, LibraryError

            try:
                self._library = Library(self.library_path)
            except LibraryError as e:
                self.show_error(str(e))
                return None
            if self._library.message:
                self.show_message(self._library.message, "warning")
        return self._library

    def _direction_scores(self, latent) -> dict:
        """The face's sigma along the model's directions (stored for semantic filters)."""
        if self.generator is None or not self.directions or latent.model != str(self.generator.fingerprint):
            return {}
        from explorer.library.scores import direction_scores

        return direction_scores(latent.ws, self.directions.values(), self.generator.w_avg.detach().cpu().numpy(),
                                self.generator.info, latent.model)

    def keep_selected(self) -> list[int]:
        """Keep the selected faces in the library; returns their library ids."""
        return self.keep_cells(self.selected_cells())

    def keep_cells(self, cells: list[Cell]) -> list[int]:
        """Keep faces in the library (K, the star on a face, a drag onto the Library dock)."""
        from explorer.library import LibraryError

        from .render_bridge import qimage_to_array

        if not cells:
            self.show_message("Select the faces to keep first.")
            return []
        lib = self.library()
        if lib is None:
            return []
        name = (self.generator.config.get("name") if self.generator is not None else "") or \
            (Path(self.model_path).stem if self.model_path else "")
        scores = self._direction_scores
        faces = [{"latent": c.latent, "name": c.label, "model_name": str(name), "model_path": self.model_path or "",
                  "thumbnail": qimage_to_array(c.image) if c.image is not None and not c.image.isNull() else None,
                  "scores": scores(c.latent)} for c in cells]
        try:
            ids = lib.add_many(faces)
        except LibraryError as e:
            self.show_error(str(e))
            return []
        for c in cells:
            c.kept = True
            self.grid_model.cell_changed(c)
        self.show_message(f"Kept {cells[0].label} in the library." if len(ids) == 1
                          else f"Kept {len(ids)} faces in the library.")
        if self.library_panel is not None:
            self.library_panel.refresh_collections()
            self.library_panel.refresh()
        return ids

    # ================================================================== messages
    def show_message(self, text: str, level: str = "info", action=None) -> None:
        self.messages.show_message(text, level, action)

    def show_error(self, text: str, action=None) -> None:
        self.messages.show_message(text, "error", action)

    def open_plugin_form(self, plugin_id: str) -> None:
        """A plugin double-clicked in the Plugins tab: its form, in the inspector, in front."""
        why = self.inspector.open_plugin(plugin_id)
        if why:
            self.show_message(why)
            return
        self.inspector_dock.show()
        self.inspector_dock.raise_()

    def show_shortcuts(self):
        """Help > Keyboard Shortcuts: a searchable table of every key (non-modal; returns it)."""
        from .shortcuts_dialog import ShortcutsDialog

        actions = list(self.actions()) + list(self.grid_view.actions())
        self.shortcuts_dialog = ShortcutsDialog(actions, self)
        self.shortcuts_dialog.show()
        return self.shortcuts_dialog

    # ================================================================== misc events
    def _zoom(self, step: int) -> None:
        self.size_slider.setValue(self.grid_view.thumb_size + step)

    def _on_thumb_size(self, px: int) -> None:
        if self.size_slider.value() != px:
            with signals_blocked(self.size_slider):
                self.size_slider.setValue(px)

    def model_psi(self, gen) -> float:
        """ψ for a model's seeds: what the user last chose for this model, else the model card's
        recommendation (the default model says which suits it), else the last ψ used."""
        saved = self.settings.value(f"grid/psi_by_model/{gen.fingerprint}", None)
        if saved is None:
            saved = (gen.config.get("card") or {}).get("default_psi")
        try:
            return min(1.5, max(-1.0, float(saved if saved is not None else self.stream.psi)))
        except (TypeError, ValueError):
            return DEFAULT_PSI

    def _on_psi(self, value: float) -> None:
        changed = abs(float(value) - self.stream.psi) > 1e-9
        if changed:
            self.session.set_psi(float(value))
        if changed and self.generator is not None:
            self.statusBar().showMessage(f"New faces are drawn at ψ {value:.2f} (New Batch redraws the grid); "
                                         "faces already in the grid keep theirs", 6000)
        if self.generator is not None:
            self.settings.setValue(f"grid/psi_by_model/{self.generator.fingerprint}", float(value))

    def _context_menu(self, pos) -> None:
        idx = self.grid_view.indexAt(pos)
        if idx.isValid() and not self.grid_view.selectionModel().isSelected(idx):
            self.grid_view.setCurrentIndex(idx)
        menu = QMenu(self)
        for a in (self.act_large, self.act_compare, None, self.act_mix, self.act_children, self.act_crossbreed,
                  self.act_antiface, None, self.act_to_matrix_src, self.act_to_matrix_dst, None, self.act_copy,
                  self.act_paste, self.act_export, None, self.act_delete):
            menu.addSeparator() if a is None else menu.addAction(a)
        menu.exec(self.grid_view.viewport().mapToGlobal(pos))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_files(paths))

    def unsaved_work(self) -> str:
        """What closing would lose, in words ('' when nothing: the workspace is saved, or nothing
        was made): faces made or opened, timeline keyframes, the mixing matrix."""
        if self.workspace.file is not None and self.workspace.flush():
            return ""
        made = sum(1 for c in self.grid_model.cells if c.origin != "seed")
        parts = []
        if made:
            parts.append(f"{made} face{'s' if made != 1 else ''} you made or opened")
        if self.timeline_panel.timeline.keyframes:
            parts.append(f"a timeline of {len(self.timeline_panel.timeline.keyframes)} keyframes")
        if self.matrix.sources or self.matrix.destinations:
            parts.append("the mixing matrix")
        return ", ".join(parts)

    def _confirm_quit(self, what: str) -> bool:
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(QMessageBox.Warning, "Quit Latent Explorer?",
                          f"Quitting loses {what}: the workspace could not be saved.\n\n"
                          "Export the faces you want to keep first (Ctrl+E, or save the timeline).",
                          QMessageBox.Cancel, self)
        quit_button = box.addButton("Quit Anyway", QMessageBox.DestructiveRole)
        box.setDefaultButton(QMessageBox.Cancel)
        box.exec()
        return box.clickedButton() is quit_button

    def closeEvent(self, event) -> None:
        if self.ask_before_quit and not self._closing:
            what = self.unsaved_work()
            if what and not self.quit_confirmer(what):
                event.ignore()
                return
        self._closing = True
        self.workspace.close()
        self.save_settings()
        self.timeline_panel.stop()
        if self.export_dialog is not None and self.export_dialog.running:
            self.export_dialog.cancel()
        self.runner.close()
        self.photos.close()
        if self.library_panel is not None:
            self.library_panel.stop()
        if self.library_jobs is not None:
            self.library_jobs.close()
        if getattr(self, "_library", None) is not None:
            self._library.close()
        self.mapper.close()
        for view in list(self.large_views):
            view.close()
        self.bridge.shutdown()
        super().closeEvent(event)
