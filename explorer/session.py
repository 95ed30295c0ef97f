"""The workspace's state as plain data, with change events: no Qt.

A session is what a designer has in front of them: pages of faces (each page a batch with its own
seed stream; New Batch adds a page), the page shown, the selection, the model in use, the
direction sliders' values, the mixing matrix and the timeline. The window's views observe it
(`Session.subscribe`); the workspace store (`explorer.workspace`) writes it to disk on change and
reads it back. Faces are identified by `uid`, never by row, so undo and redo and a page that is
not on screen stay correct.

Faces may be any object with `latent`, `uid` and `origin` (the window's grid cells add their
thumbnails to a `Face`); `face_factory` makes them when a session is read back.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from .latents import Latent
from .timeline import Timeline
from .undo import UndoStack

SESSION_FORMAT = "latent-explorer-session"
SESSION_VERSION = 1
DEFAULT_PSI = 0.7

_uids = itertools.count(1)


def next_uid() -> int:
    return next(_uids)


def reserve_uids(highest: int) -> None:
    """Faces read back keep their uids: new ones must start above them."""
    global _uids
    current = next(_uids)
    _uids = itertools.count(max(current, int(highest) + 1))


@dataclass(eq=False)
class Face:
    latent: Latent
    uid: int = field(default_factory=next_uid)
    origin: str = ""                 # 'seed', 'made', 'import', 'library': how the face came to be


class SeedStream:
    """Where a page's seeds come from: start, next and the truncation they are drawn at."""

    def __init__(self, start: int = 0, psi: float = DEFAULT_PSI):
        self.start, self.next, self.psi = int(start), int(start), float(psi)

    def state(self) -> tuple:
        return (self.start, self.next, self.psi)

    def set_state(self, state: Sequence) -> None:
        self.start, self.next, self.psi = int(state[0]), int(state[1]), float(state[2])

    def take(self, n: int) -> list[int]:
        seeds = list(range(self.next, self.next + n))
        self.next += n
        return seeds


@dataclass(eq=False)
class Page:
    """One batch of faces: the seeds it streams and the faces made while it was shown."""
    name: str
    faces: list = field(default_factory=list)
    stream: SeedStream = field(default_factory=SeedStream)
    created: float = field(default_factory=time.time)


@dataclass
class MatrixState:
    sources: list = field(default_factory=list)          # Latents
    destinations: list = field(default_factory=list)
    spec: object = "coarse"
    custom: object = None

    def to_json(self) -> dict:
        return {"sources": [lat.to_json() for lat in self.sources],
                "destinations": [lat.to_json() for lat in self.destinations],
                "spec": list(self.spec) if isinstance(self.spec, (list, tuple)) else self.spec,
                "custom": None if self.custom is None else list(self.custom)}

    @classmethod
    def from_json(cls, d: dict | None) -> "MatrixState":
        d = d or {}
        spec = d.get("spec", "coarse")
        return cls([Latent.from_json(x) for x in d.get("sources") or ()],
                   [Latent.from_json(x) for x in d.get("destinations") or ()],
                   tuple(spec) if isinstance(spec, list) else spec,
                   None if d.get("custom") is None else tuple(d["custom"]))


Listener = Callable[[str, dict], None]


