"""The Library dock, driven as a user would: keep a face, star and tag it, restart the window, find
it with the search bar, drag it back into the grid, the matrix and the timeline, drag grid faces
onto the library, follow its family, and add a face of another model."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer.checkpoints import save_native  # noqa: E402
from explorer.library import Library  # noqa: E402
from tests.window_support import WAIT_MS, activate, select_in, select_rows, visible_ready  # noqa: E402
from tests.window_support import window_generator as tiny_generator  # noqa: E402


def drop_on(widget, mime, pos=None):
    """A synthetic drag (enter, move, drop) of `mime` onto `widget` at `pos` (its middle)."""
    pos = pos if pos is not None else widget.rect().center()
    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the drop target takes the drag"
    QApplication.sendEvent(widget, QDragMoveEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    drop = QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop


def library_window(qtbot, gen, settings, path, alone=True):
    from ui.app import make_app
    from ui.main_window import MainWindow

    make_app()
    w = MainWindow(settings=settings, library_path=path)
    qtbot.addWidget(w)
    w.resize(1100, 760)
    w.show()
    w.load_model(gen)
    qtbot.waitUntil(lambda: visible_ready(w), timeout=WAIT_MS)
    if alone:                      # the active window (closes the others) so that keys reach it
        activate(qtbot, w)
    w.act_show_panels["Ctrl+5"].trigger()              # View > Library (Ctrl+5)
    panel = w.library_view()
    assert panel is not None and w.library_dock.widget() is panel
    return w, panel


def select_library_rows(panel, rows):
    select_in(panel.view, panel.model, rows)


def test_star_tag_restart_find_and_drag_back_into_grid_matrix_and_timeline(qtbot, gen, settings, tmp_path):
    path = tmp_path / "lib.sqlite"
    w, panel = library_window(qtbot, gen, settings, path)
    select_rows(w, [3])
    kept = w.grid_model.cell(3).latent
    qtbot.keyClick(w.grid_view, Qt.Key_K)                  # keep it
    assert panel.model.rowCount() == 1
    mime = w.grid_model.mimeData([w.grid_model.index(5), w.grid_model.index(6)])
    drop_on(panel.view.viewport(), mime)                   # two more, dragged from the grid
    assert panel.model.rowCount() == 3 and "3 faces" in panel.count_label.text()
    row = panel.model.ids.index(min(panel.model.ids))      # the first one kept
    select_library_rows(panel, [row])
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key_4)                   # four stars
    qtbot.keyClick(panel.view, Qt.Key_P)                   # a pick
    panel.tags_edit.setFocus()
    qtbot.keyClicks(panel.tags_edit, "hero, sketch")
    qtbot.keyClick(panel.tags_edit, Qt.Key_Return)
    panel.name_edit.setFocus()
    panel.name_edit.selectAll()
    qtbot.keyClicks(panel.name_edit, "Anna")
    qtbot.keyClick(panel.name_edit, Qt.Key_Return)
    with Library(path) as lib:
        it = lib.get(panel.model.ids[row])
        assert (it.stars, it.flag, it.name, set(it.tags)) == (4, 1, "Anna", {"hero", "sketch"})
        assert np.array_equal(lib.latent(it.id).ws, kept.ws)
    w.close()

    w2, panel2 = library_window(qtbot, gen, settings, path)       # restart: it is all still there
    assert panel2.model.rowCount() == 3
    panel2.tag_box.setCurrentIndex(panel2.tag_box.findData("sketch"))     # the tag control ...
    assert panel2.model.rowCount() == 1
    panel2.tag_box.setCurrentIndex(0)
    assert panel2.model.rowCount() == 3
    panel2.search.setFocus()
    qtbot.keyClicks(panel2.search, "#hero stars>=4")                    # ... and the search bar
    qtbot.waitUntil(lambda: panel2.model.rowCount() == 1, timeout=WAIT_MS)
    qtbot.keyClicks(panel2.search, " anna")                     # and full-text on its name
    qtbot.waitUntil(lambda: "1 of 3" in panel2.count_label.text(), timeout=WAIT_MS)
    mime = panel2.model.mimeData([panel2.model.index(0)])
    n = w2.grid_model.rowCount()
    target = w2.grid_view.visualRect(w2.grid_model.index(2)).center()
    drop_on(w2.grid_view.viewport(), mime, target)              # drag it back into the grid
    assert w2.grid_model.rowCount() == n + 1
    back = w2.grid_model.cell(2)
    assert back.origin == "library" and np.array_equal(back.latent.ws, kept.ws)
    assert back.latent.recipe == kept.recipe
    w2.undo_stack.undo()                                        # one undoable step
    assert w2.grid_model.rowCount() == n
    w2.matrix_dock.show()
    from ui.mixing_matrix import HeaderTile

    source_slot = next(s for s in w2.matrix.findChildren(HeaderTile) if s.axis == "source")
    drop_on(source_slot, panel2.model.mimeData([panel2.model.index(0)]))
    assert len(w2.matrix.sources) == 1 and np.array_equal(w2.matrix.sources[0].ws, kept.ws)
    w2.timeline_dock.show()
    track = w2.timeline_panel.track
    drop_on(track, panel2.model.mimeData([panel2.model.index(0)]))
    assert len(w2.timeline_panel.timeline.keyframes) == 1
    assert np.array_equal(w2.timeline_panel.timeline.keyframes[0].latent.ws, kept.ws)
    w2.close()


def test_family_similar_collections_and_bad_searches(qtbot, gen, settings, tmp_path):
    w, panel = library_window(qtbot, gen, settings, tmp_path / "lib.sqlite")
    select_rows(w, [1])
    w.act_antiface.trigger()                                     # a child of face 1
    qtbot.waitUntil(lambda: w.grid_model.cell(2).origin == "made", timeout=WAIT_MS)
    select_rows(w, [1, 2, 4])
    qtbot.keyClick(w.grid_view, Qt.Key_K)
    assert panel.model.rowCount() == 3
    lib = panel.lib
    parent_id = next(i for i in panel.model.ids if lib.latent(i).recipe.get("op") == "seed"
                     and lib.latent(i).recipe["seed"] == w.grid_model.cell(1).latent.recipe["seed"])
    child_id = next(i for i in panel.model.ids if lib.latent(i).recipe.get("op") != "seed")
    panel.go_to(child_id)
    roles = [panel.family.item(i).text() for i in range(panel.family.count())]
    ids = [panel.family.item(i).data(Qt.UserRole) for i in range(panel.family.count())]
    assert roles[0] == "parent" and ids[0] == parent_id and "similar" in roles
    root = panel.tree.topLevelItem(0)                            # the lineage: the recipe's steps
    assert root.data(0, Qt.UserRole) == child_id and root.text(0).startswith("★")
    seed_node = root.child(0)
    assert seed_node.data(0, Qt.UserRole) == parent_id and "seed" in seed_node.text(0)
    panel.tree.itemClicked.emit(seed_node, 0)                    # click the kept ancestor: go there
    assert panel.current_id == parent_id
    made = panel.tree.topLevelItem(1)
    assert made.text(0) == "made from it: 1 kept" and made.child(0).data(0, Qt.UserRole) == child_id
    panel.go_to(child_id)
    panel.family.itemClicked.emit(panel.family.item(0))         # click the parent's picture: go there
    assert panel.current_id == parent_id
    assert [panel.family.item(i).text() for i in range(panel.family.count())][0] == "child"
    select_library_rows(panel, [0, 1])
    assert panel.new_collection("Cast", ids=panel.selected_ids()) == "Cast"
    panel.collection_box.setCurrentIndex(panel.collection_box.findData("Cast"))
    assert panel.model.rowCount() == 2
    panel.search.setText('stars>=oops "')                        # a search it cannot read: said, kept
    panel.refresh()
    assert panel.query_error and panel.model.rowCount() == 2
    w.close()


def test_a_face_of_another_model_offers_to_load_it(qtbot, gen, settings, tmp_path):
    other = tiny_generator(seed=5)
    model_file = tmp_path / "other.safetensors"
    save_native(other, model_file)
    path = tmp_path / "lib.sqlite"
    from explorer.latents import latents_from_seeds

    with Library(path) as lib:
        lat = latents_from_seeds(other, [11], 0.7)[0]
        fid = lib.add(lat, name="from other", model_name="other", model_path=str(model_file))
        gone = lib.add(latents_from_seeds(other, [12], 0.7)[0], name="lost", model_name="lost",
                       model_path=str(tmp_path / "missing.pkl"))
    w, panel = library_window(qtbot, gen, settings, path)
    panel.go_to(gone)
    select_library_rows(panel, [panel.model.ids.index(gone)])
    panel.add_button.click()
    assert any("missing.pkl is not found" in t for t in w.messages.texts())
    asked = []
    w.model_offer = lambda item, n: asked.append((item.model_name, n)) or True
    select_library_rows(panel, [panel.model.ids.index(fid)])
    with qtbot.waitSignal(w.modelReady, timeout=WAIT_MS):
        panel.add_button.click()
    assert asked == [("other", 1)]
    assert w.generator.fingerprint == other.fingerprint
    qtbot.waitUntil(lambda: any(c.origin == "library" for c in w.grid_model.cells), timeout=WAIT_MS)
    face = next(c for c in w.grid_model.cells if c.origin == "library")
    assert np.array_equal(face.latent.ws, lat.ws)
    w.close()


def test_the_star_on_a_face_keeps_it_without_selecting_it(qtbot, gen, settings, tmp_path):
    from ui.grid_view import star_rect

    w, panel = library_window(qtbot, gen, settings, tmp_path / "lib.sqlite")
    select_rows(w, [0])
    cell = w.grid_model.cell(2)
    star = star_rect(w.grid_view.thumb_rect(2)).center().toPoint()
    qtbot.mouseMove(w.grid_view.viewport(), star)
    qtbot.mouseClick(w.grid_view.viewport(), Qt.LeftButton, pos=star)
    assert cell.kept and panel.model.rowCount() == 1
    w.act_new_batch.trigger()                                   # another page, and back: still starred
    qtbot.waitUntil(lambda: len(w.session.pages) == 2, timeout=WAIT_MS)
    w.workspace.tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: w.grid_model.cell(2).kept, timeout=WAIT_MS)
    assert not w.grid_model.cell(3).kept
    select_rows(w, [0])
    assert np.array_equal(panel.lib.latent(panel.model.ids[0]).ws, cell.latent.ws)
    assert [c.uid for c in w.selected_cells()] == [w.grid_model.cell(0).uid], "the click only kept it"
    elsewhere = w.grid_view.thumb_rect(4).center().toPoint()
    qtbot.mouseClick(w.grid_view.viewport(), Qt.LeftButton, pos=elsewhere)
    assert panel.model.rowCount() == 1 and w.selected_cells()[0] is w.grid_model.cell(4)
    w.close()


def _menu_action(panel, starts: str):
    panel.collect_menu.aboutToShow.emit()
    return next(a for a in panel.collect_menu.actions() if a.text().startswith(starts))


def test_export_contact_sheet_and_import_run_in_the_background(qtbot, gen, settings, tmp_path):
    import zipfile

    from PIL import Image

    from explorer.face_files import latents_from_png

    w, panel = library_window(qtbot, gen, settings, tmp_path / "lib.sqlite")
    select_rows(w, [0, 1, 2])
    qtbot.keyClick(w.grid_view, Qt.Key_K)
    select_library_rows(panel, [0, 1, 2])
    out = tmp_path / "cast.zip"
    act = _menu_action(panel, "Export Selected (3)")
    w.library_transfer_chooser = lambda kind, name: (str(out), 48)
    act.trigger()
    with qtbot.waitSignal(w.library_jobs.finished, timeout=WAIT_MS) as done:
        pass
    assert done.args[1] == "info" and "Exported 3 faces" in done.args[0]
    with zipfile.ZipFile(out) as z:
        pngs = [n for n in z.namelist() if n.endswith(".png")]
        assert len(pngs) == 3 and any(n.endswith("collection.json") for n in z.namelist())
        data = z.read(pngs[0])
    pic = tmp_path / "one.png"
    pic.write_bytes(data)
    assert Image.open(pic).size == (48, 48)
    assert latents_from_png(pic, gen)[0][0].model == str(gen.fingerprint), "the recipe travels inside"
    sheet = tmp_path / "sheet.png"
    w.library_transfer_chooser = lambda kind, name: (str(sheet), None)
    _menu_action(panel, "Contact Sheet").trigger()
    with qtbot.waitSignal(w.library_jobs.finished, timeout=WAIT_MS) as done:
        pass
    assert "Contact sheet of 3 faces" in done.args[0] and Image.open(sheet).size[0] > 100
    w.library_transfer_chooser = lambda kind, name: (str(out), None)
    _menu_action(panel, "Import Collection").trigger()
    with qtbot.waitSignal(w.library_jobs.finished, timeout=WAIT_MS) as done:
        pass
    assert "Imported 3 faces" in done.args[0] and panel.model.rowCount() == 3, "no doubles"
    w.close()


def test_two_windows_on_one_library_see_each_others_faces(qtbot, gen, settings, tmp_path):
    path = tmp_path / "lib.sqlite"
    w1, p1 = library_window(qtbot, gen, settings, path)
    w2, p2 = library_window(qtbot, gen, settings, path, alone=False)
    select_rows(w1, [2])
    w1.act_keep.trigger()                                                  # Faces > Keep in Library
    assert p1.model.rowCount() == 1
    qtbot.waitUntil(lambda: p2.model.rowCount() == 1, timeout=WAIT_MS)     # the other window notices
    select_library_rows(p2, [0])
    p2.set_stars(5)
    qtbot.waitUntil(lambda: p1.model.item(p1.model.ids[0]).stars == 5, timeout=WAIT_MS)
    assert p1.lib.integrity() == "ok"
    w1.close()
    w2.close()


def test_model_and_date_controls_filter_the_dock(qtbot, gen, settings, tmp_path):
    import datetime as dt

    from explorer.latents import latents_from_seeds

    path = tmp_path / "lib.sqlite"
    other = tiny_generator(seed=9)
    with Library(path) as lib:
        lib.add(latents_from_seeds(other, [1], 0.7)[0], name="other model", model_name="other")
        lib.add(latents_from_seeds(gen, [2], 0.7)[0], name="long ago", model_name="tiny",
                created=dt.datetime(2020, 1, 1).timestamp())
    w, panel = library_window(qtbot, gen, settings, path)
    select_rows(w, [0])
    qtbot.keyClick(w.grid_view, Qt.Key_K)
    assert panel.model.rowCount() == 3
    panel.model_box.setCurrentIndex(panel.model_box.findData(str(gen.fingerprint)))
    assert panel.model.rowCount() == 2
    panel.when_box.setCurrentIndex(1)                                  # Today
    assert panel.model.rowCount() == 1 and panel.model.item(panel.model.ids[0]).name != "long ago"
    panel.model_box.setCurrentIndex(0)
    panel.when_box.setCurrentIndex(0)
    panel.search.setText("until:2020-12-31")
    panel.refresh()
    assert [panel.model.item(i).name for i in panel.model.ids] == ["long ago"]
    w.close()
