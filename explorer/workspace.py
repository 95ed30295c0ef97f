"""Workspaces on disk: a session (`explorer.session`) in one SQLite file, written on every change.

A save is one transaction: the faces made since the last save are added (each face's latent is
written once: ws bit for bit, recipe, noise, image edits), faces no longer in the workspace are
dropped, and the small state document (pages, order, selection, model, sliders, matrix,
timeline) is replaced. kill -9 at any moment leaves the last committed save (WAL journal).

Workspaces live in the user data folder (`workspaces/`; LATENT_EXPLORER_HOME relocates it) or
wherever Save As put them; `recent.json` there lists them, the last one used first, for the
window's File > Open Recent and `latent-explorer workspace show`. A file that is not a workspace
(damaged, another program's) is moved aside with a message, never overwritten. No Qt.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from .errors import FileProblem
from .latents import Latent
from .library.db import looks_foreign, move_aside
from .noise import NoiseSpec
from .session import Session
from .user_data import data_dir

APPLICATION_ID = 0x4C455857        # 'LEXW': Latent EXplorer Workspace
SCHEMA_VERSION = 1
SUFFIX = ".lxws"
MAX_RECENT = 10
BUSY_TIMEOUT_MS = 10_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS faces (
    uid INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    num_ws INTEGER NOT NULL,
    w_dim INTEGER NOT NULL,
    ws BLOB NOT NULL,
    recipe TEXT NOT NULL,
    noise TEXT NOT NULL,
    post TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    doc TEXT NOT NULL,
    saved REAL NOT NULL
);
"""


class WorkspaceError(FileProblem, RuntimeError):
    """A workspace that cannot be read or written; the message is one sentence for the user."""


def workspaces_dir() -> Path:
    return data_dir() / "workspaces"


def default_path(name: str = "Untitled") -> Path:
    """A new file in the workspaces folder: `name`, or `name 2`, `name 3` ... when taken."""
    folder = workspaces_dir()
    safe = "".join(c for c in str(name) if c.isalnum() or c in " -_.").strip() or "Untitled"
    path = folder / f"{safe}{SUFFIX}"
    n = 2
    while path.exists():
        path = folder / f"{safe} {n}{SUFFIX}"
        n += 1
    return path


# ----- the recent list ---------------------------------------------------------------------------
def _recent_file() -> Path:
    return workspaces_dir() / "recent.json"


def recent() -> list[Path]:
    """Workspaces used, the last one first (files that still exist)."""
    try:
        paths = json.loads(_recent_file().read_text())
    except (OSError, ValueError):
        return []
    return [Path(p) for p in paths if isinstance(p, str) and Path(p).exists()][:MAX_RECENT]


def remember(path: Path) -> None:
    """Put `path` first in the recent list (an atomic write; a failure only loses the list order)."""
    path = Path(path).resolve()
    paths = [str(path)] + [str(p) for p in recent() if Path(p).resolve() != path]
    target = _recent_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(paths[:MAX_RECENT], indent=1))
        os.replace(tmp, target)
    except OSError:
        pass


def last_path() -> Path | None:
    paths = recent()
    return paths[0] if paths else None


def forget(path: Path) -> None:
    path = Path(path).resolve()
    keep = [str(p) for p in recent() if Path(p).resolve() != path]
    try:
        _recent_file().write_text(json.dumps(keep, indent=1))
    except OSError:
        pass


