"""The library's SQLite file: schema, connection settings, and what happens to a bad file.

The `faces` table holds what filters and sorts read (small rows, indexed); a face's styles and
recipe live in `latents`, its thumbnail in `thumbs`, read only for the faces on screen.
One file (`library.sqlite` in the user data folder) in WAL mode with a busy timeout, so two
windows can use one library at once (each sees the other's commits; writers wait their turn)
and a killed process never leaves it half-written: every change is one transaction. The file
is marked as ours (`PRAGMA application_id`); a file that is not a SQLite database, is damaged,
or belongs to another program is moved aside (never overwritten) and a fresh library is made,
with a message saying where the old file went.
"""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from ..errors import FileProblem

APPLICATION_ID = 0x4C455846        # 'LEXF': Latent EXplorer Faces
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000
SQLITE_MAGIC = b"SQLite format 3\x00"


class LibraryError(FileProblem, RuntimeError):
    """A library operation that failed (disk full, read-only folder, a locked file...): one
    sentence for the window; nothing committed earlier is lost."""


SCHEMA = """
CREATE TABLE faces(
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    stars INTEGER NOT NULL DEFAULT 0 CHECK (stars BETWEEN 0 AND 5),
    flag INTEGER NOT NULL DEFAULT 0 CHECK (flag IN (-1, 0, 1)),
    color TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL,
    model_name TEXT NOT NULL DEFAULT '',
    model_path TEXT NOT NULL DEFAULT '',
    key TEXT NOT NULL,
    created REAL NOT NULL,
    modified REAL NOT NULL
);
CREATE TABLE latents(
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    num_ws INTEGER NOT NULL,
    w_dim INTEGER NOT NULL,
    ws BLOB NOT NULL,
    recipe TEXT NOT NULL,
    noise TEXT NOT NULL DEFAULT 'null',
    post TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX faces_created ON faces(created);
CREATE INDEX faces_modified ON faces(modified);
CREATE INDEX faces_stars ON faces(stars, created);
CREATE INDEX faces_name ON faces(name COLLATE NOCASE);
CREATE INDEX faces_model ON faces(model, created);
CREATE INDEX faces_key ON faces(key);
CREATE TABLE wmeans(
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    w BLOB NOT NULL
);
CREATE INDEX wmeans_model ON wmeans(model);
CREATE TABLE thumbs(
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    png BLOB NOT NULL
);
CREATE TABLE tags(
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    tag TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (face_id, tag)
) WITHOUT ROWID;
CREATE INDEX tags_by_tag ON tags(tag, face_id);
CREATE TABLE parents(
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    parent_key TEXT NOT NULL,
    PRIMARY KEY (face_id, parent_key)
) WITHOUT ROWID;
CREATE INDEX parents_by_parent ON parents(parent_key, face_id);
CREATE TABLE collections(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    query TEXT,
    created REAL NOT NULL
);
CREATE TABLE collection_items(
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    position REAL NOT NULL,
    PRIMARY KEY (collection_id, face_id)
) WITHOUT ROWID;
CREATE INDEX collection_items_by_face ON collection_items(face_id);
CREATE TABLE scores(
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    direction TEXT NOT NULL COLLATE NOCASE,
    sigma REAL NOT NULL,
    PRIMARY KEY (face_id, direction)
) WITHOUT ROWID;
CREATE INDEX scores_by_direction ON scores(direction, sigma);
CREATE VIRTUAL TABLE faces_text USING fts5(name, notes, tags, tokenize = 'unicode61 remove_diacritics 2',
                                           prefix = '1 2 3');
"""


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the library's settings (no schema work)."""
    con = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                          check_same_thread=False)
    con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    con.execute("PRAGMA foreign_keys = ON")
    return con


def looks_foreign(path: Path, application_id: int = APPLICATION_ID, what: str = "library",
                  error: type = LibraryError) -> str | None:
    """Why the file at `path` is not a file of ours we may open (None: it may be)."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as e:
        raise error(f"Cannot read the {what} file {path}: {e.strerror or e}.") from e
    if len(head) == 0:
        return None                      # an empty file: SQLite makes a database of it
    if len(head) < 100 or not head.startswith(SQLITE_MAGIC):
        return "it is not a SQLite database (damaged, or another program's file)"
    app_id = int.from_bytes(head[68:72], "big")
    if app_id not in (0, application_id):
        return f"it belongs to another program (application id {app_id:#x})"
    return None


def move_aside(path: Path) -> Path:
    """Rename a file we cannot use to <name>.unreadable-<time> (with its -wal and -shm)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.unreadable-{stamp}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.unreadable-{stamp}-{n}")
        n += 1
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):      # a damaged file's journal belongs with it
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, aside.with_name(aside.name + suffix))
    return aside


def _check_schema(con: sqlite3.Connection) -> str | None:
    app_id = con.execute("PRAGMA application_id").fetchone()[0]
    version = con.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app_id == 0 and not tables:
        return None                                       # new: the caller makes the schema
    if app_id != APPLICATION_ID:
        return "it is a SQLite database of another program"
    if version > SCHEMA_VERSION:
        raise LibraryError(f"This library was made by a newer version of Latent Explorer (schema {version}; "
                           f"this version reads {SCHEMA_VERSION}). Update the app to open it.")
    if "faces" not in tables or "faces_text" not in tables:
        return "its tables are missing"
    return None


def open_database(path: Path) -> tuple[sqlite3.Connection, str | None]:
    """(connection, a message when a bad file was moved aside, else None). Makes the folder and
    the schema as needed. Raises LibraryError when the folder cannot be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LibraryError(f"Cannot make the library folder {path.parent}: {e.strerror or e}.") from e
    message = None
    why = looks_foreign(path) if path.exists() else None
    if why is None:
        try:
            con = connect(path)
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
            why = _check_schema(con)
            if why is None:
                _make_schema(con)
                _optimize(con)
                return con, None
            con.close()
        except sqlite3.DatabaseError as e:
            why = f"it is damaged ({e})"
            try:
                con.close()
            except Exception:   # noqa: BLE001 - the connection of a bad file may not close cleanly
                pass
    try:
        aside = move_aside(path)
    except OSError as e:
        raise LibraryError(f"The library file {path} cannot be used ({why}) and cannot be moved aside: "
                           f"{e.strerror or e}.") from e
    message = (f"The library file could not be opened: {why}. It was moved to {aside.name} "
               f"(nothing was deleted) and a new, empty library was started.")
    con = connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    _make_schema(con)
    return con, message


def _make_schema(con: sqlite3.Connection) -> None:
    """Create the tables if this is a new file (one transaction; another process may race us)."""
    if con.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            for statement in _statements(SCHEMA):
                con.execute(statement)
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _optimize(con: sqlite3.Connection) -> None:
    """Fresh planner statistics where they are missing or stale (bounded work: quick on open)."""
    try:
        con.execute("PRAGMA analysis_limit = 1000")
        con.execute("PRAGMA optimize = 0x10002")
    except sqlite3.Error:
        pass


def _statements(script: str) -> list[str]:
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        if sqlite3.complete_statement("\n".join(buf)):
            out.append("\n".join(buf))
            buf = []
    return out
