"""The face library: kept faces with what a designer curates about them, in one SQLite file.

A kept face is its latent (ws bit for bit, noise, recipe, image edits), its model's fingerprint
and path, a small thumbnail, a name, notes, 0-5 stars, a pick / reject flag, a colour label,
tags, collections, times, and its lineage: the recipe keys of the faces it was made from, so a
face's parents and children are found from recipes alone, whoever kept them. Each face's
projections on its model's attribute directions (in sigma) are stored and indexed for semantic
filters; its mean w for "find similar".

Every change is one transaction (kill -9 loses nothing committed); errors become LibraryError
with one sentence (a full disk, a read-only folder). No Qt: the window's Library dock and the
CLI both use this.
"""
from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..latents import Latent
from ..noise import NoiseSpec
from .db import LibraryError, open_database
from .filters import LibraryFilter, filter_sql

THUMB_SIZE = 128          # thumbnails are stored at most this big (PNG): small, loaded lazily
FLAGS = {-1: "reject", 0: "", 1: "pick"}
COLOURS = ("", "red", "orange", "yellow", "green", "blue", "purple", "grey")
MAX_TAG_LENGTH = 64
MAX_NAME_LENGTH = 200
MAX_NOTES_LENGTH = 20_000


def library_path() -> Path:
    """The default library file: the user data folder (LATENT_EXPLORER_HOME relocates it)."""
    from ..user_data import data_dir

    return data_dir() / "library.sqlite"


