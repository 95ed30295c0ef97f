"""Fuzzing every file kind the app opens: seeded mutations, each loaded in a forked child with a
memory cap and a time limit. Never a crash, a hang, a big allocation or a foreign exception type.

CI runs a few files per family (seconds). For the long run (the README's table):
    LATENT_EXPLORER_FUZZ=300 .venv/bin/python -m pytest tests/test_fuzz.py -s
or  .venv/bin/python tests/fuzz_support.py 300
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_support as fz  # noqa: E402

from conftest import CHECKPOINT_FIXTURES  # noqa: E402

PER_FAMILY = int(os.environ.get("LATENT_EXPLORER_FUZZ", "6"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork + /proc + RLIMIT_AS: Linux")
def test_mutated_files_load_or_fail_cleanly(tmp_path):
    seeds = fz.seed_files(tmp_path / "seeds", CHECKPOINT_FIXTURES if CHECKPOINT_FIXTURES.is_dir() else None)
    (tmp_path / "cases").mkdir()
    cases = fz.make_cases(seeds, PER_FAMILY, tmp_path / "cases", seed=int(os.environ.get("FUZZ_SEED", "0")))
    results = fz.run_cases(cases, tmp_path / "seeds" / "judge.safetensors")
    if PER_FAMILY > 6:
        print("\n" + fz.summary_table(results))
    bad = [(r["family"], Path(r["path"]).name, r["outcome"]) for r in results
           if r["outcome"].split(":")[0] not in fz.GOOD]
    assert not bad, bad[:10]
    counts = Counter(r["outcome"] for r in results)
    assert counts["clean"] > 0 and len(results) == len(cases) >= 5 * PER_FAMILY


def test_seed_files_load_as_they_are(tmp_path):
    """The unmutated seeds load: the harness itself tells a good file from a bad one."""
    seeds = fz.seed_files(tmp_path / "seeds", None)
    cases = [(family, files[0]) for family, files in seeds.items()]
    results = fz.run_cases(cases, tmp_path / "seeds" / "judge.safetensors")
    assert [r["outcome"] for r in results] == ["loaded"] * len(cases)
