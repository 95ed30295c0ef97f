"""`latent-explorer library ...`: the face library from the command line, for scripts and checks.

    latent-explorer library list [--tag T] [--min-stars N] [--collection C] [--search TEXT] [--json]
    latent-explorer library add PNG... [--tag T] [--stars N] [--collection C] [--model M]
    latent-explorer library export COLLECTION --out DIR|ZIP [--size S] [--model M]
    latent-explorer library import DIR|ZIP|PNG [--collection C]
    latent-explorer library contact-sheet COLLECTION --out SHEET.png

COLLECTION is a collection's name, or `all`. `--library FILE` uses another library file than the
one in the user data folder (LATENT_EXPLORER_HOME relocates that).
"""
from __future__ import annotations

import json
import sys
import time


def _open(args):
    from .library import Library

    lib = Library(args.library)
    if lib.message:
        print(f"note: {lib.message}", file=sys.stderr)
    return lib


def _faces_or_say_why(lib, name: str) -> list[int]:
    """The collection's faces in order; [] after printing why there are none."""
    try:
        ids = _ids_of(lib, name)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return []
    if not ids:
        print(f"error: {name!r} holds no faces", file=sys.stderr)
    return ids


def _ids_of(lib, name: str) -> list[int]:
    from .library import LibraryFilter

    if name.lower() == "all":
        return lib.find()
    return lib.find(LibraryFilter(collection=name, sort="position", descending=False))


def cmd_list(args) -> int:
    from .library import LibraryFilter, parse_query

    with _open(args) as lib:
        flt = parse_query(args.search or "", lib.directions(),
                          LibraryFilter(min_stars=args.min_stars, tags=list(args.tag or []),
                                        collection=args.collection, sort=args.sort,
                                        descending=args.sort not in ("name", "position")))
        try:
            ids = lib.find(flt, limit=args.limit)
        except KeyError as e:
            print(f"error: {e.args[0]}", file=sys.stderr)
            return 1
        items = lib.items(ids, with_recipe=args.json)
        if args.json:
            from .latents import describe

            out = [{"id": i.id, "uid": i.uid, "name": i.name, "stars": i.stars, "flag": i.flag, "color": i.color,
                    "tags": list(i.tags), "notes": i.notes, "model": i.model, "model_name": i.model_name,
                    "model_path": i.model_path, "created": i.created, "recipe": i.recipe,
                    "description": describe(i.recipe or {})} for i in items]
            print(json.dumps(out, indent=1))
            return 0
        for i in items:
            stars = "*" * i.stars + "." * (5 - i.stars)
            flag = {1: " pick", -1: " reject"}.get(i.flag, "")
            tags = f"  #{' #'.join(i.tags)}" if i.tags else ""
            print(f"{i.id:6d}  {stars}{flag}  {i.name or '(unnamed)'}{tags}  "
                  f"[{i.model_name or i.model[:10]}, {time.strftime('%Y-%m-%d %H:%M', time.localtime(i.created))}]")
        print(f"{len(items)} of {lib.count()} faces", file=sys.stderr)
    return 0


def cmd_add(args) -> int:
    from .library.transfer import LibraryFileError, import_faces

    model = None
    if args.model:
        from . import load_generator

        model = load_generator(args.model)
    failures = 0
    with _open(args) as lib:
        for p in args.pngs:
            try:
                ids, problems = import_faces(lib, p, collection=args.collection, model=model,
                                             model_path=args.model or "")
            except (LibraryFileError, OSError) as e:
                print(f"error: {e}", file=sys.stderr)
                failures += 1
                continue
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
                failures += 1
            if ids and (args.tag or args.stars is not None):
                if args.tag:
                    lib.add_tags(ids, args.tag)
                if args.stars is not None:
                    lib.update(ids, stars=args.stars)
            for fid in ids:
                print(f"{fid}\t{p}")
    return 1 if failures else 0


