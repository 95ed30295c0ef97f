"""The face library (explorer/library): keeping, curating, finding; a killed writer, two
processes, a bad file and a full disk."""
from __future__ import annotations

import os
import random
import sqlite3
import time

import numpy as np
import pytest

from explorer.latents import Latent
from explorer.library import Library, LibraryError, LibraryFilter, parse_query
from explorer.library.db import APPLICATION_ID
from tests.kill_support import kill_at_random, whole_lines


def face(seed: int, recipe: dict | None = None, model: str = "m1", num_ws: int = 4, w_dim: int = 8) -> Latent:
    rng = np.random.default_rng(seed)
    return Latent(ws=rng.standard_normal((num_ws, w_dim)).astype(np.float32),
                  recipe=recipe or {"kind": "seed", "seed": seed, "psi": 1.0}, model=model)


@pytest.fixture
def lib(tmp_path):
    with Library(tmp_path / "library.sqlite") as library:
        yield library


def test_a_kept_face_comes_back_bit_for_bit_with_what_was_curated(lib):
    lat = face(1)
    thumb = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    fid = lib.add(lat, name="Anna", notes="lead, version 2", stars=4, flag=1, color="red", tags=["hero", "Hero", " cast "],
                  model_name="faces", model_path="/models/faces.pkl", thumbnail=thumb, scores={"smile": 1.25})
    item = lib.get(fid, with_recipe=True)
    assert (item.name, item.notes, item.stars, item.flag, item.color) == ("Anna", "lead, version 2", 4, 1, "red")
    assert set(item.tags) == {"hero", "cast"}             # case-insensitive, trimmed, no duplicates
    assert (item.model, item.model_name, item.model_path) == ("m1", "faces", "/models/faces.pkl")
    assert item.recipe == lat.recipe
    back = lib.latent(fid)
    assert back.ws.tobytes() == lat.ws.tobytes() and back.recipe == lat.recipe and back.model == "m1"
    assert back.digest() == lat.digest()
    from PIL import Image
    import io
    im = Image.open(io.BytesIO(lib.thumbnail(fid)))
    assert max(im.size) == 128                            # stored small
    assert lib.scores(fid) == {"smile": 1.25}


def test_bad_values_are_refused_with_a_sentence(lib):
    with pytest.raises(ValueError, match="stars are 0 to 5"):
        lib.add(face(1), stars=6)
    with pytest.raises(ValueError, match="flag"):
        lib.add(face(1), flag=2)
    fid = lib.add(face(1))
    with pytest.raises(ValueError, match="colour label"):
        lib.update(fid, color="mauve")
    with pytest.raises(ValueError, match="cannot update"):
        lib.update(fid, model="other")
    assert lib.count() == 1


def test_filters_search_and_sort(lib):
    a = lib.add(face(1), name="Anna", stars=5, tags=["hero"], created=100.0, scores={"smile": 1.6, "glasses": -1})
    b = lib.add(face(2), name="Bob", notes="sketch for the poster", stars=2, created=200.0,
                scores={"smile": 0.2, "glasses": 1.4})
    c = lib.add(face(3, model="m2"), name="Annabel", stars=3, flag=-1, color="blue", created=300.0, tags=["villain"])
    assert lib.find() == [c, b, a]                                             # newest first
    assert lib.find(LibraryFilter(sort="name", descending=False)) == [a, c, b]
    assert lib.find(parse_query("ann")) == [c, a]                              # word prefixes
    assert lib.find(parse_query("poster")) == [b]                              # notes
    assert lib.find(parse_query("#hero")) == [a] == lib.find(parse_query("tag:hero"))
    assert lib.find(parse_query("villain")) == [c]                             # tags are searched as text too
    assert lib.find(parse_query("stars>=3")) == [c, a] == lib.find(parse_query("*3"))
    assert lib.find(parse_query("is:reject")) == [c] and lib.find(parse_query("color:blue")) == [c]
    assert lib.find(parse_query("model:m2")) == [c]
    assert lib.find(parse_query("smile > 1 sigma")) == [a]
    assert lib.find(parse_query("smile > +1 sigma and glasses", lib.directions())) == []
    assert lib.find(parse_query("glasses", lib.directions())) == [b]          # a bare direction: > +1 sigma
    assert lib.find(parse_query("glasses < -0.5")) == [a]
    assert lib.find(LibraryFilter(since=150.0, until=250.0)) == [b]
    assert lib.count(parse_query("ann stars>=4")) == 1
    lib.update(b, name="Bobby")
    lib.add_tags([b], ["hero"])
    assert lib.find(parse_query("bobby #hero")) == [b]
    lib.remove_tags([a], ["hero"])
    assert lib.find(parse_query("#hero")) == [b]
    lib.remove([b])
    assert lib.find(parse_query("bobby")) == [] and lib.count() == 2
    with pytest.raises(ValueError, match="is:maybe"):
        parse_query("is:maybe")


