"""The inspector: what the selected face is made of, and the edits that make new faces from it.

Sections: preview (before / after of the edit being tuned), recipe tree with copy and paste,
truncation with a layer cutoff, antiface, stochastic variation (a strip of noise resamples),
children and crossbreed, and every other plugin through its generated form. Every edit runs
through the plugin registry (EditRunner); results are offered to the window as new cells
(`addGroups`), which makes them undoable. The same widget sits in the large view.
"""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSpinBox,
                               QVBoxLayout, QWidget)
from superqt import QCollapsible, QLabeledDoubleSlider
from superqt.utils import qdebounced, signals_blocked

from explorer import plugin_ids as ids
from explorer.latents import Latent
from explorer.layers import ALL, LAYER_CHOICES, available_groups
from explorer.noise import NoiseSpec
from explorer.recipe_text import RecipeNode, recipe_tree, short_label
from explorer.render import Priority, Status

from .controls import LAYER_OPTIONS, Segmented, primary, row
from .image_tile import ImageTile
from . import theme
from .render_bridge import to_qimage
from .tasks import Latest

PREVIEW_PX = 150
STRIP_PX = 88
STRIP_COLUMNS = 3
NOISE_MODES = [("random", "Random", "Fresh noise drawn from a seed for each picture in the strip"),
               ("const", "Stored", "The model's own fixed noise"),
               ("none", "None", "No noise: smooth skin and hair")]
EDITS_IN_SECTIONS = {ids.TRUNCATION, ids.ANTIFACE, ids.NOISE_VARIATION, ids.CHILDREN,
                     ids.CROSSBREED, ids.STYLE_MIX}


def recipe_html(node: RecipeNode) -> str:
    """The recipe tree as indented paragraphs: steps bright, the role of each ingredient dim."""
    from html import escape

    out = []

    def add(n: RecipeNode, depth: int) -> None:
        role = (f'<span style="color:{theme.TEXT_DIM.name()}">{escape(n.role)}</span>&nbsp; ' if n.role else "")
        lead = "└ " if depth else ""
        out.append(f'<p style="margin:0 0 3px {depth * 16}px">{lead}{role}{escape(n.text)}</p>')
        for c in n.children:
            add(c, depth + 1)

    add(node, 0)
    return "".join(out)


def _float_slider(lo: float, hi: float, value: float, step: float = 0.01, decimals: int = 2) -> QLabeledDoubleSlider:
    s = QLabeledDoubleSlider(Qt.Horizontal)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setDecimals(decimals)
    s.setValue(value)
    return s