def _renderer(args):
    """Faces of --model rendered at --size (None without --model: stored thumbnails)."""
    from .library.transfer import render_with

    if not args.model:
        return None
    from . import load_generator

    gen = load_generator(args.model)
    return render_with(gen, args.size)


def cmd_export(args) -> int:
    from .library.transfer import export_faces

    with _open(args) as lib:
        ids = _faces_or_say_why(lib, args.collection)
        if not ids:
            return 1
        render = _renderer(args)
        files = export_faces(lib, ids, args.out, name=args.collection, render=render)
        print(f"wrote {len(files)} faces to {args.out}" + ("" if render else
              " (stored thumbnails: give --model to render them at --size)"))
    return 0


def cmd_import(args) -> int:
    from .library.transfer import LibraryFileError, import_faces

    with _open(args) as lib:
        try:
            ids, problems = import_faces(lib, args.source, collection=args.collection)
        except (LibraryFileError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"imported {len(ids)} faces")
    return 1 if problems and not ids else 0


def cmd_sheet(args) -> int:
    from .library.transfer import contact_sheet

    with _open(args) as lib:
        ids = _faces_or_say_why(lib, args.collection)
        if not ids:
            return 1
        contact_sheet(lib, ids, args.out, columns=args.columns, cell=args.cell, title=args.collection)
        print(f"wrote {args.out} ({len(ids)} faces)")
    return 0


def register(sub) -> None:
    lib = sub.add_parser("library", help="the face library: list, add, export, import, contact sheets")
    lib.add_argument("--library", default=None, help="library file (default: the one in the user data folder)")
    cmds = lib.add_subparsers(dest="library_command", required=True)

    ls = cmds.add_parser("list", help="list kept faces (newest first)")
    ls.add_argument("--tag", action="append", help="only faces with this tag (repeatable: all of them)")
    ls.add_argument("--min-stars", type=int, default=0, choices=range(0, 6))
    ls.add_argument("--collection", default=None)
    ls.add_argument("--search", default=None, help="search text, as in the Library dock (e.g. 'smile > 1 #hero')")
    ls.add_argument("--sort", default="created", choices=["created", "modified", "name", "stars"])
    ls.add_argument("--limit", type=int, default=None)
    ls.add_argument("--json", action="store_true", help="print JSON (with recipes)")
    ls.set_defaults(func=cmd_list)

    add = cmds.add_parser("add", help="keep faces from PNGs exported by the app (or a folder / zip of them)")
    add.add_argument("pngs", nargs="+")
    add.add_argument("--tag", action="append")
    add.add_argument("--stars", type=int, default=None, choices=range(0, 6))
    add.add_argument("--collection", default=None)
    add.add_argument("--model", default=None, help="the model to map seed-only PNGs with")
    add.set_defaults(func=cmd_add)

    ex = cmds.add_parser("export", help="write a collection as recipe PNGs + collection.json (a folder or .zip)")
    ex.add_argument("collection", help="a collection's name, or 'all'")
    ex.add_argument("--out", required=True)
    ex.add_argument("--model", default=None, help="render the faces of this model (default: stored thumbnails)")
    ex.add_argument("--size", type=int, default=None, help="picture side in pixels with --model (default: the model's)")
    ex.set_defaults(func=cmd_export)

    im = cmds.add_parser("import", help="add an exported collection (folder or zip)")
    im.add_argument("source")
    im.add_argument("--collection", default=None, help="put the faces in this collection (default: the export's name)")
    im.set_defaults(func=cmd_import)

    cs = cmds.add_parser("contact-sheet", help="one PNG of a collection's faces with labels")
    cs.add_argument("collection", help="a collection's name, or 'all'")
    cs.add_argument("--out", required=True)
    cs.add_argument("--columns", type=int, default=None)
    cs.add_argument("--cell", type=int, default=160)
    cs.set_defaults(func=cmd_sheet)