def recipe_key(recipe: dict) -> str:
    """A recipe's identity: the same recipe, the same key (JSON with sorted keys, SHA-1)."""
    return hashlib.sha1(json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def recipe_parents(recipe: dict) -> list[dict]:
    """The recipes a recipe was made from (its direct inputs), in order."""
    out = []
    for value in (recipe.get("inputs") or []):
        if isinstance(value, dict):
            out.append(value)
    return out


@dataclass(frozen=True)
class LibraryItem:
    id: int
    uid: str
    name: str
    notes: str
    stars: int
    flag: int
    color: str
    model: str
    model_name: str
    model_path: str
    created: float
    modified: float
    tags: tuple[str, ...] = ()
    key: str = ""
    recipe: dict | None = None


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    query: LibraryFilter | None       # a smart collection: a saved filter
    count: int


def _clean_tags(tags: Iterable[str]) -> list[str]:
    out = []
    for t in tags:
        t = " ".join(str(t).split())[:MAX_TAG_LENGTH]
        if t and t.lower() not in (o.lower() for o in out):
            out.append(t)
    return out


def encode_thumbnail(image: np.ndarray, size: int = THUMB_SIZE) -> bytes:
    """uint8 [H, W, 3|4] -> PNG bytes at most `size` pixels on a side."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    if max(im.size) > size:
        im.thumbnail((size, size), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


class Library:
    """One library file. Thread-safe for one writer at a time per instance (the window uses one
    from its main thread); several processes may open one file (WAL, busy timeout)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else library_path()
        self.con, self.message = open_database(self.path)
        self._data_version = self._read_data_version()

    # ----- plumbing ------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.con.execute("PRAGMA optimize")
            self.con.close()
        except sqlite3.Error:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def _tx(self, what: str) -> Iterator[sqlite3.Connection]:
        try:
            self.con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise self._error(what, e) from e
        try:
            yield self.con
            self.con.execute("COMMIT")
        except BaseException as e:
            try:
                self.con.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(e, sqlite3.Error):
                raise self._error(what, e) from e
            raise

    def _error(self, what: str, e: sqlite3.Error) -> LibraryError:
        text = str(e)
        if "full" in text:
            why = "the disk is full"
        elif "readonly" in text or "read-only" in text:
            why = "the library file is read-only"
        elif "locked" in text or "busy" in text:
            why = "another window kept the library busy too long"
        else:
            why = text
        return LibraryError(f"Could not {what}: {why}. Nothing saved earlier was lost.")

    def _read_data_version(self) -> int:
        return int(self.con.execute("PRAGMA data_version").fetchone()[0])

    def changed_elsewhere(self) -> bool:
        """Whether another connection (another window) committed since the last call."""
        now = self._read_data_version()
        changed, self._data_version = now != self._data_version, now
        return changed

    # ----- keeping faces -------------------------------------------------------------------
    def add(self, latent: Latent, *, name: str = "", notes: str = "", stars: int = 0, flag: int = 0,
            color: str = "", tags: Iterable[str] = (), model_name: str = "", model_path: str = "",
            thumbnail: np.ndarray | bytes | None = None, scores: dict[str, float] | None = None,
            uid: str | None = None, created: float | None = None,
            collections: Iterable[str] = ()) -> int:
        """Keep a face; returns its id."""
        return self.add_many([dict(latent=latent, name=name, notes=notes, stars=stars, flag=flag, color=color,
                                   tags=tags, model_name=model_name, model_path=model_path, thumbnail=thumbnail,
                                   scores=scores, uid=uid, created=created, collections=collections)])[0]

    def add_many(self, faces: Sequence[dict]) -> list[int]:
        """Keep several faces in one transaction (dicts of `add`'s arguments)."""
        rows = [self._row(**f) for f in faces]
        ids = []
        with self._tx("keep the face" if len(rows) == 1 else f"keep {len(rows)} faces") as con:
            for row, f in zip(rows, faces):
                cur = con.execute(
                    "INSERT INTO faces(uid, name, notes, stars, flag, color, model, model_name, model_path, "
                    "key, created, modified) VALUES (:uid, :name, :notes, :stars, :flag, :color, :model, "
                    ":model_name, :model_path, :key, :created, :created)", row)
                fid = int(cur.lastrowid)
                ids.append(fid)
                con.execute("INSERT INTO latents(face_id, num_ws, w_dim, ws, recipe, noise, post) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", (fid, row["num_ws"], row["w_dim"], row["ws"], row["recipe"],
                                                             row["noise"], row["post"]))
                con.executemany("INSERT OR IGNORE INTO parents(face_id, parent_key) VALUES (?, ?)",
                                [(fid, k) for k in row["parents"]])
                con.execute("INSERT INTO wmeans(face_id, model, w) VALUES (?, ?, ?)", (fid, row["model"], row["wmean"]))
                if row["thumb"] is not None:
                    con.execute("INSERT INTO thumbs(face_id, png) VALUES (?, ?)", (fid, row["thumb"]))
                con.executemany("INSERT OR IGNORE INTO tags(face_id, tag) VALUES (?, ?)", [(fid, t) for t in row["tags"]])
                con.executemany("INSERT OR REPLACE INTO scores(face_id, direction, sigma) VALUES (?, ?, ?)",
                                [(fid, d, float(s)) for d, s in (f.get("scores") or {}).items() if np.isfinite(s)])
                for cname in f.get("collections") or ():
                    cid = self._collection_id(con, cname, create=True)
                    self._append(con, cid, [fid])
                self._index_text(con, fid)
        return ids

    def _row(self, latent: Latent, name="", notes="", stars=0, flag=0, color="", tags=(), model_name="",
             model_path="", thumbnail=None, scores=None, uid=None, created=None, collections=()) -> dict:
        ws = np.ascontiguousarray(latent.ws, dtype="<f4")
        _check_stars(stars)
        _check_flag(flag)
        _check_colour(color)
        if isinstance(thumbnail, np.ndarray):
            thumbnail = encode_thumbnail(thumbnail)
        now = time.time()
        return {"uid": uid or uuid.uuid4().hex, "name": str(name)[:MAX_NAME_LENGTH],
                "notes": str(notes)[:MAX_NOTES_LENGTH], "stars": int(stars), "flag": int(flag), "color": color,
                "model": str(latent.model or ""), "model_name": str(model_name), "model_path": str(model_path),
                "num_ws": int(ws.shape[0]), "w_dim": int(ws.shape[1]), "ws": ws.tobytes(),
                "recipe": json.dumps(latent.recipe), "noise": json.dumps(latent.noise.to_json()),
                "post": json.dumps(list(latent.post)), "key": recipe_key(latent.recipe),
                "parents": [recipe_key(p) for p in recipe_parents(latent.recipe)],
                "wmean": ws.mean(0).astype("<f4").tobytes(), "thumb": thumbnail, "tags": _clean_tags(tags),
                "created": float(created if created is not None else now)}

    def remove(self, ids: Iterable[int]) -> None:
        ids = [int(i) for i in ids]
        with self._tx("remove the faces") as con:
            con.executemany("DELETE FROM faces WHERE id = ?", [(i,) for i in ids])
            con.executemany("DELETE FROM faces_text WHERE rowid = ?", [(i,) for i in ids])

    def update(self, ids: int | Iterable[int], **fields) -> None:
        """Change name, notes, stars, flag or color of one face or several."""
        ids = [int(ids)] if isinstance(ids, (int, np.integer)) else [int(i) for i in ids]
        allowed = {"name", "notes", "stars", "flag", "color", "model_path"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot update {', '.join(sorted(bad))}; one of {', '.join(sorted(allowed))}")
        if "stars" in fields:
            _check_stars(fields["stars"])
        if "flag" in fields:
            _check_flag(fields["flag"])
        if "color" in fields:
            _check_colour(fields["color"])
        if "name" in fields:
            fields["name"] = str(fields["name"])[:MAX_NAME_LENGTH]
        if "notes" in fields:
            fields["notes"] = str(fields["notes"])[:MAX_NOTES_LENGTH]
        sets = ", ".join(f"{k} = :{k}" for k in fields)
        with self._tx("save the change") as con:
            for fid in ids:
                con.execute(f"UPDATE faces SET {sets}, modified = :now WHERE id = :id",
                            {**fields, "now": time.time(), "id": fid})
                if "name" in fields or "notes" in fields:
                    self._index_text(con, fid)

    def add_tags(self, ids: Iterable[int], tags: Iterable[str]) -> None:
        tags, ids = _clean_tags(tags), [int(i) for i in ids]
        with self._tx("tag the faces") as con:
            con.executemany("INSERT OR IGNORE INTO tags(face_id, tag) VALUES (?, ?)", [(i, t) for i in ids for t in tags])
            self._touch(con, ids)

    def remove_tags(self, ids: Iterable[int], tags: Iterable[str]) -> None:
        tags, ids = _clean_tags(tags), [int(i) for i in ids]
        with self._tx("untag the faces") as con:
            con.executemany("DELETE FROM tags WHERE face_id = ? AND tag = ?", [(i, t) for i in ids for t in tags])
            self._touch(con, ids)

    def set_tags(self, fid: int, tags: Iterable[str]) -> None:
        tags = _clean_tags(tags)
        with self._tx("save the tags") as con:
            con.execute("DELETE FROM tags WHERE face_id = ?", (int(fid),))
            con.executemany("INSERT OR IGNORE INTO tags(face_id, tag) VALUES (?, ?)", [(int(fid), t) for t in tags])
            self._touch(con, [int(fid)])

    def set_scores(self, fid: int, scores: dict[str, float]) -> None:
        with self._tx("store the face's attribute scores") as con:
            con.executemany("INSERT OR REPLACE INTO scores(face_id, direction, sigma) VALUES (?, ?, ?)",
                            [(int(fid), d, float(s)) for d, s in scores.items() if np.isfinite(s)])

    def _touch(self, con, ids: list[int]) -> None:
        now = time.time()
        con.executemany("UPDATE faces SET modified = ? WHERE id = ?", [(now, i) for i in ids])
        for i in ids:
            self._index_text(con, i)

    def _index_text(self, con, fid: int) -> None:
        row = con.execute("SELECT name, notes FROM faces WHERE id = ?", (fid,)).fetchone()
        con.execute("DELETE FROM faces_text WHERE rowid = ?", (fid,))
        if row is None:
            return
        tags = " ".join(r[0] for r in con.execute("SELECT tag FROM tags WHERE face_id = ?", (fid,)))
        con.execute("INSERT INTO faces_text(rowid, name, notes, tags) VALUES (?, ?, ?, ?)", (fid, row[0], row[1], tags))

    # ----- reading -------------------------------------------------------------------------
    _ITEM_COLUMNS = "id, uid, name, notes, stars, flag, color, model, model_name, model_path, created, modified, key"

    def get(self, fid: int, *, with_recipe: bool = False) -> LibraryItem:
        items = self.items([fid], with_recipe=with_recipe)
        if not items:
            raise KeyError(f"no face {fid} in the library")
        return items[0]

    def items(self, ids: Sequence[int], *, with_recipe: bool = False) -> list[LibraryItem]:
        """The items of `ids`, in that order (ids not in the library are skipped)."""
        ids = [int(i) for i in ids]
        if not ids:
            return []
        found: dict[int, LibraryItem] = {}
        cols = ", ".join(f"f.{c.strip()}" for c in self._ITEM_COLUMNS.split(","))
        cols += ", l.recipe" if with_recipe else ""
        join = " JOIN latents l ON l.face_id = f.id" if with_recipe else ""
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            tags: dict[int, list[str]] = {}
            for fid, tag in self.con.execute(f"SELECT face_id, tag FROM tags WHERE face_id IN ({marks}) ORDER BY tag", chunk):
                tags.setdefault(fid, []).append(tag)
            for r in self.con.execute(f"SELECT {cols} FROM faces f{join} WHERE f.id IN ({marks})", chunk):
                found[r[0]] = LibraryItem(*r[:12], tags=tuple(tags.get(r[0], ())), key=r[12],
                                          recipe=json.loads(r[13]) if with_recipe else None)
        return [found[i] for i in ids if i in found]

    def latent(self, fid: int) -> Latent:
        r = self.con.execute("SELECT l.ws, l.num_ws, l.w_dim, l.recipe, f.model, l.noise, l.post "
                             "FROM faces f JOIN latents l ON l.face_id = f.id WHERE f.id = ?", (int(fid),)).fetchone()
        if r is None:
            raise KeyError(f"no face {fid} in the library")
        ws = np.frombuffer(r[0], dtype="<f4").reshape(r[1], r[2])
        return Latent(ws=ws, recipe=json.loads(r[3]), model=r[4], noise=NoiseSpec.from_json(json.loads(r[5])),
                      post=tuple(json.loads(r[6])))

    def thumbnail(self, fid: int) -> bytes | None:
        r = self.con.execute("SELECT png FROM thumbs WHERE face_id = ?", (int(fid),)).fetchone()
        return None if r is None else bytes(r[0])

    def scores(self, fid: int) -> dict[str, float]:
        return {d: s for d, s in self.con.execute("SELECT direction, sigma FROM scores WHERE face_id = ?", (int(fid),))}

    def find(self, flt: LibraryFilter | None = None, *, limit: int | None = None, offset: int = 0) -> list[int]:
        """Ids of the faces that pass `flt`, in its sort order."""
        sql, params = filter_sql(flt or LibraryFilter(), self._collection_query)
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [r[0] for r in self.con.execute(sql, params)]

    def count(self, flt: LibraryFilter | None = None) -> int:
        sql, params = filter_sql(flt or LibraryFilter(), self._collection_query, count=True)
        return int(self.con.execute(sql, params).fetchone()[0])

    def all_tags(self) -> list[tuple[str, int]]:
        return [(t, n) for t, n in self.con.execute(
            "SELECT tag, count(*) FROM tags GROUP BY tag COLLATE NOCASE ORDER BY count(*) DESC, tag")]

    def models(self) -> list[tuple[str, str, str, int]]:
        """(fingerprint, name, path, faces) of every model the library has faces of."""
        return [tuple(r) for r in self.con.execute(
            "SELECT model, max(model_name), max(model_path), count(*) FROM faces GROUP BY model ORDER BY count(*) DESC")]

    def directions(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT DISTINCT direction FROM scores ORDER BY direction")]

    def by_uid(self, uid: str) -> int | None:
        r = self.con.execute("SELECT id FROM faces WHERE uid = ?", (uid,)).fetchone()
        return None if r is None else int(r[0])

    # ----- lineage and similarity ----------------------------------------------------------
    def by_keys(self, keys: Iterable[str]) -> dict[str, int]:
        """Recipe key -> a kept face with that recipe (the first kept), for the keys that have one."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, int] = {}
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            for key, fid in self.con.execute(f"SELECT key, min(id) FROM faces WHERE key IN ({marks}) GROUP BY key",
                                             chunk):
                out[key] = int(fid)
        return out

    def parents(self, fid: int) -> list[int]:
        """Kept faces this face was made from (by recipe)."""
        return [r[0] for r in self.con.execute(
            "SELECT f.id FROM parents p JOIN faces f ON f.key = p.parent_key WHERE p.face_id = ? ORDER BY f.created",
            (int(fid),))]

    def children(self, fid: int) -> list[int]:
        """Kept faces made from this face (by recipe)."""
        return [r[0] for r in self.con.execute(
            "SELECT p.face_id FROM faces f JOIN parents p ON p.parent_key = f.key WHERE f.id = ? "
            "ORDER BY p.face_id", (int(fid),))]

    def similar(self, fid: int, k: int = 12) -> list[tuple[int, float]]:
        """The `k` kept faces of the same model nearest to this one in W (mean w over layers):
        (id, distance), nearest first."""
        r = self.con.execute("SELECT model, w FROM wmeans WHERE face_id = ?", (int(fid),)).fetchone()
        if r is None:
            raise KeyError(f"no face {fid} in the library")
        model, w = r[0], np.frombuffer(r[1], dtype="<f4")
        ids, vecs = [], []
        for other, blob in self.con.execute("SELECT face_id, w FROM wmeans WHERE model = ? AND face_id != ?",
                                            (model, int(fid))):
            v = np.frombuffer(blob, dtype="<f4")
            if v.shape == w.shape:
                ids.append(other)
                vecs.append(v)
        if not ids:
            return []
        d = np.linalg.norm(np.stack(vecs) - w, axis=1)
        order = np.argsort(d, kind="stable")[:k]
        return [(int(ids[i]), float(d[i])) for i in order]

    # ----- collections ---------------------------------------------------------------------
    def collections(self) -> list[Collection]:
        out = []
        for cid, name, query in self.con.execute("SELECT id, name, query FROM collections ORDER BY name COLLATE NOCASE"):
            flt = LibraryFilter.from_json(json.loads(query)) if query else None
            n = self.count(flt) if flt is not None else int(self.con.execute(
                "SELECT count(*) FROM collection_items WHERE collection_id = ?", (cid,)).fetchone()[0])
            out.append(Collection(cid, name, flt, n))
        return out

    def create_collection(self, name: str, query: LibraryFilter | None = None) -> int:
        name = " ".join(str(name).split())[:MAX_NAME_LENGTH]
        if not name:
            raise ValueError("a collection needs a name")
        if query is not None and query.collection and query.collection.lower() == name.lower():
            raise ValueError("a smart collection cannot filter on itself")
        with self._tx(f"make the collection {name!r}") as con:
            if con.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
                raise ValueError(f"there is already a collection named {name!r}")
            cur = con.execute("INSERT INTO collections(name, query, created) VALUES (?, ?, ?)",
                              (name, json.dumps(query.to_json()) if query is not None else None, time.time()))
            return int(cur.lastrowid)

    def rename_collection(self, old: str, new: str) -> None:
        new = " ".join(str(new).split())[:MAX_NAME_LENGTH]
        if not new:
            raise ValueError("a collection needs a name")
        with self._tx("rename the collection") as con:
            try:
                cur = con.execute("UPDATE collections SET name = ? WHERE name = ?", (new, old))
            except sqlite3.IntegrityError:
                raise ValueError(f"there is already a collection named {new!r}") from None
            if cur.rowcount == 0:
                raise KeyError(f"no collection named {old!r}")

    def delete_collection(self, name: str) -> None:
        with self._tx("delete the collection") as con:
            con.execute("DELETE FROM collections WHERE name = ?", (name,))

    def add_to_collection(self, name: str, ids: Iterable[int]) -> None:
        with self._tx(f"add to the collection {name!r}") as con:
            cid = self._collection_id(con, name, create=True)
            self._append(con, cid, [int(i) for i in ids])

    def remove_from_collection(self, name: str, ids: Iterable[int]) -> None:
        with self._tx(f"remove from the collection {name!r}") as con:
            cid = self._collection_id(con, name, create=False)
            con.executemany("DELETE FROM collection_items WHERE collection_id = ? AND face_id = ?",
                            [(cid, int(i)) for i in ids])

    def _collection_id(self, con, name: str, *, create: bool) -> int:
        r = con.execute("SELECT id, query FROM collections WHERE name = ?", (name,)).fetchone()
        if r is not None:
            if r[1]:
                raise ValueError(f"{name!r} is a smart collection: its faces come from its filter")
            return int(r[0])
        if not create:
            raise KeyError(f"no collection named {name!r}")
        name = " ".join(str(name).split())[:MAX_NAME_LENGTH]
        if not name:
            raise ValueError("a collection needs a name")
        return int(con.execute("INSERT INTO collections(name, query, created) VALUES (?, NULL, ?)",
                               (name, time.time())).lastrowid)

    def _append(self, con, cid: int, ids: list[int]) -> None:
        last = con.execute("SELECT coalesce(max(position), 0) FROM collection_items WHERE collection_id = ?",
                           (cid,)).fetchone()[0]
        con.executemany("INSERT OR IGNORE INTO collection_items(collection_id, face_id, position) VALUES (?, ?, ?)",
                        [(cid, fid, last + n + 1) for n, fid in enumerate(ids)])

    def _collection_query(self, name: str) -> LibraryFilter | None | int:
        """For filter_sql: a smart collection's filter, a plain collection's id; KeyError if none."""
        r = self.con.execute("SELECT id, query FROM collections WHERE name = ?", (name,)).fetchone()
        if r is None:
            raise KeyError(f"no collection named {name!r}")
        return LibraryFilter.from_json(json.loads(r[1])) if r[1] else int(r[0])

    # ----- checks --------------------------------------------------------------------------
    def integrity(self) -> str:
        return str(self.con.execute("PRAGMA integrity_check").fetchone()[0])


def _chunks(seq: Sequence, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _check_stars(stars) -> None:
    if not isinstance(stars, (int, np.integer)) or not 0 <= int(stars) <= 5:
        raise ValueError(f"stars are 0 to 5, got {stars!r}")


def _check_flag(flag) -> None:
    if flag not in FLAGS:
        raise ValueError(f"a flag is 1 (pick), 0 (none) or -1 (reject), got {flag!r}")


def _check_colour(color) -> None:
    if color not in COLOURS:
        raise ValueError(f"a colour label is one of {', '.join(c or 'none' for c in COLOURS)}, got {color!r}")
