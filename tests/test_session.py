"""The Qt-free session model and the workspace file it is saved to: events, JSON round trip,
incremental transactional saves, kill -9 while saving, bad files, a full disk, the CLI."""
from __future__ import annotations

import json
import os
import random
import sqlite3

import numpy as np
import pytest

from explorer.cli import main
from explorer.latents import Latent
from explorer.noise import NoiseSpec
from explorer.session import Face, MatrixState, Page, SeedStream, Session
from explorer.timeline import Keyframe, Timeline
from explorer.workspace import WorkspaceError, WorkspaceFile, last_path, remember
from tests.kill_support import kill_at_random, whole_lines


def lat(seed: int, model: str = "m1") -> Latent:
    rng = np.random.default_rng(seed)
    return Latent(ws=rng.standard_normal((6, 8)).astype(np.float32),
                  recipe={"op": "seed", "seed": int(seed), "psi": 0.7}, model=model,
                  noise=NoiseSpec(mode="random", seed=seed, strength=0.5) if seed % 2 else NoiseSpec())


def busy_session() -> Session:
    s = Session()
    s.set_model("/models/m1.pkl", "m1", "M one")
    s.append([Face(lat(i), origin="seed") for i in range(5)])
    mixed = Latent(ws=lat(1).ws, recipe={"op": "mix", "inputs": [lat(1).recipe, lat(2).recipe], "layers": "coarse"},
                   model="m1")
    s.insert(2, [Face(mixed, origin="made")])
    s.add_page(Page("Batch 2", stream=SeedStream(5000, 0.5)))
    s.append([Face(lat(i), origin="seed") for i in range(5000, 5003)])
    s.select([s.page.faces[1].uid])
    s.set_matrix(MatrixState([lat(1)], [lat(2), lat(3)], "medium"))
    tl = Timeline()
    tl.keyframes = [Keyframe(latent=lat(1), position=0.0), Keyframe(latent=lat(2), position=1.0)]
    s.set_timeline(tl)
    s.set_directions({"smile": 1.5})
    return s


def same(a: Session, b: Session) -> bool:
    return json.dumps(a.to_json(), sort_keys=True) == json.dumps(b.to_json(), sort_keys=True)


def test_events_tell_views_what_changed():
    s = Session()
    seen = []
    s.subscribe(lambda kind, data: seen.append((kind, data.get("row"), len(data.get("faces") or ()))))
    a, b = Face(lat(1)), Face(lat(2))
    s.append([a, b])
    s.remove([a])
    s.add_page(Page("Batch 2"))
    s.show_page(0)
    assert seen == [("inserted", 0, 2), ("removed", None, 1), ("pages", None, 0), ("page", None, 0),
                    ("page", None, 0)]
    assert s.page.faces == [b] and s.current == 0


def test_a_session_round_trips_through_json_exactly():
    s = busy_session()
    back = Session.from_json(json.loads(json.dumps(s.to_json())))
    assert same(s, back)
    assert [len(p.faces) for p in back.pages] == [6, 3] and back.current == 1
    assert back.page.faces[1].uid == s.page.faces[1].uid and back.selection == s.selection
    assert np.array_equal(back.pages[0].faces[0].latent.ws, s.pages[0].faces[0].latent.ws)
    assert back.matrix.spec == "medium" and len(back.matrix.destinations) == 2
    assert len(back.timeline.keyframes) == 2 and back.directions == {"smile": {"amount": 1.5, "layers": "all"}}
    fresh = Face(lat(9))
    assert fresh.uid > max(f.uid for f in back.faces()), "new faces never take a uid read back"


def test_foreign_or_newer_documents_are_refused_with_a_sentence():
    with pytest.raises(ValueError, match="not a Latent Explorer workspace"):
        Session.from_json({"pages": []})
    with pytest.raises(ValueError, match="newer"):
        Session.from_json({"format": "latent-explorer-session", "version": 99})


def test_the_workspace_file_saves_incrementally_and_reads_back_bit_for_bit(tmp_path):
    s = busy_session()
    f = WorkspaceFile(tmp_path / "w.lxws")
    f.save(s)
    assert f.con.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 9
    gone = s.pages[0].faces[0]
    s.remove([gone])
    s.append([Face(lat(77), origin="made")])
    f.save(s)
    uids = {r[0] for r in f.con.execute("SELECT uid FROM faces")}
    assert gone.uid not in uids and len(uids) == 9
    f.close()
    back = Session()
    g = WorkspaceFile(tmp_path / "w.lxws")
    assert g.message is None and g.load_into(back)
    assert same(s, back)
    assert g.con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    g.close()


def _writer(path: str, log_path: str, seed: int) -> None:
    """Changes a session and saves it as fast as it can; after each save logs the faces saved."""
    rng = random.Random(seed)
    f = WorkspaceFile(path)
    s = Session()
    if not f.load_into(s):
        s.set_model("m", "m1", "m")
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    i = 0
    while True:
        i += 1
        s.append([Face(lat(seed * 100_000 + i * 10 + k)) for k in range(rng.randint(1, 4))])
        if rng.random() < 0.2:
            s.add_page(Page(s.next_page_name()))
        f.save(s)
        os.write(fd, (" ".join(str(x.uid) for x in s.faces()) + "\n").encode())


