"""Faces in and out of the library: recipe PNGs, collections as a folder or zip, contact sheets.

An exported collection is a folder (or a zip of one) of PNGs, each carrying its face's whole
latent and what the library knows of it (name, notes, stars, flag, colour, tags, uid), plus
`collection.json` listing them in order. Importing reads either back; a PNG exported one at a
time by the app (or `latent-explorer generate`) can be added as well. Nothing in a file is
executed; zips are checked for size before anything is unpacked.
"""
from __future__ import annotations

import io
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import FileProblem
from ..export import atomic_path, save_png
from ..latents import Latent
from .store import COLOURS, FLAGS, Library, LibraryItem

MANIFEST = "collection.json"
MAX_WS = (64, 4096)                 # styles larger than any StyleGAN: refused
MAX_ZIP_ENTRIES = 20_000
MAX_ZIP_ENTRY_BYTES = 64 * 2 ** 20
MAX_ZIP_TOTAL_BYTES = 4 * 2 ** 30
MAX_PNG_PIXELS = 50_000_000

Renderer = Callable[[Sequence[Latent]], "list[np.ndarray | None]"]


class LibraryFileError(FileProblem, ValueError):
    """A file or folder that cannot be imported; str() is one sentence."""


# ----- one PNG -------------------------------------------------------------------------------

def face_from_png_bytes(data: bytes, name: str, model=None) -> tuple[Latent, np.ndarray, dict]:
    """(latent, picture, what the library knew of it) from an exported face PNG. Faces of any
    model are read from their stored latent; a seed-only PNG (`latent-explorer generate`) needs
    `model` to map its seed."""
    from PIL import Image

    from ..export import RECIPE_KEY

    try:
        im = Image.open(io.BytesIO(data))
        if im.format != "PNG":
            raise LibraryFileError(f"{name} is not a PNG.")
        if im.size[0] * im.size[1] > MAX_PNG_PIXELS:
            raise LibraryFileError(f"{name} is {im.size[0]}x{im.size[1]} pixels: too large for a face picture.")
        text = (getattr(im, "text", None) or {}).get(RECIPE_KEY)
        picture = np.asarray(im.convert("RGB"))
    except LibraryFileError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises many types on crafted files
        raise LibraryFileError(f"{name} could not be read as a PNG ({type(e).__name__}).") from None
    if not text:
        raise LibraryFileError(f"{name} carries no face recipe (only PNGs exported by Latent Explorer do).")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        raise LibraryFileError(f"{name} has a damaged face recipe.") from None
    if not isinstance(meta, dict):
        raise LibraryFileError(f"{name} carries a recipe this version cannot read.")
    if "latent" in meta:
        try:
            lat = Latent.from_json(meta["latent"])
        except Exception as e:  # noqa: BLE001 - any malformed value: one sentence
            raise LibraryFileError(f"{name} has a damaged face recipe ({type(e).__name__}).") from None
        if lat.ws.shape[0] > MAX_WS[0] or lat.ws.shape[1] > MAX_WS[1] or not np.isfinite(lat.ws).all():
            raise LibraryFileError(f"{name} holds styles that are not a face's (shape {lat.ws.shape}, or not finite).")
    elif model is not None:
        import tempfile

        from ..face_files import FaceFileError, latent_from_png

        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / (Path(name).name or "face.png")
            p.write_bytes(data)
            try:
                lat, _warning = latent_from_png(p, model)
            except FaceFileError as e:
                raise LibraryFileError(str(e)) from None
    else:
        raise LibraryFileError(f"{name} names only a seed: give the model it was made with (--model) to add it.")
    known = meta.get("library") if isinstance(meta.get("library"), dict) else {}
    model_meta = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    known = dict(known)
    known.setdefault("model_name", str(model_meta.get("name") or ""))
    if not known.get("name"):
        from ..latents import describe

        label = meta.get("label") if isinstance(meta.get("label"), str) else describe(lat.recipe, short=True)
        known["name"] = label
    return lat, picture, known


def library_fields(known: dict) -> dict:
    """`Library.add` keyword arguments from what a file says of a face, each checked."""
    out = {}
    if isinstance(known.get("name"), str):
        out["name"] = known["name"]
    if isinstance(known.get("notes"), str):
        out["notes"] = known["notes"]
    if isinstance(known.get("stars"), int) and 0 <= known["stars"] <= 5:
        out["stars"] = known["stars"]
    if known.get("flag") in FLAGS:
        out["flag"] = known["flag"]
    if known.get("color") in COLOURS:
        out["color"] = known["color"]
    if isinstance(known.get("tags"), list):
        out["tags"] = [t for t in known["tags"] if isinstance(t, str)][:100]
    if isinstance(known.get("uid"), str) and re.fullmatch(r"[0-9a-f]{32}", known["uid"]):
        out["uid"] = known["uid"]
    if isinstance(known.get("created"), (int, float)) and math.isfinite(known["created"]) and known["created"] > 0:
        out["created"] = float(known["created"])
    for k in ("model_name", "model_path"):
        if isinstance(known.get(k), str):
            out[k] = known[k]
    return out


