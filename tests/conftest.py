"""Shared test setup: headless Qt, and the location of the shared fixture checkpoints."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # never open windows in tests
# slow image edits keep results in a cache folder: never the user's own during tests
os.environ.setdefault("LATENT_EXPLORER_CACHE_DIR", tempfile.mkdtemp(prefix="latent-explorer-test-cache-"))
os.environ.setdefault("LATENT_EXPLORER_PRECISION", "float32")  # exact pictures; tests of "auto" ask for it
# every other user file (library, workspaces, encoders, settings) too
os.environ.setdefault("LATENT_EXPLORER_HOME", tempfile.mkdtemp(prefix="latent-explorer-test-home-"))

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


def tiny_generator(res: int = 32, dim: int = 16, *, seed: int = 0, channels: int = 16,
                   mapping_layers: int = 1, noise_strength: float = 0.5):
    """A small random StyleGAN2 whose noise inputs visibly matter (fresh networks start at 0)."""
    import torch

    from explorer import Generator, stylegan2_config

    torch.manual_seed(seed)
    g = Generator(stylegan2_config(res, z_dim=dim, w_dim=dim, channel_base=256, channel_max=channels,
                                   mapping_layers=mapping_layers))
    with torch.no_grad():
        for layer in g.synthesis.noise_layers():
            layer.noise_strength.fill_(noise_strength)
    return g


@pytest.fixture(scope="session")
def make_generator():
    """Factory fixture: make_generator(res=32, dim=16, seed=0, ...) -> tiny_generator(...)."""
    return tiny_generator


# ----- the window's tests: a small model, settings of their own, a shown window -----------------------
@pytest.fixture(scope="module")
def gen():
    """The small StyleGAN2 the window tests run on (tests/window_support.py)."""
    from tests.window_support import window_generator

    return window_generator()


@pytest.fixture
def svc_factory():
    """RenderService(g, device='cpu', **kw) made on demand, all shut down after the test."""
    from explorer.render import RenderService

    made = []

    def make(g, **kw):
        kw.setdefault("num_threads", 0)  # leave the process thread count alone in tests
        s = RenderService(g, device="cpu", **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        assert s.shutdown(timeout=20.0)


@pytest.fixture
def settings(tmp_path):
    """QSettings in the test's own folder (never the user's)."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, gen, settings):
    """A shown MainWindow on `gen` with its first screen drawn; closed after the test."""
    from tests.window_support import open_window

    w = open_window(qtbot, gen, settings)
    yield w
    w.close()