class Inspector(QScrollArea):
    addGroups = Signal(list, str)      # [(anchor Cell, [Latent, ...]), ...], undo text
    message = Signal(str, str)         # text, level
    copyRequested = Signal()
    pasteRequested = Signal()
    previewChanged = Signal(object)    # the Latent being previewed, or None

    def __init__(self, runner, bridge, parent=None, show_preview: bool = True):
        super().__init__(parent)
        self.runner, self.bridge = runner, bridge
        self.model = None
        self.cells: list = []
        self.preview_latent: Latent | None = None
        self.strip_latents: list[Latent] = []
        self._preview_spec = None
        self.latest = Latest()           # answers still on their way: "preview", "strip"
        self.litter = 0
        self._strip_urgent = False
        self._live: dict[int, tuple] = {}          # tile id -> (tile, picture source) of slow image edits
        runner.image_edits.preview.connect(self._live_preview)
        self._noise_base = 1
        self.noise_active = True
        self.more_form = None
        self._sections: list = []
        self._section_forms: list = []   # truncation / antiface / children: from the plugins' schemas
        self.recipe_node = None
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setMinimumWidth(340)
        body = QWidget()
        self.body = body
        lay = QVBoxLayout(body)
        lay.setContentsMargins(14, 10, 14, 14)
        lay.setSpacing(10)
        self._layout = lay
        self._build_header(show_preview)
        self._build_recipe()
        self._build_truncation()
        self._build_antiface()
        self._build_variation()
        self._build_children()
        self._build_more()
        lay.addStretch(1)
        self.setWidget(body)
        # never narrower than its rows need (a resizable scroll area would otherwise clip them)
        self.setMinimumWidth(max(340, body.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 4))
        # slider drags: one preview / strip render after the value settles, not one per step
        self._schedule_preview = qdebounced(self._run_preview, timeout=40, parent=self)
        self._schedule_strip = qdebounced(self._run_strip, timeout=60, parent=self)
        self.set_model(None)

    # ================================================================== building
    def _section(self, title: str, expanded: bool = True) -> QVBoxLayout:
        col = QCollapsible(title)
        col.setDuration(120)
        self._sections.append(col)
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.setContentsMargins(4, 2, 0, 8)
        v.setSpacing(8)
        col.addWidget(inner)
        if expanded:
            col.expand(animate=False)
        else:
            col.collapse(animate=False)
        self._layout.addWidget(col)
        return v

    def _build_header(self, show_preview: bool) -> None:
        self.title = QLabel("Nothing selected")
        self.title.setProperty("role", "title")
        self.title.setWordWrap(True)
        self.subtitle = QLabel("Select a face in the grid to see its recipe and edit it.")
        self.subtitle.setProperty("role", "hint")
        self.subtitle.setWordWrap(True)
        self._layout.addWidget(self.title)
        self._layout.addWidget(self.subtitle)
        self.preview_box = QWidget()
        h = QHBoxLayout(self.preview_box)
        h.setContentsMargins(0, 4, 0, 0)
        h.setSpacing(10)
        self.before_tile = ImageTile("before", PREVIEW_PX)
        self.after_tile = ImageTile("after", PREVIEW_PX)
        self.after_tile.placeholder_text = "Touch an edit below to preview it here"
        self.after_tile.setToolTip("Preview of the edit you are tuning; Apply adds it to the grid")
        h.addWidget(self.before_tile)
        h.addWidget(self.after_tile)
        h.addStretch(1)
        self._layout.addWidget(self.preview_box)
        self._preview_wanted = show_preview
        self.preview_box.setVisible(show_preview)

    def _build_recipe(self) -> None:
        v = self._section("Recipe")
        self.recipe_label = QLabel()
        self.recipe_label.setWordWrap(True)
        self.recipe_label.setTextFormat(Qt.RichText)
        self.recipe_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.recipe_label.setProperty("role", "recipe")
        self.recipe_label.setToolTip("How this face was made: the last step at the top, its ingredients below")
        v.addWidget(self.recipe_label)
        h = QHBoxLayout()
        self.copy_button = QPushButton("Copy recipe")
        self.copy_button.setToolTip("Copy the face (styles, noise and recipe) as JSON (Ctrl+C)")
        self.copy_button.clicked.connect(self.copyRequested)
        self.paste_button = QPushButton("Paste recipe")
        self.paste_button.setToolTip("Add the face on the clipboard to the grid (Ctrl+V)")
        self.paste_button.clicked.connect(self.pasteRequested)
        h.addWidget(self.copy_button)
        h.addWidget(self.paste_button)
        h.addStretch(1)
        v.addLayout(h)

    def _section_form(self, plugin_id: str, v: QVBoxLayout, section: str, hidden=()):
        """The section's settings: the registered plugin's own form, generated from its parameter
        schema (a plugin that replaces a built-in brings its own fields)."""
        from .plugin_form import PluginForm

        plugin = self.runner.plugin(plugin_id)
        if plugin is None:
            missing = QLabel(f"The edit {plugin_id} is not installed.")
            missing.setProperty("role", "hint")
            v.addWidget(missing)
            return None
        form = PluginForm(plugin, show_apply=False, hidden=hidden, show_description=False)
        form.setObjectName(f"form_{section}")
        form.paramsChanged.connect(lambda _p: self._touch(section))
        v.addWidget(form)
        self._section_forms.append(form)
        return form

    def _build_truncation(self) -> None:
        v = self._section("Truncation")
        note = QLabel("Makes truncated copies of the selected faces: ψ 1 keeps the face, 0 is the average "
                      "face, −1 its antiface. (The toolbar's ψ sets how new faces are drawn from seeds.)")
        note.setWordWrap(True)
        note.setProperty("role", "hint")
        v.addWidget(note)
        self.trunc_form = self._section_form(ids.TRUNCATION, v, "truncation")
        self.trunc_button = primary("Apply truncation", "Add the truncated version of each selected face")
        self.trunc_button.clicked.connect(self.apply_truncation)
        v.addWidget(self.trunc_button, 0, Qt.AlignRight)

    def _build_antiface(self) -> None:
        v = self._section("Antiface")
        hint = QLabel("Reflect the face through the average face: w′ = 2·w_avg − w.")
        hint.setProperty("role", "hint")
        hint.setWordWrap(True)
        v.addWidget(hint)
        self.anti_form = self._section_form(ids.ANTIFACE, v, "antiface")
        self.anti_button = primary("Make antiface", "Add the antiface of each selected face (Ctrl+I)")
        self.anti_button.clicked.connect(self.apply_antiface)
        v.addWidget(self.anti_button, 0, Qt.AlignRight)

    def _build_variation(self) -> None:
        v = self._section("Stochastic variation")
        self.no_noise_note = QLabel("This model has no active noise inputs (StyleGAN3, or trained without "
                                    "noise): redrawing the noise changes nothing, so variation is off.")
        self.no_noise_note.setWordWrap(True)
        self.no_noise_note.setProperty("role", "hint")
        self.no_noise_note.hide()
        v.addWidget(self.no_noise_note)
        self.noise_mode = Segmented(NOISE_MODES, "random")
        v.addWidget(row("Noise", self.noise_mode, "How the per-layer noise (hair strands, pores) is drawn"))
        self.noise_strength = _float_slider(0.0, 2.0, 1.0, 0.05)
        v.addWidget(row("Strength", self.noise_strength, "Scale of the noise: 0 none, 1 as trained"))
        self.noise_layers = Segmented(LAYER_OPTIONS, "all")
        v.addWidget(row("Layers", self.noise_layers, "Redraw the noise of these layers only"))
        self.noise_count = QSpinBox()
        self.noise_count.setRange(2, 12)
        self.noise_count.setValue(6)
        v.addWidget(row("Pictures", self.noise_count, "How many resamples the strip shows"))
        self.strip = QWidget()
        self.strip_grid = QGridLayout(self.strip)
        self.strip_grid.setContentsMargins(0, 4, 0, 0)
        self.strip_grid.setSpacing(6)
        self.strip_tiles: list[ImageTile] = []
        v.addWidget(self.strip)
        h = QHBoxLayout()
        self.resample_button = QPushButton("Resample")
        self.resample_button.setToolTip("Draw fresh noise for the whole strip")
        self.resample_button.clicked.connect(self.resample)
        self.strip_add_button = primary("Add strip to grid", "Add every picture of the strip as a new face")
        self.strip_add_button.clicked.connect(self.add_strip)
        self.variation_controls = [self.noise_mode, self.noise_strength, self.noise_layers, self.noise_count,
                                   self.resample_button, self.strip_add_button]
        h.addWidget(self.resample_button)
        h.addStretch(1)
        h.addWidget(self.strip_add_button)
        v.addLayout(h)
        for sig in (self.noise_mode.changed, self.noise_layers.changed, self.noise_strength.valueChanged,
                    self.noise_count.valueChanged):
            sig.connect(self._strip_touched)

    def _build_children(self) -> None:
        v = self._section("Children")
        # the seed is the inspector's: each click draws a new litter
        self.child_form = self._section_form(ids.CHILDREN, v, "children", hidden=("seed",))
        h = QHBoxLayout()
        self.cross_button = QPushButton("Crossbreed two")
        self.cross_button.setToolTip("Children of the two selected faces: each layer from one parent (Ctrl+B)")
        self.cross_button.clicked.connect(self.crossbreed)
        self.child_button = primary("Make children", "Add variations of the selected face (Ctrl+K)")
        self.child_button.clicked.connect(self.make_children)
        h.addWidget(self.cross_button)
        h.addStretch(1)
        h.addWidget(self.child_button)
        v.addLayout(h)

    def _build_more(self) -> None:
        v = self._section("More edits", expanded=False)
        self.more_section = self._sections[-1]
        self.more_combo = QComboBox()
        self.more_combo.setMaxVisibleItems(20)     # every installed edit at a glance (it showed about 3)
        self.more_combo.setToolTip("Every edit plugin that takes this many faces, built-in or installed")
        self.more_combo.currentIndexChanged.connect(self._pick_plugin)
        v.addWidget(self.more_combo)
        self.more_holder = QVBoxLayout()
        v.addLayout(self.more_holder)

    # ================================================================== state
    def set_model(self, gen) -> None:
        self.model = gen
        for col in self._sections:
            col.setVisible(gen is not None)
        self.preview_box.setVisible(gen is not None and self._preview_wanted)
        if gen is None:
            self.cells = []
            self.title.setText("No model")
            self.subtitle.setText("Open a checkpoint to draw faces; the edits appear here.")
            return
        info = gen.info
        for form in self._section_forms:
            form.set_info(info)
        self.noise_layers.set_enabled_keys(available_groups(info.groups))
        self.noise_active = gen.has_active_noise()
        self.no_noise_note.setVisible(not self.noise_active)
        for w in self.variation_controls:
            w.setEnabled(self.noise_active)
        self.before_tile.set_image(None)
        self.after_tile.set_image(None)
        self._clear_strip()
        self._fill_more()

    def set_cells(self, cells: list) -> None:
        if self.model is None:
            return
        if [id(c) for c in cells] != [id(c) for c in self.cells]:
            # another face: the "after" preview belonged to the old one (it showed, e.g., the last
            # direction move on every face selected afterwards); results still on their way are dropped
            self._clear_preview()
        self.cells = list(cells)
        n = len(self.cells)
        has = n > 0 and self.model is not None
        for w in (self.trunc_button, self.anti_button, self.child_button, self.copy_button):
            w.setEnabled(has)
        for w in (self.resample_button, self.strip_add_button):
            w.setEnabled(has and self.noise_active)
        self.cross_button.setEnabled(n == 2 and self.model is not None)   # a pair, not "the first two of"
        if not n:
            self.title.setText("Nothing selected")
            self.subtitle.setText("Select a face in the grid to see its recipe and edit it. Drag one face onto "
                                  "another to mix them.")
            self.recipe_label.setText("")
            self.recipe_node = None
            self.before_tile.set_caption("")
            self.before_tile.set_image(None)
            self.after_tile.set_image(None)
            self._clear_strip()
            self.preview_latent = None
            self.previewChanged.emit(None)
            self._fill_more()
            return
        first = self.cells[0]
        self.title.setText(first.label)
        self.subtitle.setText("Edits apply to this face." if n == 1 else
                              f"{n} faces selected: edits apply to each; the recipe and previews show {first.label}.")
        self._show_recipe(first.latent)
        self._render_tile(self.before_tile, first.latent, ("before", id(self)))
        self.before_tile.set_caption(first.label)
        if self._preview_spec is not None:
            self._schedule_preview()
        if self.noise_mode.isVisible():
            self._schedule_strip()
        self._fill_more()

    def _show_recipe(self, latent: Latent) -> None:
        groups = self.model.info.groups if self.model is not None else None
        node = recipe_tree(latent.recipe, groups)
        noise = latent.noise
        if noise.mode != "const" or noise.strength != 1.0:
            node.children.append(RecipeNode(f"{noise.mode}" + (f", seed {noise.seed}" if noise.seed is not None else "")
                                            + (f", strength {noise.strength:.2f}" if noise.strength != 1.0 else ""),
                                            role="noise"))
        self.recipe_node = node
        self.recipe_label.setText(recipe_html(node))

    def recipe_lines(self) -> list[str]:
        """The recipe tree as indented lines (what the label shows)."""
        return self.recipe_node.lines() if self.recipe_node is not None else []

    # ================================================================== params of the sections
    def layers_param(self, key):
        return key if key in LAYER_CHOICES else ALL

    @staticmethod
    def _form_values(form) -> dict:
        return form.values() if form is not None else {}

    def truncation_params(self) -> dict:
        return self._form_values(self.trunc_form)

    def antiface_params(self) -> dict:
        return self._form_values(self.anti_form)

    def children_params(self) -> dict:
        p = self._form_values(self.child_form)
        if self.child_form is not None and "seed" in {f.name for f in self.child_form.plugin.params}:
            p["seed"] = self.litter
        return p

    def _params_for(self, plugin_id: str, wanted: dict) -> dict:
        """Only the parameters this plugin declares (a replaced built-in may take fewer)."""
        plugin = self.runner.plugin(plugin_id)
        if plugin is None:
            return wanted
        names = {f.name for f in plugin.params}
        return {k: v for k, v in wanted.items() if k in names}

    # ================================================================== preview
    def _touch(self, section: str) -> None:
        specs = {"truncation": (ids.TRUNCATION, self.truncation_params),
                 "antiface": (ids.ANTIFACE, self.antiface_params),
                 "children": (ids.CHILDREN, lambda: dict(self.children_params(), count=1))}
        self._preview_spec = specs[section]
        self._schedule_preview()

    def _run_preview(self) -> None:
        if not self.cells or self._preview_spec is None or self.model is None:
            return
        steps = self._preview_steps()
        cell = self.cells[0]
        stamp = self.latest.current("preview")

        def show(latents, stamp=stamp):
            if self.latest.is_current("preview", stamp):
                self._show_preview(latents)

        self.runner.apply_chain(steps, [cell.latent], show,
                          channel=f"preview-{id(self)}", quiet=True,
                          on_error=lambda msg: self.after_tile.set_caption(msg))

    def _show_preview(self, latents: list[Latent]) -> None:
        if not latents:
            return
        self.preview_latent = latents[0]
        self.after_tile.set_caption(short_label(latents[0].recipe))
        self._render_tile(self.after_tile, latents[0], ("after", id(self)), Priority.INTERACTIVE)
        self.previewChanged.emit(latents[0])

    def _live_preview(self, source: str, image) -> None:
        """A slow image edit's work so far, shown on the tile waiting for that picture."""
        for tile, src in list(self._live.values()):
            if src == source:
                tile.set_image(to_qimage(image))
                tile.set_pending(True)

    def _render_tile(self, tile: ImageTile, latent: Latent, token, prio=Priority.VISIBLE) -> None:
        if not self.bridge.ready:
            return
        tile.set_pending(True)
        size = self._tile_px(tile.width())

        def finished(image, why, tile=tile):
            self._live.pop(id(tile), None)
            if image is not None:
                tile.set_image(to_qimage(image))
            else:
                tile.set_pending(False)
                tile.set_caption(f"image edit {why}")

        slow = self.runner.image_edits.needs_background(latent)
        if slow:
            from .image_edits import picture_source

            self._live[id(tile)] = (tile, picture_source(self.model, latent))
        else:
            self._live.pop(id(tile), None)

        def done(result, tile=tile):
            if result.status is Status.OK:
                if slow:                 # the plain picture until the slow edit is done
                    tile.set_image(to_qimage(result.images[0]))
                    tile.set_pending(True)
                self.runner.finish_picture_async(result.images[0], latent, finished)
        # a slow edit works on the full picture (the same one the grid and the large view use)
        if slow:
            self.bridge.submit([latent], None, done, priority=prio, token=token)
        else:
            self.bridge.submit_tile([latent], size, done, priority=prio, token=token)

    def _tile_px(self, logical: int) -> int:
        px = int(logical * self.devicePixelRatioF())
        return max(8, min(px, self.model.info.resolution)) if self.model is not None else px

    # ================================================================== stochastic variation strip
    def _clear_strip(self) -> None:
        for t in self.strip_tiles:
            t.setParent(None)
            t.deleteLater()
        self.strip_tiles = []
        self.strip_latents = []

    def _strip_touched(self, *_args) -> None:
        self._strip_urgent = True        # the user is tuning the strip: render it first
        self._schedule_strip()

    def resample(self) -> None:
        self._strip_urgent = True
        self._noise_base += 1000
        self._run_strip()

    def _run_strip(self) -> None:
        if not self.cells or self.model is None or not self.noise_active:
            self._clear_strip()
            return
        lat = self.cells[0].latent
        mode = self.noise_mode.value()
        strength = round(float(self.noise_strength.value()), 4)
        layers = self.layers_param(self.noise_layers.value())
        if mode != "random":
            # A render setting rather than an edit: the registry's noise plugin only draws random noise.
            self._show_strip([lat.with_noise(NoiseSpec(mode, None, strength))])
            return
        n = int(self.noise_count.value())
        results: dict[int, Latent] = {}
        stamp = self.latest.new("strip")

        def done(i, lats):
            if not self.latest.is_current("strip", stamp) or not lats:
                return
            results[i] = lats[0]
            if len(results) == n:
                self._show_strip([results[k] for k in range(n)])

        for i in range(n):
            params = self._params_for(ids.NOISE_VARIATION,
                                      {"seed": self._noise_base + i, "strength": strength, "layers": layers})
            self.runner.apply(ids.NOISE_VARIATION, [lat], params, lambda lats, i=i: done(i, lats),
                              channel=f"strip-{id(self)}-{i}", quiet=i > 0)

    def _show_strip(self, latents: list[Latent]) -> None:
        self._clear_strip()
        self.strip_latents = latents
        for i, lat in enumerate(latents):
            tile = ImageTile("", STRIP_PX)
            tile.caption = None
            tile.setFixedSize(STRIP_PX, STRIP_PX)
            noise = lat.noise
            tile.setToolTip(f"noise {noise.mode}" + (f" seed {noise.seed}" if noise.seed is not None else "") +
                            "\nDouble-click to add this one to the grid")
            tile.doubleClicked.connect(lambda lat=lat: self._add_one(lat))
            self.strip_grid.addWidget(tile, i // STRIP_COLUMNS, i % STRIP_COLUMNS)
            self.strip_tiles.append(tile)
            tile.set_pending(True)
        if not self.bridge.ready or not latents:
            return
        tiles = list(self.strip_tiles)

        def done(result):
            if result.status is Status.OK and self.strip_tiles == tiles:
                for t, img, lat in zip(tiles, result.images, latents):
                    t.set_image(to_qimage(self.runner.finish_picture(img, lat)))
        # tuned by hand: at once; following the selection: after the grid's visible thumbnails
        prio = Priority.INTERACTIVE if self._strip_urgent else Priority.PREFETCH
        self._strip_urgent = False
        self.bridge.submit(latents, self._tile_px(STRIP_PX), done, priority=prio,
                           token=("strip", id(self)))

    def add_strip(self) -> None:
        if self.strip_latents and self.cells:
            self.addGroups.emit([(self.cells[0], list(self.strip_latents))],
                                f"Noise variations of {self.cells[0].label}")

    def _add_one(self, lat: Latent) -> None:
        if self.cells:
            self.addGroups.emit([(self.cells[0], [lat])], f"Noise variation of {self.cells[0].label}")

    # ================================================================== apply
    def _apply_each(self, plugin_id: str, params: dict, text: str, cells=None) -> None:
        cells = list(cells if cells is not None else self.cells)
        if not cells or self.model is None:
            return
        params = self._params_for(plugin_id, params)
        results: dict[int, list] = {}

        def done(cell, lats):
            results[cell.uid] = lats
            if len(results) == len(cells):
                groups = [(c, results[c.uid]) for c in cells if results[c.uid]]
                if groups:
                    self.addGroups.emit(groups, text)

        for c in cells:
            self.runner.apply(plugin_id, [c.latent], params, lambda lats, c=c: done(c, lats),
                              on_error=lambda _m, c=c: done(c, []))

    def _what(self) -> str:
        return self.cells[0].label if len(self.cells) == 1 else f"{len(self.cells)} faces"

    def apply_truncation(self) -> None:
        p = self.truncation_params()
        self._apply_each(ids.TRUNCATION, p, f"Truncate {self._what()} to ψ {p['psi']:.2f}")

    def apply_antiface(self) -> None:
        self._apply_each(ids.ANTIFACE, self.antiface_params(), f"Antiface of {self._what()}")

    def make_children(self) -> None:
        if not self.cells:
            return
        self.litter += 1       # each click: a new litter (the plugin's randomness follows its params)
        self._apply_each(ids.CHILDREN, self.children_params(), f"Children of {self._what()}", self.cells[:1])

    def crossbreed(self) -> None:
        if len(self.cells) != 2 or self.model is None:
            return
        self.litter += 1
        a, b = self.cells[0], self.cells[1]
        count = int(self._form_values(self.child_form).get("count", 6))
        params = self._params_for(ids.CROSSBREED, {"count": count, "seed": self.litter})
        self.runner.apply(ids.CROSSBREED, [a.latent, b.latent], params,
                          lambda lats: self.addGroups.emit([(b, lats)], f"Crossbreed {a.label} and {b.label}"))

    # ================================================================== every other plugin
    def _fill_more(self) -> None:
        n = max(1, len(self.cells))
        current = self.more_combo.currentData()
        plugins = [p for p in self.runner.registry.available(n_inputs=n) if p.id not in EDITS_IN_SECTIONS]
        ids = [p.id for p in plugins]
        if ids == [self.more_combo.itemData(i) for i in range(self.more_combo.count())]:
            return
        with signals_blocked(self.more_combo):
            self.more_combo.clear()
            for p in plugins:
                self.more_combo.addItem(p.name, p.id)
                self.more_combo.setItemData(self.more_combo.count() - 1, p.description, Qt.ToolTipRole)
            idx = self.more_combo.findData(current)
            self.more_combo.setCurrentIndex(max(0, idx))
        self._pick_plugin()

    def open_plugin(self, plugin_id: str) -> str | None:
        """Show a plugin's form (More edits, expanded). None when shown, else why it cannot be."""
        if plugin_id in EDITS_IN_SECTIONS:
            rec = self.runner.registry.record(plugin_id)
            return f"{rec.name} has its own section in the inspector."
        plugin = self.runner.plugin(plugin_id)
        if plugin is None:
            return "That plugin is switched off or failed to load (see its status in the list)."
        idx = self.more_combo.findData(plugin_id)
        if idx < 0:
            lo, hi = plugin.input_bounds()
            need = f"{lo}" if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}"
            return f"{plugin.name} takes {need} faces: select them in the grid first."
        self.more_section.expand(animate=False)
        self.more_combo.setCurrentIndex(idx)
        QTimer.singleShot(0, self.scroll_to_form)     # after the layout settles: show the form, not the top
        QTimer.singleShot(150, self.scroll_to_form)   # (the panel grows by the form's height a moment later)
        return None

    def scroll_to_form(self) -> None:
        """Scroll so that 'More edits' and the open form are in view (the form is far down the panel)."""
        if self.widget() is None:
            return
        top = self.more_combo.mapTo(self.widget(), QPoint(0, 0)).y() - 48
        self.verticalScrollBar().setValue(max(0, top))

    def _pick_plugin(self, *_args) -> None:
        if self.more_form is not None:
            self.more_form.setParent(None)
            self.more_form.deleteLater()
            self.more_form = None
        plugin_id = self.more_combo.currentData()
        if not plugin_id:
            return
        plugin = self.runner.plugin(plugin_id)
        if plugin is None:
            return
        try:
            from .plugin_form import PluginForm
        except ImportError:
            return
        info = self.model.info if self.model is not None else None
        self.more_form = PluginForm(plugin, directions=list((self.runner.directions or {}).keys()), info=info)
        self.more_form.applyRequested.connect(lambda params, pid=plugin_id: self._apply_plugin(pid, params))
        self.more_form.paramsChanged.connect(lambda params, pid=plugin_id: self._preview_plugin(pid, params))
        self.more_holder.addWidget(self.more_form)

    def _apply_plugin(self, plugin_id: str, params: dict) -> None:
        plugin = self.runner.plugin(plugin_id)
        if plugin is None or not self.cells:
            return
        if not self.runner.check(plugin_id, params):    # e.g. a style picture that cannot be read
            return
        lo, hi = plugin.input_bounds()
        if lo == 1 and hi == 1:
            self._apply_each(plugin_id, params, f"{plugin.name} of {self._what()}")
            return
        cells = self.cells if hi is None else self.cells[:hi]
        self.runner.apply(plugin_id, [c.latent for c in cells], params,
                          lambda lats: self.addGroups.emit([(cells[-1], lats)], f"{plugin.name} of {self._what()}"))

    def _preview_plugin(self, plugin_id: str, params: dict) -> None:
        self.preview_chain([(plugin_id, params)])

    def preview_chain(self, steps: list[tuple[str, dict]]) -> None:
        """Preview several one-face edits applied in a row (all the direction sliders set at once);
        an empty chain clears the preview."""
        for plugin_id, _params in steps:
            plugin = self.runner.plugin(plugin_id)
            if plugin is None or plugin.input_bounds() != (1, 1) or plugin.kind.value != "latent":
                return
        if not steps:
            self._clear_preview()
            return
        self._preview_spec = ("chain", lambda s=[(pid, dict(p)) for pid, p in steps]: s)
        self._schedule_preview()

    def _clear_preview(self) -> None:
        """No "after": the spec is dropped and results still on their way are ignored."""
        self._preview_spec = None
        self.latest.drop("preview")
        self.preview_latent = None
        self.after_tile.set_image(None)
        self.after_tile.set_caption("")
        self.previewChanged.emit(None)

    def _preview_steps(self) -> list[tuple[str, dict]]:
        kind, params_fn = self._preview_spec
        steps = params_fn() if kind == "chain" else [(kind, params_fn())]
        return [(pid, self._params_for(pid, p)) for pid, p in steps]