class Session:
    """Pages of faces, selection, model, sliders, matrix and timeline, with change events.

    Events (`subscribe(fn)`, fn(kind, data)): 'inserted' {page, row, faces}, 'removed'
    {page, faces}, 'pages' {} (a page added or removed), 'page' {index} (another page shown),
    'selection' {uids}, 'model' {}, 'directions' {}, 'matrix' {}, 'timeline' {}, 'stream' {}.
    Every event also means "the workspace changed".
    """

    def __init__(self, face_factory: Callable[..., Face] = Face):
        self.face_factory = face_factory
        self.pages: list[Page] = [Page("Batch 1")]
        self.current = 0
        self.selection: list[int] = []
        self.model: dict = {}             # {"path", "fingerprint", "name"} of the model in use
        self.directions: dict[str, dict] = {}    # set sliders: name -> {"amount", "layers"}
        self.matrix = MatrixState()
        self.timeline: Timeline | None = None
        self._listeners: list[Listener] = []
        self.quiet = 0                    # > 0: changes are not announced (reading back)
        self.undo = UndoStack()           # undoable steps on this session (explorer/session_commands.py)

    # ----- events ---------------------------------------------------------------------------
    def subscribe(self, fn: Listener) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def listener_count(self) -> int:
        return len(self._listeners)

    def emit(self, kind: str, **data) -> None:
        if self.quiet:
            return
        for fn in list(self._listeners):
            fn(kind, data)

    def clear(self, psi: float | None = None) -> None:
        """An empty workspace of the same model: one empty page, no matrix, no timeline."""
        psi = self.stream.psi if psi is None else float(psi)
        self.pages = [Page("Batch 1", stream=SeedStream(0, psi))]
        self.current = 0
        self.selection = []
        self.directions = {}
        self.matrix = MatrixState()
        self.timeline = None
        self.emit("pages")
        self.emit("page", index=0)

    # ----- pages ----------------------------------------------------------------------------
    @property
    def page(self) -> Page:
        return self.pages[self.current]

    @property
    def stream(self) -> SeedStream:
        return self.page.stream

    def page_of(self, face) -> Page | None:
        for p in self.pages:
            if any(f is face for f in p.faces):
                return p
        return None

    def faces(self) -> list:
        """Every face of every page, page by page."""
        return [f for p in self.pages for f in p.faces]

    def next_page_name(self) -> str:
        taken = {p.name for p in self.pages}
        n = len(self.pages) + 1
        while f"Batch {n}" in taken:
            n += 1
        return f"Batch {n}"

    def add_page(self, page: Page, at: int | None = None, show: bool = True) -> int:
        at = len(self.pages) if at is None else max(0, min(int(at), len(self.pages)))
        self.pages.insert(at, page)
        if at <= self.current and len(self.pages) > 1:
            self.current += 1
        self.emit("pages")
        if show:
            self.show_page(at)
        return at

    def remove_page(self, page: Page) -> int:
        """Take a page out (undoable by add_page at the index returned); the last page stays."""
        idx = next(i for i, p in enumerate(self.pages) if p is page)
        shown = self.current == idx
        del self.pages[idx]
        if not self.pages:
            self.pages.append(Page(self.next_page_name(), stream=SeedStream(page.stream.start, page.stream.psi)))
        if self.current > idx or self.current >= len(self.pages):
            self.current = max(0, self.current - 1)
        self.emit("pages")
        if shown:
            self.selection = []
            self.emit("page", index=self.current)
        return idx

    def show_page(self, index: int) -> None:
        index = max(0, min(int(index), len(self.pages) - 1))
        if index == self.current and not self.quiet:
            self.emit("page", index=index)
            return
        self.current = index
        self.selection = []
        self.emit("page", index=index)

    def rename_page(self, page: Page, name: str) -> None:
        page.name = str(name).strip()[:80] or page.name
        self.emit("pages")

    # ----- faces ----------------------------------------------------------------------------
    def insert(self, row: int, faces: Iterable, page: Page | None = None) -> None:
        faces = list(faces)
        if not faces:
            return
        page = page or self.page
        row = max(0, min(int(row), len(page.faces)))
        page.faces[row:row] = faces
        self.emit("inserted", page=page, row=row, faces=faces)

    def append(self, faces: Iterable, page: Page | None = None) -> None:
        page = page or self.page
        self.insert(len(page.faces), faces, page)

    def remove(self, faces: Iterable, page: Page | None = None) -> None:
        gone = {id(f) for f in faces}
        if not gone:
            return
        pages = [page] if page is not None else self.pages
        for p in pages:
            removed = [f for f in p.faces if id(f) in gone]
            if removed:
                p.faces[:] = [f for f in p.faces if id(f) not in gone]
                if p is self.page:
                    uids = {f.uid for f in removed}
                    self.selection = [u for u in self.selection if u not in uids]
                self.emit("removed", page=p, faces=removed)

    def row_of(self, face, page: Page | None = None) -> int:
        page = page or self.page
        for i, f in enumerate(page.faces):
            if f is face:
                return i
        return -1

    def face(self, uid: int):
        for p in self.pages:
            for f in p.faces:
                if f.uid == uid:
                    return f
        return None

    def select(self, uids: Sequence[int]) -> None:
        uids = [int(u) for u in uids]
        if uids != self.selection:
            self.selection = uids
            self.emit("selection", uids=uids)

    # ----- seeds ----------------------------------------------------------------------------
    def seed_faces(self, psi: float | None = None) -> dict[int, object]:
        """The shown page's seed faces by seed (drawn at `psi`, default the page's): jump-to-seed
        selects these instead of adding doubles."""
        psi = self.stream.psi if psi is None else float(psi)
        have: dict[int, object] = {}
        for f in self.page.faces:
            r = f.latent.recipe
            if r.get("op") == "seed" and abs(float(r.get("psi", 1.0)) - psi) < 1e-9:
                have.setdefault(int(r["seed"]), f)
        return have

    def set_psi(self, psi: float) -> None:
        self.stream.psi = float(psi)
        self.emit("stream")

    # ----- the rest of the workspace ----------------------------------------------------------
    def set_model(self, path: str, fingerprint: str, name: str = "") -> None:
        self.model = {"path": str(path), "fingerprint": str(fingerprint), "name": str(name)}
        self.emit("model")

    def set_directions(self, values: dict, source=None) -> None:
        """The direction sliders not at 0: name -> amount, or name -> {"amount", "layers"}.
        source (here and in set_matrix / set_timeline): who made the change; it comes with the
        event, so that a view can tell its own changes from others'."""
        self.directions = self._slider_values(values)
        self.emit("directions", source=source)

    @staticmethod
    def _slider_values(values: dict) -> dict[str, dict]:
        out = {}
        for k, v in (values or {}).items():
            v = v if isinstance(v, dict) else {"amount": v}
            amount = float(v.get("amount", 0.0))
            if abs(amount) > 1e-9:
                out[str(k)] = {"amount": amount, "layers": str(v.get("layers") or "all")}
        return out

    def set_matrix(self, state: MatrixState, source=None) -> None:
        self.matrix = state
        self.emit("matrix", source=source)

    def set_timeline(self, timeline: Timeline | None, source=None) -> None:
        self.timeline = timeline
        self.emit("timeline", source=source)

    def face_count(self) -> int:
        return sum(len(p.faces) for p in self.pages)

    def has_work(self) -> bool:
        """Anything beyond a first page of plain seeds?"""
        if len(self.pages) > 1 or self.matrix.sources or self.matrix.destinations:
            return True
        if self.timeline is not None and self.timeline.keyframes:
            return True
        return any(getattr(f, "origin", "") != "seed" for f in self.page.faces)

    # ----- plain data -----------------------------------------------------------------------
    def state_json(self) -> dict:
        """Everything but the faces' latents (the workspace store keeps those apart, once each)."""
        return {"format": SESSION_FORMAT, "version": SESSION_VERSION, "current": self.current,
                "selection": list(self.selection), "model": dict(self.model),
                "directions": dict(self.directions),
                "pages": [{"name": p.name, "created": p.created, "stream": list(p.stream.state()),
                           "faces": [f.uid for f in p.faces]} for p in self.pages],
                "matrix": self.matrix.to_json(),
                "timeline": None if self.timeline is None else self.timeline.to_json()}

    def to_json(self) -> dict:
        doc = self.state_json()
        doc["faces"] = {str(f.uid): {"latent": f.latent.to_json(), "origin": getattr(f, "origin", "")}
                        for f in self.faces()}
        return doc

    @classmethod
    def from_json(cls, doc: dict, face_factory: Callable[..., Face] = Face) -> "Session":
        s = cls(face_factory)
        s.load_json(doc)
        return s

    def load_json(self, doc: dict, faces: dict[int, tuple] | None = None) -> None:
        """Replace this session's contents with a document (`faces`: uid -> (Latent, origin), when
        the latents come from elsewhere; default the document's own 'faces')."""
        if not isinstance(doc, dict) or doc.get("format") != SESSION_FORMAT:
            raise ValueError("not a Latent Explorer workspace")
        if int(doc.get("version", 0)) > SESSION_VERSION:
            raise ValueError("this workspace was written by a newer Latent Explorer")
        if faces is None:
            faces = {int(k): (Latent.from_json(v["latent"]), v.get("origin", ""))
                     for k, v in (doc.get("faces") or {}).items()}
        pages = []
        highest = 0
        for pd in doc.get("pages") or ():
            stream = SeedStream()
            stream.set_state(pd.get("stream") or (0, 0, DEFAULT_PSI))
            page = Page(str(pd.get("name") or f"Batch {len(pages) + 1}"), stream=stream,
                        created=float(pd.get("created") or time.time()))
            for uid in pd.get("faces") or ():
                if int(uid) in faces:
                    lat, origin = faces[int(uid)]
                    page.faces.append(self.face_factory(lat, uid=int(uid), origin=origin))
                    highest = max(highest, int(uid))
            pages.append(page)
        reserve_uids(highest)
        self.quiet += 1
        try:
            self.pages = pages or [Page("Batch 1")]
            self.current = max(0, min(int(doc.get("current", 0)), len(self.pages) - 1))
            shown = {f.uid for f in self.page.faces}
            self.selection = [int(u) for u in doc.get("selection") or () if int(u) in shown]
            self.model = dict(doc.get("model") or {})
            self.directions = self._slider_values(doc.get("directions") or {})
            self.matrix = MatrixState.from_json(doc.get("matrix"))
            tl = doc.get("timeline")
            self.timeline = Timeline.from_json(tl) if tl else None
        finally:
            self.quiet -= 1
        self.emit("pages")
        self.emit("page", index=self.current)


