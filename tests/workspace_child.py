"""A Latent Explorer window that works by itself until it is killed (tests/test_workspace_ui.py).

    python -m tests.workspace_child MODEL WORKSPACE LOG SETTINGS

Every 60 ms it does what a user does (jump to a seed, antiface, a new batch, a mix into the
matrix) and logs each face it adds as "made UID TIME"; the test kills it with SIGKILL and checks
that the reopened workspace holds every face made more than a second before the kill.
"""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(model: str, workspace: str, log: str, settings_path: str) -> int:
    from PySide6.QtCore import QSettings, QTimer

    from ui.app import make_app
    from ui.main_window import MainWindow

    app = make_app()
    out = open(log, "a", buffering=1)
    w = MainWindow(model=model, workspace=workspace, settings=QSettings(settings_path, QSettings.IniFormat))
    w.resize(900, 700)
    w.show()
    seen: set[int] = set()
    step = [0]

    def note_new(*_args) -> None:
        for face in w.session.faces():
            if face.uid not in seen:
                seen.add(face.uid)
                out.write(f"made {face.uid} {time.time():.3f}\n")

    def work() -> None:
        if w.generator is None:
            return
        if step[0] == 0:
            note_new()
            out.write("ready\n")
        step[0] += 1
        k = step[0]
        if k % 9 == 0:
            w.new_batch()
        elif k % 4 == 0 and w.grid_model.rowCount():
            w.select_cells([w.grid_model.cell(k % w.grid_model.rowCount())])
            w.act_antiface.trigger()
        elif k % 7 == 0 and w.grid_model.rowCount():
            w.select_cells([w.grid_model.cell(0)])
            w.act_to_matrix_src.trigger()
        else:
            w.jump_to_seed(str(100_000 + k))

    w.session.subscribe(lambda kind, _d: note_new() if kind in ("inserted", "pages") else None)
    timer = QTimer()
    timer.timeout.connect(work)
    timer.start(60)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
