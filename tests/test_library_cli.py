"""`latent-explorer library ...` and the library's import / export: as a script would use them."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from explorer.cli import main
from explorer.export import save_png
from explorer.face_files import png_payload
from explorer.latents import Latent
from explorer.library import Library, parse_query
from explorer.library.transfer import LibraryFileError, MAX_ZIP_ENTRY_BYTES, import_faces


def face_png(path, seed: int, model: str = "m1"):
    rng = np.random.default_rng(seed)
    lat = Latent(ws=rng.standard_normal((4, 8)).astype(np.float32), recipe={"op": "seed", "seed": seed, "psi": 1.0},
                 model=model)
    save_png(path, rng.integers(0, 255, (48, 48, 3), dtype=np.uint8), recipe=png_payload(lat, "tiny"))
    return lat


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_HOME", str(tmp_path / "home"))
    return tmp_path


def test_add_list_export_import_round_trip(home, capsys):
    lats = [face_png(home / f"f{i}.png", i) for i in range(3)]
    assert main(["library", "add", *[str(home / f"f{i}.png") for i in range(3)], "--tag", "cast", "--stars", "4",
                 "--collection", "Cast A"]) == 0
    assert main(["library", "add", str(home / "f1.png")]) == 0           # a second copy is a second face
    capsys.readouterr()
    assert main(["library", "list", "--tag", "cast", "--min-stars", "4", "--collection", "Cast A", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 3 and all(f["stars"] == 4 and f["tags"] == ["cast"] for f in listed)
    assert {f["recipe"]["seed"] for f in listed} == {0, 1, 2} and listed[0]["model_name"] == "tiny"
    assert main(["library", "list"]) == 0
    out = capsys.readouterr()
    assert out.out.count("****.") == 3 and "4 of 4 faces" in out.err

    assert main(["library", "export", "Cast A", "--out", str(home / "out")]) == 0
    names = sorted(p.name for p in (home / "out").iterdir())
    assert names == ["0001-seed-0.png", "0002-seed-1.png", "0003-seed-2.png", "collection.json"]
    assert main(["library", "export", "Cast A", "--out", str(home / "cast.zip")]) == 0
    assert main(["library", "--library", str(home / "other.sqlite"), "import", str(home / "cast.zip")]) == 0
    with Library(home / "other.sqlite") as other:
        ids = other.find(parse_query('in:"Cast A"'))      # the export's name became the collection
        assert len(ids) == 3
        got = {other.latent(i).recipe["seed"]: other.latent(i) for i in ids}
        for lat in lats:
            assert got[lat.recipe["seed"]].ws.tobytes() == lat.ws.tobytes()        # bit for bit
        assert {tuple(other.get(i).tags) for i in ids} == {("cast",)}
    # importing again adds nothing twice (uids)
    assert main(["library", "--library", str(home / "other.sqlite"), "import", str(home / "out")]) == 0
    with Library(home / "other.sqlite") as other:
        assert other.count() == 3
    assert main(["library", "contact-sheet", "all", "--out", str(home / "sheet.png")]) == 0
    from PIL import Image
    sheet = Image.open(home / "sheet.png")
    assert sheet.size[0] > 300 and np.asarray(sheet).std() > 10


def test_bad_files_get_one_sentence_and_change_nothing(home, capsys):
    (home / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    save_png(home / "plain.png", np.zeros((8, 8, 3), np.uint8))
    assert main(["library", "add", str(home / "junk.png"), str(home / "plain.png")]) == 1
    err = capsys.readouterr().err
    assert "junk.png could not be read as a PNG" in err and "plain.png carries no face recipe" in err
    assert "Traceback" not in err
    assert main(["library", "export", "Nothing", "--out", str(home / "x")]) == 1
    assert "no collection named 'Nothing'" in capsys.readouterr().err
    with Library() as lib:
        assert lib.count() == 0


def test_a_zip_bomb_is_refused_before_unpacking(home):
    path = home / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("huge.png", b"\x00" * (MAX_ZIP_ENTRY_BYTES + 1))
    with Library(home / "l.sqlite") as lib, pytest.raises(LibraryFileError, match="too large"):
        import_faces(lib, path)


def test_a_seed_only_png_needs_its_model(home, capsys):
    assert main(["generate", "--seeds", "5", "--outdir", str(home / "gen")]) == 0
    png = str(home / "gen" / "seed0005.png")
    assert main(["library", "add", png]) == 1
    assert "give the model it was made with (--model)" in capsys.readouterr().err
    assert main(["library", "add", png, "--model", "default"]) == 0
    with Library() as lib:
        item = lib.get(lib.find()[0], with_recipe=True)
        assert item.recipe["seed"] == 5 and item.model_path == "default" and item.name
