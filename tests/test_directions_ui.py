"""The Directions dock on a real MainWindow with a tiny random model (offscreen): label faces,
fit an attribute in the background, move along it and apply; PCA / SeFa rows; foreign
directions refused; shipped directions picked by fingerprint."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("sklearn")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from explorer.directions import Direction, DirectionLibrary, load_directions, save_directions  # noqa: E402

from .test_window import WAIT_MS, select_rows, tiny_generator, visible_ready  # noqa: E402


@pytest.fixture(scope="module")
def gen():
    return tiny_generator()


@pytest.fixture
def library_root(tmp_path, monkeypatch):
    root = tmp_path / "directions"
    monkeypatch.setenv("LATENT_EXPLORER_DIRECTIONS_DIR", str(root))
    return root


@pytest.fixture
def window(qtbot, gen, tmp_path, library_root):
    from ui.app import make_app
    from ui.main_window import MainWindow

    make_app()
    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    w.resize(1100, 760)
    w.show()
    w.load_model(gen)
    qtbot.waitUntil(lambda: visible_ready(w), timeout=WAIT_MS)
    yield w
    w.close()


def grid_w(window) -> np.ndarray:
    return np.stack([c.latent.ws[0] for c in window.grid_model.cells])


def test_dock_is_in_the_view_menu(window):
    panel = window.directions_panel
    assert window.directions_dock.widget() is panel
    texts = [a.text() for a in window.view_menu.actions()]
    assert "Directions" in texts
    act = window.directions_dock.toggleViewAction()
    act.trigger()
    assert not window.directions_dock.isVisible()
    act.trigger()
    assert window.directions_dock.isVisible()
    assert panel.rows == {} and panel.empty_label.isVisibleTo(panel)


def test_label_fit_move_and_apply(qtbot, window, gen, library_root):
    panel = window.directions_panel
    n = window.grid_model.rowCount()
    assert n >= 44
    w = grid_w(window)
    probe = np.random.default_rng(3).standard_normal(w.shape[1]).astype(np.float32)
    order = np.argsort(w @ probe)                  # separable by construction: high vs low projection
    pos_rows, neg_rows = sorted(order[-20:].tolist()), sorted(order[:20].tolist())

    panel.label_box.setChecked(True)
    panel.attr_name.setText("probe")
    select_rows(window, pos_rows)
    panel.pos_button.click()
    select_rows(window, neg_rows[:10])
    panel.neg_button.click()
    select_rows(window, neg_rows[10:])
    window.grid_view.setFocus()
    qtbot.keyClick(window.grid_view, Qt.Key_N)     # the N key marks negatives while label mode is on
    assert panel.counts() == (20, 20)
    assert "20 positive" in panel.counts_label.text() and "20 negative" in panel.counts_label.text()
    assert panel.fit_button.isEnabled()
    shown = panel.badges.badges()                  # + / − badges on the labelled faces on screen
    assert shown and all((row in pos_rows) if positive else (row in neg_rows) for _r, positive, row in shown)
    assert {row for *_x, row in shown} <= set(window.grid_view.visible_rows())
    panel.badges.grab()                            # paints without error

    select_rows(window, [int(order[n // 2])])
    panel.fit_button.click()
    qtbot.waitUntil(lambda: "probe" in panel.rows, timeout=WAIT_MS)
    d = window.directions["probe"]
    assert d.model == gen.fingerprint and d.method == "svm"
    acc = d.quality["val_accuracy"]
    assert acc >= 0.8
    assert f"{acc:.0%}" in panel.fit_label.text()
    row = panel.rows["probe"]
    assert row.accuracy_label.text() == f"{d.quality['val_balanced_accuracy']:.0%}"   # balanced: honest
    assert not row.weak and not row.isHidden()          # a fit the user made is always listed
    assert "validation accuracy" in row.toolTip()
    assert float(np.dot(d.vector, probe / np.linalg.norm(probe))) > 0.3     # it points toward the probe
    assert ("probe" in DirectionLibrary(library_root).list(gen.fingerprint))   # saved for this model
    qtbot.waitUntil(panel.strip_ready, timeout=WAIT_MS)     # -3 .. +3 strip rendered
    assert len(panel.strip_latents) == 7
    from ui.main_window import SIDE_DOCK_WIDTH             # the strip keeps the panel inside its dock
    assert panel.minimumSizeHint().width() <= SIDE_DOCK_WIDTH
    # one score per grid face at the time of the fit (the grid may have grown since: it fills the view)
    assert panel.plots is not None and n <= len(panel.plots.scores) <= window.grid_model.rowCount()
    assert panel.plots.names == ["probe"] and panel.plots.matrix.shape == (1, 1)

    chosen = panel.suggest()                        # active learning: nearest the boundary, unlabelled
    assert chosen and not any(c.uid in panel.labels for c in chosen)
    assert window.selected_cells()[0] in chosen

    src = window.grid_model.cell(int(order[n // 2]))
    window.select_cells([src])
    row.slider.setValue(1.5)                        # live preview in the inspector
    qtbot.waitUntil(lambda: window.inspector.preview_latent is not None and
                    window.inspector.preview_latent.recipe.get("plugin") == "builtin.move_direction",
                    timeout=WAIT_MS)
    assert panel.apply_button.isEnabled() and window.current_cell() is src

    def moved():
        return [c for c in window.grid_model.cells if c.latent.recipe.get("plugin") == "builtin.move_direction"]

    panel.apply_button.click()
    qtbot.waitUntil(lambda: len(moved()) == 1, timeout=WAIT_MS)
    new = moved()[0]
    assert window.grid_model.row_of(new) == window.grid_model.row_of(src) + 1     # right after its source
    assert window.current_cell() is new
    expected = d.apply(src.latent.ws, 1.5, gen.info.groups, gen.fingerprint)
    assert np.allclose(new.latent.ws, expected, atol=1e-6)
    assert not np.allclose(new.latent.ws, src.latent.ws)
    window.undo_stack.undo()                        # the window's undoable add-cell command
    assert not moved() and window.grid_model.row_of(new) < 0


def test_saved_directions_come_back_for_the_same_model_only(qtbot, window, gen, library_root):
    lib = DirectionLibrary(library_root)
    v = np.zeros(gen.info.w_dim, np.float32)
    v[0] = 1.0
    lib.save(Direction(v, name="mine", model=gen.fingerprint, quality={"val_accuracy": 0.9}))
    lib.save(Direction(v, name="theirs", model="0123abcd", quality={"val_accuracy": 0.9}))
    window.load_model(gen)
    assert "mine" in window.directions_panel.rows and "theirs" not in window.directions_panel.rows
    assert window.runner.directions is window.directions and "mine" in window.directions


def test_all_set_sliders_combine_in_preview_and_apply(qtbot, window, gen):
    """blonde +3, dark skin +1.6, bald +3: the preview and the new cell move along all three
    (they used only the last slider touched)."""
    panel = window.directions_panel
    rng = np.random.default_rng(3)
    dirs = [Direction(rng.standard_normal(gen.info.w_dim).astype(np.float32), name=n, model=gen.fingerprint,
                      scale=0.5) for n in ("blonde", "dark_skin", "bald")]
    panel.add_directions(dirs)
    src = window.grid_model.cell(2)
    window.select_cells([src])
    for name, amount in (("blonde", 3.0), ("dark_skin", 1.6), ("bald", 3.0)):
        panel.rows[name].slider.setValue(amount)
    expected = src.latent.ws
    for d, amount in zip(dirs, (3.0, 1.6, 3.0)):
        expected = d.apply(expected, amount, gen.info.groups, gen.fingerprint)
    insp = window.inspector
    qtbot.waitUntil(lambda: insp.preview_latent is not None and np.allclose(insp.preview_latent.ws, expected,
                                                                               atol=1e-5), timeout=WAIT_MS)
    # before / after in the directions panel itself (the inspector is a tab behind it)
    qtbot.waitUntil(lambda: panel.before_tile.image is not None and panel.after_tile.image is not None,
                    timeout=WAIT_MS)
    assert panel.before_tile.caption == src.label and "bald" in panel.after_tile.caption
    n = window.grid_model.rowCount()
    panel.apply_button.click()
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == n + 1, timeout=WAIT_MS)
    new = window.grid_model.cell(window.grid_model.row_of(src) + 1)
    assert np.allclose(new.latent.ws, expected, atol=1e-5)
    assert "blonde +3.00, dark_skin +1.60, bald +3.00" in window.undo_stack.undoText()
    from explorer.recipes import replay
    assert np.allclose(replay(new.latent.recipe, gen, window.registry, directions=window.directions).ws,
                       expected, atol=1e-5)
    other = window.grid_model.cell(5)              # another face: the set sliders apply to it (they show)
    window.select_cells([other])
    expected = other.latent.ws
    for d, amount in zip(dirs, (3.0, 1.6, 3.0)):
        expected = d.apply(expected, amount, gen.info.groups, gen.fingerprint)
    qtbot.waitUntil(lambda: insp.preview_latent is not None and np.allclose(insp.preview_latent.ws, expected,
                                                                               atol=1e-5), timeout=WAIT_MS)
    for name in ("blonde", "dark_skin", "bald"):
        panel.rows[name].reset()
    assert panel.moves() == []
    window.select_cells([src])                     # all at 0: no preview carried over
    assert insp.preview_latent is None


def test_weak_fits_are_hidden_until_asked_for(qtbot, window, gen):
    panel = window.directions_panel
    v = np.zeros(gen.info.w_dim, np.float32)
    v[1] = 1.0
    shipped = {"classifier": "attribute_classifier.safetensors"}     # fitted by the default-directions pipeline
    weak = Direction(v, name="rare smile", model=gen.fingerprint,
                     quality={"val_accuracy": 0.94, "val_balanced_accuracy": 0.53, **shipped})
    good = Direction(v[::-1].copy(), name="clear glasses", model=gen.fingerprint,
                     quality={"val_accuracy": 0.93, "val_balanced_accuracy": 0.9, "efficacy": 0.95, **shipped})
    panel.add_directions([weak, good])
    assert panel.rows["rare smile"].isHidden() and not panel.rows["clear glasses"].isHidden()
    assert not panel.show_weak_box.isHidden() and panel.show_weak_box.text() == "Show weak fits (1)"
    assert "weak fit: balanced validation accuracy 53%" in panel.rows["rare smile"].toolTip()
    panel.show_weak_box.click()
    assert not panel.rows["rare smile"].isHidden()
    panel.show_weak_box.click()
    assert panel.rows["rare smile"].isHidden()


def test_slot_directions_show_their_efficacy_and_hide_when_weak(qtbot, window, gen):
    """Directions read off a renderer-2 model's z slots have no validation accuracy: the row shows
    how often they turn the attribute on, and a weak one hides like a weak SVM fit."""
    panel = window.directions_panel
    v = np.zeros(gen.info.w_dim, np.float32)
    v[2] = 1.0
    q = {"classifier": "attribute_classifier.safetensors", "label_source": "recipe"}
    good = Direction(v, name="slot smile", model=gen.fingerprint, method="slot",
                     quality={"slot": "smile", "efficacy": 1.0, **q})
    weak = Direction(v[::-1].copy(), name="slot blonde", model=gen.fingerprint, method="slot",
                     quality={"slot": "hair_color", "efficacy": 0.02, **q})
    panel.add_directions([good, weak])
    row = panel.rows["slot smile"]
    assert row.accuracy_label.text() == "100%" and not row.isHidden()
    assert "drawing-parameter direction (slot smile)" in row.toolTip()
    trained = Direction(v.copy(), name="trained smile", model=gen.fingerprint, method="slot",
                        quality={"slot": "smile", "efficacy": 0.98, "trained": True, **q})
    panel.add_directions([trained])
    assert "trained with the model (slot smile)" in panel.rows["trained smile"].toolTip()
    assert panel.rows["slot blonde"].isHidden()
    panel.show_weak_box.click()                    # "2%" and "100%" rows: the sliders line up
    qtbot.waitUntil(lambda: panel.rows["slot blonde"].slider.isVisible(), timeout=WAIT_MS)
    assert panel.rows["slot blonde"].slider.x() == row.slider.x()
    assert "turns the attribute on for 2% of faces" in panel.rows["slot blonde"].toolTip()


def test_direction_of_another_model_is_refused(qtbot, window, gen, tmp_path):
    panel = window.directions_panel
    v = np.ones(gen.info.w_dim, np.float32)
    foreign = Direction(v, name="alien smile", model="feedfacecafe")
    path = save_directions([foreign], tmp_path / "alien.json")
    assert panel.import_file(path) == []
    assert "alien smile" not in panel.rows and "alien smile" not in window.directions
    assert any("alien smile" in t and "cannot be applied" in t for t in window.messages.texts())
    # and the plugin itself refuses it if it reaches the grid some other way
    cell = window.current_cell() or window.grid_model.cell(0)
    window.select_cells([cell])
    window.runner.directions = {**window.directions, "alien smile": foreign}
    before = window.grid_model.rowCount()
    window.runner.apply("builtin.move_direction", [cell.latent], {"direction": "alien smile", "amount": 1.0},
                        lambda lats: window.add_latents(lats, cell, "x"))
    qtbot.waitUntil(lambda: sum("cannot be applied" in t for t in window.messages.texts()) >= 2, timeout=WAIT_MS)
    assert window.grid_model.rowCount() == before


def test_pca_and_sefa_buttons_add_rows(qtbot, window, monkeypatch):
    import ui.directions_dock as dd

    monkeypatch.setattr(dd, "PCA_SAMPLES", 500)
    panel = window.directions_panel
    panel.pca_button.click()
    qtbot.waitUntil(lambda: sum(r.direction.method == "pca" for r in panel.rows.values()) == 5, timeout=WAIT_MS)
    panel.sefa_button.click()
    qtbot.waitUntil(lambda: sum(r.direction.method == "sefa" for r in panel.rows.values()) == 5, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not panel.busy, timeout=WAIT_MS)
    assert len(panel.rows) == 10 and not panel.empty_label.isVisibleTo(panel)
    assert panel.plots.matrix.shape == (10, 10)
    assert np.allclose(np.diag(panel.plots.matrix), 1.0, atol=1e-5)
    # ten names would overlap along the bottom: numbers there, numbered names down the side
    assert [t for _, t in panel.plots.bottom_ticks] == [str(i) for i in range(1, 11)]
    assert panel.plots.left_ticks[0][1] == f"1 {panel.plots.names[0]}"
    row = panel.rows["PC1"]
    row.slider.setValue(-2.0)
    assert panel.active_row is row and row.params() == {"direction": "PC1", "amount": -2.0, "layers": "all"}
    row.reset_button.click()
    assert row.amount() == 0.0


def test_row_menu_saves_exports_and_removes(qtbot, window, gen, library_root, tmp_path):
    """An unsupervised direction, kept through the row's context menu, comes back on the next load."""
    panel = window.directions_panel
    v = np.zeros(gen.info.w_dim, np.float32)
    v[1] = 1.0
    panel.add_directions([Direction(v, name="SeFa1", model=gen.fingerprint, method="sefa")])
    row = panel.rows["SeFa1"]
    row.customContextMenuRequested.emit(row.rect().center())       # what a right click emits
    qtbot.waitUntil(lambda: panel.open_menu is not None and panel.open_menu.isVisible(), timeout=WAIT_MS)
    assert [a.text() for a in panel.open_menu.actions()][0] == "Save to My Directions"
    panel.open_menu.close()

    def act(text_start):
        menu = panel.row_menu(panel.rows["SeFa1"])
        action = next(a for a in menu.actions() if a.text().startswith(text_start))
        assert action.isEnabled()
        action.trigger()
        return menu

    act("Save to My Directions")
    assert "SeFa1" in DirectionLibrary(library_root).list(gen.fingerprint)
    save_again = next(a for a in panel.row_menu(row).actions() if a.text().startswith("Save"))
    assert not save_again.isEnabled()                                 # already stored
    out = panel.export_direction("SeFa1", tmp_path / "sefa1.json")
    np.testing.assert_allclose(load_directions(out)[0].vector, v)
    window.load_model(gen)                                            # comes back with the model
    qtbot.waitUntil(lambda: "SeFa1" in window.directions_panel.rows, timeout=WAIT_MS)
    panel = window.directions_panel
    act("Remove")
    assert "SeFa1" not in panel.rows and "SeFa1" not in window.directions
    assert "SeFa1" not in window.runner.directions
    assert "SeFa1" not in DirectionLibrary(library_root).list(gen.fingerprint)


