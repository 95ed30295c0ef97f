"""Face library figures at scale (printed; nothing here is asserted).

    .venv/bin/python bench/bench_library.py                  # 100,000 faces (built once, kept in /tmp)
    .venv/bin/python bench/bench_library.py --faces 20000 --db /tmp/lib20k.sqlite

Builds a library of N faces of the default model's shape (10 x 128 styles, float32, bit-exact;
96 px PNG thumbnails; names, notes, tags, stars, flags, collections, five direction scores each),
then measures, side by side in one run:
1. opening it: Library() + the first screen (count, first 200 ids, their 60 items) - target < 1 s;
2. filters and searches (all matching ids, in order, and the count) - target < 100 ms each;
   the full-text search beside the alternative it replaces (LIKE '%word%' over names and notes);
3. scrolling: every step loads one screen of 60 items + their thumbnails, decoded to pixels, over
   the whole library - target: no step > 50 ms; beside loading every thumbnail at open;
4. the window's Library dock itself (offscreen Qt): open to first paint, search as typed, scroll.
"""
from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.latents import Latent  # noqa: E402
from explorer.library import Library, LibraryFilter, encode_thumbnail, parse_query  # noqa: E402

WORDS = ("anna bob cara dmitri elena farid greta hugo ines jonas kira leo mila nora omar petra quinn rosa "
         "sven tara ugo vera wim xena yusuf zoe").split()
NOTE_WORDS = ("poster sketch lead villain hero draft final keep maybe older younger brighter darker "
              "portrait cover client review").split()
TAGS = ("hero villain cast extra poster draft final client-a client-b kids elder glasses").split()
DIRECTIONS = ("smile", "age", "glasses", "hair", "gender")
SCREEN = 60


