"""Shared test setup: headless Qt, and the location of the shared fixture checkpoints."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # never open windows in tests

# The repo is <root>/main and the read-only fixtures live next to it in <root>/shared.
SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
CHECKPOINT_FIXTURES = SHARED_DIR / "fixtures" / "checkpoints"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """shared/fixtures/checkpoints, or skip the test when the shared folder is absent."""
    if not CHECKPOINT_FIXTURES.is_dir():
        pytest.skip(f"shared checkpoint fixtures not found at {CHECKPOINT_FIXTURES} "
                    "(the 'shared' folder next to the repo is absent)")
    return CHECKPOINT_FIXTURES