def test_kill_minus_9_while_saving_never_loses_a_committed_save(tmp_path):
    path, log = str(tmp_path / "w.lxws"), str(tmp_path / "saved.log")
    found = {}

    def check(round_):
        f = WorkspaceFile(path)                          # always opens, never moved aside
        assert f.message is None
        assert f.con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        back = Session()
        assert f.load_into(back)
        f.close()
        lines = whole_lines(log)
        if lines:
            committed = {int(x) for x in lines[-1].split()}
            present = {x.uid for x in back.faces()}
            assert committed <= present, f"round {round_}: lost {sorted(committed - present)[:5]}"
        found["faces"] = back.face_count()

    kill_at_random(_writer, lambda r: (path, log, r), check, rounds=50, seed=3, run_s=(0.05, 0.3))
    assert found["faces"] > 50


@pytest.mark.parametrize("content, why", [
    (b"not a workspace" * 20, "not a SQLite database"),
    (b"SQLite format 3\x00" + b"\x00" * 84 + b"garbage" * 200, "damaged"),
])
def test_a_bad_workspace_file_is_moved_aside_never_overwritten(tmp_path, content, why):
    path = tmp_path / "w.lxws"
    path.write_bytes(content)
    f = WorkspaceFile(path)
    assert f.message and why in f.message and "moved to" in f.message
    assert f.state() is None
    f.save(busy_session())
    f.close()
    aside = [p for p in tmp_path.iterdir() if ".unreadable-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == content


def test_a_library_file_is_not_taken_for_a_workspace(tmp_path):
    from explorer.library import Library

    Library(tmp_path / "lib.sqlite").close()
    f = WorkspaceFile(tmp_path / "lib.sqlite")
    assert "another program" in f.message
    f.close()


def test_a_full_disk_fails_visibly_and_the_last_save_stays(tmp_path):
    s = busy_session()
    f = WorkspaceFile(tmp_path / "w.lxws")
    f.save(s)
    pages = f.con.execute("PRAGMA page_count").fetchone()[0]
    f.con.execute(f"PRAGMA max_page_count = {pages}")      # the disk is full now
    s.append([Face(Latent(ws=np.zeros((600, 512), np.float32), recipe={"op": "seed", "seed": 1}, model="m1"))])
    with pytest.raises(WorkspaceError, match="disk is full.*saved before is still there"):
        f.save(s)
    f.close()
    back = Session()
    WorkspaceFile(tmp_path / "w.lxws").load_into(back)
    assert back.face_count() == s.face_count() - 1


def test_workspace_show_prints_the_last_workspaces_faces(tmp_path, capsys):
    s = busy_session()
    path = tmp_path / "shown.lxws"
    f = WorkspaceFile(path)
    f.save(s)
    f.close()
    remember(path)
    assert last_path() == path.resolve()
    assert main(["workspace", "show", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["name"] == "shown" and doc["model"]["fingerprint"] == "m1"
    assert [len(p["faces"]) for p in doc["pages"]] == [6, 3]
    mix = doc["pages"][0]["faces"][2]
    assert mix["origin"] == "made" and mix["recipe"]["op"] == "mix" and mix["label"]
    assert doc["matrix"] == {"sources": 1, "destinations": 2, "layers": "medium"}
    assert doc["timeline"]["keyframes"] == 2
    assert main(["workspace", "show"]) == 0
    text = capsys.readouterr().out
    assert "page Batch 2 (shown): 3 faces" in text and "seed 5000" in text
    assert main(["workspace", "show", "--file", str(tmp_path / "none.lxws")]) == 1


def test_sqlite_reads_a_workspace_while_it_is_written(tmp_path):
    """The window writes, `workspace show` reads: WAL lets both go on."""
    path = tmp_path / "w.lxws"
    f = WorkspaceFile(path)
    f.save(busy_session())
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 9
    s = busy_session()
    f.save(s)                                              # not blocked by the open read
    reader.execute("COMMIT")
    reader.close()
    f.close()


def test_a_pasted_face_or_recipe_becomes_a_latent_headless(make_generator):
    from explorer.latents import latent_from_seed
    from explorer.session import latent_from_text

    gen = make_generator()
    face = latent_from_seed(gen, 7, 0.7)
    back, note = latent_from_text(json.dumps(face.to_json()), gen)
    assert np.array_equal(back.ws, face.ws) and back.recipe == face.recipe and note == ""
    replayed, _ = latent_from_text(json.dumps(face.recipe), gen)
    assert np.allclose(replayed.ws, face.ws, atol=1e-6)
    for text, words in (("hello", "no face recipe"), ("[1, 2]", "not a face"),
                        (json.dumps(latent_from_seed(make_generator(res=64), 1, 0.7).to_json()), "another shape")):
        with pytest.raises(ValueError, match=words):
            latent_from_text(text, gen)


def test_the_collector_delivers_in_the_order_asked_however_results_arrive():
    from explorer.session import Collector

    got = []
    c = Collector(["a", "b", "c"], got.append)
    c.add("c", [3])
    c.add("a", [1, 11])
    assert got == []
    c.add("b", [])                       # one failed: the others still come, in order
    assert got == [[1, 11, 3]]