def test_collections_plain_and_smart(lib):
    ids = [lib.add(face(i), name=f"face {i}", stars=i % 6) for i in range(8)]
    lib.add_to_collection("Cast", [ids[3], ids[1], ids[5]])
    assert lib.find(LibraryFilter(collection="Cast", sort="position", descending=False)) == [ids[3], ids[1], ids[5]]
    lib.create_collection("Best", LibraryFilter(min_stars=4))
    assert set(lib.find(parse_query('in:Best'))) == {ids[4], ids[5]}
    assert {c.name: c.count for c in lib.collections()} == {"Best": 2, "Cast": 3}
    with pytest.raises(ValueError, match="smart collection"):
        lib.add_to_collection("Best", [ids[0]])
    with pytest.raises(ValueError, match="already"):
        lib.create_collection("cast")
    lib.rename_collection("Cast", "Cast A")
    lib.remove_from_collection("Cast A", [ids[1]])
    assert lib.find(parse_query('in:"Cast A"')) == [ids[5], ids[3]]
    lib.remove([ids[5]])                                   # removing a face leaves its collections right
    assert lib.find(parse_query('in:"Cast A"')) == [ids[3]]
    lib.delete_collection("Cast A")
    with pytest.raises(KeyError):
        lib.find(parse_query('in:"Cast A"'))


def test_lineage_from_recipes_and_find_similar(lib):
    a, b = face(1), face(2)
    child = face(3, {"kind": "edit", "plugin": "mix", "params": {"layers": "coarse"}, "inputs": [a.recipe, b.recipe]})
    grandchild = face(4, {"kind": "edit", "plugin": "antiface", "params": {}, "inputs": [child.recipe]})
    ic = lib.add(child)                  # kept before its parents: lineage still links by recipe
    ia, ib, ig = lib.add(a), lib.add(b), lib.add(grandchild)
    assert sorted(lib.parents(ic)) == sorted([ia, ib]) and lib.children(ia) == [ic] and lib.children(ic) == [ig]
    near = Latent(ws=a.ws + 0.01, recipe={"kind": "seed", "seed": 99}, model="m1")
    inear = lib.add(near)
    lib.add(face(5, model="other"))
    sims = lib.similar(ia, k=3)
    assert sims[0][0] == inear and len(sims) == 3 and all(s[1] >= sims[0][1] for s in sims)


# ----- robustness ---------------------------------------------------------------------------

def _writer(path: str, log_path: str, seed: int) -> None:
    """Adds, tags and edits faces as fast as it can; after each commit appends the id to a log."""
    rng = random.Random(seed)
    lib = Library(path)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    i = 0
    while True:
        i += 1
        ids = lib.add_many([{"latent": face(seed * 100_000 + i * 10 + k), "name": f"w{seed}-{i}-{k}", "tags": ["t"],
                             "thumbnail": np.full((32, 32, 3), k, np.uint8)} for k in range(rng.randint(1, 5))])
        lib.update(ids[0], stars=rng.randint(0, 5), notes="x" * rng.randint(0, 3000))
        os.write(fd, ("\n".join(str(j) for j in ids) + "\n").encode())


def test_kill_minus_9_during_heavy_writes_never_loses_committed_faces(tmp_path):
    path, log = str(tmp_path / "library.sqlite"), str(tmp_path / "committed.log")
    found = {}

    def check(round_):
        with Library(path) as lib:                    # always opens, never moved aside
            assert lib.message is None
            assert lib.integrity() == "ok"
            committed = {int(x) for line in whole_lines(log) for x in line.split()}
            present = set(lib.find())
            assert committed <= present, f"round {round_}: lost {sorted(committed - present)[:5]}"
            found["committed"] = committed

    kill_at_random(_writer, lambda r: (path, log, r), check, rounds=50, seed=1)
    assert len(found["committed"]) > 50                # the writers did write


def test_two_processes_share_one_library(tmp_path):
    path = tmp_path / "library.sqlite"
    a, b = Library(path), Library(path)
    a.changed_elsewhere(), b.changed_elsewhere()
    ia = a.add(face(1), name="from a")
    assert b.changed_elsewhere() and b.find() == [ia]
    ib = b.add(face(2), name="from b")
    assert a.changed_elsewhere() and set(a.find()) == {ia, ib}
    assert not a.changed_elsewhere()
    a.con.execute("BEGIN IMMEDIATE")                   # a holds the write lock for a moment ...
    t0 = time.perf_counter()
    import threading
    threading.Timer(0.3, lambda: a.con.execute("COMMIT")).start()
    b.update(ib, stars=3)                              # ... b waits its turn instead of failing
    assert time.perf_counter() - t0 >= 0.25 and a.get(ib).stars == 3
    a.close(), b.close()
    with Library(path) as c:
        assert c.integrity() == "ok" and c.count() == 2


