"""Style transfer in the window, offscreen: Faces > Style Transfer opens its form, Apply adds a
face that is stylised in the background (live preview and progress in the status bar, the window
stays usable), cached for the large view; Cancel stops a long run and the cell says so."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from tests.window_support import WAIT_MS, select_rows  # noqa: E402


import os  # noqa: E402

WORK = int(os.environ.get("ST_WORK", "1024"))


def qimage_array(img: QImage) -> np.ndarray:
    rgb = img.convertToFormat(QImage.Format_RGB888)
    arr = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
    return arr[:, :rgb.width() * 3].reshape(rgb.height(), rgb.width(), 3).astype(np.float32)


def open_form(qtbot, window):
    window.act_style_transfer.trigger()
    insp = window.inspector
    assert insp.more_form is not None and insp.more_form.plugin.id == "builtin.style_transfer"
    form = insp.more_form
    form.editors["iterations"].set_value(20)
    form.editors["size"].set_value(64)
    return form


def test_apply_stylises_in_the_background_with_preview_and_cache(qtbot, window):
    model = window.grid_model
    select_rows(window, [1])
    plain = qimage_array(model.cell(1).image)
    form = open_form(qtbot, window)
    form.editors["style"].set_value("stained_glass")
    n = model.rowCount()
    status = window.image_edit_status
    previews = []
    window.runner.image_edits.preview.connect(lambda src, im: previews.append(im.shape))
    qtbot.mouseClick(form.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=WAIT_MS)
    new = model.cell(2)
    assert new.latent.post[0]["plugin"] == "builtin.style_transfer"
    assert new.latent.post[0]["params"]["style"] == "stained_glass"
    assert "stained glass" in new.label
    qtbot.waitUntil(lambda: status.isVisible() or new.state == "ready", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: new.state == "ready", timeout=WAIT_MS)
    assert previews, "the running edit showed its work so far"
    assert status.preview_image is not None and not status.preview_image.isNull()
    styled = qimage_array(new.image)
    assert styled.shape == plain.shape
    assert np.abs(styled - plain).mean() > 10        # visibly repainted
    qtbot.waitUntil(lambda: not status.isVisible(), timeout=WAIT_MS)
    # the large view stylises at the size it shows (larger than the model draws); opened again,
    # the picture comes from the cache and no new job starts
    started = []
    window.runner.image_edits.started.connect(started.append)
    select_rows(window, [2])
    sizes = []
    for _ in range(2):
        window.act_large.trigger()
        view = window.large_views[-1]
        tile = view.tiles[0]
        qtbot.waitUntil(lambda: tile.image is not None and not tile.pending, timeout=WAIT_MS)
        sizes.append(tile.image.width())
        view.close()
        qtbot.waitUntil(lambda: view not in window.large_views, timeout=WAIT_MS)
    assert sizes[0] == sizes[1] > window.generator.info.resolution
    assert len(started) == 1


def test_cancel_stops_a_long_run_and_the_cell_says_so(qtbot, window):
    model = window.grid_model
    select_rows(window, [0])
    form = open_form(qtbot, window)
    form.editors["iterations"].set_value(1000)
    form.editors["size"].set_value(WORK)
    n = model.rowCount()
    qtbot.mouseClick(form.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=WAIT_MS)
    new = model.cell(1)
    status = window.image_edit_status
    qtbot.waitUntil(lambda: status.isVisible(), timeout=WAIT_MS)
    # the window stays usable meanwhile: selecting another face updates the inspector at once
    select_rows(window, [3])
    assert window.inspector.cells and window.inspector.cells[0] is model.cell(3)
    qtbot.mouseClick(status.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: new.state == "error", timeout=WAIT_MS)
    assert "cancelled" in new.error
    qtbot.waitUntil(lambda: not window.runner.image_edits.busy, timeout=WAIT_MS)
    # a view asking for the same picture just after does not start the cancelled work again
    answers = []
    window.runner.finish_picture_async(np.zeros((32, 32, 3), np.uint8), new.latent, lambda im, why: answers.append(why))
    assert answers == ["cancelled"] and not window.runner.image_edits.busy


def test_vgg19_setting_refuses_a_wrong_file_and_keeps_a_right_one(qtbot, window, tmp_path):
    import torch

    from explorer.style_transfer import features

    bad = tmp_path / "not_vgg.pth"
    torch.save({"features.0.weight": torch.zeros(3, 3)}, bad)
    shown = []
    window.show_message = lambda text, level="info", action=None: shown.append((level, text))
    assert window.choose_style_features(str(bad)) is False
    assert shown[-1][0] == "error" and "VGG19" in shown[-1][1]
    assert features.vgg19_path() is None or str(features.vgg19_path()) != str(bad)
    assert window.choose_style_features("") is True           # back to the random features
    assert window.settings.value("style/vgg19") == ""


def test_a_bad_style_picture_is_refused_before_any_face_is_made(qtbot, window, tmp_path):
    from PIL import Image

    model = window.grid_model
    errors, notes = [], []
    window.show_error = lambda text, action=None: errors.append(text)
    window.runner.failed.disconnect()
    window.runner.failed.connect(window.show_error)
    window.runner.notice.connect(notes.append)
    select_rows(window, [0])
    form = open_form(qtbot, window)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    form.editors["style"].set_value("file")
    form.editors["style_file"].set_value(str(tiny))
    n = model.rowCount()
    qtbot.mouseClick(form.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert "too small" in errors[-1] and model.rowCount() == n
    # a CMYK picture is used, converted, and the user is told
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("RGB", (64, 64), (200, 40, 40)).convert("CMYK").save(cmyk)
    form.editors["style_file"].set_value(str(cmyk))
    qtbot.mouseClick(form.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.rowCount() == n + 1, timeout=WAIT_MS)
    assert notes and "CMYK" in notes[-1]
    new = model.cell(1)
    qtbot.waitUntil(lambda: new.state == "ready", timeout=WAIT_MS)


def test_closing_the_window_mid_run_stops_the_worker(qtbot, gen, settings):
    from tests.window_support import open_window

    w = open_window(qtbot, gen, settings, (1000, 700))
    select_rows(w, [0])
    form = open_form(qtbot, w)
    form.editors["iterations"].set_value(1000)
    form.editors["size"].set_value(WORK)
    qtbot.mouseClick(form.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.image_edit_status.isVisible(), timeout=WAIT_MS)
    worker = w.runner.image_edits
    thread = worker._thread
    assert thread is not None and thread.is_alive()
    w.close()
    assert not thread.is_alive()          # joined: nothing runs on after the window is gone


def test_vgg16_weights_are_taken_for_projection(qtbot, window, tmp_path):
    import torch

    from explorer.style_transfer import features
    from explorer.style_transfer.features import VGG16Features

    gen_ = torch.Generator().manual_seed(1)
    state = {f"features.{k}": torch.randn(*shape, generator=gen_) * 0.05
             for k, shape in VGG16Features.expected_shapes().items()}
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(state, path)
    shown = []
    window.show_message = lambda text, level="info", action=None: shown.append((level, text))
    try:
        assert window.choose_style_features(str(path)) is True
        assert shown[-1][0] == "info" and "VGG16" in shown[-1][1]
        assert window.settings.value("style/vgg16") == str(path)
        assert features.vgg16_features() is not None
        from explorer.projection.loss import loss_for

        assert loss_for(window.generator).kind == "vgg16"
    finally:
        window.choose_style_features("")
    assert features.vgg16_path() is None