def build(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    thumbs = [encode_thumbnail(nrng.integers(0, 255, (8, 8, 3), dtype=np.uint8).repeat(12, 0).repeat(12, 1))
              for _ in range(256)]
    t0 = time.perf_counter()
    with Library(path) as lib:
        for name in ("Cast A", "Cast B", "Poster"):
            lib.create_collection(name)
        lib.create_collection("Best smiles", parse_query("smile > 1 stars>=3"))
        batch = 2000
        for start in range(0, n, batch):
            faces = []
            for i in range(start, min(n, start + batch)):
                ws = nrng.standard_normal((10, 128), dtype=np.float32)
                recipe = {"op": "seed", "seed": i, "psi": 0.7, "cutoff": None, "class_index": None}
                faces.append({
                    "latent": Latent(ws=ws, recipe=recipe, model="31d8ea7ddcde66c3" if i % 10 else "a0b1c2d3e4f50617"),
                    "name": f"{rng.choice(WORDS)} {i}", "notes": " ".join(rng.sample(NOTE_WORDS, 3)),
                    "stars": rng.choice((0, 0, 0, 1, 2, 3, 4, 5)), "flag": rng.choice((0, 0, 0, 1, -1)),
                    "tags": rng.sample(TAGS, rng.randint(0, 3)), "thumbnail": thumbs[i % 256],
                    "scores": {d: float(nrng.standard_normal()) for d in DIRECTIONS},
                    "created": 1.7e9 + i * 60.0,
                    "collections": [c for c, p in (("Cast A", 0.02), ("Cast B", 0.01), ("Poster", 0.005))
                                    if rng.random() < p]})
            lib.add_many(faces)
            print(f"\rbuilding: {min(n, start + batch):,} faces, {time.perf_counter() - t0:.0f} s", end="", flush=True)
    print()


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def decode(png: bytes | None):
    from PIL import Image

    return None if png is None else np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--faces", type=int, default=100_000)
    p.add_argument("--db", default=None, help="library file (default /tmp/latent-explorer-bench-N.sqlite)")
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--no-dock", action="store_true", help="skip the window's Library dock (Qt) figures")
    args = p.parse_args()
    path = Path(args.db or f"/tmp/latent-explorer-bench-{args.faces}.sqlite")
    if args.rebuild and path.exists():
        path.unlink()
    if not path.exists():
        build(path, args.faces)
    size = path.stat().st_size / 2 ** 20

    # 1. open
    t0 = time.perf_counter()
    lib = Library(path)
    t_open = time.perf_counter() - t0
    total = lib.count()
    first = lib.find(limit=200)
    items = lib.items(first[:SCREEN])
    pics = [decode(lib.thumbnail(i.id)) for i in items]
    t_first = time.perf_counter() - t0
    print(f"library: {total:,} faces, {size:,.0f} MiB ({path})")
    print("\n## 1. Open (target < 1 s)")
    print(f"Library(): {t_open * 1000:.1f} ms; + count, first 200 ids, first screen of {SCREEN} items with "
          f"thumbnails decoded: {t_first * 1000:.1f} ms (pictures {len(pics)})")

    # 2. filters
    print("\n## 2. Filter and search: all matching ids in order + count (median of 5; target < 100 ms)")
    print("| filter | faces | find ms | count ms |")
    print("|---|---|---|---|")
    queries = [
        ("none (newest first)", LibraryFilter()),
        ("text 'anna'", parse_query("anna")),
        ("text 'poster sketch'", parse_query("poster sketch")),
        ("#hero", parse_query("#hero")),
        ("stars>=4", parse_query("stars>=4")),
        ("stars>=4 sorted by name", parse_query("stars>=4", base=LibraryFilter(sort="name", descending=False))),
        ("is:pick color any #client-a", parse_query("is:pick #client-a")),
        ("in:'Cast A'", parse_query('in:"Cast A"')),
        ("smart collection 'Best smiles'", parse_query('in:"Best smiles"')),
        ("model:a0b1", parse_query("model:a0b1")),
        ("smile > +1 sigma and glasses", parse_query("smile > 1 sigma and glasses", list(DIRECTIONS))),
        ("text + stars + tag + semantic", parse_query("anna stars>=2 #hero age < 0", list(DIRECTIONS))),
    ]
    worst = 0.0
    for name, flt in queries:
        ms, ids = timed(lambda f=flt: lib.find(f))
        cms, _ = timed(lambda f=flt: lib.count(f))
        worst = max(worst, ms, cms)
        print(f"| {name} | {len(ids):,} | {ms:.1f} | {cms:.1f} |")
    print(f"slowest: {worst:.1f} ms")
    fts_ms, fts_ids = timed(lambda: lib.find(parse_query("poster")))
    like_ms, like_ids = timed(lambda: [r[0] for r in lib.con.execute(
        "SELECT id FROM faces WHERE name LIKE '%poster%' OR notes LIKE '%poster%' ORDER BY created DESC, id DESC")])
    print(f"full-text 'poster' (FTS5): {fts_ms:.1f} ms vs LIKE scan over names and notes {like_ms:.1f} ms "
          f"({like_ms / max(fts_ms, 1e-6):.1f}x); same faces: {set(like_ids) <= set(fts_ids)}")

    # 3. scroll
    print(f"\n## 3. Scroll: one screen ({SCREEN} items + thumbnails decoded) per step (target: no step > 50 ms)")
    ids = lib.find()
    steps = []
    for start in range(0, len(ids), SCREEN * 25):      # every 25th screen over the whole library
        t0 = time.perf_counter()
        screen = lib.items(ids[start:start + SCREEN])
        _ = [decode(lib.thumbnail(i.id)) for i in screen]
        steps.append((time.perf_counter() - t0) * 1000)
    print(f"{len(steps)} steps: median {statistics.median(steps):.1f} ms, max {max(steps):.1f} ms")
    t0 = time.perf_counter()
    eager = [bytes(r[0]) for r in lib.con.execute("SELECT png FROM thumbs")]
    t_eager = time.perf_counter() - t0
    print(f"alternative, every thumbnail read at open (undecoded): {t_eager * 1000:.0f} ms, "
          f"{sum(map(len, eager)) / 2 ** 20:.0f} MiB ({t_eager / max(t_first, 1e-6):.0f}x the lazy first screen)")
    lib.close()
    if not args.no_dock:
        dock(path)
    return 0


def dock(path: Path) -> None:
    """4. The window's Library dock on this library (offscreen Qt): first screen painted, search
    as typed, and scrolling with thumbnails loaded lazily as rows come on screen."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from ui.library_dock import LibraryPanel

    app = QApplication.instance() or QApplication([])
    print("\n## 4. The Library dock (offscreen, 420 x 900 px; targets: open < 1 s, search < 100 ms, "
          "no scroll step > 50 ms)")
    t0 = time.perf_counter()
    lib = Library(path)
    panel = LibraryPanel(lib, directions=lambda: list(DIRECTIONS))
    panel.resize(420, 900)
    panel.show()
    app.processEvents()
    panel.view.viewport().repaint()
    t_open = time.perf_counter() - t0
    print(f"open the library + the dock + first screen painted: {t_open * 1000:.0f} ms "
          f"({panel.model.rowCount():,} faces listed)")
    typed = []
    for text in ("a", "an", "ann", "anna", "anna #hero", "anna #hero stars>=3", "smile > 1 and glasses", ""):
        panel.search.setText(text)
        t0 = time.perf_counter()
        panel.refresh()
        app.processEvents()                      # the list lays itself out ...
        panel.view.viewport().repaint()          # ... and paints the screen (thumbnails read)
        typed.append(((time.perf_counter() - t0) * 1000, text, panel.model.rowCount()))
    for ms, text, n in typed:
        print(f"search {text!r:28} -> {n:>7,} faces: {ms:.1f} ms (filter + repaint)")
    bar = panel.view.verticalScrollBar()
    turns, last, t_start = [], -1, time.perf_counter()
    t_changed = t_start
    while time.perf_counter() - t_changed < 1.0 and time.perf_counter() - t_start < 60:
        # the list lays out its rows in batches, one batch per event-loop turn
        t0 = time.perf_counter()
        app.processEvents()
        turns.append((time.perf_counter() - t0) * 1000)
        if bar.maximum() != last:
            last, t_changed = bar.maximum(), time.perf_counter()
        time.sleep(0.001)
    print(f"layout of all rows: {(t_changed - t_start) * 1000:.0f} ms of wall time, longest event-loop turn "
          f"{max(turns):.1f} ms (the window answers between turns); scroll range {bar.maximum():,} px")
    steps = []
    page = max(1, bar.pageStep())
    for v in range(0, bar.maximum() + 1, max(page, bar.maximum() // 400)):   # ~400 jumps down the whole list
        t0 = time.perf_counter()
        bar.setValue(v)
        app.processEvents()
        panel.view.viewport().repaint()
        steps.append((time.perf_counter() - t0) * 1000)
    smooth = []
    for _ in range(60):                                                     # and wheel-like small steps
        t0 = time.perf_counter()
        bar.setValue(bar.value() - bar.singleStep() * 3)
        app.processEvents()
        panel.view.viewport().repaint()
        smooth.append((time.perf_counter() - t0) * 1000)
    print(f"thumbnails read and decoded while scrolling: {panel.model.thumbs_read}")
    print(f"scroll: {len(steps)} page jumps over the list: median {statistics.median(steps):.1f} ms, "
          f"max {max(steps):.1f} ms; {len(smooth)} small steps: median {statistics.median(smooth):.1f} ms, "
          f"max {max(smooth):.1f} ms")
    panel.stop()
    lib.close()


if __name__ == "__main__":
    sys.exit(main())
