"""A real mouse drag under Xvfb: xdotool presses on cell 0, moves onto cell 3 and releases.

Offscreen Qt has no real drag and drop, so this one test runs the window on the xcb platform in
a child process under xvfb-run. It skips when xvfb-run or xdotool is missing (scripts/setup.sh
installs them on Debian).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(r'''
    import json, subprocess, sys, threading, time
    import numpy as np
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from tests.window_support import window_generator as tiny_generator
    from ui.app import make_app
    from ui.main_window import MainWindow
    from explorer.edits import mix_layers

    app = make_app()
    gen = tiny_generator()
    w = MainWindow(settings=QSettings(sys.argv[1], QSettings.IniFormat))
    w.drop_group_chooser = lambda *a: "coarse"
    w.resize(1000, 700)
    w.move(0, 0)
    w.show()
    w.load_model(gen)
    out = {"ok": False}

    def wait(pred, seconds):
        end = time.time() + seconds
        while time.time() < end:
            app.processEvents()
            if pred():
                return True
            time.sleep(0.01)
        return False

    def ready():
        rows = w.grid_view.visible_rows()
        return len(rows) > 4 and all(w.grid_model.cell(r).state == "ready" for r in rows)

    if not wait(ready, 60):
        print(json.dumps({"ok": False, "why": "thumbnails never arrived"})); sys.exit(1)
    view, model = w.grid_view, w.grid_model
    src, dst = model.cell(0), model.cell(3)
    n = model.rowCount()
    w.activateWindow(); w.raise_()
    wait(lambda: False, 0.5)
    a = view.viewport().mapToGlobal(view.visualRect(model.index(0)).center())
    b = view.viewport().mapToGlobal(view.visualRect(model.index(3)).center())

    def mouse():
        def xdo(*args):
            subprocess.run(["xdotool", *map(str, args)], check=True)
            time.sleep(0.05)
        xdo("mousemove", a.x(), a.y())
        xdo("mousedown", 1)
        steps = 12
        for k in range(1, steps + 1):
            xdo("mousemove", int(a.x() + (b.x() - a.x()) * k / steps), int(a.y() + (b.y() - a.y()) * k / steps))
        time.sleep(0.3)
        xdo("mousemove", b.x() + 1, b.y())
        time.sleep(0.3)
        xdo("mouseup", 1)

    t = threading.Thread(target=mouse, daemon=True)
    t.start()
    grew = wait(lambda: model.rowCount() == n + 1, 40)
    t.join(5)
    if not grew:
        print(json.dumps({"ok": False, "why": "no new cell after the drag"})); sys.exit(1)
    new = model.cell(4)
    expected = mix_layers(dst.latent.ws, src.latent.ws, gen.info.groups["coarse"])
    out = {"ok": bool(np.array_equal(new.latent.ws, expected)), "recipe": new.latent.recipe["plugin"],
           "row": model.row_of(new)}
    print(json.dumps(out))
    w.close()
    sys.exit(0 if out["ok"] else 1)
''')


@pytest.mark.skipif(not (shutil.which("xvfb-run") and shutil.which("xdotool")),
                    reason="needs xvfb-run and xdotool (apt-get install xvfb xdotool)")
def test_real_mouse_drag_mixes_under_xvfb(tmp_path):
    script = tmp_path / "drag_child.py"
    script.write_text(CHILD)
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
    env.pop("DISPLAY", None)
    proc = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x900x24", sys.executable, str(script),
                           str(tmp_path / "settings.ini")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"child printed no result (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert result["ok"], f"{result}\n{proc.stderr[-3000:]}"
    assert result["recipe"] == "builtin.style_mix" and result["row"] == 4
