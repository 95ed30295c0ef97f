"""What the library shows: a filter (plain data, JSON for smart collections), the search-bar
language that makes one, and the SQL that applies it.

The search bar takes words and terms, all of which must hold ("and" may be written or not):

    anna sketch          full-text search (prefixes) over names, notes and tags
    #hero  tag:hero      has the tag
    stars>=3  *3         at least 3 stars
    is:pick  is:reject  is:unflagged
    color:red            colour label
    in:"Cast A"          in the collection (a smart collection's filter applies)
    model:1a2b3c         faces of the model whose fingerprint starts so
    since:2026-11-01     kept on or after that day (until:2026-11-30 up to the end of that day);
    since:7d  today      kept in the last 7 days, kept today
    smile > 1            projection on the model's "smile" direction above +1 sigma
    age < -0.5 sigma     ... below -0.5 sigma
    glasses              a bare word that names a stored direction means "> +1 sigma"
"""
from __future__ import annotations

import re
import shlex
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

SORTS = {"created": "f.created", "modified": "f.modified", "name": "f.name COLLATE NOCASE", "stars": "f.stars",
         "position": None}
DEFAULT_SIGMA = 1.0
MAX_NESTING = 4
_COMPARISON = re.compile(r"(?P<name>[A-Za-z_][\w-]*)\s*(?P<op>>=|<=|>|<)\s*(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
                         r"\s*(?:sigma|sd|σ)?(?=\s|$)", re.IGNORECASE)
_FLAGS = {"pick": 1, "picked": 1, "reject": -1, "rejected": -1, "unflagged": 0}


@dataclass
class Condition:
    direction: str
    op: str          # '>' or '<' ('>=' and '<=' read as these)
    sigma: float


@dataclass
class LibraryFilter:
    text: str = ""
    min_stars: int = 0
    tags: list[str] = field(default_factory=list)
    collection: str | None = None
    model: str | None = None
    flag: int | None = None
    color: str | None = None
    since: float | None = None
    until: float | None = None
    semantic: list[Condition] = field(default_factory=list)
    sort: str = "created"
    descending: bool = True

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "LibraryFilter":
        d = dict(d or {})
        d["semantic"] = [Condition(**c) for c in d.get("semantic") or []]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def is_empty(self) -> bool:
        return self == LibraryFilter(sort=self.sort, descending=self.descending)


def parse_query(text: str, directions: list[str] | tuple[str, ...] = (), base: LibraryFilter | None = None
                ) -> LibraryFilter:
    """The search bar's text -> a filter (on top of `base`: the dock's stars / sort controls).
    `directions`: names of stored directions, so that a bare "glasses" means glasses > +1 sigma.
    Raises ValueError with one sentence for text it cannot read."""
    flt = LibraryFilter.from_json(base.to_json()) if base is not None else LibraryFilter()
    known = {d.lower(): d for d in directions}
    rest = []
    last = 0
    for m in _COMPARISON.finditer(text):
        name = m.group("name")
        rest.append(text[last:m.start()])
        last = m.end()
        if name.lower() == "stars":
            flt.min_stars = max(flt.min_stars, _stars(m.group("op"), m.group("value")))
            continue
        flt.semantic.append(Condition(known.get(name.lower(), name), ">" if m.group("op").startswith(">") else "<",
                                      float(m.group("value"))))
    rest.append(text[last:])
    try:
        words = shlex.split(" ".join(rest))
    except ValueError:
        raise ValueError("a quote in the search is not closed") from None
    free = []
    for w in words:
        low = w.lower()
        if low in ("and", "&", "&&"):
            continue
        key, sep, value = w.partition(":")
        key = key.lower()
        if w.startswith("#") and len(w) > 1:
            flt.tags.append(w[1:])
        elif re.fullmatch(r"\*[0-5]", w) or re.fullmatch(r"★+", w):
            flt.min_stars = max(flt.min_stars, int(w[1:]) if w.startswith("*") else len(w))
        elif sep and key == "tag" and value:
            flt.tags.append(value)
        elif sep and key == "stars" and value.isdigit():
            flt.min_stars = max(flt.min_stars, min(5, int(value)))
        elif sep and key == "is":
            if value.lower() not in _FLAGS:
                raise ValueError(f"is:{value} is not a flag; use is:pick, is:reject or is:unflagged")
            flt.flag = _FLAGS[value.lower()]
        elif sep and key in ("color", "colour"):
            flt.color = value.lower()
        elif sep and key in ("in", "collection"):
            flt.collection = value
        elif sep and key == "model":
            flt.model = value
        elif sep and key in ("since", "after", "until", "before"):
            when = day_time(value, end=key in ("until", "before"))
            if key in ("since", "after"):
                flt.since = when
            else:
                flt.until = when
        elif low == "today":
            flt.since = day_time("0d")
        elif low in known:
            flt.semantic.append(Condition(known[low], ">", DEFAULT_SIGMA))
        else:
            free.append(w)
    flt.text = " ".join([flt.text] + free if flt.text else free)
    return flt