def test_shipped_directions_match_by_fingerprint(gen, tmp_path):
    from ui.directions_dock import directions_for_model

    v = np.zeros(gen.info.w_dim, np.float32)
    v[1] = 1.0
    f = save_directions([Direction(v, name="smile", model=gen.fingerprint),
                         Direction(v, name="other", model="deadbeef")], tmp_path / "default.json")
    found, problems = directions_for_model(gen, "default", None, f)
    assert list(found) == ["smile"] and problems == []
    found, _ = directions_for_model(gen, "default", None, tmp_path / "missing.json")
    assert found == {}


def test_sliders_follow_the_session(qtbot, window, gen):
    """The slider values are the session's: set there (a workspace, a script), the panel shows them;
    moved in the panel, the session has them."""
    panel = window.directions_panel
    rng = np.random.default_rng(4)
    panel.add_directions([Direction(rng.standard_normal(gen.info.w_dim).astype(np.float32), name=n,
                                    model=gen.fingerprint, scale=0.5) for n in ("smile", "age")])
    panel.rows["age"].slider.setValue(-1.5)
    assert window.session.directions == {"age": {"amount": -1.5, "layers": "all"}}
    window.session.set_directions({"smile": {"amount": 2.0, "layers": "coarse"}})
    assert panel.rows["smile"].amount() == 2.0 and panel.rows["smile"].layers() == "coarse"
    assert panel.rows["age"].amount() == 0.0                 # not named: back to 0
    assert panel.values() == {"smile": {"amount": 2.0, "layers": "coarse"}}