# ----- the file ------------------------------------------------------------------------------------
class WorkspaceFile:
    """One workspace file, open for saving and reading. `message` tells of a bad file moved aside."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.message: str | None = None
        self.con = self._open()
        self._saved: set[int] = {r[0] for r in self.con.execute("SELECT uid FROM faces")}

    @property
    def name(self) -> str:
        return self.path.stem

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                              check_same_thread=False)
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        return con

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WorkspaceError(f"Cannot make the folder {self.path.parent}: {e.strerror or e}.") from e
        why = looks_foreign(self.path, APPLICATION_ID, "workspace", WorkspaceError) if self.path.exists() else None
        if why is None:
            try:
                con = self._connect()
                why = self._check(con)
                if why is None:
                    self._make_schema(con)
                    return con
                con.close()
            except sqlite3.DatabaseError as e:
                why = f"it is damaged ({e})"
        try:
            aside = move_aside(self.path)
        except OSError as e:
            raise WorkspaceError(f"The workspace {self.path} cannot be used ({why}) and cannot be moved aside: "
                                 f"{e.strerror or e}.") from e
        self.message = (f"The workspace {self.path.name} could not be opened: {why}. It was moved to "
                        f"{aside.name} (nothing was deleted) and an empty workspace was started.")
        con = self._connect()
        self._make_schema(con)
        return con

    @staticmethod
    def _check(con: sqlite3.Connection) -> str | None:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id == 0 and not tables:
            return None
        if app_id != APPLICATION_ID:
            return "it is a SQLite database of another program"
        if version > SCHEMA_VERSION:
            raise WorkspaceError(f"This workspace was made by a newer version of Latent Explorer (schema {version}). "
                                 "Update the app to open it.")
        if not {"faces", "state"} <= tables:
            return "its tables are missing"
        return None

    @staticmethod
    def _make_schema(con: sqlite3.Connection) -> None:
        if con.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        con.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(None, (s.strip() for s in SCHEMA.split(";"))):
                con.execute(statement)
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self.con is not None:
            try:
                self.con.close()
            finally:
                self.con = None

    # ----- saving ---------------------------------------------------------------------------------
    def save(self, session: Session) -> None:
        """Write the session: one transaction. Raises WorkspaceError (the last save stays)."""
        faces = {f.uid: f for f in session.faces()}
        new = [f for uid, f in faces.items() if uid not in self._saved]
        gone = [uid for uid in self._saved if uid not in faces]
        doc = json.dumps(session.state_json(), separators=(",", ":"))
        con = self.con
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("INSERT OR REPLACE INTO faces(uid, model, num_ws, w_dim, ws, recipe, noise, post, origin) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [_face_row(f) for f in new])
                con.executemany("DELETE FROM faces WHERE uid = ?", [(u,) for u in gone])
                con.execute("INSERT OR REPLACE INTO state(id, doc, saved) VALUES (1, ?, ?)", (doc, time.time()))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:          # SQLite rolls back by itself on a full disk
                    con.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise WorkspaceError(_sentence(e, self.path)) from e
        self._saved.update(f.uid for f in new)
        self._saved.difference_update(gone)

    # ----- reading --------------------------------------------------------------------------------
    def state(self) -> dict | None:
        r = self.con.execute("SELECT doc FROM state WHERE id = 1").fetchone()
        return None if r is None else json.loads(r[0])

    def saved_at(self) -> float | None:
        r = self.con.execute("SELECT saved FROM state WHERE id = 1").fetchone()
        return None if r is None else float(r[0])

    def faces(self) -> dict[int, tuple[Latent, str]]:
        out = {}
        for uid, model, n, d, ws, recipe, noise, post, origin in self.con.execute(
                "SELECT uid, model, num_ws, w_dim, ws, recipe, noise, post, origin FROM faces"):
            lat = Latent(ws=np.frombuffer(ws, dtype="<f4").reshape(n, d), recipe=json.loads(recipe), model=model,
                         noise=NoiseSpec.from_json(json.loads(noise)), post=tuple(json.loads(post)))
            out[int(uid)] = (lat, origin)
        return out

    def load_into(self, session: Session) -> bool:
        """Put the saved workspace into `session` (False: nothing saved yet)."""
        doc = self.state()
        if doc is None:
            return False
        try:
            session.load_json(doc, self.faces())
        except (ValueError, KeyError, TypeError) as e:
            raise WorkspaceError(f"The workspace {self.path.name} could not be read: {e}.") from e
        return True

    def copy_to(self, target: Path) -> None:
        """Save As: a consistent copy of this file at `target` (SQLite's backup, then a rename)."""
        target = Path(target)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            dst = sqlite3.connect(str(tmp))
            try:
                self.con.backup(dst)
            finally:
                dst.close()
            os.replace(tmp, target)
        except (OSError, sqlite3.Error) as e:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise WorkspaceError(_sentence(e, target)) from e


def _face_row(face) -> tuple:
    lat: Latent = face.latent
    ws = np.ascontiguousarray(lat.ws, dtype="<f4")
    return (int(face.uid), str(lat.model or ""), int(ws.shape[0]), int(ws.shape[1]), ws.tobytes(),
            json.dumps(lat.recipe), json.dumps(lat.noise.to_json()), json.dumps(list(lat.post)),
            str(getattr(face, "origin", "")))


def _sentence(e: Exception, path: Path) -> str:
    text = str(e).lower()
    if "full" in text or getattr(e, "errno", None) == 28:
        return (f"The disk is full: the workspace {Path(path).name} could not be saved. "
                "Everything saved before is still there; free some space and it saves again.")
    if "readonly" in text or "read-only" in text or "permission" in text:
        return f"The workspace {Path(path).name} cannot be written (read-only). Use File > Save Workspace As."
    return f"The workspace {Path(path).name} could not be saved: {e}."

