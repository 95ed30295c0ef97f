"""Workspace autosave figures (printed; nothing asserted).

    .venv/bin/python bench/bench_workspace.py [--faces 2000] [--num-ws 18] [--w-dim 512]

A session of N faces the shape of an FFHQ-1024 model's (18 x 512 styles) over pages of 48, a
mixing matrix and a timeline, then side by side in one run:
1. what each autosave costs as the user works: the incremental SQLite save (new faces once, the
   small state document replaced; one transaction) against rewriting the whole workspace as one
   JSON file (temp file + rename), the obvious alternative;
2. reopening: open the file and rebuild the session.
The window saves at most AUTOSAVE_MS (300 ms) after a change, so a kill loses at most that.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.latents import Latent  # noqa: E402
from explorer.session import Face, MatrixState, Page, SeedStream, Session  # noqa: E402
from explorer.timeline import Keyframe, Timeline  # noqa: E402
from explorer.workspace import WorkspaceFile  # noqa: E402


def face(i: int, shape) -> Face:
    ws = np.random.default_rng(i).standard_normal(shape, dtype=np.float32)
    return Face(Latent(ws=ws, recipe={"op": "seed", "seed": i, "psi": 0.7}, model="ffhq1024"), origin="seed")


def json_save(session: Session, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(session.to_json(), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--faces", type=int, default=2000)
    p.add_argument("--num-ws", type=int, default=18)
    p.add_argument("--w-dim", type=int, default=512)
    args = p.parse_args()
    shape = (args.num_ws, args.w_dim)
    s = Session()
    s.set_model("ffhq.pkl", "ffhq1024", "FFHQ 1024")
    for start in range(0, args.faces, 48):
        if start:
            s.add_page(Page(s.next_page_name(), stream=SeedStream(start)))
        s.append([face(i, shape) for i in range(start, min(args.faces, start + 48))])
    s.matrix = MatrixState([face(10**6 + i, shape).latent for i in range(3)],
                           [face(10**6 + 10 + i, shape).latent for i in range(3)])
    tl = Timeline()
    tl.keyframes = [Keyframe(latent=face(10**7 + i, shape).latent, position=i / 4) for i in range(5)]
    s.timeline = tl
    folder = Path(tempfile.mkdtemp(prefix="ws-bench-"))
    f = WorkspaceFile(folder / "w.lxws")
    jpath = folder / "w.json"
    print(f"session: {s.face_count():,} faces of {shape[0]} x {shape[1]} styles on {len(s.pages)} pages, "
          "a 3 x 3 matrix, a 5-keyframe timeline")
    print("\n## 1. One autosave (ms; median of the steps; same session, same disk)")
    print("| step | SQLite, incremental | whole JSON rewrite | ratio |")
    print("|---|---|---|---|")
    rows = [("first save (every face)", timed(lambda: f.save(s)), timed(lambda: json_save(s, jpath)))]
    adds, jadds, sel, jsel, batch, jbatch = [], [], [], [], [], []
    uid = 2 * 10**6
    for k in range(20):
        s.append([face(uid + k, shape)])
        adds.append(timed(lambda: f.save(s)))
        jadds.append(timed(lambda: json_save(s, jpath)))
        s.select([s.page.faces[k].uid])
        sel.append(timed(lambda: f.save(s)))
        jsel.append(timed(lambda: json_save(s, jpath)))
    for k in range(3):
        s.add_page(Page(s.next_page_name()))
        s.append([face(uid + 1000 + 48 * k + i, shape) for i in range(48)])
        batch.append(timed(lambda: f.save(s)))
        jbatch.append(timed(lambda: json_save(s, jpath)))
    rows += [("one face made (mix, edit)", statistics.median(adds), statistics.median(jadds)),
             ("selection changed", statistics.median(sel), statistics.median(jsel)),
             ("New Batch (48 faces, a page)", statistics.median(batch), statistics.median(jbatch))]
    for name, a, b in rows:
        print(f"| {name} | {a:.1f} | {b:.1f} | {b / max(a, 1e-6):.1f}x |")
    f.close()
    print(f"\nfiles: SQLite {os.path.getsize(folder / 'w.lxws') / 2**20:.1f} MiB "
          f"(+ WAL {os.path.getsize(folder / 'w.lxws-wal') / 2**20 if (folder / 'w.lxws-wal').exists() else 0:.1f}), "
          f"JSON {os.path.getsize(jpath) / 2**20:.1f} MiB")
    print("\n## 2. Reopen (open + rebuild the session)")
    t_open = []
    for _ in range(3):
        t0 = time.perf_counter()
        g = WorkspaceFile(folder / "w.lxws")
        back = Session()
        g.load_into(back)
        g.close()
        t_open.append((time.perf_counter() - t0) * 1000)
    t_json = []
    for _ in range(3):
        t0 = time.perf_counter()
        Session.from_json(json.loads(jpath.read_text()))
        t_json.append((time.perf_counter() - t0) * 1000)
    print(f"SQLite: {statistics.median(t_open):.0f} ms ({back.face_count():,} faces); "
          f"JSON: {statistics.median(t_json):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
