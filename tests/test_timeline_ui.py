"""The timeline dock and the Export Animation dialog, offscreen, on a real window with a tiny model.

Grid cells reach the timeline through synthetic drag/drop events (offscreen Qt has no real QDrag).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.window_support import WAIT_MS  # noqa: E402

N_DROP = 3


def drop_on_track(window, rows, x_frac):
    """Synthetic drag of grid rows onto the timeline track at x = x_frac of the track's width."""
    panel = window.timeline_panel
    track = panel.track
    model = window.grid_model
    mime = model.mimeData([model.index(r) for r in rows])
    pos = QPoint(int(round(track.x_for(x_frac))), track.height() // 2)
    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(track, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(track, move)
    assert move.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(track, drop)
    assert drop.isAccepted()


@pytest.fixture
def panel(window, qtbot):
    window.timeline_dock.show()
    window.timeline_dock.raise_()
    qtbot.waitUntil(lambda: window.timeline_panel.track.width() > 100, timeout=WAIT_MS)
    p = window.timeline_panel
    p.duration_box.setValue(1.0)
    p.fps_box.setValue(10.0)
    window.undo_stack.clear()                     # the tests count their own steps from here
    for k, x in enumerate((0.0, 0.5, 1.0)):
        drop_on_track(window, [k], x)
    return p


def test_drops_make_keyframes_with_the_cells_latents(window, panel):
    tl = panel.timeline
    assert len(tl.keyframes) == N_DROP
    for k, kf in enumerate(tl.keyframes):
        cell = window.grid_model.cell(k)
        assert kf.latent is cell.latent
        np.testing.assert_array_equal(kf.latent.ws, cell.latent.ws)
    positions = [kf.position for kf in tl.keyframes]
    assert positions[0] == 0.0 and positions[-1] == 1.0
    assert abs(positions[1] - 0.5) < 0.02
    assert panel.track.selected is tl.keyframes[-1]
    assert panel.scrubber.maximum() == tl.frame_count() - 1 == 9


def test_scrub_previews_the_keyframes_and_changes(window, panel, qtbot):
    tl = panel.timeline
    panel.scrubber.setValue(3)
    panel.scrubber.setValue(0)
    req = panel.last_request
    assert req["frame"] == 0 and req["t"] == 0.0
    np.testing.assert_array_equal(req["ws"], tl.keyframes[0].latent.ws)     # bit for bit
    qtbot.waitUntil(lambda: panel.preview_image is not None, timeout=WAIT_MS)
    first = panel.preview_image.copy()
    # the last frame (no loop) is the last keyframe
    panel.scrubber.setValue(panel.scrubber.maximum())
    np.testing.assert_array_equal(panel.last_request["ws"], tl.keyframes[-1].latent.ws)
    # dragging the slider previews at thumbnail size, the release at full size
    panel.scrubber.setSliderDown(True)
    panel.scrubber.setValue(4)
    assert panel.last_request["frame"] == 4 and panel.last_request["size"] is not None
    assert not np.array_equal(panel.last_request["ws"], tl.keyframes[0].latent.ws)
    panel.scrubber.setSliderDown(False)
    assert panel.last_request["size"] is None
    serial = panel.preview_serial
    qtbot.waitUntil(lambda: panel.preview_serial > serial, timeout=WAIT_MS)
    assert panel.preview_image != first


def test_segment_settings_move_remove_and_loop(window, panel, qtbot):
    tl = panel.timeline
    panel.track.select(tl.keyframes[0])
    panel.interp_combo.setCurrentText("cubic")
    panel.easing_combo.setCurrentText("ease_in_out")
    panel.layers_combo.setCurrentText("coarse")
    seg = tl.keyframes[0].segment
    assert (seg.interp, seg.easing, seg.layers) == ("cubic", "ease_in_out", "coarse")
    # drag the middle keyframe along the track
    mid = tl.keyframes[1]
    start = panel.track.chip_rect(mid).center().toPoint()
    qtbot.mousePress(panel.track, Qt.LeftButton, pos=start)
    assert panel.track.selected is mid
    end = QPoint(int(panel.track.x_for(0.25)), start.y())
    qtbot.mouseMove(panel.track, end)
    qtbot.mouseRelease(panel.track, Qt.LeftButton, pos=end)
    assert abs(tl.keyframes[1].position - 0.25) < 0.02
    assert tl.keyframes[1].latent is mid.latent
    # loop: evenly spaced keyframes re-spread, the last one before position 1
    panel.track.select(None)
    tl.spread()
    panel.loop_box.setChecked(True)
    assert tl.loop is True
    assert [k.position for k in tl.keyframes] == pytest.approx([0, 1 / 3, 2 / 3])
    assert panel.resolved() is not None and panel.resolved().loop
    np.testing.assert_array_equal(panel.resolved().ws_at(1.0), panel.resolved().ws_at(0.0))
    # Delete removes the selected keyframe (not the faces selected in the grid)
    from tests.window_support import select_rows
    select_rows(window, [5])
    n_cells = window.grid_model.rowCount()
    assert window.act_delete.isEnabled()           # the window's Delete would take the key otherwise
    panel.track.select(tl.keyframes[1])
    panel.track.setFocus()
    qtbot.keyClick(panel.track, Qt.Key_Delete)
    assert len(tl.keyframes) == N_DROP - 1
    assert window.grid_model.rowCount() == n_cells


def test_loop_on_uneven_keyframes_leaves_room_to_close(window, panel):
    tl = panel.timeline
    panel.track.move_keyframe(tl.keyframes[1], 0.4)          # not evenly spaced: no re-spread
    assert [k.position for k in tl.keyframes] == [0.0, 0.4, 1.0]
    panel.loop_box.setChecked(True)
    assert tl.loop and tl.keyframes[-1].position < 1.0
    assert [k.position for k in tl.keyframes] == pytest.approx([0.0, 0.3, 0.75])
    r = panel.resolved()
    assert r is not None
    np.testing.assert_array_equal(r.ws_at(0.0), tl.keyframes[0].latent.ws)
    panel.scrubber.setValue(0)
    np.testing.assert_array_equal(panel.last_request["ws"], tl.keyframes[0].latent.ws)


def test_noise_lock_and_save_open(window, panel, tmp_path):
    panel.noise_box.setChecked(True)
    assert panel.timeline.noise is not None
    path = tmp_path / "clip.timeline.json"
    assert panel.save(str(path)) == path
    panel.set_timeline(type(panel.timeline)())
    assert not panel.timeline.keyframes
    panel.open_path_chooser = lambda: str(path)
    tl = panel.open()
    assert len(tl.keyframes) == N_DROP and tl.noise is not None
    for k, kf in enumerate(tl.keyframes):
        np.testing.assert_array_equal(kf.latent.ws, window.grid_model.cell(k).latent.ws)


def test_play_steps_the_scrubber(window, panel, qtbot):
    panel.play_button.setChecked(True)
    assert panel.playing
    qtbot.waitUntil(lambda: panel.scrubber.value() >= 2, timeout=WAIT_MS)
    panel.play_button.setChecked(False)
    assert not panel.playing and panel.play_button.text() == "Play"


def test_export_size_above_the_model_can_be_typed_and_says_so(window, panel, qtbot, tmp_path):
    dlg = window.export_animation(path_chooser=lambda suggested: str(tmp_path / "c.gif"))
    res = window.generator.info.resolution
    assert dlg.size_note.isHidden()
    dlg.size_box.selectAll()
    qtbot.keyClicks(dlg.size_box.lineEdit(), str(4 * res))       # typing 128 for a 32 px model: was cut to 12
    assert dlg.size_box.value() == 4 * res
    assert not dlg.size_note.isHidden() and f"{res} px" in dlg.size_note.text()
    assert not dlg.progress.isTextVisible()          # the slim bar clipped "42%"; the label says it
    dlg.show_progress(3, 12, 4.0)
    assert dlg.eta_label.text().startswith("25% · frame 3/12")
    dlg.close()


def test_export_gif_through_the_dialog(window, panel, qtbot, tmp_path):
    from PIL import Image

    out = tmp_path / "clip.gif"
    dlg = window.export_animation(path_chooser=lambda suggested: str(out))
    assert dlg is not None and dlg.path_edit.text() == ""
    dlg.set_format("webm")
    dlg.browse()                                     # the injected file dialog answers
    assert dlg.fmt() == "gif"
    dlg.size_box.setValue(16)
    dlg.frames_box.setValue(6)
    results = []
    dlg.finished_export.connect(lambda *a: results.append(a))
    job = dlg.start()
    assert job is not None and dlg.cancel_button.text() == "Cancel"
    qtbot.waitUntil(lambda: bool(results), timeout=WAIT_MS)
    assert results[0][0] == "ok", results
    assert out.exists()
    assert dlg.progress.value() == dlg.progress.maximum() == 6
    assert "Exported" in dlg.status_label.text()
    with Image.open(out) as im:
        assert im.size == (16, 16)
        assert im.n_frames == 6


def test_cancelled_export_leaves_no_file(window, panel, qtbot, tmp_path):
    out = tmp_path / "long.gif"
    dlg = window.export_animation(path=str(out))
    dlg.frames_box.setValue(2000)
    dlg.size_box.setValue(32)
    results = []
    dlg.finished_export.connect(lambda *a: results.append(a))
    assert dlg.start() is not None
    dlg.cancel_button.click()                        # Cancel while running
    qtbot.waitUntil(lambda: bool(results), timeout=WAIT_MS)
    assert results[0][0] == "cancelled"
    assert not out.exists()
    assert not list(tmp_path.glob("long*"))          # no sidecar, no temp file
    assert "cancelled" in dlg.status_label.text()


def test_export_error_is_shown(window, panel, qtbot, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    dlg = window.export_animation(path=str(blocker / "x.gif"))   # a file where a folder should be
    dlg.frames_box.setValue(2)
    results = []
    dlg.finished_export.connect(lambda *a: results.append(a))
    job = dlg.start()
    if job is not None:
        qtbot.waitUntil(lambda: bool(results), timeout=WAIT_MS)
        assert results[0][0] == "failed"
    text = dlg.status_label.text().lower()
    assert "fail" in text or "could not" in text
    assert "e06c75" in dlg.status_label.styleSheet()                 # shown as an error
    assert dlg.export_button.isEnabled()                              # and a new try is possible


def test_export_animation_without_keyframes_says_why(window):
    assert window.export_animation() is None
    assert window.timeline_dock.isVisible()
    assert window.act_export_animation.text().startswith("Export &Animation")


def test_timeline_edits_undo_and_redo_with_the_keyboard(window, panel, qtbot):
    """Every timeline edit is one step on the window's undo stack: Ctrl+Z walks them back in order."""
    stack = window.undo_stack
    assert stack.count() == N_DROP and stack.undoText() == "Add keyframe"   # one step per drop
    ids0 = [id(k) for k in panel.timeline.keyframes]
    positions0 = [k.position for k in panel.timeline.keyframes]
    # move the middle keyframe with the mouse: one step however many move events the drag had
    mid = panel.timeline.keyframes[1]
    start = panel.track.chip_rect(mid).center().toPoint()
    qtbot.mousePress(panel.track, Qt.LeftButton, pos=start)
    for x in (0.45, 0.35, 0.25):
        qtbot.mouseMove(panel.track, QPoint(int(panel.track.x_for(x)), start.y()))
    qtbot.mouseRelease(panel.track, Qt.LeftButton, pos=QPoint(int(panel.track.x_for(0.25)), start.y()))
    assert stack.count() == N_DROP + 1 and stack.undoText() == "Move keyframe"
    # segment setting, then two duration steps (merged into one), then delete
    panel.track.select(panel.timeline.keyframes[0])
    panel.interp_combo.setCurrentText("slerp")
    panel.duration_box.setValue(2.0)
    panel.duration_box.setValue(3.0)
    assert stack.undoText() == "Duration 3 s" and stack.count() == N_DROP + 3
    panel.track.select(panel.timeline.keyframes[2])
    panel.track.setFocus()
    qtbot.keyClick(panel.track, Qt.Key_Delete)
    assert len(panel.timeline.keyframes) == N_DROP - 1

    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT_MS)
    # keys go to the window as the platform delivers them, so the window's shortcuts see them
    undo = lambda: QTest.keyClick(window.windowHandle(), Qt.Key_Z, Qt.ControlModifier)  # noqa: E731
    undo()                                                                    # delete
    assert len(panel.timeline.keyframes) == N_DROP
    undo()                                                                    # both duration steps
    assert panel.timeline.duration == 1.0 and panel.duration_box.value() == 1.0
    undo()                                                                    # segment
    assert panel.timeline.keyframes[0].segment.interp != "slerp"
    undo()                                                                    # move
    assert [k.position for k in panel.timeline.keyframes] == positions0
    assert [id(k) for k in panel.timeline.keyframes] == ids0
    undo()                                                                    # last drop
    assert len(panel.timeline.keyframes) == N_DROP - 1
    # redo comes back the same way, and the preview follows the restored timeline
    QTest.keyClick(window.windowHandle(), Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert [id(k) for k in panel.timeline.keyframes] == ids0
    panel.scrubber.setValue(panel.scrubber.maximum())
    np.testing.assert_array_equal(panel.last_request["ws"], panel.timeline.keyframes[-1].latent.ws)
    for _ in range(3):
        stack.redo()
    assert panel.timeline.duration == 3.0 and panel.duration_box.value() == 3.0
    assert panel.timeline.keyframes[0].segment.interp == "slerp"


def test_loop_drops_at_the_track_ends_make_a_seamless_loop(window, qtbot):
    """Faces dropped at the very ends of a looping track landed at 0.007 and 0.993: frame 0 was a
    blend and the way back to the first face took two frames."""
    window.timeline_dock.show()
    window.timeline_dock.raise_()
    p = window.timeline_panel
    qtbot.waitUntil(lambda: p.track.width() > 100, timeout=WAIT_MS)
    p.timeline.duration, p.timeline.fps = 2.0, 10.0
    p.loop_box.setChecked(True)
    near = 1.5 / max(1, p.track.width() - 2 * p.track.margin())   # a pixel and a half from each end
    drop_on_track(window, [0], near)
    drop_on_track(window, [1], 1.0 - near)
    tl = p.timeline
    assert tl.loop and [k.position for k in tl.keyframes] == [0.0, 0.5]
    r = p.resolved()
    np.testing.assert_array_equal(r.ws_at(0.0), tl.keyframes[0].latent.ws)    # frame 0 is the first face
    frames = list(tl.frame_latents(model=window.generator))
    step = [float(np.abs(a - b).mean()) for a, b in zip(frames, frames[1:] + frames[:1])]
    assert max(step) < 3 * float(np.median(step))      # the return to the first face is no jump
