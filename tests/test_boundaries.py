"""The architecture's boundary, checked by import-linter: the engine (`explorer`) and the plugins
never import Qt, pyqtgraph, superqt or the window (`ui`). The contract lives in pyproject.toml."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_engine_and_plugins_never_import_qt_or_the_window():
    out = lint()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "engine and plugins are Qt-free KEPT" in out.stdout


def test_the_contract_catches_a_forbidden_import(tmp_path):
    """The same kind of contract over a module the engine does import: reported broken."""
    cfg = tmp_path / "contract.toml"
    cfg.write_text('[tool.importlinter]\nroot_packages = ["explorer"]\ninclude_external_packages = true\n\n'
                   '[[tool.importlinter.contracts]]\nname = "no numpy"\ntype = "forbidden"\n'
                   'source_modules = ["explorer"]\nforbidden_modules = ["numpy"]\n')
    out = lint("--config", str(cfg))
    assert out.returncode != 0 and "no numpy BROKEN" in out.stdout, out.stdout
