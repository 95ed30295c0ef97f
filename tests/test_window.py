"""The explorer window, offscreen, on a real MainWindow with a tiny random model.

Thumbnails come from the real render service; drags are synthetic drag/drop events sent to the
grid's viewport (offscreen Qt has no real QDrag; the Xvfb test does a real mouse drag).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer import Generator, stylegan2_config  # noqa: E402
from explorer.checkpoints import save_native  # noqa: E402
from explorer.edits import antiface, mix_layers, truncate  # noqa: E402
from explorer.export import read_png_recipe  # noqa: E402
from explorer.render import RenderService  # noqa: E402

from tests.window_support import (WAIT_MS, activate, drag_cells, open_window, select_rows,  # noqa: E402,F401
                                  visible_ready, window_generator)

tiny_generator = window_generator     # the name other test modules used


# ----- the grid ------------------------------------------------------------------------------------
def test_thumbnails_fill_the_screen_from_seeds(qtbot, window, gen):
    model = window.grid_model
    assert model.rowCount() >= len(window.grid_view.visible_rows())
    for r in window.grid_view.visible_rows():
        cell = model.cell(r)
        assert cell.latent.recipe == {"op": "seed", "seed": r, "psi": window.stream.psi, "cutoff": None,
                                      "class_index": None}
        assert cell.image.width() == min(32, window.thumbs.request_size())
        assert cell.label == f"seed {r}"
    assert window.status_model.text() == "tiny"
    assert "32 px" in window.status_res.text()
    assert "CPU" in window.status_device.text()
    qtbot.waitUntil(lambda: "ms" in window.status_render.text(), timeout=WAIT_MS)   # 'last render … ms/face'


def test_placeholders_first_then_pictures(qtbot, gen, settings):
    from ui.main_window import MainWindow

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    w.load_model(gen)
    # right after loading, the cells exist and wait for their pictures: the window never blocked
    assert w.grid_model.rowCount() > 0
    assert any(w.grid_model.cell(r).image is None for r in w.grid_view.visible_rows())
    qtbot.waitUntil(lambda: visible_ready(w), timeout=WAIT_MS)
    w.close()


def test_scrolling_grows_the_grid_and_renders_new_rows(qtbot, window):
    n0 = window.grid_model.rowCount()
    bar = window.grid_view.verticalScrollBar()
    for _ in range(3):
        bar.setValue(bar.maximum())
        qtbot.wait(50)
    qtbot.waitUntil(lambda: window.grid_model.rowCount() > n0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: visible_ready(window), timeout=WAIT_MS)
    seeds = [c.latent.recipe["seed"] for c in window.grid_model.cells]
    assert seeds == list(range(len(seeds)))      # the seed stream continues in order


def test_thumbnail_size_slider_rerenders(qtbot, window):
    window.size_slider.setValue(80)
    assert window.grid_view.thumb_size == 80
    qtbot.waitUntil(lambda: visible_ready(window) and
                    window.grid_model.cell(0).image_size == window.thumbs.request_size(), timeout=WAIT_MS)


def test_new_batch_and_undo(qtbot, window):
    before = [c.uid for c in window.grid_model.cells]
    window.new_batch()                                      # seeds are mapped off the GUI thread
    qtbot.waitUntil(lambda: window.undo_stack.count() == 1, timeout=WAIT_MS)
    after = window.grid_model.cells
    assert [c.uid for c in after] != before
    assert after[0].latent.recipe["seed"] == window.stream.start != 0
    window.undo_stack.undo()
    assert [c.uid for c in window.grid_model.cells] == before
    assert window.stream.start == 0


def test_jump_to_seed(window):
    window.grid_view.setCurrentIndex(window.grid_model.index(1))
    cells = window.jump_to_seed("4242")
    assert [c.latent.recipe["seed"] for c in cells] == [4242]
    assert window.grid_model.row_of(cells[0]) == 2          # after the current cell
    assert window.selected_cells() == cells
    again = window.jump_to_seed("3")                        # already there: just selected
    assert window.grid_model.row_of(again[0]) == 4 and again[0].latent.recipe["seed"] == 3
    window.undo_stack.undo()
    assert window.grid_model.row_of(cells[0]) == -1


def test_multi_select_and_delete_undo(window):
    select_rows(window, [1, 2, 5])
    assert len(window.selected_cells()) == 3
    gone = window.selected_cells()
    n = window.grid_model.rowCount()
    window.act_delete.trigger()
    assert window.grid_model.rowCount() == n - 3
    window.undo_stack.undo()
    assert [window.grid_model.row_of(c) for c in sorted(gone, key=lambda c: c.latent.recipe["seed"])] == [1, 2, 5]


# ----- mixing by drag and drop ---------------------------------------------------------------------
def test_drag_cell_onto_another_makes_the_engine_mix(qtbot, window, gen):
    model = window.grid_model
    src, dst = model.cell(0), model.cell(3)
    asked = []

    def choose(global_pos, sources, target):
        asked.append((sources, target))
        return "coarse"

    window.drop_group_chooser = choose
    n = model.rowCount()
    drag_cells(window, [0], 3)
    qtbot.waitUntil(lambda: bool(asked), timeout=WAIT_MS)  # the menu opens once the drop has finished
    assert asked == [([src], dst)]
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=WAIT_MS)
    new = model.cell(4)                                     # placed right after the target
    expected = mix_layers(dst.latent.ws, src.latent.ws, gen.info.groups["coarse"])
    assert np.array_equal(new.latent.ws, expected)
    assert new.latent.recipe["plugin"] == "builtin.style_mix"
    assert new.latent.recipe["params"] == {"layers": "coarse"}
    assert new.latent.recipe["inputs"] == [dst.latent.recipe, src.latent.recipe]
    assert window.selected_cells() == [new]
    qtbot.waitUntil(lambda: new.state == "ready", timeout=WAIT_MS)
    assert window.settings.value("mix/last_group") == "coarse"

    window.undo_stack.undo()
    assert model.rowCount() == n and model.row_of(new) == -1
    window.undo_stack.redo()
    assert model.row_of(new) == 4


def test_drop_modifiers_choose_the_group_without_the_menu(qtbot, window, gen):
    model = window.grid_model
    window.drop_group_chooser = lambda *a: pytest.fail("the menu must not open with a modifier held")
    n = model.rowCount()
    src, dst = model.cell(5), model.cell(1)
    drag_cells(window, [5], 1, Qt.ControlModifier)          # Ctrl: medium
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=WAIT_MS)
    assert np.array_equal(model.cell(2).latent.ws,
                          mix_layers(dst.latent.ws, src.latent.ws, gen.info.groups["medium"]))
    drag_cells(window, [5 + 1], 0, Qt.ShiftModifier | Qt.ControlModifier)   # Ctrl+Shift: the last choice
    qtbot.waitUntil(lambda: model.rowCount() == n + 2, timeout=WAIT_MS)
    assert model.cell(1).latent.recipe["params"] == {"layers": "medium"}


def test_custom_range_and_dismissed_menu(qtbot, window, gen):
    model = window.grid_model
    n = model.rowCount()
    window.drop_group_chooser = lambda *a: None             # menu dismissed: nothing happens
    drag_cells(window, [0], 2)
    qtbot.wait(100)
    assert model.rowCount() == n
    window.drop_group_chooser = lambda *a: [2, 5]
    src, dst = model.cell(0), model.cell(2)
    drag_cells(window, [0], 2)
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=WAIT_MS)
    assert np.array_equal(model.cell(3).latent.ws, mix_layers(dst.latent.ws, src.latent.ws, range(2, 5)))
    assert window.last_custom == [2, 5]


def test_drop_on_itself_is_refused(window):
    model, view = window.grid_model, window.grid_view
    mime = model.mimeData([model.index(2)])
    pos = view.visualRect(model.index(2)).center()
    QApplication.sendEvent(view.viewport(), QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    move = QDragMoveEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(view.viewport(), move)
    assert not move.isAccepted() and view.drop_row == -1


def test_mixing_matrix(qtbot, window, gen, tmp_path):
    model = window.grid_model
    m = window.matrix
    for r in (0, 1):
        m.add_source(model.cell(r).latent)
    m.add_destination(model.cell(2).latent)
    # a drag from the grid onto the '+ destination' header adds a row
    header = m.dest_tiles[-1]
    mime = model.mimeData([model.index(3)])
    QApplication.sendEvent(header, QDragEnterEvent(header.rect().center(), Qt.CopyAction, mime, Qt.LeftButton,
                                                   Qt.NoModifier))
    QApplication.sendEvent(header, QDropEvent(QPointF(header.rect().center()), Qt.CopyAction, mime, Qt.LeftButton,
                                              Qt.NoModifier))
    assert len(m.destinations) == 2
    qtbot.waitUntil(lambda: len(m.mixes) == 4, timeout=WAIT_MS)
    fine_or_medium = "medium"
    m.group.buttons[fine_or_medium].click()                 # as a user picks the layers
    qtbot.waitUntil(lambda: len(m.mixes) == 4 and m.mixes[(1, 0)].recipe["params"]["layers"] == "medium",
                    timeout=WAIT_MS)
    assert np.array_equal(m.mixes[(1, 0)].ws, mix_layers(model.cell(3).latent.ws, model.cell(0).latent.ws,
                                                         gen.info.groups["medium"]))
    out = tmp_path / "matrix.png"
    done = []
    m.export(str(out), on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    img = np.asarray(Image.open(out))
    assert img.shape == (3 * 32, 3 * 32, 3)
    meta = read_png_recipe(out)
    assert meta["kind"] == "mixing-matrix" and len(meta["sources"]) == 2
    # the app opens its own matrix PNG: its sources and destinations come back as faces
    n = model.rowCount()
    window.open_files([str(out)])
    assert model.rowCount() == n + 4
    back = window.selected_cells()
    assert [c.latent.digest() for c in back] == [x.digest() for x in list(m.sources) + list(m.destinations)]
    assert not any("cannot read" in t for t in window.messages.texts())


def test_mixing_matrix_changes_undo(qtbot, window):
    """Placing faces, the layer choice and Clear are undo steps; Ctrl+Z walks them back."""
    model, m, stack = window.grid_model, window.matrix, window.undo_stack
    window.matrix_dock.show()
    window.matrix_dock.raise_()
    qtbot.waitUntil(m.isVisible, timeout=WAIT_MS)
    n0 = stack.count()
    for axis, row in (("source", 0), ("source", 1), ("destination", 2)):
        tiles = m.source_tiles if axis == "source" else m.dest_tiles
        header = tiles[-1]
        mime = model.mimeData([model.index(row)])
        QApplication.sendEvent(header, QDragEnterEvent(header.rect().center(), Qt.CopyAction, mime,
                                                       Qt.LeftButton, Qt.NoModifier))
        QApplication.sendEvent(header, QDropEvent(QPointF(header.rect().center()), Qt.CopyAction, mime,
                                                  Qt.LeftButton, Qt.NoModifier))
    assert (len(m.sources), len(m.destinations)) == (2, 1) and stack.count() == n0 + 3
    qtbot.mouseClick(m.group.buttons["medium"], Qt.LeftButton)
    assert m.spec == "medium" and stack.undoText() == "Matrix: layers"
    qtbot.mouseClick(m.clear_button, Qt.LeftButton)
    assert not m.sources and not m.destinations

    activate(qtbot, window)
    undo = lambda: QTest.keyClick(window.windowHandle(), Qt.Key_Z, Qt.ControlModifier)  # noqa: E731
    undo()
    assert [s.digest() for s in m.sources] == [model.cell(0).latent.digest(), model.cell(1).latent.digest()]
    assert m.destinations[0] is model.cell(2).latent and m.spec == "medium"
    qtbot.waitUntil(lambda: len(m.mixes) == 2 and all(v.recipe["params"]["layers"] == "medium"
                                                      for v in list(m.mixes.values())), timeout=WAIT_MS)
    undo()
    assert m.spec == "coarse" and m.group.value() == "coarse"
    qtbot.waitUntil(lambda: len(m.mixes) == 2 and all(v.recipe["params"]["layers"] == "coarse"
                                                      for v in list(m.mixes.values())), timeout=WAIT_MS)
    undo()
    assert not m.destinations and len(m.sources) == 2
    stack.redo()
    stack.redo()
    assert len(m.destinations) == 1 and m.spec == "medium"


# ----- the inspector ---------------------------------------------------------------------------------
def test_antiface_gives_the_reflection_about_w_avg(qtbot, window, gen):
    model = window.grid_model
    select_rows(window, [2])
    cell = model.cell(2)
    n = model.rowCount()
    window.inspector.apply_antiface()
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=WAIT_MS)
    new = model.cell(3)
    w_avg = gen.w_avg.numpy()
    assert np.array_equal(new.latent.ws, antiface(cell.latent.ws, w_avg))
    np.testing.assert_allclose(new.latent.ws, 2 * w_avg - cell.latent.ws, rtol=0, atol=1e-6)
    window.undo_stack.undo()
    assert model.rowCount() == n


def test_antiface_on_one_group_and_truncation_with_cutoff(qtbot, window, gen):
    model, insp = window.grid_model, window.inspector
    select_rows(window, [1, 4])
    a, b = model.cell(1), model.cell(4)
    n = model.rowCount()
    insp.anti_form.editor("layers").set_value("coarse")      # the form made from the plugin's schema
    insp.apply_antiface()
    qtbot.waitUntil(lambda: model.rowCount() == n + 2, timeout=WAIT_MS)
    w_avg = gen.w_avg.numpy()
    assert np.array_equal(model.cell(2).latent.ws, antiface(a.latent.ws, w_avg, gen.info.groups["coarse"]))
    assert np.array_equal(model.cell(6).latent.ws, antiface(b.latent.ws, w_avg, gen.info.groups["coarse"]))
    window.undo_stack.undo()                                 # one step for the whole selection
    assert model.rowCount() == n
    select_rows(window, [1])
    insp.trunc_form.editor("psi").slider.setValue(-0.5)
    insp.trunc_form.editor("layers").set_value([0, 4])          # custom range: layers 0-3
    insp.apply_truncation()
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=WAIT_MS)
    assert np.allclose(model.cell(2).latent.ws, truncate(a.latent.ws, w_avg, -0.5, range(0, 4)), atol=1e-6)
    # the new face is selected: its "after" starts empty (no stale preview of the edit just applied) ...
    assert window.selected_cells() == [model.cell(2)] and insp.preview_latent is None
    insp.trunc_form.editor("psi").slider.setValue(-0.4)                                   # ... and previews as soon as a control moves
    qtbot.waitUntil(lambda: insp.preview_latent is not None, timeout=WAIT_MS)


def test_children_and_crossbreed(qtbot, window):
    model, insp = window.grid_model, window.inspector
    select_rows(window, [0])
    n = model.rowCount()
    insp.child_form.editor("count").control.setValue(3)
    window.act_children.trigger()
    qtbot.waitUntil(lambda: model.rowCount() == n + 3, timeout=WAIT_MS)
    kids = [model.cell(r) for r in (1, 2, 3)]
    assert all(k.latent.recipe["plugin"] == "builtin.children" for k in kids)
    assert len({k.latent.digest() for k in kids}) == 3
    assert [k.label for k in kids] == ["child 1 of 0", "child 2 of 0", "child 3 of 0"]       # told apart
    tip = model.data(model.index(1), Qt.ToolTipRole)              # the whole recipe, as the inspector reads it
    assert tip.startswith("Child") and "Seed 0" in tip and "\n" in tip
    select_rows(window, [0, 5, 7])                  # three faces: "crossbreed two" does not guess which
    assert not insp.cross_button.isEnabled() and not window.act_crossbreed.isEnabled()
    assert not window.act_compare.isEnabled() and not window.act_mix.isEnabled()
    select_rows(window, [0, 5])
    assert insp.cross_button.isEnabled() and window.act_crossbreed.isEnabled()
    insp.child_form.editor("count").control.setValue(2)
    window.act_crossbreed.trigger()
    qtbot.waitUntil(lambda: model.rowCount() == n + 5, timeout=WAIT_MS)
    assert model.cell(6).latent.recipe["plugin"] == "builtin.crossbreed"


def test_noise_strip_and_recipe_tree(qtbot, window):
    insp = window.inspector
    select_rows(window, [0])
    window.drop_group_chooser = lambda *a: "fine"
    drag_cells(window, [1], 0)
    qtbot.waitUntil(lambda: window.grid_model.rowCount() > 0 and
                    window.grid_model.cell(1).latent.recipe.get("op") == "edit", timeout=WAIT_MS)
    select_rows(window, [1])
    lines = insp.recipe_lines()
    assert lines[0].startswith("Mix of seed 0 and seed 1 over fine layers")
    assert lines[1].startswith("  target") and "Seed 0" in lines[1]
    assert lines[2].startswith("  source") and "Seed 1" in lines[2]
    assert "Mix of seed 0 and seed 1" in insp.recipe_label.text()
    insp.noise_count.setValue(4)                            # the strip follows its controls
    qtbot.waitUntil(lambda: len(insp.strip_latents) == 4 and all(t.image is not None for t in insp.strip_tiles),
                    timeout=WAIT_MS)
    assert len({lat.noise.seed for lat in insp.strip_latents}) == 4
    n = window.grid_model.rowCount()
    insp.add_strip()
    assert window.grid_model.rowCount() == n + 4
    insp.noise_mode.buttons["none"].click()
    qtbot.waitUntil(lambda: [lat.noise.mode for lat in insp.strip_latents] == ["none"], timeout=WAIT_MS)


def test_inspector_follows_the_selection_after_new_batch_and_drops_old_previews(qtbot, window):
    insp, model = window.inspector, window.grid_model
    select_rows(window, [2])
    insp.trunc_form.editor("psi").slider.setValue(-0.5)                                  # tuning truncation previews "after"
    qtbot.waitUntil(lambda: insp.preview_latent is not None, timeout=WAIT_MS)
    assert insp.after_tile.caption
    select_rows(window, [3])                                 # another face: no stale "after" from face 2
    assert insp.preview_latent is None and insp.after_tile.caption == "" and insp.after_tile.image is None
    qtbot.wait(300)                                          # a late result for face 2 must not land either
    assert insp.preview_latent is None
    gone = model.cell(3)
    window.act_new_batch.trigger()
    qtbot.waitUntil(lambda: model.row_of(gone) < 0, timeout=WAIT_MS)
    assert insp.cells == [] and insp.title.text() == "Nothing selected"
    assert insp.before_tile.caption == "" and insp.after_tile.caption == ""
    window.undo_stack.undo()                                 # the old grid comes back, nothing selected
    assert insp.cells == [] and insp.title.text() == "Nothing selected"


def test_psi_follows_the_model_card_then_the_users_choice_per_model(qtbot, window, gen):
    card_model = tiny_generator(seed=7)
    card_model.config["card"] = {"default_psi": 1.0}
    window.load_model(card_model)
    qtbot.waitUntil(lambda: window.generator is card_model, timeout=WAIT_MS)
    assert window.psi_box.value() == 1.0 and window.stream.psi == 1.0
    window.psi_box.setValue(0.55)                    # the user's choice for this model is remembered
    window.load_model(gen)
    qtbot.waitUntil(lambda: window.generator is gen, timeout=WAIT_MS)
    assert window.psi_box.value() == 0.55            # no card, no choice: the last ψ used
    window.psi_box.setValue(0.8)
    window.load_model(card_model)
    qtbot.waitUntil(lambda: window.generator is card_model, timeout=WAIT_MS)
    assert window.psi_box.value() == 0.55
    cell = window.grid_model.cell(0)
    assert cell.latent.recipe["psi"] == 0.55


def test_return_in_the_psi_box_sets_psi_and_opens_nothing(qtbot, window):
    activate(qtbot, window)
    for v in list(window.large_views):
        v.close()
    box = window.psi_box
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, "0.45")
    QTest.keyClick(window.windowHandle(), Qt.Key_Return)
    assert not any(v.isVisible() for v in window.large_views)
    assert window.stream.psi == 0.45
    assert "New faces are drawn at ψ 0.45" in window.statusBar().currentMessage()    # which faces it touches
    select_rows(window, [0])
    window.grid_view.setFocus()
    QTest.keyClick(window.windowHandle(), Qt.Key_Return)                 # in the grid it still opens
    assert any(v.isVisible() for v in window.large_views)
    for v in list(window.large_views):
        v.close()


def test_panel_shortcuts_bring_their_panel_to_the_front(qtbot, window):
    activate(qtbot, window)
    press = lambda key: QTest.keyClick(window.windowHandle(), key, Qt.ControlModifier)  # noqa: E731
    front = lambda dock: dock.isVisible() and not dock.visibleRegion().isEmpty()  # noqa: E731
    for _ in range(2):                       # pressing twice keeps it in front (it used to toggle)
        press(Qt.Key_3)
        assert front(window.directions_dock) and not front(window.inspector_dock)
    for _ in range(2):
        press(Qt.Key_1)
        assert front(window.inspector_dock) and not front(window.directions_dock)
    window.timeline_dock.hide()
    press(Qt.Key_4)
    assert window.timeline_dock.isVisible()


def double_click(widget, pos):
    """What a mouse sends for a double click: a click, then the double-click (Qt 6's QTest
    double-click alone leaves item views without the pressed index)."""
    QTest.mouseClick(widget, Qt.LeftButton, pos=pos)
    QTest.mouseDClick(widget, Qt.LeftButton, pos=pos)


def test_double_clicking_a_plugin_opens_its_form(qtbot, window):
    tree = window.plugins_dock.widget().tree
    insp = window.inspector
    select_rows(window, [0])
    window.plugins_dock.show()
    window.plugins_dock.raise_()
    qtbot.waitUntil(lambda: not window.plugins_dock.visibleRegion().isEmpty(), timeout=WAIT_MS)
    item = window.plugins_dock.widget().item("builtin.exaggerate")
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    assert tree.itemAt(rect.center()) is item
    double_click(tree.viewport(), rect.center())
    assert insp.more_combo.currentData() == "builtin.exaggerate" and insp.more_section.isExpanded()
    assert not window.inspector_dock.visibleRegion().isEmpty()       # the inspector came to the front
    item = window.plugins_dock.widget().item("builtin.average")      # takes several faces
    window.plugins_dock.raise_()
    double_click(tree.viewport(), tree.visualItemRect(item).center())
    assert any("select them in the grid first" in t for t in window.messages.texts())


def test_keyboard_shortcuts_dialog_is_a_searchable_table(qtbot, window):
    window.act_shortcuts.trigger()
    dlg = window.shortcuts_dialog
    assert dlg.isVisible()
    rows = dlg.visible_rows()
    keys = {r[1] for r in rows}
    assert {"Ctrl+1", "Ctrl+3", "Ctrl+E"} <= keys and any("P / N" in k for k in keys)
    assert any(r[0] == "Open Large" and "Space" in r[1] and r[2] == "Grid" for r in rows)
    qtbot.keyClicks(dlg.search, "ctrl+3")
    assert [r[0] for r in dlg.visible_rows()] == ["Show Directions"]
    dlg.search.clear()
    qtbot.keyClicks(dlg.search, "mix")
    assert dlg.visible_rows() and all("mix" in " ".join(r).lower() for r in dlg.visible_rows())
    dlg.close()


def test_variation_says_so_when_the_model_has_no_active_noise(qtbot, window):
    insp = window.inspector
    select_rows(window, [0])
    assert insp.noise_active and insp.no_noise_note.isHidden() and insp.resample_button.isEnabled()
    silent = tiny_generator(seed=5)
    import torch

    with torch.no_grad():
        for layer in silent.synthesis.noise_layers():
            layer.noise_strength.zero_()
    insp.set_model(silent)
    insp.set_cells([window.grid_model.cell(0)])
    assert not insp.noise_active and not insp.no_noise_note.isHidden()
    assert "no active noise" in insp.no_noise_note.text()
    assert not any(w.isEnabled() for w in insp.variation_controls)
    insp.resample()
    assert insp.strip_latents == [] or not insp.strip_tiles
    insp.set_model(window.generator)
    assert insp.noise_active and insp.no_noise_note.isHidden()


def test_more_edits_run_any_plugin_through_its_form(qtbot, window, gen):
    from explorer.edits import exaggerate

    insp, model = window.inspector, window.grid_model
    select_rows(window, [2])
    idx = insp.more_combo.findData("builtin.exaggerate")
    assert idx >= 0, [insp.more_combo.itemData(i) for i in range(insp.more_combo.count())]
    insp.more_combo.setCurrentIndex(idx)
    assert insp.more_form is not None and insp.more_form.plugin.id == "builtin.exaggerate"
    n = model.rowCount()
    # edit a parameter in the generated form as a user would: drag its slider, press Apply
    insp.more_form.editors["coarse"].slider.setValue(2.5)
    values = insp.more_form.values()
    assert values["coarse"] == 2.5
    qtbot.mouseClick(insp.more_form.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=WAIT_MS)
    new = model.cell(3)
    factors = {g: values[g] for g in ("coarse", "medium", "fine") if len(gen.info.groups[g])}
    assert np.allclose(new.latent.ws, exaggerate(model.cell(2).latent.ws, gen.w_avg.numpy(), factors,
                                                 gen.info.groups), atol=1e-6)
    select_rows(window, [2])                             # an image edit: recorded, applied to the picture
    insp.more_combo.setCurrentIndex(insp.more_combo.findData("builtin.colour_grade"))
    values = dict(insp.more_form.values(), saturation=0.0)
    insp.more_form.applyRequested.emit(values)
    qtbot.waitUntil(lambda: model.rowCount() == n + 2, timeout=WAIT_MS)
    grey = model.cell(3)
    assert grey.latent.post and grey.latent.post[0]["plugin"] == "builtin.colour_grade"
    qtbot.waitUntil(lambda: grey.state == "ready", timeout=WAIT_MS)
    img = grey.image.convertToFormat(grey.image.Format.Format_RGB888)
    px = [img.pixelColor(x, y) for x in range(0, img.width(), 5) for y in range(0, img.height(), 5)]
    assert all(abs(c.red() - c.green()) <= 1 and abs(c.green() - c.blue()) <= 1 for c in px)
    select_rows(window, [0, 1, 5])                       # a plugin for several faces: the average
    assert insp.more_combo.findData("builtin.average") >= 0
    assert insp.more_combo.findData("builtin.exaggerate") < 0


def test_opened_faces_land_on_screen_selected(qtbot, window, tmp_path):
    select_rows(window, [1])
    written = []
    window.exporter.finished.connect(written.extend)
    window.export_selected(folder=str(tmp_path))
    qtbot.waitUntil(lambda: len(written) == 1, timeout=WAIT_MS)
    window.grid_view.clearSelection()
    bar = window.grid_view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=WAIT_MS)
    bar.setValue(bar.maximum() // 2)                    # scrolled into the middle, nothing selected
    first_on_screen = window.grid_view.visible_rows().start
    n = window.grid_model.rowCount()
    window.open_files(written)
    opened = window.selected_cells()
    assert len(opened) == 1 and opened[0].origin == "import"
    # at the top of what the user was looking at, not after the last of the streamed-in seeds
    assert window.grid_model.row_of(opened[0]) == first_on_screen < n
    assert window.grid_model.row_of(opened[0]) in window.grid_view.visible_rows()


def test_copy_and_paste_recipe(qtbot, window):
    select_rows(window, [3])
    cell = window.grid_model.cell(3)
    window.act_copy.trigger()
    doc = json.loads(QApplication.clipboard().text())
    assert doc["recipe"]["seed"] == 3
    n = window.grid_model.rowCount()
    window.act_paste.trigger()
    assert window.grid_model.rowCount() == n + 1
    pasted = window.grid_model.cell(4)
    assert np.array_equal(pasted.latent.ws, cell.latent.ws) and pasted.latent.recipe == cell.latent.recipe
    QApplication.clipboard().setText(json.dumps({"op": "seed", "seed": 77, "psi": 0.5}))   # a bare recipe
    window.act_paste.trigger()
    assert window.grid_model.cell(5).latent.recipe["seed"] == 77
    QApplication.clipboard().setText("not a face")
    window.act_paste.trigger()
    assert any("no face recipe" in t for t in window.messages.texts())


# ----- files -------------------------------------------------------------------------------------------
def test_export_selected_through_its_shortcut_writes_the_files(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path)))
    select_rows(window, [1, 4])
    written = []
    window.exporter.finished.connect(written.extend)
    activate(qtbot, window)
    window.grid_view.setFocus()
    QTest.keyClick(window.windowHandle(), Qt.Key_E, Qt.ControlModifier)   # Ctrl+E, as a user presses it
    qtbot.waitUntil(lambda: len(written) == 2, timeout=WAIT_MS)
    assert all(Path(p).parent == tmp_path and Path(p).is_file() for p in written)
    written.clear()
    window.act_export.trigger()                                           # the menu / toolbar action
    qtbot.waitUntil(lambda: len(written) == 2, timeout=WAIT_MS)


def test_export_selected_at_a_larger_size_is_lanczos_upscaled(qtbot, window, tmp_path):
    from PIL import Image

    select_rows(window, [2])
    written = []
    window.exporter.finished.connect(written.extend)
    window.export_selected(folder=str(tmp_path / "native"))
    qtbot.waitUntil(lambda: len(written) == 1, timeout=WAIT_MS)
    native = np.asarray(Image.open(written[0]))
    window.export_selected_at_size(folder=str(tmp_path / "big"), size=128)
    qtbot.waitUntil(lambda: len(written) == 2, timeout=WAIT_MS)
    big = np.asarray(Image.open(written[1]))
    assert native.shape == (32, 32, 3) and big.shape == (128, 128, 3)
    ref = np.asarray(Image.fromarray(native).resize((128, 128), Image.LANCZOS))
    assert np.abs(ref.astype(int) - big.astype(int)).max() <= 2
    assert any("at 128 px (upscaled with Lanczos from 32 px)" in t for t in window.messages.texts())
    assert window.settings.value("files/export_size") in (128, "128")


def test_export_then_reopen_gives_identical_pixels(qtbot, window, gen, tmp_path):
    select_rows(window, [2, 3])
    cells = window.selected_cells()
    written = []
    window.exporter.finished.connect(written.extend)
    window.export_selected(folder=str(tmp_path))
    qtbot.waitUntil(lambda: len(written) == 2, timeout=WAIT_MS)
    n = window.grid_model.rowCount()
    window.open_files(sorted(written))
    assert window.grid_model.rowCount() == n + 2
    back = window.selected_cells()                     # the opened faces, selected where the user looks
    assert len(back) == 2 and all(c.origin == "import" for c in back)
    assert window.grid_model.row_of(back[0]) == window.grid_model.row_of(cells[-1]) + 1
    by_seed = {c.latent.recipe["seed"]: c for c in cells}
    fresh = RenderService(gen, device="cpu", cache_bytes=0)
    try:
        for path, cell in zip(sorted(written), back):
            orig = by_seed[cell.latent.recipe["seed"]]
            assert np.array_equal(cell.latent.ws, orig.latent.ws) and cell.latent.noise == orig.latent.noise
            png = np.asarray(Image.open(path))
            assert png.shape == (32, 32, 3)
            again = fresh.render(cell.latent.ws, None, noise=cell.latent.noise, timeout=60).images[0]
            assert np.array_equal(png, again)
    finally:
        fresh.shutdown()
    window.undo_stack.undo()
    assert window.grid_model.rowCount() == n


def test_dropping_an_exported_png_on_the_grid_brings_the_face_back(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl

    select_rows(window, [4])
    orig = window.grid_model.cell(4)
    written = []
    window.exporter.finished.connect(written.extend)
    window.export_selected(folder=str(tmp_path))
    qtbot.waitUntil(lambda: len(written) == 1, timeout=WAIT_MS)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(written[0])])
    vp = window.grid_view.viewport()
    pos = vp.rect().center()
    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    n = window.grid_model.rowCount()
    QApplication.sendEvent(vp, QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    assert window.grid_model.rowCount() == n + 1
    back = window.grid_model.cell(5)                 # right after the selected face it came from
    assert window.selected_cells() == [back]
    assert back.latent.recipe == orig.latent.recipe and back.origin == "import"
    assert np.array_equal(back.latent.ws, orig.latent.ws)


def test_png_without_recipe_is_a_photo_and_a_tiny_one_a_clear_error(qtbot, window, tmp_path):
    """A PNG without a recipe is a picture to project (photo import); an 8 px one cannot be."""
    p = tmp_path / "plain.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(p)
    n = window.grid_model.rowCount()
    window.open_files([str(p)])
    qtbot.waitUntil(lambda: any("too small" in t for t in window.messages.texts()), timeout=WAIT_MS)
    assert window.grid_model.rowCount() == n
    assert any("plain.png" in t for t in window.messages.texts())


def test_open_checkpoint_in_background_and_recent_list(qtbot, window, tmp_path):
    path = tmp_path / "other.safetensors"
    save_native(tiny_generator(seed=3), path)
    with qtbot.waitSignal(window.modelReady, timeout=WAIT_MS):
        window.open_files([str(path)])
    assert window.generator.fingerprint != tiny_generator().fingerprint
    assert window.recent_files()[0] == str(path.resolve())
    assert window.undo_stack.count() == 0
    qtbot.waitUntil(lambda: visible_ready(window), timeout=WAIT_MS)


def test_bad_checkpoint_is_reported_and_the_window_stays_usable(qtbot, window, tmp_path):
    bad = tmp_path / "broken.pkl"
    bad.write_bytes(b"\x80\x04this is not a network")
    gen_before = window.generator
    with qtbot.waitSignal(window.loader.failed, timeout=WAIT_MS):
        window.load_model(str(bad))
    assert window.generator is gen_before
    assert any("broken.pkl" in t for t in window.messages.texts())
    assert window.stack.currentIndex() == 1                 # the grid is still there


def test_fixture_checkpoint_opens(qtbot, settings, fixtures_dir):
    from ui.main_window import MainWindow

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.modelReady, timeout=WAIT_MS):
        w.load_model(str(fixtures_dir / "P1_sg2_res32.pkl"))
    qtbot.waitUntil(lambda: visible_ready(w), timeout=WAIT_MS)
    assert "P1_sg2_res32" in w.windowTitle() or "P1_sg2_res32" in w.status_model.text()
    w.close()


def test_window_opens_without_a_model(qtbot, settings, tmp_path):
    from ui.main_window import MainWindow

    w = MainWindow(settings=settings, model=str(tmp_path / "missing.pkl"))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: "could not be opened" in w.empty.title.text(), timeout=WAIT_MS)
    assert w.stack.currentWidget() is w.empty
    assert "does not exist" in w.empty.detail.text()
    assert w.act_open.isEnabled() and not w.act_new_batch.isEnabled()
    w.close()


def test_default_model_missing_shows_the_reason(qtbot, settings, monkeypatch, tmp_path):
    import explorer.checkpoints as checkpoints
    from ui.main_window import MainWindow

    monkeypatch.setattr(checkpoints, "DEFAULT_MODEL", tmp_path / "missing.safetensors")
    w = MainWindow(settings=settings, model="default")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.empty.title.text() == "No model yet", timeout=WAIT_MS)
    assert "not installed yet" in w.empty.detail.text()
    assert "default model is not installed" in w.empty.technical.text()
    assert w.inspector.title.text() == "No model"
    w.close()


# ----- large view, errors, settings ------------------------------------------------------------------
def test_large_view_and_compare_at_full_resolution(qtbot, window):
    select_rows(window, [1, 2])
    view = window.compare()
    assert len(view.tiles) == 2
    qtbot.waitUntil(lambda: all(t.image is not None for t in view.tiles), timeout=WAIT_MS)
    assert all(t.image.width() == 32 for t in view.tiles)
    # shown far above the model's 32 px: Lanczos-upscaled, and the view says so
    side = int(view.tiles[0].image_rect().width())
    assert side > 32 and f"shown at {side} px, upscaled with Lanczos" in view.info_label.text()
    shown = view.tiles[0].shown_image(side)
    assert (shown.width(), shown.height()) == (side, side)
    view.tiles[0].grab()                                       # paints through the upscaled copy
    view.pixels_box.setChecked(True)                           # 1:1 pixels: no upscaling claimed
    assert "Lanczos" not in view.info_label.text()
    view.pixels_box.setChecked(False)
    view.inspector.anti_form.editor("layers").set_value("all")
    qtbot.waitUntil(lambda: view._preview is not None and view.tiles[0].badge == "preview", timeout=WAIT_MS)
    n = window.grid_model.rowCount()
    view.inspector.apply_antiface()                          # acts on both faces shown
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == n + 2, timeout=WAIT_MS)
    view.close()


def test_worker_errors_are_messages_not_crashes(qtbot, window, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("simulated out of paint")

    svc = window.bridge.service
    monkeypatch.setattr(svc, "_render_chunk", boom)
    window.new_batch()
    qtbot.waitUntil(lambda: any("simulated out of paint" in t for t in window.messages.texts()), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any(window.grid_model.cell(r).state == "error"
                                for r in window.grid_view.visible_rows()), timeout=WAIT_MS)
    monkeypatch.undo()
    window.undo_stack.undo()                                 # still usable
    qtbot.waitUntil(lambda: visible_ready(window), timeout=WAIT_MS)


def test_quitting_with_unsaved_work_asks_first(qtbot, gen, settings):
    from ui.main_window import MainWindow

    w = MainWindow(settings=settings, ask_before_quit=True)
    qtbot.addWidget(w)
    w.show()
    w.load_model(gen)
    qtbot.waitUntil(lambda: w.generator is gen and w.grid_model.rowCount() > 2, timeout=WAIT_MS)
    asked = []
    w.quit_confirmer = lambda what: asked.append(what) or False        # the user presses Cancel
    assert w.unsaved_work() == ""                                       # only seeds: quitting loses nothing
    w.select_cells([w.grid_model.cell(0)])
    w.act_antiface.trigger()
    qtbot.waitUntil(lambda: any(c.origin != "seed" for c in w.grid_model.cells), timeout=WAIT_MS)
    assert not w.close() and w.isVisible()                               # Cancel keeps the window open
    assert asked == ["1 face you made or opened"]
    w.quit_confirmer = lambda what: True                                 # Quit Anyway
    assert w.close()


def test_settings_are_remembered(qtbot, gen, settings):
    from ui.main_window import MainWindow

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    w.load_model(gen)
    w.size_slider.setValue(200)
    w.remember_group("fine")
    w.resize(1000, 700)
    size = w.size()
    w.close()
    w2 = MainWindow(settings=settings)
    qtbot.addWidget(w2)
    assert w2.grid_view.thumb_size == 200
    assert w2.last_group == "fine"
    assert w2.size().height() == size.height() == 700      # (offscreen clamps the width to its screen)
    w2.close()


def test_shortcuts_and_tooltips(window):
    acts = {a.text().replace("&", ""): a for a in window.actions()}
    for name, key in (("Open…", "Ctrl+O"), ("New Batch", "Ctrl+N"), ("Jump to Seed…", "Ctrl+G"),
                      ("Export Selected…", "Ctrl+E"), ("Undo", "Ctrl+Z"), ("Copy Recipe", "Ctrl+C")):
        assert acts[name].shortcut().toString() == key, name
        assert acts[name].toolTip()


def test_big_models_show_previews_first_then_refine_the_visible_cells(qtbot, settings):
    """A 128 px StyleGAN2 skip model with 64 px thumbnails: the grid's first pictures come through the
    preview path (the generator stops at its 64 px block), marked 'preview'; once every visible cell
    has one, they are rendered again in full and the mark goes."""
    import torch

    from ui.app import make_app
    from ui.main_window import MainWindow

    torch.manual_seed(3)
    big = Generator(stylegan2_config(128, z_dim=16, w_dim=16, channel_base=512, channel_max=16, mapping_layers=1))
    big.config["name"] = "tiny128"
    make_app()
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    w.size_slider.setValue(64)
    seen = []
    w.grid_model.dataChanged.connect(lambda a, b, *_: seen.extend(w.grid_model.cell(r).preview
                                                                   for r in range(a.row(), b.row() + 1)))
    w.load_model(big)
    assert w.thumbs.request_size() == 64 and w.bridge.service.preview_applies(64)

    def refined():
        rows = w.grid_view.visible_rows()
        return visible_ready(w) and all(not w.grid_model.cell(r).preview and w.grid_model.cell(r).image_size == 64
                                        for r in rows)

    qtbot.waitUntil(refined, timeout=WAIT_MS)
    assert True in seen and False in seen                  # previews were shown, then replaced
    # the mark: a cell painted as a preview differs from the same cell in full, in its corner
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QImage, QPainter

    cell = w.grid_model.cell(0)
    delegate = w.grid_view.itemDelegate()
    shots = []
    for flag in (True, False):
        cell.preview = flag
        img = QImage(140, 140, QImage.Format_ARGB32)
        img.fill(0)
        p = QPainter(img)
        delegate.paint_cell(p, QRect(0, 0, 140, 140), cell, False, False, False)
        p.end()
        shots.append(img)
    assert shots[0] != shots[1]
    cell.preview = False
    w.close()


def test_k_keeps_the_selected_faces_in_the_library_and_they_survive_a_new_window(qtbot, window, gen, settings,
                                                                                 tmp_path, monkeypatch):
    from explorer.library import Library, parse_query

    monkeypatch.setenv("LATENT_EXPLORER_HOME", str(tmp_path / "home"))
    activate(qtbot, window)
    select_rows(window, [1, 3])
    kept_ws = {c.latent.ws.tobytes() for c in window.selected_cells()}
    from explorer.directions import Direction
    vec = np.eye(gen.info.w_dim, dtype=np.float32)[0]
    window.directions = {"smile": Direction(vec, name="smile", model=str(gen.fingerprint), scale=1.0)}
    qtbot.keyClick(window.grid_view, Qt.Key_K)                    # the user presses K
    with Library() as lib:
        ids = lib.find()
        assert len(ids) == 2 and {lib.latent(i).ws.tobytes() for i in ids} == kept_ws
        assert all(lib.thumbnail(i) for i in ids)                 # the grid's pictures came along
        w_avg = gen.w_avg.numpy()
        for i in ids:                                             # stored for semantic filters
            expect = float(lib.latent(i).ws.astype(np.float64).mean(0)[0] - w_avg[0])
            assert lib.scores(i)["smile"] == pytest.approx(expect, rel=1e-4, abs=1e-5)
        lib.update(ids[0], stars=5)
        lib.add_tags([ids[0]], ["hero"])
        starred = lib.latent(ids[0]).ws.tobytes()
    window.act_new_batch.trigger()                                # the grid moves on; the kept faces stay
    window.close()
    w2 = open_window(qtbot, gen, settings)
    try:
        lib = w2.library()
        found = lib.find(parse_query("#hero stars>=5"))
        assert len(found) == 1 and lib.latent(found[0]).ws.tobytes() == starred
    finally:
        w2.close()


def test_the_status_bar_counts_the_screens_pictures_in(qtbot, window):
    svc = window.bridge.service
    svc.pause()                                               # the worker holds: pictures wait
    window.act_new_batch.trigger()
    qtbot.waitUntil(lambda: len(window.session.pages) == 2, timeout=WAIT_MS)
    n = len(window.grid_view.visible_rows())
    qtbot.waitUntil(lambda: window.status_render.text().startswith(f"rendering 0 of {n}"), timeout=WAIT_MS)
    svc.resume()
    qtbot.waitUntil(lambda: visible_ready(window), timeout=WAIT_MS)
    assert window.update_render_progress().startswith("last render")
    cells = [window.grid_model.cell(r) for r in window.grid_view.visible_rows()]
    for c in cells[:3]:
        c.preview = True                                      # as if shown through the preview path
    assert window.update_render_progress().startswith(f"refining {n - 3} of {n}")
    for c in cells[:3]:
        c.preview = False


def test_matrix_and_timeline_panels_observe_the_session(qtbot, window):
    """The matrix and the timeline live in the session: a change made there (by the workspace, a
    script, an undo) shows in the panels, and the panels' own edits are the session's."""
    from explorer.session import MatrixState
    from explorer.timeline import Keyframe, Timeline

    s, model = window.session, window.grid_model
    a, b = model.cell(0).latent, model.cell(1).latent
    s.set_matrix(MatrixState([a], [b], "fine"))
    assert window.matrix.sources == [a] and window.matrix.destinations == [b] and window.matrix.spec == "fine"
    qtbot.waitUntil(lambda: (0, 0) in window.matrix.mixes, timeout=WAIT_MS)
    assert window.matrix.mixes[(0, 0)].recipe["params"]["layers"] == "fine"
    tl = Timeline()
    tl.add(Keyframe(a, 0.0))
    tl.add(Keyframe(b, 1.0))
    s.set_timeline(tl)
    assert window.timeline_panel.timeline is tl
    assert window.timeline_panel.scrubber.maximum() == tl.frame_count() - 1
    window.matrix.clear()                       # the panel's edit is the session's, and one undo step
    assert s.matrix.sources == [] and s.matrix.destinations == []
    window.undo_stack.undo()
    assert s.matrix.sources == [a] and window.matrix.sources == [a]


def test_inspector_follows_the_sessions_selection(qtbot, window):
    """Selecting in the session (a workspace, a script) selects in the grid, and the inspector shows it."""
    model = window.grid_model
    a, b = model.cell(3), model.cell(5)
    window.session.select([a.uid, b.uid])
    assert window.selected_cells() == [a, b]
    assert window.inspector.cells == [a, b]
    select_rows(window, [2])                     # and the grid's selection is the session's
    assert window.session.selection == [model.cell(2).uid] and window.inspector.cells == [model.cell(2)]


def test_views_hear_the_session_through_one_qt_adapter(qtbot, window):
    """Every view of the session connects to the window's SessionSignals (Qt drops a deleted view);
    the session itself has that one listener from the window's views (plus its undo stack's)."""
    from ui.session_signals import SessionSignals

    signals = window.grid_model.session_signals
    assert isinstance(signals, SessionSignals) and signals.session is window.session
    seen = []
    signals.changed.connect(lambda kind, data: seen.append(kind))
    window.session.select([window.grid_model.cell(1).uid])
    assert "selection" in seen and window.inspector.cells == [window.grid_model.cell(1)]
    assert window.session.listener_count() == 1