# ----- export --------------------------------------------------------------------------------

def item_record(item: LibraryItem) -> dict:
    return {"uid": item.uid, "name": item.name, "notes": item.notes, "stars": item.stars, "flag": item.flag,
            "color": item.color, "tags": list(item.tags), "model": item.model, "model_name": item.model_name,
            "model_path": item.model_path, "created": item.created}


def _safe_stem(item: LibraryItem, n: int) -> str:
    text = re.sub(r"[^0-9A-Za-z._-]+", "-", item.name).strip("-.")[:60]
    return f"{n:04d}-{text}" if text else f"{n:04d}-face"


def export_faces(lib: Library, ids: Sequence[int], out: str | Path, *, name: str = "export",
                 render: Renderer | None = None, progress: Callable[[float], None] | None = None) -> list[Path]:
    """Write the faces `ids` as recipe PNGs + `collection.json` into the folder `out`, or into a
    zip when `out` ends in .zip. `render(latents)` gives each face's picture at the chosen size
    (None: that face's model is not loaded, its stored thumbnail is written instead). Returns the
    pictures' paths (inside the zip: their names)."""
    from ..face_files import png_payload

    out = Path(out)
    items = lib.items(ids)
    latents = [lib.latent(i.id) for i in items]
    pictures = render(latents) if render is not None else [None] * len(items)
    records, files, blobs = [], [], []
    for n, (item, lat, pic) in enumerate(zip(items, latents, pictures), 1):
        if pic is None:
            from PIL import Image

            thumb = lib.thumbnail(item.id)
            pic = np.asarray(Image.open(io.BytesIO(thumb)).convert("RGB")) if thumb else np.zeros((64, 64, 3), np.uint8)
        rec = item_record(item)
        payload = png_payload(lat, item.model_name, extra={"library": rec})
        fname = f"{_safe_stem(item, n)}.png"
        rec["file"] = fname
        records.append(rec)
        blobs.append((fname, pic, payload))
        if progress is not None:
            progress(n / max(1, len(items)) * 0.9)
    manifest = {"app": "latent-explorer", "kind": "library-collection", "version": 1, "name": name, "faces": records}
    if out.suffix.lower() == ".zip":
        with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for fname, pic, payload in blobs:
                zf.writestr(fname, _png_bytes(pic, payload))
                files.append(Path(fname))
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
    else:
        out.mkdir(parents=True, exist_ok=True)
        for fname, pic, payload in blobs:
            files.append(save_png(out / fname, pic, recipe=payload))
        with atomic_path(out / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1))
    if progress is not None:
        progress(1.0)
    return files


def _png_bytes(pic: np.ndarray, payload: dict) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        p = save_png(Path(tmp) / "f.png", pic, recipe=payload)
        return p.read_bytes()


# ----- import --------------------------------------------------------------------------------

def _zip_entries(path: Path) -> list[tuple[str, Callable[[], bytes]]]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise LibraryFileError(f"{path.name} is not a readable zip file ({e}).") from None
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > MAX_ZIP_ENTRIES:
        raise LibraryFileError(f"{path.name} holds {len(infos)} files; at most {MAX_ZIP_ENTRIES} can be imported.")
    total = sum(i.file_size for i in infos)
    if total > MAX_ZIP_TOTAL_BYTES or any(i.file_size > MAX_ZIP_ENTRY_BYTES for i in infos):
        raise LibraryFileError(f"{path.name} unpacks to {total / 2 ** 30:.1f} GiB or holds a file over "
                               f"{MAX_ZIP_ENTRY_BYTES // 2 ** 20} MiB: too large for a collection of faces.")

    def reader(info):
        def read() -> bytes:
            with zf.open(info) as f:
                data = f.read(info.file_size + 1)
            if len(data) > info.file_size:
                raise LibraryFileError(f"{info.filename} in {path.name} is larger than its header says.")
            return data
        return read

    return [(Path(i.filename).name, reader(i)) for i in infos if Path(i.filename).suffix.lower() in (".png", ".json")]


def _folder_entries(path: Path) -> list[tuple[str, Callable[[], bytes]]]:
    out = []
    for p in sorted(path.iterdir()):
        if p.is_file() and p.suffix.lower() in (".png", ".json"):
            if p.stat().st_size > MAX_ZIP_ENTRY_BYTES:
                continue
            out.append((p.name, p.read_bytes))
    return out


