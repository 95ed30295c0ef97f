"""`latent-explorer workspace ...`: the window's autosaved workspaces from the command line.

    latent-explorer workspace show [--file PATH] [--json]   the last workspace's pages and faces
    latent-explorer workspace list [--json]                 the workspaces used, the last one first

`show` prints each page's faces with their labels and recipes (JSON: the whole recipe trees),
what the mixing matrix and the timeline hold, and the model. It reads the file while the
window may be writing it (SQLite WAL: it sees the last save).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _document(path: Path) -> dict:
    from .latents import describe
    from .recipe_text import short_label
    from .workspace import WorkspaceFile

    f = WorkspaceFile(path)
    try:
        if f.message:
            print(f"note: {f.message}", file=sys.stderr)
        doc, faces, saved = f.state() or {}, f.faces(), f.saved_at()
    finally:
        f.close()
    pages = []
    for p in doc.get("pages") or ():
        rows = []
        for uid in p.get("faces") or ():
            if int(uid) in faces:
                lat, origin = faces[int(uid)]
                rows.append({"uid": int(uid), "label": short_label(lat.recipe), "origin": origin,
                             "recipe_text": describe(lat.recipe), "recipe": lat.recipe})
        pages.append({"name": p.get("name"), "seeds_from": (p.get("stream") or [None])[0], "faces": rows})
    matrix = doc.get("matrix") or {}
    timeline = doc.get("timeline") or {}
    return {"path": str(path), "name": path.stem, "saved": saved, "model": doc.get("model") or {},
            "current_page": doc.get("current", 0), "selection": doc.get("selection") or [], "pages": pages,
            "matrix": {"sources": len(matrix.get("sources") or ()), "destinations": len(matrix.get("destinations") or ()),
                       "layers": matrix.get("spec")},
            "timeline": {"keyframes": len(timeline.get("keyframes") or ()), "duration": timeline.get("duration")}
            if timeline else None}


def cmd_show(args) -> int:
    from .workspace import last_path

    path = Path(args.file) if args.file else last_path()
    if path is None:
        print("error: no workspace yet (the window makes one when it opens)", file=sys.stderr)
        return 1
    if not path.exists():
        print(f"error: no workspace file at {path}", file=sys.stderr)
        return 1
    doc = _document(path)
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(doc["saved"])) if doc["saved"] else "never"
    model = doc["model"]
    print(f"workspace {doc['name']} ({doc['path']}), saved {when}")
    print(f"model {model.get('name') or '?'} ({model.get('path') or '?'}), fingerprint {model.get('fingerprint') or '?'}")
    for i, page in enumerate(doc["pages"]):
        mark = " (shown)" if i == doc["current_page"] else ""
        print(f"page {page['name']}{mark}: {len(page['faces'])} faces")
        for face in page["faces"]:
            print(f"  {face['uid']:>6}  {face['label']:<28}  {face['recipe_text']}")
    m = doc["matrix"]
    if m["sources"] or m["destinations"]:
        print(f"mixing matrix: {m['sources']} sources x {m['destinations']} destinations, {m['layers']} layers")
    if doc["timeline"]:
        print(f"timeline: {doc['timeline']['keyframes']} keyframes, {doc['timeline']['duration']} s")
    return 0


def cmd_list(args) -> int:
    from .workspace import recent

    rows = []
    for p in recent():
        rows.append({"path": str(p), "name": p.stem, "modified": p.stat().st_mtime})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(r['modified']))}  {r['name']}  ({r['path']})")
    return 0


def register(sub) -> None:
    w = sub.add_parser("workspace", help="the window's autosaved workspaces: show, list")
    cmds = w.add_subparsers(dest="workspace_command", required=True)
    show = cmds.add_parser("show", help="the last workspace's pages, faces (labels, recipes), matrix, timeline")
    show.add_argument("--file", default=None, help="a workspace file (default: the last one used)")
    show.add_argument("--json", action="store_true", help="print JSON (with whole recipes)")
    show.set_defaults(func=cmd_show)
    ls = cmds.add_parser("list", help="the workspaces used, the last one first")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