def day_time(value: str, end: bool = False, now: float | None = None) -> float:
    """'2026-11-01' (local midnight; with end=True the day's last second) or 'Nd' (N days ago,
    from midnight) -> a time.time() value. Raises ValueError with one sentence."""
    import datetime as dt

    today = dt.datetime.fromtimestamp(now if now is not None else time.time()).replace(
        hour=0, minute=0, second=0, microsecond=0)
    m = re.fullmatch(r"(\d{1,4})d", value.strip().lower())
    if m:
        day = today - dt.timedelta(days=int(m.group(1)))
    else:
        try:
            day = dt.datetime.strptime(value.strip(), "%Y-%m-%d")
        except ValueError:
            raise ValueError(f"{value!r} is not a date; write 2026-11-01, or 7d for the last 7 days") from None
    if end:
        day += dt.timedelta(days=1, microseconds=-1)
    return day.timestamp()


def _stars(op: str, value: str) -> int:
    v = float(value)
    n = int(v) + (1 if op == ">" else 0) if op.startswith(">") else 0
    return max(0, min(5, n))


def fts_query(text: str) -> str | None:
    """Free words -> an FTS5 query: every word must appear, as a word or a word's beginning."""
    words = re.findall(r"\w+", text, flags=re.UNICODE)
    if not words:
        return None
    return " AND ".join(f'"{w}"*' for w in words)


CollectionLookup = Callable[[str], "LibraryFilter | int"]


def filter_sql(flt: LibraryFilter, lookup: CollectionLookup, *, count: bool = False) -> tuple[str, list]:
    """(SQL, parameters) selecting face ids (or their count) that pass `flt`, in its order."""
    where, params, position_of = _where(flt, lookup, 0)
    head = "SELECT count(*) FROM faces f" if count else "SELECT f.id FROM faces f"
    sql = head + (" WHERE " + " AND ".join(where) if where else "")
    if count:
        return sql, params
    direction = "DESC" if flt.descending else "ASC"
    if flt.sort == "position" and position_of is not None:
        sql += (f" ORDER BY (SELECT position FROM collection_items ci WHERE ci.collection_id = {int(position_of)}"
                f" AND ci.face_id = f.id) {direction}, f.id {direction}")
    else:
        column = SORTS.get(flt.sort) or SORTS["created"]
        if where:      # filter first (by its index), then sort what passed: a unary + keeps SQLite from
            column = "+" + column   # walking the sort column's index over every face instead
        sql += f" ORDER BY {column} {direction}, f.id {direction}"
    return sql, params


def _where(flt: LibraryFilter, lookup: CollectionLookup, depth: int) -> tuple[list[str], list, int | None]:
    if depth > MAX_NESTING:
        raise ValueError("smart collections refer to each other too deeply (or in a circle)")
    where: list[str] = []
    params: list = []
    position_of = None
    q = fts_query(flt.text)
    if q:
        where.append("f.id IN (SELECT rowid FROM faces_text WHERE faces_text MATCH ?)")
        params.append(q)
    if flt.min_stars:
        where.append("f.stars >= ?")
        params.append(int(flt.min_stars))
    for tag in flt.tags:
        where.append("f.id IN (SELECT face_id FROM tags WHERE tag = ?)")
        params.append(tag)
    if flt.model:
        where.append("f.model LIKE ? ESCAPE '\\'")
        params.append(flt.model.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    if flt.flag is not None:
        where.append("f.flag = ?")
        params.append(int(flt.flag))
    if flt.color:
        where.append("f.color = ?")
        params.append(flt.color)
    if flt.since is not None:
        where.append("f.created >= ?")
        params.append(float(flt.since))
    if flt.until is not None:
        where.append("f.created <= ?")
        params.append(float(flt.until))
    for c in flt.semantic:
        op = ">" if c.op.startswith(">") else "<"
        where.append(f"f.id IN (SELECT face_id FROM scores WHERE direction = ? AND sigma {op} ?)")
        params += [c.direction, float(c.sigma)]
    if flt.collection:
        target = lookup(flt.collection)
        if isinstance(target, LibraryFilter):
            inner, inner_params, _ = _where(target, lookup, depth + 1)
            where.extend(inner)
            params.extend(inner_params)
        else:
            where.append("f.id IN (SELECT face_id FROM collection_items WHERE collection_id = ?)")
            params.append(int(target))
            position_of = int(target)
    return where, params, position_of