def import_faces(lib: Library, source: str | Path, *, collection: str | None = None, model=None,
                 model_path: str = "", progress: Callable[[float], None] | None = None
                 ) -> tuple[list[int], list[str]]:
    """Add the faces of a folder, a zip, or one PNG. Faces already in the library (same uid) are
    not added twice. A collection's manifest restores its order and, unless `collection` names
    another, its name. Returns (ids of the faces, now in the library, in order; problems, one
    sentence each). `model` (loaded from `model_path`) maps seed-only PNGs; its faces remember
    that path."""
    source = Path(source)
    if source.is_dir():
        entries = _folder_entries(source)
    elif source.suffix.lower() == ".zip":
        entries = _zip_entries(source)
    elif source.is_file():
        entries = [(source.name, source.read_bytes)]
    else:
        raise LibraryFileError(f"{source} does not exist.")
    manifest = None
    by_name = {}
    for fname, read in entries:
        if fname == MANIFEST:
            try:
                manifest = json.loads(read())
            except (ValueError, RecursionError):
                manifest = None
        elif fname.lower().endswith(".png"):
            by_name[fname] = read
    order = list(by_name)
    records: dict[str, dict] = {}
    if isinstance(manifest, dict) and isinstance(manifest.get("faces"), list):
        listed = [r for r in manifest["faces"] if isinstance(r, dict) and r.get("file") in by_name]
        records = {r["file"]: r for r in listed}
        order = [r["file"] for r in listed] + [f for f in order if f not in records]
        if collection is None and isinstance(manifest.get("name"), str) and manifest["name"].strip():
            collection = manifest["name"]
    ids, problems, new = [], [], []
    for n, fname in enumerate(order, 1):
        try:
            lat, picture, known = face_from_png_bytes(by_name[fname](), fname, model)
        except (LibraryFileError, OSError) as e:
            problems.append(str(e))
            continue
        fields = library_fields({**known, **records.get(fname, {})})
        if model is not None and model_path and lat.model == str(model.fingerprint) and not fields.get("model_path"):
            fields["model_path"] = str(model_path)
        existing = lib.by_uid(fields["uid"]) if "uid" in fields else None
        if existing is not None:
            ids.append(existing)
        else:
            new.append(len(ids))
            ids.append({"latent": lat, "thumbnail": picture, **fields})
        if progress is not None:
            progress(n / max(1, len(order)) * 0.8)
    added = lib.add_many([ids[k] for k in new]) if new else []
    for k, fid in zip(new, added):
        ids[k] = fid
    if collection and ids:
        try:
            lib.add_to_collection(collection, ids)
        except ValueError as e:            # a smart collection of that name: keep the faces, say so
            problems.append(f"The faces were added, but not to {collection!r}: {e}.")
    if progress is not None:
        progress(1.0)
    return ids, problems


# ----- contact sheet -------------------------------------------------------------------------

def contact_sheet(lib: Library, ids: Sequence[int], path: str | Path, *, columns: int | None = None,
                  cell: int = 160, title: str = "") -> Path:
    """One PNG of the faces' thumbnails in a grid, each labelled with its name (or id) and stars."""
    from PIL import Image, ImageDraw, ImageFont

    items = lib.items(ids)
    if not items:
        raise ValueError("a contact sheet needs at least one face")
    cols = columns or max(1, min(8, math.ceil(math.sqrt(len(items)))))
    rows = math.ceil(len(items) / cols)
    font = ImageFont.load_default()
    label_h, pad, head = 30, 8, (28 if title else 0)
    w = cols * (cell + pad) + pad
    h = head + rows * (cell + label_h + pad) + pad
    sheet = Image.new("RGB", (w, h), (24, 24, 27))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, 8), title, fill=(235, 235, 235), font=font)
    for n, item in enumerate(items):
        r, c = divmod(n, cols)
        x, y = pad + c * (cell + pad), head + pad + r * (cell + label_h + pad)
        thumb = lib.thumbnail(item.id)
        if thumb:
            im = Image.open(io.BytesIO(thumb)).convert("RGB").resize((cell, cell), Image.LANCZOS)
            sheet.paste(im, (x, y))
        label = item.name or f"#{item.id}"
        draw.text((x, y + cell + 3), label[:28], fill=(235, 235, 235), font=font)
        meta = ("★" * item.stars if item.stars else "") + (" " + ", ".join(item.tags) if item.tags else "")
        draw.text((x, y + cell + 16), _ascii_stars(meta)[:30], fill=(170, 170, 170), font=font)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return Path(path)


def _ascii_stars(text: str) -> str:
    """PIL's built-in bitmap font has no star glyph."""
    return text.replace("★", "*")


def render_with(gen, size: int | None = None) -> Renderer:
    """A Renderer for export_faces: faces of `gen`'s model rendered at `size` (others: None)."""
    def render(latents: Iterable[Latent]) -> list:
        from ..render import RenderService

        latents = list(latents)
        mine = [k for k, lat in enumerate(latents) if lat.model == str(gen.fingerprint)]
        out: list = [None] * len(latents)
        if not mine:
            return out
        with RenderService(gen, cache_bytes=0) as svc:
            for k in mine:
                res = svc.render(latents[k].ws[None], size, noise=[latents[k].noise])
                if res.error:
                    raise RuntimeError(f"rendering failed: {res.error}")
                out[k] = res.images[0]
        return out
    return render