# ----- what the window used to do itself ------------------------------------------------------------
def latent_from_text(text: str, generator, registry=None) -> tuple[Latent, str]:
    """A pasted face: the JSON of a copied face (its ws, noise and recipe) or a bare recipe (replayed
    on `generator`). Returns (latent, a note for the user or ''); raises ValueError with a sentence."""
    import json

    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("the clipboard holds no face recipe (copy one with Ctrl+C first)") from None
    note = ""
    if isinstance(doc, dict) and "ws" in doc:
        lat = Latent.from_json(doc)
        info = generator.info
        if lat.ws.shape != (info.num_ws, info.w_dim):
            raise ValueError(f"that face belongs to a model of another shape ({lat.ws.shape[0]}×"
                             f"{lat.ws.shape[1]} styles)")
        from .noise import noise_for_model

        spec, why = noise_for_model(lat.noise, generator)
        if why:
            lat = lat.with_noise(spec)
            note = f"Pasted face: {why}."
        return lat, note
    if isinstance(doc, dict) and doc.get("op"):
        from .recipes import replay

        return replay(doc, generator, registry), note
    raise ValueError("the clipboard's JSON is not a face")


class Collector:
    """Results of several background edits, delivered together in the order they were asked for
    (a mix of several sources into one face: each source's result lands after the target, in the
    sources' order, however the edits finish). `add(key, latents)` as each arrives (an empty list
    for one that failed); `done(latents)` once all have."""

    def __init__(self, keys: Sequence, done: Callable[[list], None]):
        self.order = list(keys)
        self.results: dict = {}
        self.done = done

    def add(self, key, latents) -> None:
        self.results[key] = list(latents or [])
        if len(self.results) == len(self.order):
            self.done([lat for k in self.order for lat in self.results[k]])