@pytest.mark.parametrize("content, why", [
    (b"this is not a database at all" * 10, "not a SQLite database"),
    (b"SQLite format 3\x00" + b"\x00" * 84 + b"garbage" * 200, "damaged"),
])
def test_a_corrupt_library_file_is_moved_aside_never_overwritten(tmp_path, content, why):
    path = tmp_path / "library.sqlite"
    path.write_bytes(content)
    with Library(path) as lib:
        assert lib.message and why in lib.message and "moved to" in lib.message
        assert lib.count() == 0
        lib.add(face(1))
    aside = [p for p in tmp_path.iterdir() if ".unreadable-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == content


def test_another_programs_database_is_moved_aside(tmp_path):
    path = tmp_path / "library.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE photos(x)")
    con.execute("INSERT INTO photos VALUES (1)")
    con.commit()
    con.close()
    with Library(path) as lib:
        assert "another program" in lib.message and lib.count() == 0
    aside = next(p for p in tmp_path.iterdir() if ".unreadable-" in p.name and not p.name.endswith(("-wal", "-shm")))
    assert sqlite3.connect(aside).execute("SELECT x FROM photos").fetchone() == (1,)
    ours = sqlite3.connect(path).execute("PRAGMA application_id").fetchone()[0]
    assert ours == APPLICATION_ID


def test_a_full_disk_fails_visibly_and_loses_nothing_earlier(lib):
    kept = [lib.add(face(i), name=f"kept {i}") for i in range(3)]
    pages = lib.con.execute("PRAGMA page_count").fetchone()[0]
    lib.con.execute(f"PRAGMA max_page_count = {pages + 2}")     # the disk is (nearly) full now
    with pytest.raises(LibraryError, match="the disk is full.*Nothing saved earlier was lost"):
        lib.add_many([{"latent": face(100 + i, num_ws=16, w_dim=512), "thumbnail": np.zeros((64, 64, 3), np.uint8)}
                      for i in range(20)])
    assert lib.find() == kept[::-1] and lib.integrity() == "ok"
    lib.con.execute("PRAGMA max_page_count = 1073741823")       # space again: it works again
    lib.add(face(9))
    assert lib.count() == 4


def test_the_library_lives_in_the_user_data_folder(tmp_path, monkeypatch):
    from explorer.library import library_path
    monkeypatch.setenv("LATENT_EXPLORER_HOME", str(tmp_path / "home"))
    assert library_path() == tmp_path / "home" / "data" / "library.sqlite"
    with Library() as lib:
        lib.add(face(1))
    assert (tmp_path / "home" / "data" / "library.sqlite").is_file()


def test_direction_scores_are_sigma_from_the_average_face_along_each_direction():
    from types import SimpleNamespace

    from explorer.directions import Direction
    from explorer.library.scores import direction_scores

    info = SimpleNamespace(num_ws=4, w_dim=8, groups={"coarse": range(0, 2), "medium": range(2, 3), "fine": range(3, 4)})
    w_avg = np.full(8, 0.5, np.float32)
    v = np.eye(8, dtype=np.float32)[0]
    smile = Direction(v, name="smile", layers="coarse", model="m1", scale=2.0)
    other = Direction(v, name="theirs", model="m2")
    ws = np.tile(w_avg, (4, 1))
    ws[0:2, 0] += 3.0                      # +3 along smile on the coarse layers = +1.5 sigma
    ws[3, 0] -= 100.0                      # the fine layer does not count for a coarse direction
    got = direction_scores(ws, [smile, other], w_avg, info, model="m1")
    assert got == {"smile": pytest.approx(1.5)}


def test_dates_in_the_search_language(tmp_path):
    import datetime as dt

    with Library(tmp_path / "lib.sqlite") as lib:
        old = lib.add(face(1), name="old", created=dt.datetime(2026, 10, 15, 12).timestamp())
        nov = lib.add(face(2), name="nov", created=dt.datetime(2026, 11, 30, 23, 59).timestamp())
        now = lib.add(face(3), name="now")
        assert set(lib.find(parse_query("since:2026-11-01"))) == {nov, now}
        assert lib.find(parse_query("since:2026-11-01 until:2026-11-30")) == [nov], "until takes the whole day"
        assert lib.find(parse_query("until:2026-10-31")) == [old]
        assert lib.find(parse_query("today")) == [now]
        assert set(lib.find(parse_query("since:3650d"))) == {old, nov, now}
        with pytest.raises(ValueError, match="not a date"):
            parse_query("since:yesterday")
