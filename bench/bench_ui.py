"""Explorer window figures: launch -> first full screen of thumbnails, and how responsive the Qt
event loop stays while a grid of 200 cells renders on the CPU.

    .venv/bin/python bench/bench_ui.py [--model PATH|default] [--cells 200] [--platform offscreen]

Uses the default model when it is installed, else a random model of similar size (StyleGAN2
64 px, z = w = 128, channel_base 2048, channel_max 256, 2 mapping layers) saved to a temporary
file, so launch includes loading it from disk as the real one would. The stall probe is a 5 ms
QTimer: the longest gap between two of its ticks is the longest the window could not react;
the GUI thread's CPU time over that gap tells the window's own work from time it waited for a
core (other processes) or the GIL (the render worker). Two runs: browsing (default thumbnails,
scrolling down through the cells) and a wall of 64 px thumbnails filling the screen at once.
Target: no stall over 50 ms. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBE_MS = 5
TARGET_STALL_MS = 50.0


def stand_in_model(folder: Path) -> str:
    import torch

    from explorer import Generator, stylegan2_config
    from explorer.checkpoints import save_native

    torch.manual_seed(0)
    gen = Generator(stylegan2_config(64, z_dim=128, w_dim=128, channel_base=2048, channel_max=256, mapping_layers=2))
    gen.config["name"] = "random 64px stand-in"
    path = folder / "stand_in.safetensors"
    save_native(gen, path)
    return str(path)


class StallProbe:
    """A 5 ms timer; records the gaps between its ticks (the event loop's longest busy spells)."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.cpu: list[float] = []     # of each gap, the GUI thread's own CPU time (the rest: waiting
        self._last = None              # for a core or the GIL while other processes and threads ran)
        self._last_cpu = None
        self.timer = QTimer()
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps.clear()
        self.cpu.clear()
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps.append((now - self._last) * 1000.0)
        self.cpu.append((cpu - self._last_cpu) * 1000.0)
        self._last, self._last_cpu = now, cpu


def wait_until(app, pred, timeout: float, what: str) -> None:
    """Run the event loop as the app does (sleeping when idle) until pred(), checked every 5 ms.
    (Until 2026-12-01 this spun processEvents in a loop: the harness itself kept the GUI thread
    and the GIL busy, slowing the render thread it measured by ~10-15% on 2 cores.)"""
    from PySide6.QtCore import QEventLoop, QTimer

    end = time.perf_counter() + timeout
    if pred():
        return
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: loop.quit() if pred() or time.perf_counter() > end else None)
    timer.start()
    loop.exec()
    timer.stop()
    if not pred():
        print(f"timed out waiting for {what}", file=sys.stderr)
        sys.exit(1)


def settle(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def grid_run(app, win, n: int, timeout: float, scroll: bool) -> dict:
    """A fresh batch (nothing cached) until its first n cells have thumbnails, the probe watching.
    scroll=True: the user scrolls down a third of a screen every 150 ms until cell n is on screen,
    then waits for the screen to fill (cells scrolled past unrendered are let go, as in use)."""
    svc = win.bridge.service
    rendered0 = svc.stats.snapshot()["images_rendered"]
    probe = StallProbe()
    pages0 = len(win.session.pages)      # the new batch has landed once there is one more page
    t0 = time.perf_counter()
    probe.start()
    win.new_batch()
    bar = win.grid_view.verticalScrollBar()
    next_scroll = t0 + 0.15

    def ready() -> bool:
        m = win.grid_model
        if len(win.session.pages) <= pages0 or m.rowCount() < n:
            return False
        rows = win.grid_view.visible_rows() if scroll else range(n)
        return (not scroll or rows.stop >= n) and all(m.cell(r).state == "ready" for r in rows)

    def tick() -> bool:
        nonlocal next_scroll
        if scroll and time.perf_counter() >= next_scroll and len(win.session.pages) > pages0:
            if win.grid_view.visible_rows().stop < n:   # down a third of a screen, until cell n shows
                bar.setValue(bar.value() + win.grid_view.viewport().height() // 3)
            next_scroll = time.perf_counter() + 0.15
        return ready()

    wait_until(app, tick, timeout, f"the {n}-cell grid")
    seconds = time.perf_counter() - t0
    probe.stop()
    gaps = sorted(probe.gaps)
    worst_i = max(range(len(probe.gaps)), key=probe.gaps.__getitem__) if probe.gaps else 0
    return {"seconds": seconds, "images": svc.stats.snapshot()["images_rendered"] - rendered0,
            "worst": gaps[-1] if gaps else 0.0, "worst_cpu": probe.cpu[worst_i] if probe.cpu else 0.0,
            "max_cpu": max(probe.cpu) if probe.cpu else 0.0, "p99": gaps[int(0.99 * (len(gaps) - 1))] if gaps else 0.0,
            "median": statistics.median(gaps) if gaps else 0.0, "ticks": len(gaps),
            "visible": len(win.grid_view.visible_rows())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="checkpoint path, or 'default' (default: the embedded model "
                                                  "when installed, else a random stand-in)")
    ap.add_argument("--cells", type=int, default=200)
    ap.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--make-stand-in", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--first-screen", action="store_true",
                    help="only launch -> first screen -> every visible cell in full quality (big models)")
    ap.add_argument("--batch-log", action="store_true", help="print the render batches of the first screen")
    ap.add_argument("--no-previews", action="store_true", help="thumbnails in full quality from the start")
    ap.add_argument("--compare-previews", action="store_true",
                    help="--first-screen twice, with and without previews, side by side (two processes)")
    ap.add_argument("--compare-precision", action="store_true",
                    help="--first-screen three times in fresh processes sharing one user folder: float32; "
                         "precision auto on first open (it measures bfloat16); auto reopened (remembered)")
    args = ap.parse_args(argv)
    if args.compare_precision:
        return compare_precision(args)
    if args.make_stand_in:
        stand_in_model(Path(args.make_stand_in))
        return 0
    if args.compare_previews:
        return compare_previews(args)
    os.environ["QT_QPA_PLATFORM"] = args.platform
    tmp = Path(tempfile.mkdtemp(prefix="bench_ui_"))
    default_file = ROOT / "resources" / "default_model.safetensors"   # (importing the engine would load torch)
    model = args.model or ("default" if default_file.is_file() else None)
    if model is None:   # made by a child process, so the launch below starts cold like a real one
        import subprocess

        subprocess.run([sys.executable, __file__, "--make-stand-in", str(tmp)], check=True)
        model = str(tmp / "stand_in.safetensors")

    t_launch = time.perf_counter()
    from PySide6.QtCore import QSettings

    from ui.app import make_app
    from ui.main_window import MainWindow

    app = make_app()
    win = MainWindow(settings=QSettings(str(tmp / "settings.ini"), QSettings.IniFormat), model=model)
    win.thumbs.previews = not args.no_previews
    win.resize(1600, 1000)
    win.show()
    app.processEvents()
    t_window = time.perf_counter()

    def screen_ready() -> bool:
        if win.generator is None:
            return False
        rows = win.grid_view.visible_rows()
        return len(rows) > 0 and all(win.grid_model.cell(r).state == "ready" for r in rows)

    wait_until(app, lambda: win.generator is not None or not win.loader.busy, args.timeout, "the model")
    if win.generator is None:
        print(f"could not load {model}: {win.empty.detail.text()}", file=sys.stderr)
        return 1
    t_model = time.perf_counter()
    probe = StallProbe()
    probe.start()
    wait_until(app, screen_ready, args.timeout, "the first screen")
    t_first = time.perf_counter()
    first_cells = len(win.grid_view.visible_rows())
    if args.batch_log:
        for rec in list(win.bridge.service.stats.batch_log):
            print(f"batch {rec.priority.name:11s} n={rec.n:3d} {rec.seconds * 1000:7.0f} ms  "
                  f"ended {rec.ended - t_launch:6.2f} s after launch")
    gen, svc = win.generator, win.bridge.service
    if args.first_screen:
        wait_until(app, lambda: screen_ready() and not any(win.grid_model.cell(r).preview
                                                           for r in win.grid_view.visible_rows()),
                   args.timeout, "the refined screen")
        t_full = time.perf_counter()
        probe.stop()
        i = gen.info
        choice = svc.precision_choice
        print(f"model: {gen.name} ({i.arch}, {i.resolution}px); previews {'off' if args.no_previews else 'on'}; "
              f"thumbnails {win.thumbs.request_size()} px; {svc.num_threads or 'default'} render thread(s); "
              f"precision {svc.precision}" + (f" ({choice.reason})" if choice is not None else ""))
        print(f"RESULT first_screen_s={t_first - t_launch:.2f} refined_s={t_full - t_launch:.2f} "
              f"cells={first_cells} model_s={t_model - t_launch:.2f} stall_ms={max(probe.gaps or [0]):.1f}")
        win.close()
        app.processEvents()
        return 0
    probe.stop()

    settle(app, 0.5)
    browse = grid_run(app, win, args.cells, args.timeout, scroll=True)
    win.inspector_dock.hide()            # all n cells on one screen: the most painting at once
    win.size_slider.setValue(64)
    settle(app, 1.0)
    wall = grid_run(app, win, args.cells, args.timeout, scroll=False)

    i = gen.info
    print(f"model: {gen.name} ({i.arch}, {i.resolution}px, z {i.z_dim}, w {i.w_dim}, "
          f"{i.num_params / 1e6:.2f}M params); rendering on {svc.device.type} {svc.precision} with "
          f"{svc.num_threads or 'default'} thread(s); {os.cpu_count()} CPU cores; Qt {args.platform}; window 1600x1000")
    print(f"launch -> window on screen (imports incl.): {t_window - t_launch:6.2f} s")
    print(f"launch -> model loaded (background):       {t_model - t_launch:6.2f} s")
    print(f"launch -> first full screen ({first_cells:3d} thumbs):  {t_first - t_launch:6.2f} s")
    for name, r in (("browsing (144 px thumbs, scrolling)", browse), (f"wall ({r_vis(wall)} on screen, 64 px)", wall)):
        verdict = "OK" if r["worst"] <= TARGET_STALL_MS else "OVER"
        print(f"{args.cells} cells, {name}: {r['seconds']:.2f} s, {r['images']} images "
              f"({r['images'] / max(r['seconds'], 1e-9):.1f}/s)")
        print(f"    event-loop stall: longest {r['worst']:.1f} ms (of it {r['worst_cpu']:.1f} ms the window's own "
              f"CPU work), p99 {r['p99']:.1f} ms, median {r['median']:.1f} ms over {r['ticks']} ticks; longest "
              f"own-CPU spell {r['max_cpu']:.1f} ms (target: no stall over {TARGET_STALL_MS:.0f} ms) -> {verdict}")
    win.close()
    app.processEvents()
    return 0


def compare_precision(args) -> int:
    """Three fresh processes, one user folder: float32, auto (measures on its first batch), auto again."""
    import subprocess

    if not args.model:
        print("--compare-precision needs --model", file=sys.stderr)
        return 2
    home = tempfile.mkdtemp(prefix="bench_ui_home_")
    rows = []
    for label, precision in (("float32", "float32"), ("auto, first open (measures)", "auto"),
                             ("auto, reopened (remembered)", "auto")):
        env = dict(os.environ, LATENT_EXPLORER_HOME=home, LATENT_EXPLORER_PRECISION=precision)
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--first-screen",
                              "--timeout", str(args.timeout), "--platform", args.platform],
                             capture_output=True, text=True, env=env)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
        if line is None:
            print(out.stdout + out.stderr, file=sys.stderr)
            return 1
        info = next(x for x in out.stdout.splitlines() if x.startswith("model:"))
        print(info)
        rows.append((label, info.rsplit("precision ", 1)[-1], dict(kv.split("=") for kv in line.split()[1:])))
    print("| | precision | first screen (s) | every visible cell in full (s) | longest stall (ms) | cells |")
    print("|---|---|---|---|---|---|")
    for label, prec, r in rows:
        print(f"| {label} | {prec} | {r['first_screen_s']} | {r['refined_s']} | {r['stall_ms']} | {r['cells']} |")
    return 0


