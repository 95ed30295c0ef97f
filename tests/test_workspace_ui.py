"""The autosaved workspace in the window, driven as a user would: pages (New Batch adds one),
closing and reopening, File > New / Save As / Open Recent, a killed app process reopened."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from explorer.checkpoints import save_native  # noqa: E402
from explorer.workspace import WorkspaceFile, recent  # noqa: E402
from tests.window_support import WAIT_MS, open_window, visible_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def workspace_window(qtbot, gen, settings, path, size=(1000, 720)):
    from ui.app import make_app
    from ui.main_window import MainWindow

    make_app()
    w = MainWindow(model=gen, settings=settings, workspace=str(path))
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitUntil(lambda: visible_ready(w), timeout=WAIT_MS)
    return w


def saved(w) -> bool:
    return w.workspace.file is not None and not w.workspace.unsaved


def doc(w) -> dict:
    d = w.session.to_json()
    return json.loads(json.dumps(d, sort_keys=True))


def test_new_batch_adds_a_page_and_the_old_faces_stay_on_their_tab(qtbot, gen, settings):
    w = open_window(qtbot, gen, settings)
    first = [c.uid for c in w.grid_model.cells]
    w.select_cells([w.grid_model.cell(1)])
    w.act_antiface.trigger()
    qtbot.waitUntil(lambda: w.grid_model.rowCount() == len(first) + 1, timeout=WAIT_MS)
    w.act_new_batch.trigger()
    qtbot.waitUntil(lambda: len(w.session.pages) == 2, timeout=WAIT_MS)
    tabs = w.workspace.tabs
    assert tabs.isVisible() and tabs.count() == 2 and tabs.currentIndex() == 1
    assert "Batch 2" in tabs.tabText(1)
    assert not {c.uid for c in w.grid_model.cells} & set(first), "the new page shows the new batch"
    tabs.setCurrentIndex(0)                                   # the user clicks the first tab
    assert w.session.current == 0 and len(w.grid_model.cells) == len(first) + 1
    assert w.grid_model.cell(2).origin == "made", "the antiface is still right after its face"
    w.undo_stack.undo()                                       # the new batch goes ...
    assert len(w.session.pages) == 1 and not tabs.isVisible()
    w.undo_stack.redo()                                       # ... and comes back, shown
    assert len(w.session.pages) == 2 and w.session.current == 1
    tabs.tabCloseRequested.emit(0)                            # close the first page: undoable
    assert len(w.session.pages) == 1 and w.grid_model.rowCount() > 0
    w.undo_stack.undo()
    assert len(w.session.pages) == 2 and w.session.current == 0 and w.grid_model.rowCount() == len(first) + 1


def test_the_workspace_comes_back_exactly_after_closing_the_window(qtbot, gen, settings, tmp_path):
    path = tmp_path / "mine.lxws"
    w = workspace_window(qtbot, gen, settings, path)
    assert "mine" in w.windowTitle()
    w.select_cells([w.grid_model.cell(3)])
    w.act_antiface.trigger()
    qtbot.waitUntil(lambda: w.grid_model.cell(4).origin == "made", timeout=WAIT_MS)
    w.jump_to_seed("777")
    w.select_cells([w.grid_model.cell(0), w.grid_model.cell(2)])
    w.act_to_matrix_src.trigger()
    w.select_cells([w.grid_model.cell(5)])
    w.act_to_matrix_dst.trigger()
    w.timeline_panel.track.cellsDropped.emit([w.grid_model.cell(1), w.grid_model.cell(6)], 0.0)
    from explorer.directions import Direction

    smile = Direction(np.eye(gen.info.w_dim, dtype=np.float32)[1], name="smile", model=str(gen.fingerprint))
    w.directions_panel.add_directions([smile])
    row = w.directions_panel.rows["smile"]
    row.layers_box.setCurrentText("coarse")
    row.slider.setValue(1.5)                                  # a slider the user set
    w.act_new_batch.trigger()
    qtbot.waitUntil(lambda: len(w.session.pages) == 2, timeout=WAIT_MS)
    w.workspace.tabs.setCurrentIndex(0)
    target = w.grid_model.cell(4)
    w.select_cells([target])
    qtbot.waitUntil(lambda: saved(w), timeout=WAIT_MS)
    before = doc(w)
    assert len(before["pages"]) == 2 and len(before["matrix"]["sources"]) == 2
    assert len(before["timeline"]["keyframes"]) == 2
    w.close()

    w2 = workspace_window(qtbot, gen, settings, path)
    assert doc(w2) == before, "faces, order, pages, selection, matrix and timeline as they were"
    assert w2.session.current == 0 and w2.selected_cells()[0].uid == target.uid
    assert len(w2.matrix.sources) == 2 and len(w2.matrix.destinations) == 1
    assert len(w2.timeline_panel.timeline.keyframes) == 2
    assert w2.workspace.tabs.count() == 2 and "as you left it" in " ".join(w2.messages.texts())
    w2.directions_panel.add_directions([smile])               # the direction comes back: so does its slider
    row2 = w2.directions_panel.rows["smile"]
    assert row2.amount() == 1.5 and row2.layers() == "coarse"
    assert w2.session.directions == {"smile": {"amount": 1.5, "layers": "coarse"}}
    w2.close()


def test_new_save_as_and_open_recent_workspaces(qtbot, gen, settings, tmp_path):
    path = tmp_path / "first.lxws"
    w = workspace_window(qtbot, gen, settings, path)
    w.jump_to_seed("4242")
    qtbot.waitUntil(lambda: saved(w), timeout=WAIT_MS)
    first = doc(w)
    w.workspace.path_chooser = lambda: str(tmp_path / "named")
    assert w.workspace.save_as()
    assert w.workspace.name == "named" and "named" in w.windowTitle()
    w.act_new_workspace.trigger()
    assert w.workspace.name != "named" and w.grid_model.rowCount() > 0
    assert not any(c.latent.recipe.get("seed") == 4242 for c in w.grid_model.cells), "a fresh workspace"
    names = [p.stem for p in recent()]
    assert names[:2] == [w.workspace.name, "named"]
    w.recent_workspaces_menu.aboutToShow.emit()               # File > Open Recent Workspace > named
    act = next(a for a in w.recent_workspaces_menu.actions() if a.text() == "named")
    act.trigger()
    assert w.workspace.name == "named" and doc(w) == first
    w.close()


def test_a_damaged_workspace_file_is_moved_aside_with_a_message(qtbot, gen, settings, tmp_path):
    path = tmp_path / "broken.lxws"
    path.write_bytes(b"garbage" * 100)
    w = workspace_window(qtbot, gen, settings, path)
    assert "could not be opened" in " ".join(w.messages.texts()) and "moved to" in " ".join(w.messages.texts())
    assert any(".unreadable-" in p.name for p in tmp_path.iterdir())
    qtbot.waitUntil(lambda: saved(w), timeout=WAIT_MS)
    assert WorkspaceFile(path).state() is not None
    w.close()


def test_killing_the_app_mid_work_loses_at_most_the_last_second(qtbot, gen, settings, tmp_path):
    """The real app in another process works by itself; it is killed at random moments; every
    reopening has every face made more than a second before the kill (3 kills)."""
    model = tmp_path / "tiny.safetensors"
    save_native(gen, model)
    path, log = tmp_path / "killed.lxws", tmp_path / "made.log"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    rng = random.Random(7)
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "tests.workspace_child", str(model), str(path), str(log),
                                 str(tmp_path / "child.ini")], cwd=ROOT, env=env)
        try:
            deadline = time.time() + 120
            while time.time() < deadline and (not log.exists() or log.read_text().count("ready") <= round_):
                time.sleep(0.1)
            assert proc.poll() is None, "the app died by itself"
            time.sleep(rng.uniform(1.5, 3.0))
        finally:
            killed_at = time.time()
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        made = {}
        for line in log.read_text().split("\n")[:-1]:
            parts = line.split()
            if parts and parts[0] == "made":
                made[int(parts[1])] = float(parts[2])
        old = {uid for uid, t in made.items() if t < killed_at - 1.0}
        f = WorkspaceFile(path)
        assert f.message is None and f.con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = set(f.faces())
        f.close()
        assert len(old) > 10 * (round_ + 1) // 2, "the app did work"
        lost = old - kept
        assert not lost, f"round {round_}: faces made over a second before the kill were lost: {sorted(lost)[:5]}"
    w = workspace_window(qtbot, gen, settings, path)          # and the window reopens it
    assert w.session.face_count() >= len(old)
    w.close()


def test_a_full_disk_is_said_once_and_the_work_saves_again_when_there_is_room(qtbot, gen, settings, tmp_path):
    w = workspace_window(qtbot, gen, settings, tmp_path / "full.lxws")
    qtbot.waitUntil(lambda: saved(w), timeout=WAIT_MS)
    con = w.workspace.file.con
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count = {pages}")            # the disk is full now
    w.act_new_batch.trigger()                                   # 48 new faces cannot be written
    qtbot.waitUntil(lambda: any("disk is full" in t for t in w.messages.texts()), timeout=WAIT_MS)
    w.jump_to_seed("31337")
    qtbot.wait(3 * 300)
    assert sum("disk is full" in t for t in w.messages.texts()) == 1, "said once, not at every change"
    con.execute("PRAGMA max_page_count = 1073741823")          # room again
    qtbot.waitUntil(lambda: any("saved again" in t for t in w.messages.texts()), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: saved(w), timeout=WAIT_MS)
    expected = doc(w)
    w.close()
    w2 = workspace_window(qtbot, gen, settings, tmp_path / "full.lxws")
    assert doc(w2) == expected
    w2.close()


CLOSE_WHILE_RENDERING = r"""
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QSettings, QTimer
from ui.app import make_app
from ui.main_window import MainWindow
app = make_app()
w = MainWindow(model=sys.argv[1], settings=QSettings(sys.argv[2], QSettings.IniFormat))
w.thumbs.previews = False                 # full renders: a batch of two takes seconds
w.resize(1000, 700)
w.show()
started = []
def check():
    svc = w.bridge.service
    if w.generator is not None and not started:
        first = next(w.generator.synthesis.children())
        first.register_forward_pre_hook(lambda *_a: started.append(time.perf_counter()))
        started.append(None)
    if len(started) > 1 and svc is not None:
        print("rendering", flush=True)     # a batch (seconds long) has just started
        w.close()
        print("worker joined:", svc.shutdown(timeout=0), flush=True)   # close() stopped and joined it
        app.quit()
        return
    QTimer.singleShot(20, check)
QTimer.singleShot(20, check)
app.exec()
print("closed", flush=True)
"""


def test_closing_the_window_while_a_slow_model_renders_exits_cleanly(tmp_path):
    """No 'terminate called without an active exception' / abort at exit: the render worker stops
    between two layers and is joined before the process ends."""
    import torch

    from explorer import Generator, stylegan2_config

    torch.manual_seed(0)
    slow = Generator(stylegan2_config(512, z_dim=32, w_dim=32, channel_base=65536, channel_max=512,
                                      mapping_layers=1))      # ~9 s for a batch of two on one core here
    model = tmp_path / "slow.safetensors"
    save_native(slow, model)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LATENT_EXPLORER_RENDER_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CLOSE_WHILE_RENDERING, str(model), str(tmp_path / "s.ini")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert "rendering" in proc.stdout and "closed" in proc.stdout, proc.stderr[-2000:]
    assert "worker joined: True" in proc.stdout, "the batch in flight stopped between layers"
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "terminate called" not in proc.stderr and "Aborted" not in proc.stderr
