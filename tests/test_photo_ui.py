"""Photos in the window, offscreen: a photo dropped on the grid, File > Import Photo, a pasted
picture; projection runs in the background with progress, preview and Cancel; and the seeds' demo
as one flow on the default model: import two faces, mix them (their child), age one, put the three
on the timeline and export the clip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.test_projection import photo_of, rendered_face  # noqa: E402
from tests.test_timeline_ui import drop_on_track  # noqa: E402
from tests.window_support import WAIT_MS, drag_cells, open_window  # noqa: E402

STEPS = 12


@pytest.fixture(scope="module")
def default_gen():
    from explorer import load_generator

    return load_generator("default")


@pytest.fixture
def window(qtbot, default_gen, settings):  # noqa: F811
    w = open_window(qtbot, default_gen, settings, (1200, 800))
    w.photos.steps = STEPS
    yield w
    w.close()


def write_photo(path: Path, seed: int) -> Path:
    Image.fromarray(photo_of(rendered_face(seed))).save(path, quality=92)
    return path


def drop_files(window, paths):
    view = window.grid_view
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    vp = view.viewport()
    pos = vp.rect().center()
    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, drop)
    assert drop.isAccepted()


def imported(window) -> list:
    return [window.grid_model.cell(r) for r in range(window.grid_model.rowCount())
            if window.grid_model.cell(r).latent.recipe.get("op") == "import"]


def test_a_dropped_photo_becomes_a_face_with_progress_and_preview(qtbot, window, tmp_path):
    photo = write_photo(tmp_path / "jon.jpg", 1)
    notes, previews = [], []
    window.photos.notice.connect(notes.append)
    window.photos.preview.connect(lambda name, im: previews.append(im.shape))
    drop_files(window, [photo])
    qtbot.waitUntil(lambda: window.photo_status.isVisible() or bool(imported(window)), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(imported(window)) == 1, timeout=WAIT_MS)
    cell = imported(window)[0]
    r = cell.latent.recipe
    assert r["photo"]["file"] == "jon.jpg" and r["source"] == "projection" and r["steps"] == STEPS
    assert cell.label == "jon (projected)"
    assert notes and "68 landmarks" in notes[0]
    res = window.generator.info.resolution          # previews at the model's size
    assert previews and previews[-1] == (res, res, 3)
    qtbot.waitUntil(lambda: cell.state == "ready", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.photo_status.isVisible(), timeout=WAIT_MS)


def test_bad_photos_are_refused_with_a_message_and_cancel_works(qtbot, window, tmp_path, monkeypatch):
    from ui import main_window as mw

    errors, infos = [], []
    window.show_error = lambda text, action=None: errors.append(text)
    window.show_message = lambda text, level="info", action=None: infos.append(text)
    tiny = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(tiny)
    monkeypatch.setattr(mw.QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(tiny)], "")))
    n = window.grid_model.rowCount()
    window.act_import_photo.trigger()
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert "too small" in errors[-1] and window.grid_model.rowCount() == n
    window.photos.steps = 5000
    QApplication.clipboard().setImage(QImage(str(write_photo(tmp_path / "big.jpg", 2))))
    window.act_paste.trigger()                        # a pasted picture is a photo to project
    qtbot.waitUntil(lambda: window.photo_status.isVisible(), timeout=WAIT_MS)
    qtbot.mouseClick(window.photo_status.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any("cancelled" in t for t in infos), timeout=WAIT_MS)
    assert window.grid_model.rowCount() == n and not window.photos.busy


def test_the_seeds_demo_in_one_flow(qtbot, window, tmp_path):
    """Import two faces, drag one onto the other (their child), slide age on one, put the three on
    the timeline, export the clip."""
    a, b = write_photo(tmp_path / "jon.jpg", 1), write_photo(tmp_path / "arya.jpg", 2)
    drop_files(window, [a, b])
    qtbot.waitUntil(lambda: len(imported(window)) == 2, timeout=WAIT_MS)
    rows = sorted(window.grid_model.row_of(c) for c in imported(window))
    jon, arya = (window.grid_model.cell(r) for r in rows)
    # their child: drag one onto the other, medium styles (features and hair)
    window.drop_group_chooser = lambda pos, sources, target: "medium"
    n = window.grid_model.rowCount()
    drag_cells(window, [window.grid_model.row_of(arya)], window.grid_model.row_of(jon))
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == n + 1, timeout=WAIT_MS)
    child = window.grid_model.cell(window.grid_model.row_of(jon) + 1)
    assert child.latent.recipe.get("plugin") == "builtin.style_mix"
    # Jon through the ages: the shipped 'old' direction on him
    panel = window.directions_panel
    assert "old" in panel.rows
    window.select_cells([jon])
    panel.rows["old"].slider.setValue(2.5)
    n = window.grid_model.rowCount()
    qtbot.waitUntil(lambda: panel.apply_button.isEnabled(), timeout=WAIT_MS)
    panel.apply_button.click()
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == n + 1, timeout=WAIT_MS)
    old_jon = window.grid_model.cell(window.grid_model.row_of(jon) + 1)
    assert "old" in old_jon.label
    panel.rows["old"].reset()
    # the three on the timeline, then the clip
    window.timeline_dock.show()
    window.timeline_dock.raise_()
    qtbot.waitUntil(lambda: window.timeline_panel.track.width() > 100, timeout=WAIT_MS)
    tp = window.timeline_panel
    tp.duration_box.setValue(1.0)
    tp.fps_box.setValue(8.0)
    for cell, x in ((jon, 0.0), (child, 0.5), (old_jon, 1.0)):
        drop_on_track(window, [window.grid_model.row_of(cell)], x)
    assert len(tp.timeline.keyframes) == 3
    out = tmp_path / "demo.gif"
    dlg = window.export_animation(path_chooser=lambda suggested: str(out))
    dlg.browse()
    dlg.frames_box.setValue(8)
    results = []
    dlg.finished_export.connect(lambda *args: results.append(args))
    assert dlg.start() is not None
    qtbot.waitUntil(lambda: bool(results), timeout=WAIT_MS * 2)
    assert results[0][0] == "ok", results
    with Image.open(out) as im:
        assert im.n_frames == 8 and im.size == (window.generator.info.resolution,) * 2
    dlg.close()


def test_a_model_without_an_encoder_gets_one_trained_in_the_background(qtbot, settings, tmp_path, monkeypatch):  # noqa: F811
    from explorer.projection import encoder as enc_mod
    from tests.conftest import tiny_generator

    monkeypatch.setenv(enc_mod.ENCODER_DIR_ENV, str(tmp_path / "encoders"))
    gen = tiny_generator(res=32, dim=16)
    w = open_window(qtbot, gen, settings)
    infos = []
    w.show_message = lambda text, level="info", action=None: infos.append(text)
    progress = []
    w.photos.progress.connect(progress.append)
    assert w.train_photo_encoder(steps=20) is True
    qtbot.waitUntil(lambda: any("encoder of this model is ready" in t for t in infos), timeout=WAIT_MS * 2)
    assert progress and progress[-1] == 1.0
    assert enc_mod.encoder_path(gen).is_file() and enc_mod.encoder_for(gen) is not None
    assert w.train_photo_encoder() is False and "already" in infos[-1]
    w.close()


def test_no_face_found_asks_for_a_square_and_uses_it(qtbot, window, tmp_path):
    asked = []

    def chooser(photo, quad, name, reason):
        asked.append((photo.shape, name, reason))
        return np.array([[10, 10], [10, 74], [74, 74], [74, 10]], float)
    window.photos.crop_chooser = chooser
    rng = np.random.default_rng(0)
    noise = tmp_path / "clouds.png"
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(noise)
    drop_files(window, [noise])
    qtbot.waitUntil(lambda: len(imported(window)) == 1, timeout=WAIT_MS)
    assert asked and asked[0][1] == "clouds.png" and "No face found" in asked[0][2]
    cell = imported(window)[0]
    assert cell.latent.recipe["alignment"] == "cropped where you chose"
    # cancelling the crop imports nothing
    window.photos.crop_chooser = lambda *a: None
    infos = []
    window.show_message = lambda text, level="info", action=None: infos.append(text)
    n = window.grid_model.rowCount()
    drop_files(window, [noise])
    qtbot.waitUntil(lambda: any("cancelled" in t for t in infos), timeout=WAIT_MS)
    assert window.grid_model.rowCount() == n


def test_the_crop_dialog_moves_and_sizes_its_square(qtbot):
    from ui.crop_dialog import CropDialog

    photo = np.zeros((200, 300, 3), np.uint8)
    quad = np.array([[50, 50], [50, 150], [150, 150], [150, 50]], float)
    dlg = CropDialog(photo, quad, "x.jpg", "No face found")
    qtbot.addWidget(dlg)
    view = dlg.view
    assert np.allclose(view.quad(), quad)
    start = view.rect().center()
    qtbot.mousePress(view, Qt.LeftButton, pos=start)
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QMouseEvent
    move = QMouseEvent(QMouseEvent.MouseMove, QPointF(start + QPoint(28, 0)), QPointF(start + QPoint(28, 0)),
                       Qt.NoButton, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(view, move)
    qtbot.mouseRelease(view, Qt.LeftButton, pos=start + QPoint(28, 0))
    moved = view.quad()
    assert moved[0][0] == pytest.approx(50 + 28 / view.scale) and moved[0][1] == pytest.approx(50)
    dlg.size_slider.setValue(60)
    assert np.hypot(*(view.quad()[3] - view.quad()[0])) == pytest.approx(60)