def compare_previews(args) -> int:
    """Two fresh processes (nothing cached, same model): previews on, previews off."""
    import subprocess

    if not args.model:
        print("--compare-previews needs --model (a big StyleGAN2 skip checkpoint)", file=sys.stderr)
        return 2
    found = {}
    for label, extra in (("previews on", []), ("previews off", ["--no-previews"])):
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--first-screen",
                              "--timeout", str(args.timeout), "--platform", args.platform] + extra,
                             capture_output=True, text=True)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
        if line is None:
            print(out.stdout + out.stderr, file=sys.stderr)
            return 1
        found[label] = dict(kv.split("=") for kv in line.split()[1:])
        print(next(x for x in out.stdout.splitlines() if x.startswith("model:")))
    print("| | first screen (s) | every visible cell in full (s) | longest stall (ms) | cells |")
    print("|---|---|---|---|---|")
    for label, r in found.items():
        print(f"| {label} | {r['first_screen_s']} | {r['refined_s']} | {r['stall_ms']} | {r['cells']} |")
    on, off = found["previews on"], found["previews off"]
    print(f"first screen, on / off: {float(on['first_screen_s']) / float(off['first_screen_s']):.2f}x")
    return 0


def r_vis(r: dict) -> str:
    return f"{r['visible']} cells"


if __name__ == "__main__":
    sys.exit(main())
